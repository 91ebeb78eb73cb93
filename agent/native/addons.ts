// The native addons of Covey's device drivers, and whether each loads under the Node that runs
// Covey. i2c-bus and node-libgpiod are nan addons: V8's C++ API, so built for one Node ABI
// (process.versions.modules) only; `npm ci` builds them with the Node that runs npm, which need
// not be the pinned one. serialport's bindings are Node-API prebuilds, loadable by any Node.
// rebuild-addons.ts rebuilds the ABI-dependent ones for the running Node.

import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseAbiMismatch } from '../../devices/linux/optional.ts';

export interface NativeAddon {
  /** The npm package whose `require()` loads the addon. */
  readonly pkg: string;
  /** Built for one Node ABI (nan / V8 API), so it needs rebuilding for another Node. */
  readonly abiDependent: boolean;
  /** What in Covey is unavailable without it. */
  readonly usedBy: string;
  /** How to get it when npm left it out (an optional dependency whose build failed). */
  readonly installHint: string;
}

export const nativeAddons: readonly NativeAddon[] = [
  { pkg: 'i2c-bus', abiDependent: true, usedBy: 'the BME280 driver (I2C)', installHint: 'sudo apt install build-essential python3 && npm install i2c-bus' },
  { pkg: 'node-libgpiod', abiDependent: true, usedBy: 'the gpio-in and gpio-out drivers', installHint: 'sudo apt install build-essential python3 libgpiod-dev && npm install node-libgpiod' },
  { pkg: '@serialport/bindings-cpp', abiDependent: false, usedBy: 'MAVLink over a serial port', installHint: 'npm install serialport' },
];

export type AddonProbe =
  | { readonly state: 'loads'; readonly dir: string }
  | { readonly state: 'absent' }
  | { readonly state: 'fails'; readonly dir: string; readonly message: string; readonly builtForModules: number | null };

/** The package's directory as `require` from the project root finds it, or null when not installed. */
export function addonDir(root: string, pkg: string): string | null {
  try {
    return dirname(createRequire(join(root, 'package.json')).resolve(`${pkg}/package.json`));
  } catch {
    return null;
  }
}

/**
 * Loads the package in a child of the running Node (a failed dlopen must not stay in this process,
 * and a rebuilt file must be loaded fresh) and says whether it loads.
 */
export function probeAddon(root: string, pkg: string, node: string = process.execPath): AddonProbe {
  const dir = addonDir(root, pkg);
  if (dir === null) return { state: 'absent' };
  const r = spawnSync(node, ['-e', 'require(process.argv[1])', dir], { encoding: 'utf8', timeout: 60_000 });
  if (r.status === 0) return { state: 'loads', dir };
  const output = r.error?.message ?? r.stderr;
  const abi = parseAbiMismatch(output);
  if (abi !== null) return { state: 'fails', dir, message: `its addon was built for NODE_MODULE_VERSION ${abi.builtFor}, this Node (${process.versions.node}) needs ${abi.requires}`, builtForModules: abi.builtFor };
  const message = output.split('\n').find((l) => /Error|cannot|Could not/.test(l))?.trim() ?? output.trim();
  return { state: 'fails', dir, message, builtForModules: null };
}

/**
 * node-gyp as npm runs it: the one npm names for its scripts, else the one bundled with the npm on
 * PATH, else the project's own. Null when there is none.
 */
export function findNodeGyp(root: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates: string[] = [];
  if (env.npm_config_node_gyp !== undefined) candidates.push(env.npm_config_node_gyp);
  const npm = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout?.trim();
  if (npm !== undefined && npm !== '') {
    try {
      candidates.push(join(dirname(realpathSync(npm)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
    } catch { /* a dangling npm link: try the next */ }
  }
  candidates.push(join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => existsSync(c)) ?? null;
}

export type RebuildResult = { readonly ok: true } | { readonly ok: false; readonly why: string };

/**
 * `node-gyp rebuild` in the package's directory, run by the running Node against the headers in
 * `nodedir`. npm_config_* variables are dropped: npm passes its config to scripts that way, and a
 * `nodedir` set there (another Node's headers) would override ours.
 */
export function rebuildAddon(dir: string, nodeGyp: string, nodedir: string): RebuildResult {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_config_(nodedir|target|runtime|dist_url|arch)$/i.test(k)));
  // node-gyp runs `node -e "require('nan')"` for include paths: the running Node must come first on PATH.
  env.PATH = `${dirname(process.execPath)}:${env.PATH ?? ''}`;
  const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, `--target=${process.versions.node}`], { cwd: dir, env, encoding: 'utf8', timeout: 600_000 });
  if (r.error !== undefined) return { ok: false, why: `node-gyp did not run: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, why: gypFailure(`${r.stdout}\n${r.stderr}`) };
  return { ok: true };
}

/** The lines of a node-gyp failure that say what is missing, not its 50 lines of stack and environment. */
export function gypFailure(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const telling = lines.filter((l) => /error|not found|No such file|command not found|fatal/i.test(l) && !/^gyp ERR! (stack|System|command|cwd|node -v|node-gyp -v|not ok)/.test(l));
  return (telling.length > 0 ? telling : lines).slice(0, 3).join(' / ') || 'node-gyp failed without output';
}
