#!/usr/bin/env node
// The `covey` command: the agent and its client commands, the local swarm, the simulator and the
// model checker (program.ts defines them; main.ts dispatches).
//
// Node strips the types of each .ts file it loads, and loading its stripper costs more than the
// rest of `covey --version`. The compile cache keeps every module loaded after this file stripped
// and compiled on disk (in the OS temporary directory; NODE_COMPILE_CACHE=DIR moves it,
// NODE_DISABLE_COMPILE_CACHE=1 turns it off), so from the second run only this small file is
// stripped. Hence the rest loads with import() after the cache is on.

import { enableCompileCache } from 'node:module';

if (import.meta.main) {
  enableCompileCache();
  const { main } = await import('./main.ts');
  await main(process.argv);
}
