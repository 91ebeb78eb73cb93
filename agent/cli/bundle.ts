// Which code `covey agent` runs: the agent bundle when it is fresh, else the TypeScript sources.
//
// Node's module loader, not the agent, was most of an agent's start: resolving, reading and
// linking about a thousand modules (libp2p, zod, yaml, …) took 600–850 ms of a 1.3–1.6 s start on
// this 2-core machine. `npm run build` (run by `npm ci` and `npm install` as "prepare") bundles
// agent/cli/run-agent.ts and what it imports into one file with esbuild (agent/cli/build-bundle.ts);
// imported, it loads in about a quarter of the time, with less memory (docs/benchmarks.md).
//
// The bundle is only used while it is the same program as the sources: it is fresh when no source
// file it was built from, and neither package-lock.json nor node_modules' own lock, changed after
// its build began. Otherwise (an edited checkout not rebuilt yet, an install without dev
// dependencies) the sources run, as before. COVEY_BUNDLE=0 always runs the sources.
// Only node's own modules load here.

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: this file is agent/cli/bundle.ts. */
export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
export const bundleDir = join(projectRoot, 'dist');
export const bundleFile = join(bundleDir, 'agent.mjs');
export const bundleMetaFile = join(bundleDir, 'agent.meta.json');
/** Where the bundle's chunks go, relative to `bundleDir`: code it imports only on demand. */
export const bundleChunkDir = 'agent-chunks';

/** What the build records about the bundle, to tell later whether it is still fresh. */
export interface BundleMeta {
  readonly format: 1;
  /** When the build began (ms since the epoch): an input changed after it makes the bundle stale. */
  readonly builtAtMs: number;
  /** The input files outside node_modules, relative to the project root. */
  readonly sources: readonly string[];
  /** The chunks the bundle imports on demand, relative to dist/ (absent from older builds: none). */
  readonly chunks?: readonly string[];
}

/** Files whose change means dependencies may have changed. */
const lockFiles = ['package-lock.json', join('node_modules', '.package-lock.json')];

function mtimeMs(path: string): number | null {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return null;
  }
}

/** Why the bundle cannot be used, or null when it is fresh. */
export function bundleStaleness(root = projectRoot): string | null {
  let meta: BundleMeta;
  try {
    meta = JSON.parse(readFileSync(join(root, 'dist', 'agent.meta.json'), 'utf8')) as BundleMeta;
  } catch {
    return 'no bundle built (npm run build)';
  }
  if (meta.format !== 1 || !Array.isArray(meta.sources) || typeof meta.builtAtMs !== 'number') return 'bundle metadata of another format';
  if (mtimeMs(join(root, 'dist', 'agent.mjs')) === null) return 'bundle file missing';
  if (meta.chunks !== undefined && !Array.isArray(meta.chunks)) return 'bundle metadata of another format';
  for (const chunk of meta.chunks ?? []) if (mtimeMs(join(root, 'dist', chunk)) === null) return `bundle chunk ${chunk} missing`;
  for (const file of [...meta.sources, ...lockFiles]) {
    const m = mtimeMs(join(root, file));
    if (m === null && !lockFiles.includes(file)) return `${file} is gone`;
    if (m !== null && m > meta.builtAtMs) return `${file} changed after the bundle was built`;
  }
  return null;
}

/** The module `covey agent` imports: a URL to the bundle when fresh, else to run-agent.ts. */
export function agentEntry(env: NodeJS.ProcessEnv = process.env): string {
  // Compiled into the npm package (dist/lib/, package/build.ts) this file is bundle.js, beside
  // run-agent.js: a computed URL is not rewritten by tsc as import paths are.
  const source = new URL(import.meta.url.endsWith('.js') ? './run-agent.js' : './run-agent.ts', import.meta.url).href;
  if (env.COVEY_BUNDLE === '0') return source;
  return bundleStaleness() === null ? new URL('../../dist/agent.mjs', import.meta.url).href : source;
}

/** The agent's module (run-agent.ts, or the bundle made of it), imported from agentEntry(). */
export async function importAgent(): Promise<typeof import('./run-agent.ts')> {
  return await import(agentEntry()) as typeof import('./run-agent.ts');
}
