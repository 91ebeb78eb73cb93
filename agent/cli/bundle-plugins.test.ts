// The agent bundle's plugins (agent/cli/bundle-plugins.ts): node:http is required, so undici never
// loads, and libp2p's sorts compare code units, so ICU's collator never loads; and the bundle
// `npm run build` made holds to both.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createSocket } from 'node:dgram';
import * as esbuild from 'esbuild';
import { bundleDir, bundleFile, bundleMetaFile, type BundleMeta } from './bundle.ts';
import { freshBundle } from './bundle-testing.ts';
import { createSwarm, startAgent, swarmDown, waitReady } from '../swarm.ts';
import { compareByCodeUnits, compareCodeUnitsIn, deferNoiseWasm, englishOnlyZodLocales, lazyNoiseWasm, requireNodeHttp } from './bundle-plugins.ts';

const banner = "import { createRequire as __coveyCreateRequire } from 'node:module'; const require = __coveyCreateRequire(import.meta.url);";

/** Runs `probe` as an ES module in a fresh node and returns the JSON it printed. */
function runProbe(probe: string): unknown {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as unknown;
}

/** Imports `file` in a fresh node and says which of node's own modules that loaded. */
function modulesLoadedBy(file: string): { undici: boolean; http: boolean; out: string } {
  const probe = `const m = await import(${JSON.stringify(pathToFileURL(file).href)}); const l = process.moduleLoadList;
    console.log(JSON.stringify({ undici: l.includes('NativeModule internal/deps/undici/undici'), http: l.includes('NativeModule http'), out: String(m.probe?.() ?? '') }));`;
  return runProbe(probe) as { undici: boolean; http: boolean; out: string };
}

