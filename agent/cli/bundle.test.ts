// The agent bundle (agent/cli/bundle.ts): `covey agent` runs it only while it is fresh, and falls
// back to the sources otherwise; an error from inside the bundle keeps its exit code.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleStaleness, projectRoot, type BundleMeta } from './bundle.ts';
import { freshBundle } from './bundle-testing.ts';

const cli = join(projectRoot, 'agent/cli/covey.mjs');

/** A fake project: one source file, a lock file, a bundle and its metadata built at `builtAtMs`. */
function fakeProject(builtAtMs: number): string {
  const root = mkdtempSync(join(tmpdir(), 'covey-bundle-'));
  mkdirSync(join(root, 'dist'));
  mkdirSync(join(root, 'agent'));
  writeFileSync(join(root, 'agent', 'a.ts'), 'export {};\n');
  writeFileSync(join(root, 'package-lock.json'), '{}\n');
  writeFileSync(join(root, 'dist', 'agent.mjs'), '');
  const meta: BundleMeta = { format: 1, builtAtMs, sources: ['agent/a.ts'] };
  writeFileSync(join(root, 'dist', 'agent.meta.json'), JSON.stringify(meta));
  const before = (builtAtMs - 60_000) / 1000;
  for (const f of ['agent/a.ts', 'package-lock.json']) utimesSync(join(root, f), before, before);
  return root;
}

test('a bundle is fresh until a source or a lock file changes after its build began', () => {
  const builtAtMs = Date.now() - 10_000;
  const root = fakeProject(builtAtMs);
  try {
    assert.equal(bundleStaleness(root), null);
    const later = (builtAtMs + 1_000) / 1000;
    utimesSync(join(root, 'agent', 'a.ts'), later, later);
    assert.match(bundleStaleness(root) ?? '', /agent\/a\.ts changed after the bundle was built/);
    utimesSync(join(root, 'agent', 'a.ts'), (builtAtMs - 1) / 1000, (builtAtMs - 1) / 1000);
    assert.equal(bundleStaleness(root), null);
    utimesSync(join(root, 'package-lock.json'), later, later);
    assert.match(bundleStaleness(root) ?? '', /package-lock\.json changed/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a bundle without its metadata, of another format, or missing a source or a chunk is not used', () => {
  const root = fakeProject(Date.now());
  try {
    rmSync(join(root, 'agent', 'a.ts'));
    assert.match(bundleStaleness(root) ?? '', /agent\/a\.ts is gone/);
    writeFileSync(join(root, 'agent', 'a.ts'), 'export {};\n');
    utimesSync(join(root, 'agent', 'a.ts'), (Date.now() - 60_000) / 1000, (Date.now() - 60_000) / 1000);
    const withChunk: BundleMeta = { format: 1, builtAtMs: Date.now(), sources: ['agent/a.ts'], chunks: ['agent-chunks/x-1.mjs'] };
    writeFileSync(join(root, 'dist', 'agent.meta.json'), JSON.stringify(withChunk));
    assert.match(bundleStaleness(root) ?? '', /bundle chunk agent-chunks\/x-1\.mjs missing/);
    mkdirSync(join(root, 'dist', 'agent-chunks'));
    writeFileSync(join(root, 'dist', 'agent-chunks', 'x-1.mjs'), '');
    assert.equal(bundleStaleness(root), null, 'fresh once its chunk is there');
    writeFileSync(join(root, 'dist', 'agent.meta.json'), JSON.stringify({ format: 2 }));
    assert.match(bundleStaleness(root) ?? '', /another format/);
    writeFileSync(join(root, 'dist', 'agent.meta.json'), '{ half');
    assert.match(bundleStaleness(root) ?? '', /no bundle built/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

// Records every module the CLI resolves (as agent/cli/lazy.test.ts does).
const hook = `
import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); appendFileSync(process.env.COVEY_IMPORT_LOG, r.url + '\\n'); return r; } });
`;

function agentWithMissingConfig(env: Record<string, string>): { status: number | null; stderr: string; modules: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'covey-bundle-run-'));
  const log = join(dir, 'modules.txt');
  try {
    const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, cli, 'agent', '--config', join(dir, 'missing.yaml')], {
      encoding: 'utf8', env: { ...process.env, ...env, COVEY_IMPORT_LOG: log },
    });
    const modules = readFileSync(log, 'utf8').split('\n').filter((u) => u.startsWith('file:')).map((u) => fileURLToPath(u).slice(projectRoot.length));
    return { status: r.status, stderr: r.stderr.replaceAll(dir, 'TMP'), modules };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('covey agent runs the bundle when it is fresh, the sources otherwise, with the same errors and exit codes', () => {
  freshBundle();
  const bundled = agentWithMissingConfig({});
  assert.ok(bundled.modules.includes('dist/agent.mjs'), bundled.modules.join(', '));
  assert.ok(!bundled.modules.includes('agent/agent.ts'), 'the sources are not loaded beside the bundle');
  const sources = agentWithMissingConfig({ COVEY_BUNDLE: '0' });
  assert.ok(sources.modules.includes('agent/agent.ts') && !sources.modules.includes('dist/agent.mjs'), sources.modules.join(', '));
  // A config error thrown inside the bundle is of the bundle's own class: still exit 2, same words.
  assert.equal(bundled.status, 2, bundled.stderr);
  assert.deepEqual([bundled.status, bundled.stderr], [sources.status, sources.stderr]);
  assert.match(bundled.stderr, /^covey agent: .*missing\.yaml/);
});
