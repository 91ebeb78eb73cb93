import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Lazy loading of the native Linux packages (node-libgpiod, i2c-bus). They are optional: they only
// build where their C headers are (a Raspberry Pi with libgpiod-dev / i2c), so Covey must start and
// type-check without them. The specifier is a variable so tsc never resolves the package; callers
// cast the module to a small local interface of the part of the API they use.

/** A load failure: `what` says which package and why, `fix` what to run. */
export interface OptionalLoadFailure {
  readonly ok: false;
  readonly what: string;
  readonly fix: string;
  readonly cause: unknown;
}

export type OptionalLoad<T> = { readonly ok: true; readonly module: T } | OptionalLoadFailure;

/** Imports a CommonJS package by name and returns its module.exports, or describes why it cannot. */
export async function loadOptional<T>(pkg: string, installHint: string): Promise<OptionalLoad<T>> {
  const specifier: string = pkg;
  try {
    const mod = (await import(specifier)) as { default?: unknown };
    return { ok: true, module: (mod.default ?? mod) as T };
  } catch (e) {
    const code = (e as { code?: string }).code;
    const message = (e as Error).message ?? String(e);
    if (code === 'ERR_MODULE_NOT_FOUND' && message.includes(`'${pkg}'`))
      return { ok: false, what: `package ${pkg} is not installed`, fix: installHint, cause: e };
    // A native addon built for another Node version (NODE_MODULE_VERSION mismatch) or whose shared
    // library is missing: the package is there but cannot load.
    if (code === 'ERR_DLOPEN_FAILED') {
      const abi = parseAbiMismatch(message);
      if (abi !== null) return { ok: false, what: abiMismatchWhat(pkg, abi), fix: abiMismatchFix(), cause: e };
      return { ok: false, what: `package ${pkg} is installed but its native addon does not load (${firstLine(message)})`, fix: `rebuild it for this Node: npm rebuild ${pkg}`, cause: e };
    }
    return { ok: false, what: `package ${pkg} failed to load: ${firstLine(message)}`, fix: installHint, cause: e };
  }
}

export function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim() !== '')?.trim() ?? s;
}

/** The errno code of a native error (EACCES, ENOENT, EBUSY...), if any. */
export function errnoCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The two ABIs of a "compiled against a different Node.js version" dlopen error. */
export interface AbiMismatch {
  readonly builtFor: number;
  readonly requires: number;
}

/** Reads Node's NODE_MODULE_VERSION mismatch message; null for any other load error. */
export function parseAbiMismatch(message: string): AbiMismatch | null {
  const m = /NODE_MODULE_VERSION\s+(\d+)\.[\s\S]*?requires\s+NODE_MODULE_VERSION\s+(\d+)/.exec(message);
  return m === null ? null : { builtFor: Number(m[1]), requires: Number(m[2]) };
}

// NODE_MODULE_VERSION → Node major (nodejs/node doc/abi_version_registry.json), to say which Node built it.
const nodeMajorOfAbi: Readonly<Record<number, number>> = { 108: 18, 115: 20, 120: 21, 127: 22, 131: 23, 137: 24, 141: 25 };

function abiName(abi: number): string {
  const major = nodeMajorOfAbi[abi];
  return major === undefined ? `NODE_MODULE_VERSION ${abi}` : `NODE_MODULE_VERSION ${abi}, Node ${major}`;
}

function abiMismatchWhat(pkg: string, abi: AbiMismatch): string {
  return `package ${pkg} is installed but its native addon was built for another Node (${abiName(abi.builtFor)}) `
    + `and Covey runs on Node ${process.versions.node} (${abiName(abi.requires)})`;
}

/**
 * The command that rebuilds the addons for the Node running now. `npm rebuild <pkg>` is not it: npm
 * builds with the Node that runs npm and its own `nodedir`, which may be another Node's. Where the
 * running Node is the project's pinned one, npm's script runs it; otherwise the script is named with
 * the running Node itself, so that the rebuild targets exactly this Node.
 */
export function abiMismatchFix(root: string | null = coveyRoot(), execPath: string = process.execPath): string {
  if (root === null) return `rebuild the addons with the Node that runs Covey (${execPath}): npm run rebuild:native in Covey's directory`;
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
  const runsPinned = existsSync(pinned) && realpathOrSelf(pinned) === realpathOrSelf(execPath);
  const command = runsPinned ? `npm --prefix ${quote(root)} run rebuild:native` : `${quote(execPath)} ${quote(join(root, 'agent', 'native', 'rebuild-addons.ts'))}`;
  return `rebuild the addons for this Node: ${command}`;
}

/** Covey's package root: the nearest directory above this file with a package.json named covey. */
export function coveyRoot(from: string = fileURLToPath(import.meta.url)): string | null {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'covey') return dir;
      } catch { /* not JSON: keep looking */ }
    }
    if (dirname(dir) === dir) return null;
  }
}

function realpathOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

function quote(path: string): string {
  return /^[\w./@+-]+$/.test(path) ? path : `'${path.replace(/'/g, "'\\''")}'`;
}
