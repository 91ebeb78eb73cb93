// Loading plugins named in the agent config: a module path (relative to the config file) or a
// package name, whose default export (or `plugin` export) is a definePlugin(...) result. The
// config's `options` are validated against the schema the plugin exports, and every problem is
// named with the plugin, the field and the fix, before the agent starts anything.

import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PluginDefinition } from './api.ts';
import type { LoadedPlugin } from './host.ts';

export interface PluginEntry {
  /** A path ("./plugins/survey/index.ts", relative to the config file) or a package name. */
  readonly module: string;
  readonly options?: unknown;
  /** False keeps the entry in the config without loading it (default true). */
  readonly enabled?: boolean;
}

export class PluginLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PluginLoadError';
  }
}

/** Where `import()` finds the module: a file URL for paths, the package resolved from baseDir otherwise. */
export function resolvePluginModule(module: string, baseDir: string): string {
  if (module.startsWith('.') || isAbsolute(module)) return pathToFileURL(isAbsolute(module) ? module : resolve(baseDir, module)).href;
  try {
    return pathToFileURL(createRequire(join(baseDir, 'covey-config.js')).resolve(module)).href;
  } catch {
    return module; // an ESM-only package without a require condition: let import() find it
  }
}

/** What to do about a plugin module that failed to import, by the error's code. */
export function loadFailureHint(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ERR_MODULE_NOT_FOUND': case 'MODULE_NOT_FOUND':
      return 'check the path (relative to the config file) or install the package';
    // Node strips types only outside node_modules: an installed plugin package must ship JavaScript.
    case 'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING': case 'ERR_UNKNOWN_FILE_EXTENSION':
      return 'an installed package must ship JavaScript: compile it (tsc) and point its package.json "exports" at the .js files; '
        + '`covey new plugin NAME` makes a package set up so (docs/plugins.md, "Packaging a plugin")';
    default:
      return 'the module threw while loading';
  }
}

export function isPluginDefinition(x: unknown): x is PluginDefinition<unknown, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const d = x as Record<string, unknown>;
  return typeof d.name === 'string' && typeof d.version === 'string' && typeof d.start === 'function' && typeof d.capabilities === 'object';
}

/** The plugin a loaded module exports: `export default definePlugin(...)` or `export const plugin = ...`. */
export function pluginOf(mod: Record<string, unknown>, source: string): PluginDefinition<unknown, unknown> {
  const def = isPluginDefinition(mod.default) ? mod.default : isPluginDefinition(mod.plugin) ? mod.plugin : null;
  if (def === null) throw new PluginLoadError(`${source}: does not export a plugin; write \`export default definePlugin({ name, version, capabilities, start })\` (see docs/plugins.md)`);
  return def;
}

/** Checks options against the plugin's schema; the error lists every problem with its field. */
export function validateOptions(def: PluginDefinition<unknown, unknown>, raw: unknown, where: string): unknown {
  if (def.options === undefined) {
    if (raw !== undefined && raw !== null && !(typeof raw === 'object' && Object.keys(raw).length === 0)) {
      throw new PluginLoadError(`${where}: plugin "${def.name}" takes no options; remove "options"`);
    }
    return undefined;
  }
  const parsed = def.options.safeParse(raw ?? {});
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `  ${where}.options${i.path.map((p) => typeof p === 'number' ? `[${p}]` : `.${String(p)}`).join('')}: ${i.message}`);
  throw new PluginLoadError(`plugin "${def.name}": ${lines.length} problem${lines.length === 1 ? '' : 's'} with its options:\n${lines.join('\n')}`);
}

/** Imports one plugin module and validates its options. `where` names the config entry, e.g. "plugins[0]". */
export async function loadPlugin(entry: PluginEntry, baseDir: string, where: string): Promise<LoadedPlugin> {
  let mod: Record<string, unknown>;
  try {
    mod = await import(resolvePluginModule(entry.module, baseDir)) as Record<string, unknown>;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new PluginLoadError(`${where}: cannot load plugin module ${JSON.stringify(entry.module)}: ${e.message.split('\n')[0]} (${loadFailureHint(e)})`, { cause: err });
  }
  const definition = pluginOf(mod, `${where} (${entry.module})`);
  return { definition, options: validateOptions(definition, entry.options, where), source: entry.module };
}

/**
 * Loads the enabled entries of a config's `plugins`, in order, checking each one's options; a
 * plugin listed twice is refused (its store and topics would be shared by two instances).
 */
export async function loadPlugins(entries: readonly PluginEntry[], baseDir: string): Promise<LoadedPlugin[]> {
  const out: LoadedPlugin[] = [];
  const firstEntry = new Map<string, number>();
  for (let i = 0; i < entries.length; i++) {
    if (entries[i].enabled === false) continue;
    const p = await loadPlugin(entries[i], baseDir, `plugins[${i}]`);
    const earlier = firstEntry.get(p.definition.name);
    if (earlier !== undefined) throw new PluginLoadError(`plugins[${i}]: plugin "${p.definition.name}" is already loaded by plugins[${earlier}]; list each plugin once`);
    firstEntry.set(p.definition.name, i);
    out.push(p);
  }
  return out;
}
