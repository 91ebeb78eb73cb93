#!/usr/bin/env node
// The installed `covey` command (package.json "bin"). Plain JavaScript, so that Node need not load
// its TypeScript stripper before the compile cache is on: with the cache warm, `covey --version`
// then strips nothing at all (covey.ts explains the cache; it is the same program).
import { enableCompileCache } from 'node:module';

enableCompileCache();
const { buildCli } = await import('./program.ts');
await buildCli().parseAsync(process.argv);
