// Builds dist/malloc-trim.node from malloc-trim.c (agent/malloc-trim.ts says what it is for).
// Run by `npm run build` and so by `npm ci` ("prepare"). Linux only; the compiler is $CC or cc.
// Without a compiler, or when the build fails, it says so and exits 0: the agent then runs
// without trimming malloc (it logs that once at start), as it did before the addon existed.
//
// Exit codes: 0 built or skipped, 1 the addon was built but does not load (a broken build must
// not pass unnoticed).

import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMallocTrim, mallocTrimAddon } from '../malloc-trim.ts';

const source = join(dirname(fileURLToPath(import.meta.url)), 'malloc-trim.c');

function main(): number {
  if (process.platform !== 'linux') {
    process.stderr.write(`build: malloc-trim addon skipped (${process.platform} is not Linux)\n`);
    return 0;
  }
  const cc = process.env.CC ?? 'cc';
  mkdirSync(dirname(mallocTrimAddon), { recursive: true });
  const tmp = `${mallocTrimAddon}.${process.pid}.tmp`;
  // -shared without linking Node: the napi_* symbols resolve from the node process at load.
  const r = spawnSync(cc, ['-shared', '-fPIC', '-O2', '-Wall', '-o', tmp, source], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    rmSync(tmp, { force: true });
    const why = r.error !== undefined ? r.error.message : r.stderr.trim().split('\n').slice(-3).join(' / ');
    process.stderr.write(`build: malloc-trim addon not built (${cc}: ${why}); the agent will run without trimming malloc\n`);
    return 0;
  }
  renameSync(tmp, mallocTrimAddon);
  const loaded = loadMallocTrim({}, mallocTrimAddon);
  if (loaded.trim === null) {
    process.stderr.write(`build: malloc-trim addon built but unusable: ${loaded.unavailable}\n`);
    rmSync(mallocTrimAddon, { force: true });
    return 1;
  }
  process.stderr.write(`build: ${mallocTrimAddon} (${cc})\n`);
  return 0;
}

process.exitCode = main();
