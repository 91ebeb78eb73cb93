// esbuild plugins for the agent bundle (agent/cli/build-bundle.ts): each keeps a part of node that
// an idle agent never uses from being loaded into every agent's memory (issue 12: idle agent RSS
// ≤ 100 MB; the figures are in docs/benchmarks.md). Each changes how a module is loaded, or what
// the bundle carries that the agent never uses, never what the agent does.

import { readFile } from 'node:fs/promises';
import type { Plugin } from 'esbuild';

/** The namespace of the stand-in modules `requireNodeHttp` resolves to; not a file, so not a source. */
export const requiredBuiltinNamespace = 'covey-required-builtin';

/**
 * An ES-module import of node:http reads every export of it while linking, and the `WebSocket`,
 * `CloseEvent` and `MessageEvent` getters among them load undici, http2 and zlib: 13 MiB of RSS in
 * a bare node 24 process. Required as CommonJS instead, those getters stay lazy. The bundle's own
 * code and @libp2p/websockets both import node:http, so every import of it is redirected to a
 * stand-in that requires it (the bundle's banner gives an ES module its `require`).
 */
export const requireNodeHttp: Plugin = {
  name: 'require-node-http',
  setup(build) {
    build.onResolve({ filter: /^(node:)?http$/ }, (args) => args.kind === 'import-statement' || args.kind === 'dynamic-import' ? { path: 'node:http', namespace: requiredBuiltinNamespace } : undefined);
    build.onLoad({ filter: /.*/, namespace: requiredBuiltinNamespace }, () => ({ contents: "module.exports = require('node:http');", loader: 'js' }));
  },
};

/** `x.localeCompare(y)` where x and y are a name, a property path, or either called without arguments. */
const localeCompareCall = /([\w$]+(?:\.[\w$]+)*(?:\(\))?)\.localeCompare\(([\w$]+(?:\.[\w$]+)*(?:\(\))?)\)/g;
const compareHelper = '__coveyCompareCodeUnits';

/** Rewrites every `x.localeCompare(y)` in `source` to a comparison of UTF-16 code units; null when it has none. */
export function compareByCodeUnits(source: string): { contents: string; rewritten: number; left: number } | null {
  if (!source.includes('.localeCompare(')) return null;
  let rewritten = 0;
  const contents = source.replace(localeCompareCall, (_, a: string, b: string) => { rewritten++; return `${compareHelper}(${a}, ${b})`; });
  const left = contents.split('.localeCompare(').length - 1;
  return { contents: `${contents}\nfunction ${compareHelper}(a, b) { return a < b ? -1 : a > b ? 1 : 0; }\n`, rewritten, left };
}

/**
 * libp2p's peer store sorts multiaddrs, protocol ids and tag names with `localeCompare`, only to
 * keep a stable order of its own (its records are compared and stored here, not signed or sent).
 * The first `localeCompare` builds ICU's collator, which touches 3 MiB of collation data in node's
 * binary and keeps it resident for good. These strings are ASCII, where a comparison of code
 * units gives a stable order just as well, so the files under `filter` compare that way.
 * A call of another shape is left as it is and named in a build warning.
 */
export function compareCodeUnitsIn(filter: RegExp): Plugin {
  return {
    name: 'compare-code-units',
    setup(build) {
      build.onLoad({ filter }, async (args) => {
        const r = compareByCodeUnits(await readFile(args.path, 'utf8'));
        if (r === null) return undefined;
        const warnings = r.left > 0 ? [{ text: `${r.left} localeCompare call(s) of an unexpected shape left in ${args.path}: the ICU collator loads again (agent/cli/bundle-plugins.ts)` }] : [];
        return { contents: r.contents, loader: 'js', warnings };
      });
    },
  };
}

