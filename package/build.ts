// `npm run build` (and `npm pack`'s "prepack"): the JavaScript and .d.ts files the npm package
// ships, compiled by tsc from the TypeScript the repository runs directly (tsconfig.build.json,
// into dist/lib/), and the `covey` command's entry (agent/cli/covey.mjs, package.json "bin")
// copied beside the compiled program. Relative imports keep their `.ts` in the sources; tsc
// rewrites them to `.js` (rewriteRelativeImportExtensions), and the .d.ts files keep them, which
// TypeScript resolves to the .d.ts beside them.
//
// Exit codes: 0 built, 1 the build failed (tsc's errors are printed).

import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const libDir = join(root, 'dist', 'lib');

function main(): number {
  let tsc: string;
  try {
    tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    process.stderr.write('build: typescript is not installed; run `npm ci` (with dev dependencies) before `npm run build` or `npm pack`\n');
    return 1;
  }
  const startedMs = performance.now();
  // A clean directory: a module deleted from the sources must not linger in the package.
  rmSync(libDir, { recursive: true, force: true });
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`build: tsc failed (exit ${r.status ?? r.signal}); nothing to pack\n`);
    return 1;
  }
  // covey.mjs imports main.js, which imports program.js: both must be there.
  for (const file of ['main.js', 'program.js']) {
    const compiled = join(libDir, 'agent', 'cli', file);
    if (!existsSync(compiled)) {
      process.stderr.write(`build: tsc did not write ${compiled}; check "files" in tsconfig.build.json\n`);
      return 1;
    }
  }
  // Files modules read at run time rather than import: tsc does not copy them.
  for (const assets of [join('agent', 'live', 'ui'), join('sim', 'report')]) {
    cpSync(join(root, assets), join(libDir, assets), { recursive: true, filter: (src) => !/\.ts$/.test(src) && !src.includes('fixtures') });
  }
  const bin = join(libDir, 'agent', 'cli', 'covey.mjs');
  copyFileSync(join(root, 'agent', 'cli', 'covey.mjs'), bin);
  chmodSync(bin, 0o755);
  process.stderr.write(`build: dist/lib/ (JavaScript and .d.ts for the npm package) in ${((performance.now() - startedMs) / 1000).toFixed(1)} s\n`);
  return 0;
}

process.exitCode = main();
