// `npm run build`: bundles the agent (agent/cli/run-agent.ts and everything it imports) into
// dist/agent.mjs with esbuild, and records its inputs in dist/agent.meta.json so that
// agent/cli/bundle.ts runs it only while it is fresh. Run by npm as "prepare" after `npm ci` and
// `npm install`. Without esbuild (an install without dev dependencies) it says so and exits 0:
// the agent then runs from its sources.
//
// Left outside the bundle, loaded from node_modules as before: native addons (lmdb and its
// msgpackr-extract, serialport, i2c-bus, node-libgpiod), which find their binaries relative to
// their own package, and pino, whose transports (pino-pretty on a terminal) start a worker thread
// from a file of pino's own.
//
// Exit codes: 0 built (or skipped without esbuild), 1 the build failed.

import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { bundleChunkDir, bundleDir, bundleFile, bundleMetaFile, projectRoot, type BundleMeta } from './bundle.ts';
import { compareCodeUnitsIn, englishOnlyZod, lazyNoiseWasm, requiredBuiltinNamespace, requireNodeHttp } from './bundle-plugins.ts';

const external = ['lmdb', 'msgpackr-extract', 'serialport', '@serialport/*', 'i2c-bus', 'node-libgpiod', 'pino', 'pino-pretty', 'thread-stream'];

async function main(): Promise<number> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    process.stderr.write('build: esbuild is not installed (dev dependencies skipped?); the agent will run from its TypeScript sources\n');
    return 0;
  }
  const builtAtMs = Date.now();
  mkdirSync(bundleDir, { recursive: true });
  const tmpDir = join(bundleDir, `.agent-build-${process.pid}`);
  rmSync(tmpDir, { recursive: true, force: true });
  try {
    const result = await esbuild.build({
      entryPoints: { agent: join(projectRoot, 'agent', 'cli', 'run-agent.ts') },
      outdir: tmpDir,
      outExtension: { '.js': '.mjs' },
      // What the agent imports only on demand (a MAVLink autopilot's driver and message tables,
      // 0.7 MB) goes to a chunk of its own, loaded when imported: an agent without one keeps
      // neither its source nor its code in memory.
      splitting: true,
      chunkNames: `${bundleChunkDir}/[name]-[hash]`,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      external,
      // Minified, but every function and class keeps its name (keepNames), so stack traces and
      // logged errors read as from the sources. Short local names make the source V8 keeps in
      // memory for the life of the agent 3.3 -> 2.5 MB (docs/benchmarks.md).
      minifyWhitespace: true,
      minifySyntax: true,
      minifyIdentifiers: true,
      keepNames: true,
      legalComments: 'none',
      metafile: true,
      // What an idle agent never uses stays out of its memory (bundle-plugins.ts says how).
      plugins: [requireNodeHttp, lazyNoiseWasm, englishOnlyZod, compareCodeUnitsIn(/[\\/]node_modules[\\/]@libp2p[\\/](peer-store|utils)[\\/]dist[\\/].*\.js$/)],
      logLevel: 'warning',
      // CommonJS dependencies call require(); an ES module has none of its own.
      banner: { js: "import { createRequire as __coveyCreateRequire } from 'node:module'; const require = __coveyCreateRequire(import.meta.url);" },
    });
    const sources = Object.keys(result.metafile.inputs)
      .filter((input) => !input.startsWith(`${requiredBuiltinNamespace}:`))
      .map((input) => relative(projectRoot, join(process.cwd(), input)))
      .filter((file) => !file.split(/[\\/]/).includes('node_modules'))
      .sort();
    const outputs = Object.entries(result.metafile.outputs).map(([file, o]) => ({ file: relative(tmpDir, join(process.cwd(), file)), bytes: o.bytes }));
    const chunks = outputs.map((o) => o.file).filter((f) => f !== 'agent.mjs').sort();
    const meta: BundleMeta = { format: 1, builtAtMs, sources, chunks };
    // The chunks first (named by their content, so an agent starting from the old bundle meanwhile
    // finds its own), then the bundle and then its metadata, each by rename: a reader never sees
    // half a file, and a bundle without metadata (a build that stopped between the two) is not used.
    mkdirSync(join(bundleDir, bundleChunkDir), { recursive: true });
    for (const chunk of chunks) renameSync(join(tmpDir, chunk), join(bundleDir, chunk));
    renameSync(join(tmpDir, 'agent.mjs'), bundleFile);
    writeFileSync(`${bundleMetaFile}.tmp`, JSON.stringify(meta, null, 1) + '\n');
    renameSync(`${bundleMetaFile}.tmp`, bundleMetaFile);
    for (const old of readdirSync(join(bundleDir, bundleChunkDir))) {
      if (!chunks.includes(join(bundleChunkDir, old))) rmSync(join(bundleDir, bundleChunkDir, old), { force: true });
    }
    const bytes = (f: (file: string) => boolean) => outputs.filter((o) => f(o.file)).reduce((sum, o) => sum + o.bytes, 0);
    process.stderr.write(`build: ${relative(process.cwd(), bundleFile)} from ${sources.length} source files, ${(bytes((f) => f === 'agent.mjs') / 1e6).toFixed(1)} MB, and ${chunks.length} chunk(s) loaded on demand, ${(bytes((f) => f !== 'agent.mjs') / 1e6).toFixed(1)} MB\n`);
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
  return 0;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => {
  process.stderr.write(`build: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
