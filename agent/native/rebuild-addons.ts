// `npm run rebuild:native` (and `prepare`, so `npm ci`): rebuilds the ABI-dependent native addons
// (i2c-bus, node-libgpiod; addons.ts) for the Node that runs this script — the pinned Node 24 under
// npm — with node-gyp and that Node's own headers (node-headers.ts), offline when npm's cache has
// them. `npm ci` builds them with the Node that runs npm (a machine's Node 20), so without this the
// BME280 and GPIO drivers cannot load under Covey's Node. An addon that already loads is left alone;
// one that npm left out (its build failed: no libgpiod-dev) is reported as absent with the fix.
//
// Usage: rebuild-addons.ts [--check] [--keep-going] [--json]
//   --check       report only, build nothing
//   --keep-going  exit 0 even when an installed addon still does not load (prepare: `npm ci` must
//                 not fail for an optional device driver; it says so once and carries on)
// Exit codes: 0 every installed addon loads (or --keep-going), 1 an installed addon does not load,
// 2 usage error.

import { Command, CommanderError } from 'commander';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findNodeGyp, nativeAddons, probeAddon, rebuildAddon, type NativeAddon } from './addons.ts';
import { findNodeHeaders } from './node-headers.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface AddonReport {
  readonly package: string;
  readonly state: 'loads' | 'rebuilt' | 'absent' | 'fails';
  /** Why it fails or is absent, and the fix; empty when it loads. */
  readonly detail: string;
}

interface Options {
  readonly check: boolean;
  readonly json: boolean;
}

function handle(addon: NativeAddon, options: Options, log: (line: string) => void): AddonReport {
  const first = probeAddon(root, addon.pkg);
  if (first.state === 'loads') return { package: addon.pkg, state: 'loads', detail: '' };
  if (first.state === 'absent')
    return { package: addon.pkg, state: 'absent', detail: `not installed (npm skips an optional dependency whose build fails), so ${addon.usedBy} will be unavailable; to have it: ${addon.installHint}` };
  if (options.check || !addon.abiDependent)
    return { package: addon.pkg, state: 'fails', detail: `${first.message}; ${addon.usedBy} will be unavailable; fix: npm run rebuild:native` };
  const nodeGyp = findNodeGyp(root);
  if (nodeGyp === null) return { package: addon.pkg, state: 'fails', detail: `cannot rebuild it: node-gyp not found (it comes with npm: is npm on PATH?); ${addon.usedBy} will be unavailable` };
  const headers = findNodeHeaders(root);
  if (headers.nodedir === null) return { package: addon.pkg, state: 'fails', detail: `cannot rebuild it: no headers for Node ${process.versions.node} (${headers.why}); ${addon.usedBy} will be unavailable` };
  log(`rebuild-addons: building ${addon.pkg} for Node ${process.versions.node} (NODE_MODULE_VERSION ${process.versions.modules}) with headers from ${headers.source}`);
  const built = rebuildAddon(first.dir, nodeGyp, headers.nodedir);
  if (!built.ok) return { package: addon.pkg, state: 'fails', detail: `rebuild failed: ${built.why}; ${addon.usedBy} will be unavailable (a C++ compiler, make and python3 are needed: sudo apt install build-essential python3)` };
  const after = probeAddon(root, addon.pkg);
  if (after.state !== 'loads') return { package: addon.pkg, state: 'fails', detail: `rebuilt but still does not load: ${after.state === 'fails' ? after.message : after.state}` };
  return { package: addon.pkg, state: 'rebuilt', detail: '' };
}

function main(argv: readonly string[]): number {
  const program = new Command('rebuild-addons')
    .description('rebuild the ABI-dependent native addons (i2c-bus, node-libgpiod) for the Node that runs this')
    .option('--check', 'report only, build nothing', false)
    .option('--keep-going', 'exit 0 even when an installed addon does not load (for prepare)', false)
    .option('--json', 'print the report as JSON', false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    return e instanceof CommanderError && e.exitCode === 0 ? 0 : 2;
  }
  const opts = program.opts<{ check: boolean; keepGoing: boolean; json: boolean }>();
  const log = (line: string): void => {
    if (!opts.json) process.stderr.write(`${line}\n`);
  };
  const reports = nativeAddons.map((addon) => handle(addon, opts, log));
  const failing = reports.filter((r) => r.state === 'fails');
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ node: process.versions.node, modules: process.versions.modules, addons: reports }, null, 2)}\n`);
  } else {
    for (const r of reports) log(`rebuild-addons: ${r.package}: ${r.state}${r.detail === '' ? '' : `: ${r.detail}`}`);
  }
  return failing.length > 0 && !opts.keepGoing ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
