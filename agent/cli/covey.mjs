#!/usr/bin/env -S node --max-semi-space-size=4
// The installed `covey` command (package.json "bin"). Plain JavaScript, so that Node need not load
// its TypeScript stripper before the compile cache is on: with the cache warm, `covey --version`
// then strips nothing at all (covey.ts explains the cache; it is the same program). A 4 MiB
// young-generation semi-space instead of V8's 16 MiB: an idle agent's RSS 175 → 135 MB, and no
// measurable change in throughput (docs/benchmarks.md).
import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';

const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(`covey: needs Node 22 or later (it runs TypeScript directly); this is Node ${process.versions.node}\n`);
  process.exit(2);
}
nodeModule.enableCompileCache();
// In a checkout this file sits beside main.ts; in the npm package (package.json "bin") it is
// copied beside the compiled main.js (package/build.ts), which needs no type stripping at all.
// main.ts takes `covey agent --config FILE` straight to the agent and the rest to program.ts.
const entry = existsSync(new URL('./main.ts', import.meta.url)) ? './main.ts' : './main.js';
const { main } = await import(entry);
await main(process.argv);
