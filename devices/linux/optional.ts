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
    if (code === 'ERR_DLOPEN_FAILED')
      return { ok: false, what: `package ${pkg} is installed but its native addon does not load (${firstLine(message)})`, fix: `rebuild it for this Node: npm rebuild ${pkg}`, cause: e };
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