test('an import of node:http in the bundle is a require: node:http loads, undici does not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-plugins-'));
  try {
    writeFileSync(join(dir, 'entry.mjs'), "import http, { createServer, STATUS_CODES } from 'node:http';\nexport const probe = () => [typeof createServer, http.createServer === createServer, STATUS_CODES[404]].join(' ');\n");
    await esbuild.build({ entryPoints: [join(dir, 'entry.mjs')], outfile: join(dir, 'out.mjs'), bundle: true, platform: 'node', format: 'esm', banner: { js: banner }, plugins: [requireNodeHttp], logLevel: 'silent' });
    assert.doesNotMatch(readFileSync(join(dir, 'out.mjs'), 'utf8'), /from\s*["']node:http["']/);
    const loaded = modulesLoadedBy(join(dir, 'out.mjs'));
    assert.equal(loaded.out, 'function true Not Found', 'default and named imports still reach node:http');
    assert.deepEqual([loaded.http, loaded.undici], [true, false]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('localeCompare calls of the shapes libp2p uses become code-unit comparisons; others are counted', () => {
  const src = [
    'a.multiaddr.toString().localeCompare(b.multiaddr.toString());',
    'x.sort((a, b) => a.localeCompare(b));',
    'const s = (a, b) => a.toString().localeCompare(b.toString());',
    'odd(a).localeCompare(b[0]);',
  ].join('\n');
  const r = compareByCodeUnits(src)!;
  assert.equal(r.rewritten, 3);
  assert.equal(r.left, 1, 'the call of another shape is left and counted');
  assert.match(r.contents, /__coveyCompareCodeUnits\(a\.multiaddr\.toString\(\), b\.multiaddr\.toString\(\)\)/);
  assert.match(r.contents, /__coveyCompareCodeUnits\(a, b\)/);
  assert.match(r.contents, /__coveyCompareCodeUnits\(a\.toString\(\), b\.toString\(\)\)/);
  assert.equal(compareByCodeUnits('a < b'), null, 'a file without localeCompare is not touched');
});

test('a sort rewritten by the plugin orders by code units and gives the same order every time', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-plugins-'));
  try {
    writeFileSync(join(dir, 'sorts.mjs'), "export const probe = () => ['/ip4/b', 'beta', '/ip4/A', 'Alpha', 'alpha'].sort((a, b) => a.localeCompare(b)).join(',');\n");
    await esbuild.build({ entryPoints: [join(dir, 'sorts.mjs')], outfile: join(dir, 'out.mjs'), bundle: true, platform: 'node', format: 'esm', plugins: [compareCodeUnitsIn(/sorts\.mjs$/)], logLevel: 'silent' });
    assert.doesNotMatch(readFileSync(join(dir, 'out.mjs'), 'utf8'), /localeCompare/);
    // ICU's collation would give /ip4/A,/ip4/b,alpha,Alpha,beta.
    assert.equal(modulesLoadedBy(join(dir, 'out.mjs')).out, '/ip4/A,/ip4/b,Alpha,alpha,beta');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the agent bundle has no localeCompare and no import of node:http, and loading it leaves undici out', () => {
  freshBundle();
  const bundle = readFileSync(bundleFile, 'utf8');
  // A libp2p upgrade that sorts in a new way shows here: extend compareCodeUnitsIn's filter or pattern.
  assert.doesNotMatch(bundle, /\.localeCompare\(/);
  assert.doesNotMatch(bundle, /from\s*["']node:http["']/);
  const loaded = modulesLoadedBy(bundleFile);
  assert.deepEqual([loaded.http, loaded.undici], [true, false]);
});

/** Imports `file` in a fresh node, counting WebAssembly modules compiled by the import and then by a seal of a small frame. */
function wasmCompiledBy(file: string): { atImport: number; afterSeal: number; opened: string } {
  const probe = `let compiled = 0; const M = WebAssembly.Module; WebAssembly.Module = new Proxy(M, { construct(t, a) { compiled++; return Reflect.construct(t, a); } });
    const m = await import(${JSON.stringify(pathToFileURL(file).href)}); const atImport = compiled;
    const k = new Uint8Array(32).fill(7), n = new Uint8Array(12), ad = new Uint8Array(0);
    const sealed = m.asCrypto.chaCha20Poly1305Encrypt(new TextEncoder().encode('a small frame'), n, ad, k);
    const opened = new TextDecoder().decode(m.nodeCrypto.chaCha20Poly1305Decrypt(sealed, n, ad, k).subarray());
    console.log(JSON.stringify({ atImport, afterSeal: compiled, opened }));`;
  return runProbe(probe) as { atImport: number; afterSeal: number; opened: string };
}

test("noise's crypto module, bundled, compiles its WebAssembly at the first seal and not at import", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-plugins-'));
  try {
    writeFileSync(join(dir, 'noise.mjs'), "export { asCrypto, nodeCrypto } from '@chainsafe/libp2p-noise/crypto';\n");
    const build = (plugins: esbuild.Plugin[]) => esbuild.build({
      entryPoints: [join(dir, 'noise.mjs')], outfile: join(dir, 'out.mjs'), bundle: true, platform: 'node', format: 'esm',
      banner: { js: banner }, nodePaths: [join(process.cwd(), 'node_modules')], plugins, logLevel: 'silent',
    });
    await build([]);
    const eager = wasmCompiledBy(join(dir, 'out.mjs'));
    assert.ok(eager.atImport >= 2, `without the plugin both modules compile at import (${eager.atImport})`);
    await build([lazyNoiseWasm]);
    const lazy = wasmCompiledBy(join(dir, 'out.mjs'));
    assert.equal(lazy.atImport, 0);
    assert.ok(lazy.afterSeal >= 1, 'the first seal compiles ChaCha20-Poly1305');
    assert.equal(lazy.opened, 'a small frame', 'what the WebAssembly build sealed, node opens');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('deferNoiseWasm names the plugin to update when noise changes the lines it defers', () => {
  assert.throws(() => deferNoiseWasm("import { digest } from '@chainsafe/as-sha256';\n"), /bundle-plugins\.ts \(deferNoiseWasm\)/);
  const once = "import { newInstance, ChaCha20Poly1305 } from '@chainsafe/as-chacha20poly1305';\n";
  assert.throws(() => deferNoiseWasm(once + once), /exactly one/);
});

test("zod's locales index keeps English only, and a changed index names the plugin to update", () => {
  const index = readFileSync(join(process.cwd(), 'node_modules', 'zod', 'v4', 'locales', 'index.js'), 'utf8');
  assert.ok(index.split('\n').filter((l) => l.startsWith('export ')).length > 10, 'zod ships many locales');
  assert.equal(englishOnlyZodLocales(index), 'export { default as en } from "./en.js";\n');
  assert.throws(() => englishOnlyZodLocales(index + 'export const extra = 1;\n'), /bundle-plugins\.ts \(englishOnlyZodLocales\)/);
  assert.throws(() => englishOnlyZodLocales('export { default as de } from "./de.js";\n'), /no longer exports en/);
});

test("the agent bundle carries zod's English messages and no other language's", () => {
  freshBundle();
  const bundle = readFileSync(bundleFile, 'utf8');
  // A sentence each of zod's German and English messages (node_modules/zod/v4/locales/de.js, en.js).
  assert.doesNotMatch(bundle, /Ung(\\xFC|ü)ltige Eingabe/);
  assert.match(bundle, /Invalid input: expected/);
});

test('loading the agent bundle compiles no WebAssembly', () => {
  freshBundle();
  const probe = `let compiled = 0; const M = WebAssembly.Module; WebAssembly.Module = new Proxy(M, { construct(t, a) { compiled++; return Reflect.construct(t, a); } });
    await import(${JSON.stringify(pathToFileURL(bundleFile).href)}); console.log(compiled);`;
  assert.equal(runProbe(probe), 0);
});

test('the MAVLink driver is a chunk of its own: not in the bundle an agent loads, and loadable on demand', async () => {
  freshBundle();
  const meta = JSON.parse(readFileSync(bundleMetaFile, 'utf8')) as BundleMeta;
  const autopilot = (meta.chunks ?? []).find((c) => /^agent-chunks\/autopilot-/.test(c));
  assert.ok(autopilot !== undefined, `a chunk for devices/mavlink/autopilot.ts among ${JSON.stringify(meta.chunks)}`);
  assert.doesNotMatch(readFileSync(bundleFile, 'utf8'), /"MavlinkAutopilot"\)/, 'the driver is not in the bundle itself');
  const chunk = await import(pathToFileURL(join(bundleDir, autopilot)).href) as { MavlinkAutopilot?: unknown };
  assert.equal(typeof chunk.MavlinkAutopilot, 'function');
});

test('a bundled agent with a MAVLink device loads the driver from its chunk', async () => {
  freshBundle(); // so `covey agent` runs it
  const dir = mkdtempSync(join(tmpdir(), 'covey-plugins-mav-'));
  // A free UDP port for the driver to bind: taken by the OS, then given back.
  const port = await new Promise<number>((resolve) => { const u = createSocket('udp4'); u.bind(0, '127.0.0.1', () => { const p = u.address().port; u.close(() => resolve(p)); }); });
  try {
    const s = await createSwarm(join(dir, 'swarm'), { agents: 3, voters: 3, name: 'mav', logLevel: 'warn', devices: (i) => i === 0 ? [{ driver: 'mavlink', name: 'fc', udp: { bind: { port, address: '127.0.0.1' } } }] : [] });
    for (const a of s.agents) startAgent(s, a.index);
    await waitReady(s, 60_000);
    const listed = await (await fetch(s.agents[0].http + '/devices')).json() as { devices: { name: string; driver: string }[] };
    assert.deepEqual(listed.devices.map((d) => [d.name, d.driver]), [['fc', 'mavlink']]);
  } finally {
    await swarmDown(join(dir, 'swarm')).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
