// malloc_trim(0), for agent/memory-reclaim.ts: the one call that makes glibc give back the free
// pages in the middle of its arenas (free() returns only an arena's top, and a few live chunks
// pin it). Measured after a 300,000-frame fuzz:wire flood: V8's heap back to its size, yet tens
// of MiB of freed Buffers kept by malloc until this call (docs/benchmarks.md).
//
// Node has no binding for it and glibc tunables cannot do it (GLIBC_TUNABLES with lower trim and
// mmap thresholds, one arena or no tcache: no change, measured), so a tiny addon does
// (agent/native/malloc-trim.c), built at `npm ci` by agent/native/build.ts where a C compiler is
// found. Without it — no compiler, not glibc, COVEY_MALLOC_TRIM=0 — the agent runs as before and
// says once why its malloc is not trimmed.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The addon's path: dist/ beside agent/ — from agent/malloc-trim.ts and from the bundle, dist/agent.mjs, alike. */
export const mallocTrimAddon = fileURLToPath(new URL('../dist/malloc-trim.node', import.meta.url));

export type MallocTrimLoad =
  | { readonly trim: () => boolean; readonly unavailable: null }
  | { readonly trim: null; readonly unavailable: string };

/** Loads the addon, or says why there is none. Never throws. */
export function loadMallocTrim(env: NodeJS.ProcessEnv = process.env, file = mallocTrimAddon): MallocTrimLoad {
  if (env.COVEY_MALLOC_TRIM === '0') return { trim: null, unavailable: 'COVEY_MALLOC_TRIM=0' };
  if (process.platform !== 'linux') return { trim: null, unavailable: `not Linux (${process.platform})` };
  if (!existsSync(file)) return { trim: null, unavailable: `${file} not built (npm run build needs a C compiler, cc)` };
  try {
    const addon = createRequire(import.meta.url)(file) as { mallocTrim?: unknown };
    if (typeof addon.mallocTrim !== 'function') return { trim: null, unavailable: `${file} has no mallocTrim (rebuild it: npm run build)` };
    return { trim: addon.mallocTrim as () => boolean, unavailable: null };
  } catch (err) {
    return { trim: null, unavailable: `${file} does not load: ${(err as Error).message}` };
  }
}