/** The lines of noise's crypto module that compile and instantiate its WebAssembly at import, and what defers them. */
const noiseWasmAtImport: ReadonlyArray<readonly [string, string]> = [
  ["import { newInstance, ChaCha20Poly1305 } from '@chainsafe/as-chacha20poly1305';\n", ''],
  ["import { digest } from '@chainsafe/as-sha256';\n",
    "let asDigest = null;\nconst digest = (data) => (asDigest ??= require('@chainsafe/as-sha256').digest)(data);\n"],
  ['const ctx = newInstance();\nconst asImpl = new ChaCha20Poly1305(ctx);\n',
    'let asInstance = null;\n' +
    'function asChaCha() {\n' +
    '  if (asInstance === null) { const { newInstance, ChaCha20Poly1305 } = require(\'@chainsafe/as-chacha20poly1305\'); asInstance = new ChaCha20Poly1305(newInstance()); }\n' +
    '  return asInstance;\n' +
    '}\n' +
    // Named parameters, not a rest array: after the switch these run for every small frame.
    'const asImpl = { seal: (k, n, data, ad, dst) => asChaCha().seal(k, n, data, ad, dst), open: (k, n, data, ad, dst) => asChaCha().open(k, n, data, ad, dst) };\n'],
];

/** Noise's crypto module with its WebAssembly loaded at first use; throws, naming what is missing, if the module changed. */
export function deferNoiseWasm(source: string): string {
  let out = source;
  for (const [from, to] of noiseWasmAtImport) {
    const at = out.indexOf(from);
    if (at < 0 || out.indexOf(from, at + 1) >= 0) {
      throw new Error(`@chainsafe/libp2p-noise's crypto module no longer has exactly one ${JSON.stringify(from.split('\n')[0])}: update agent/cli/bundle-plugins.ts (deferNoiseWasm) for its new version`);
    }
    out = out.replace(from, to);
  }
  return out;
}

/**
 * @chainsafe/libp2p-noise's crypto module compiles and instantiates two WebAssembly modules
 * (ChaCha20-Poly1305 and SHA-256) when it is imported, and that costs an idle agent 2.5–3 MiB of RSS
 * for good. The agent seals with node's cipher until it is busy (transports/noise-crypto.ts), so in
 * the bundle the WebAssembly is compiled at its first use instead: esbuild evaluates a module that is
 * `require`d when it is first required.
 */
export const lazyNoiseWasm: Plugin = {
  name: 'lazy-noise-wasm',
  setup(build) {
    build.onLoad({ filter: /[\\/]@chainsafe[\\/]libp2p-noise[\\/]dist[\\/]src[\\/]crypto[\\/]index\.js$/ }, async (args) => ({ contents: deferNoiseWasm(await readFile(args.path, 'utf8')), loader: 'js' }));
  },
};

/** One line of zod's locales index: a locale's default export re-exported under its name. */
const zodLocaleLine = /^export \{ default as ([\w$]+) \} from "\.\/([\w-]+)\.js";$/;

/**
 * zod's locales index with English only. Throws, naming the plugin, when the index holds anything
 * but re-exported locales, or no English: then zod changed and this must be looked at again.
 */
export function englishOnlyZodLocales(source: string): string {
  const lines = source.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('//'));
  const odd = lines.find((l) => !zodLocaleLine.test(l));
  if (odd !== undefined) throw new Error(`zod's locales index has a line that is not a re-exported locale (${JSON.stringify(odd)}): update agent/cli/bundle-plugins.ts (englishOnlyZodLocales) for its new version`);
  const en = lines.find((l) => zodLocaleLine.exec(l)?.[1] === 'en');
  if (en === undefined) throw new Error("zod's locales index no longer exports en: update agent/cli/bundle-plugins.ts (englishOnlyZodLocales) for its new version");
  return en + '\n';
}

/**
 * `import { z } from 'zod'` keeps zod's namespace whole, and with it `z.locales`: the error
 * messages of some fifty languages, 264 KB of the bundle's 1.7 MB, whose source V8 keeps in every
 * agent's memory for its whole life. The agent's own schemas speak English (zod's default, which
 * zod's schemas import from en.js directly), so in the bundle `z.locales` holds only `en`. Plugins
 * are not bundled: one that imports zod gets its own copy, with every locale.
 */
export const englishOnlyZod: Plugin = {
  name: 'english-only-zod',
  setup(build) {
    build.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, async (args) => ({ contents: englishOnlyZodLocales(await readFile(args.path, 'utf8')), loader: 'js' }));
  },
};
