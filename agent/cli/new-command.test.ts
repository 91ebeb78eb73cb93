// `covey new plugin`: what it writes, and its refusals (exit 2) for a bad name or a directory that
// is not empty. That the package it writes passes its own `npm test` is package/pack.test.ts's job.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cli = new URL('./covey.ts', import.meta.url).pathname;
const covey = (args: string[], cwd: string) => spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8' });

test('covey new plugin writes a package named covey-plugin-NAME with covey as a peer dependency', () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-new-'));
  try {
    const r = covey(['new', 'plugin', 'tempwatch', '--json'], dir);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { plugin: string; package: string; dir: string; files: string[] };
    assert.deepEqual([out.plugin, out.package, out.dir], ['tempwatch', 'covey-plugin-tempwatch', join(dir, 'covey-plugin-tempwatch')]);
    for (const f of ['package.json', 'tsconfig.json', 'src/plugin.ts', 'src/plugin.test.ts', 'src/simulation.ts', 'README.md']) assert.ok(out.files.includes(f), f);
    const pkg = JSON.parse(readFileSync(join(out.dir, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
    assert.deepEqual(pkg.peerDependencies, { covey: '^0.1.0' });
    assert.equal(pkg.exports['.'] !== undefined, true);
    assert.match(readFileSync(join(out.dir, 'src/plugin.ts'), 'utf8'), /name: 'tempwatch'/);
    assert.match(readFileSync(join(out.dir, 'src/plugin.ts'), 'utf8'), /from 'covey\/plugin'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('covey new plugin refuses a bad name, a bad package name and a directory that is not empty (exit 2)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-new-'));
  try {
    let r = covey(['new', 'plugin', 'Temp Watch'], dir);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /plugin name "Temp Watch": use a short lowercase name/);
    r = covey(['new', 'plugin', 'ok', '--package', 'Bad Name'], dir);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--package "Bad Name": not a valid npm package name/);
    writeFileSync(join(dir, 'taken'), '');
    r = covey(['new', 'plugin', 'ok', '--dir', dir], dir);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /exists and is not empty; choose another --dir/);
    r = covey(['new', 'plugin'], dir);
    assert.equal(r.status, 2, 'a missing name is a usage error');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('covey agent wants --config or --dev, not both, and --plugin and --http only with --dev (exit 2)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-new-'));
  try {
    let r = covey(['agent'], dir);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /give --config FILE .* or --dev/);
    r = covey(['agent', '--dev', '--config', 'x.yaml'], dir);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /cannot be used with/);
    r = covey(['agent', '--config', 'x.yaml', '--plugin', 'p'], dir);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--plugin goes with --dev/);
    r = covey(['agent', '--config', 'x.yaml', '--http', '127.0.0.1:7071'], dir);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--http goes with --dev/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
