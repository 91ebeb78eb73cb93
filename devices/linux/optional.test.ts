// loadOptional's reasons and fixes, above all for an addon built for another Node: the fix must be
// the command that rebuilds it for the Node running now, not npm's generic `npm rebuild`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bme280 } from './bme280.ts';
import { abiMismatchFix, coveyRoot, loadOptional, parseAbiMismatch } from './optional.ts';

// Node's own wording (src/node_binding.cc), as a Node 24 prints it for an addon built by Node 20.
const nodeMessage = (file: string, built: number, needs: number): string => `The module '${file}'\n`
  + `was compiled against a different Node.js version using\nNODE_MODULE_VERSION ${built}. This version of Node.js requires\n`
  + `NODE_MODULE_VERSION ${needs}. Please try re-compiling or re-installing\nthe module (for instance, using \`npm rebuild\` or \`npm install\`).`;

async function withTemp(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'covey-optional-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('parseAbiMismatch reads both ABIs of Node\'s message and nothing else', () => {
  assert.deepEqual(parseAbiMismatch(nodeMessage('/x/i2c.node', 115, 137)), { builtFor: 115, requires: 137 });
  assert.equal(parseAbiMismatch('libgpiod.so.2: cannot open shared object file: No such file or directory'), null);
  assert.equal(parseAbiMismatch('NODE_MODULE_VERSION 115.'), null);
});

test('an ABI mismatch names both Nodes and the exact rebuild command, not npm rebuild', async () => {
  await withTemp(async (dir) => {
    // A package whose load fails exactly as a dlopen of an addon built for Node 20 does.
    const file = join(dir, 'addon.cjs');
    writeFileSync(file, `throw Object.assign(new Error(${JSON.stringify(nodeMessage(join(dir, 'build/Release/x.node'), 115, Number(process.versions.modules)))}), { code: 'ERR_DLOPEN_FAILED' });\n`);
    const loaded = await loadOptional(file, 'install it');
    assert.equal(loaded.ok, false);
    if (loaded.ok) return;
    assert.match(loaded.what, /built for another Node \(NODE_MODULE_VERSION 115, Node 20\)/);
    assert.match(loaded.what, new RegExp(`runs on Node ${process.versions.node.replace(/\./g, '\\.')} \\(NODE_MODULE_VERSION ${process.versions.modules}`));
    assert.equal(loaded.fix, abiMismatchFix());
    assert.doesNotMatch(loaded.fix, /npm rebuild/);
  });
});

test('the BME280 driver\'s open error carries it, as the agent logs it at start', async () => {
  await withTemp(async (dir) => {
    const file = join(dir, 'addon.cjs');
    writeFileSync(file, `throw Object.assign(new Error(${JSON.stringify(nodeMessage(join(dir, 'i2c.node'), 115, 137))}), { code: 'ERR_DLOPEN_FAILED' });\n`);
    const sensor = new Bme280({ id: 'weather', packageName: file });
    await assert.rejects(sensor.open(), (e: Error) => {
      assert.match(e.message, /^device "weather": cannot open BME280 at 0x76 on \/dev\/i2c-1: package .* was built for another Node \(NODE_MODULE_VERSION 115, Node 20\)/);
      assert.ok(e.message.endsWith(`fix: ${abiMismatchFix()}`), e.message);
      return true;
    });
  });
});

test('another dlopen failure keeps its own cause and the generic fix', async () => {
  await withTemp(async (dir) => {
    const file = join(dir, 'addon.cjs');
    writeFileSync(file, 'throw Object.assign(new Error("libgpiod.so.2: cannot open shared object file"), { code: "ERR_DLOPEN_FAILED" });\n');
    const loaded = await loadOptional(file, 'install it');
    assert.equal(loaded.ok, false);
    if (loaded.ok) return;
    assert.match(loaded.what, /does not load \(libgpiod\.so\.2: cannot open shared object file\)/);
  });
});

test('the fix runs npm\'s script when Covey runs on the pinned Node, else names the running Node itself', async () => {
  await withTemp((root) => {
    const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
    mkdirSync(join(root, 'node_modules', 'node', 'bin'), { recursive: true });
    writeFileSync(pinned, '');
    assert.equal(abiMismatchFix(root, pinned), `rebuild the addons for this Node: npm --prefix ${root} run rebuild:native`);
    // A link to the pinned binary is the pinned Node too.
    symlinkSync(pinned, join(root, 'node-link'));
    assert.match(abiMismatchFix(root, join(root, 'node-link')), /npm --prefix .* run rebuild:native$/);
    assert.equal(abiMismatchFix(root, '/usr/bin/node'), `rebuild the addons for this Node: /usr/bin/node ${join(root, 'agent', 'native', 'rebuild-addons.ts')}`);
    assert.equal(abiMismatchFix(`${root}/my covey`, '/usr/bin/node'), `rebuild the addons for this Node: /usr/bin/node '${root}/my covey/agent/native/rebuild-addons.ts'`);
  });
});

test('coveyRoot finds the package that holds this file', () => {
  const root = coveyRoot();
  assert.ok(root !== null && existsSync(join(root, 'agent', 'native', 'rebuild-addons.ts')), `root: ${root}`);
  assert.equal(coveyRoot('/no/such/dir/file.ts'), null);
});

// The real thing: an addon built for the pinned Node, loaded by another Node (the machine's own, when
// it has one of another ABI) must fail with a message parseAbiMismatch reads.
const otherNode = ['/usr/bin/node', '/usr/local/bin/node'].find((n) => existsSync(n) && n !== process.execPath);
const otherModules = otherNode === undefined ? null : spawnSync(otherNode, ['-p', 'process.versions.modules'], { encoding: 'utf8' }).stdout?.trim();
const i2c = join(coveyRoot() ?? '.', 'node_modules', 'i2c-bus');
const realSkip = otherNode === undefined ? 'no second Node on this machine (/usr/bin/node)'
  : otherModules === process.versions.modules ? `the machine's Node has this Node's ABI (${otherModules})`
    : !existsSync(i2c) ? 'i2c-bus is not installed (optional dependency)' : false;

test('a real mismatch, i2c-bus loaded by the machine\'s other Node, is recognised', { skip: realSkip }, () => {
  const r = spawnSync(otherNode ?? 'node', ['-e', `require(${JSON.stringify(i2c)})`], { encoding: 'utf8' });
  const abi = parseAbiMismatch(r.stderr);
  assert.ok(abi !== null, `expected an ABI mismatch, got status ${r.status}: ${r.stderr.slice(0, 400)}`);
  assert.deepEqual(abi, { builtFor: Number(process.versions.modules), requires: Number(otherModules) });
});
