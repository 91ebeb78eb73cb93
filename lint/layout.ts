// The house plan (DESIGN.md, "Layout"), as the one table that the import rule (lint/rooms-rule.ts,
// run by `npm run lint`), the README's Layout section (lint/readme.ts) and their test
// (lint/layout.test.ts) all read. A room is a folder with one job; another room may import it
// only if it is listed below as an arrow, and, where the room keeps a door, only through its door.
// Anything else is an error, unless it is one of the exceptions at the end, each with its reason:
// those are the faults issue 14 names, listed so that no new one slips in while they are fixed,
// and the test fails on an exception nothing needs any more, so that the list only shrinks.

export interface Door {
  /** The file other rooms import. */
  readonly file: string;
  /**
   * Whether imports from other rooms must go through it. False where the room has no door yet and
   * would need one exception per internal file imported: those rooms keep only their arrows.
   */
  readonly kept: boolean;
}

export interface Room {
  readonly name: string;
  /**
   * Where its files are: folders end in '/'. A file belongs to the room with the longest matching
   * path, so a sub-folder or a single file can belong to another room than its parent folder.
   */
  readonly paths: readonly string[];
  readonly job: string;
  /** Null: a room that no other room may import. */
  readonly door: Door | null;
  /** The rooms whose files it may import. */
  readonly mayImport: readonly string[];
}

export interface Exception {
  /** Importing files, as globs over paths from the repository root (`*` within a name, `**` any depth). */
  readonly from: readonly string[];
  /** Imported files, as globs; each must still be imported by one of `from`, or the test fails. */
  readonly to: readonly string[];
  readonly why: string;
}

// Rooms that may import consensus may also import the membership core: both are pure cores.
const cores = ['consensus', 'membership'];

export const rooms: readonly Room[] = [
  {
    name: 'consensus',
    paths: ['consensus/'],
    job: 'EPaxos*: the pure replica core (core/), the replicated state machine (statemachine/), the storage port '
      + 'with its lmdb and write-ahead-log adapters (storage/), the test kit (testing/)',
    door: { file: 'consensus/index.ts', kept: true },
    mayImport: ['kit'],
  },
  {
    name: 'membership',
    paths: ['transports/membership/'],
    job: 'SWIM with Lifeguard as a pure core like consensus: the state machine, its options, validation and signed statements',
    door: { file: 'transports/membership/index.ts', kept: true },
    mayImport: ['kit'],
  },
  {
    name: 'kit',
    paths: ['kit/'],
    job: 'small pure helpers both protocol cores share: the validation kit (validate-kit.ts) their validators check '
      + 'attacker-shaped input with; imports nothing',
    door: { file: 'kit/validate-kit.ts', kept: true },
    mayImport: [],
  },
  {
    name: 'transports',
    // The membership driver and its Ed25519 signer live beside the core but do I/O: they are transports.
    paths: [
      'transports/',
      'transports/membership/driver.ts', 'transports/membership/driver.test.ts', 'transports/membership/driver-trust.test.ts',
      'transports/membership/ed25519.ts', 'transports/membership/ed25519.test.ts',
    ],
    job: 'how agents reach each other: the libp2p node, peer keeper, link health, the consensus RPC and its wire codec '
      + '(which carry consensus messages, hence the arrow to consensus), snapshot transfer, the membership driver',
    door: { file: 'transports/index.ts', kept: false },
    mayImport: cores,
  },
  {
    name: 'devices',
    paths: ['devices/'],
    job: 'typed device interfaces and their drivers: simulated, Linux GPIO and I2C, MAVLink autopilots; the registry',
    door: { file: 'devices/index.ts', kept: false },
    mayImport: [],
  },
  {
    name: 'agent',
    paths: ['agent/'],
    job: 'the runtime on a device: the agent and its consensus driver, config, plugin host and plugin API, '
      + 'HTTP API, metrics, client, local swarm',
    door: { file: 'agent/index.ts', kept: false },
    mayImport: ['transports', ...cores, 'devices'],
  },
  {
    name: 'cli',
    // DESIGN.md puts the CLI at the top level; until it moves there it is agent/cli/.
    paths: ['cli/', 'agent/cli/'],
    job: 'the `covey` command: a thin, lazy-loading front for agent/, sim/ and bench/ (still in agent/cli/)',
    door: null,
    mayImport: ['agent', 'sim', 'bench'],
  },
  {
    name: 'sim',
    paths: ['sim/'],
    job: 'the deterministic simulator: virtual time, simulated network and disk with faults, workloads, '
      + 'history, checkers (check/), the model checker (check/model/), covey sim, check and verify',
    door: { file: 'sim/index.ts', kept: false },
    mayImport: ['agent', ...cores, 'transports', 'devices'],
  },
  {
    name: 'bench',
    paths: ['bench/'],
    job: 'benchmarks, never part of npm test',
    door: null,
    mayImport: ['agent', ...cores, 'transports', 'devices', 'sim'],
  },
  {
    name: 'examples',
    paths: ['examples/'],
    job: 'example plugins and configurations a new user copies (survey/)',
    door: null,
    mayImport: ['agent', 'devices', 'sim'],
  },
  {
    name: 'package',
    paths: ['package/'],
    job: 'the npm package\'s public face: the entry points `covey`, `covey/plugin`, `covey/testing` and `covey/devices` '
      + '(package.json "exports"), their build to JavaScript and .d.ts (dist/lib/), and the test that packs, installs and uses it',
    door: null,
    mayImport: ['agent', ...cores, 'devices', 'sim'],
  },
  {
    name: 'docs',
    paths: ['docs/'],
    job: 'longer explanations: protocol notes, operations, plugins, benchmarks',
    door: null,
    mayImport: [],
  },
  {
    name: 'lint',
    paths: ['lint/', 'eslint.config.js'],
    job: 'the house rules: this table, the import rule built on it, ESLint\'s configuration',
    door: null,
    mayImport: [],
  },
];

const consensusInternals = (files: readonly string[]): string[] => files.map((f) => `consensus/${f}`);

export const exceptions: readonly Exception[] = [
  {
    from: ['**'],
    to: consensusInternals([
      'core/types.ts', 'core/ids.ts', 'core/config.ts', 'core/replica.ts', 'core/quorum.ts', 'core/validate.ts',
      'statemachine/commands.ts', 'statemachine/results.ts', 'statemachine/roster.ts', 'statemachine/machine.ts',
      'storage/port.ts', 'storage/memory.ts', 'storage/wal-storage.ts',
    ]),
    why: 'consensus/ has no door yet: these are what consensus/index.ts will export (issue 14)',
  },
  {
    from: ['sim/**', 'agent/driver.test.ts'],
    to: consensusInternals(['core/deps.ts', 'core/conflicts.ts']),
    why: 'the simulator\'s checker and disk, and a driver test, recompute dependencies with the core\'s internals '
      + '(issue 14: outside code imports deps.ts, conflicts.ts)',
  },
  {
    from: ['sim/**', 'transports/**'],
    to: consensusInternals(['testing/invariants.ts', 'testing/cluster.ts', 'testing/arbitraries.ts']),
    why: 'consensus\'s test kit used outside it; testing/invariants.ts even ships in `covey sim` (issue 14)',
  },
  {
    from: ['**'],
    to: ['transports/membership/membership.ts', 'transports/membership/config.ts', 'transports/membership/statement.ts',
      'transports/membership/types.ts', 'transports/membership/meta.ts', 'transports/membership/validate.ts'],
    why: 'transports/membership/index.ts exports all of these, but nothing imports it yet (issue 14)',
  },
  {
    from: ['transports/membership/driver*.ts', 'transports/membership/ed25519*.ts'],
    to: ['transports/membership/**'],
    why: 'the libp2p driver and its signer sit beside the core they drive and use its internals; not a fault',
  },
  {
    from: ['agent/bench.ts', 'agent/bench.test.ts'],
    to: ['sim/**'],
    why: 'the swarm bench checks real agents\' histories with the simulator\'s checker; it belongs in bench/, '
      + 'which may import sim/ (issue 14)',
  },
  {
    from: ['agent/nemesis/run.ts'],
    to: ['sim/history.ts', 'sim/check/linearizability.ts'],
    why: 'the network nemesis judges real agents\' histories with the simulator\'s checker, as the swarm bench does; '
      + 'its small run is in npm test, which bench/ is not (issue 16)',
  },
  {
    from: ['agent/cli/quorum.ts'],
    to: ['consensus/core/quorum.ts'],
    why: '`covey quorum` takes the quorum math (and the default e, computed once there) straight from the core; '
      + 'the CLI may import agent, sim and bench only (issue 14)',
  },
  {
    from: ['agent/devices.test.ts', 'agent/http.test.ts'],
    to: ['agent/cli/agent-commands.ts'],
    why: 'agent tests check `covey status` output with the CLI\'s formatStatus; the arrow runs cli -> agent',
  },
  {
    from: ['agent/cli/agent-commands.ts'],
    to: ['transports/node.ts'],
    why: '`covey init` makes and saves the swarm key with transports\' helpers directly instead of through agent/',
  },
  {
    from: ['sim/check/verify-run.ts'],
    to: ['agent/cli/verify-command.ts'],
    why: '`covey verify`\'s runner takes its option type from the CLI: a cycle cli -> sim -> cli',
  },
  {
    from: ['bench/agent-start.ts'],
    to: ['agent/cli/bundle.ts'],
    why: 'bench:agent-start measures the bundle the CLI builds and asks the CLI\'s code whether it is fresh',
  },
  {
    from: ['transports/rpc/consensus-rpc.test.ts'],
    to: ['agent/swarm.ts'],
    why: 'a transports test borrows freePorts from the local swarm; it belongs in a shared test helper',
  },
];

/** The room a file belongs to (path from the repository root), or null for a file in no room. */
export function roomOf(file: string): Room | null {
  let best: Room | null = null;
  let bestLength = -1;
  for (const room of rooms) {
    for (const p of room.paths) {
      const matches = p.endsWith('/') ? file.startsWith(p) : file === p;
      if (matches && p.length > bestLength) {
        best = room;
        bestLength = p.length;
      }
    }
  }
  return best;
}

export interface Violation {
  readonly kind: 'arrow' | 'door' | 'no-room';
  readonly from: string;
  readonly to: string;
  readonly message: string;
}

/** What is wrong with `from` importing `to` (both paths from the repository root), exceptions aside. */
export function checkImport(from: string, to: string): Violation | null {
  const a = roomOf(from);
  const b = roomOf(to);
  if (a === null || b === null) {
    const lost = a === null ? from : to;
    return { kind: 'no-room', from, to, message: `${lost} is in no room of lint/layout.ts: add it to a room (and to README's Layout)` };
  }
  if (a === b) return null;
  if (!a.mayImport.includes(b.name)) {
    const allowed = a.mayImport.length === 0 ? 'nothing of the project' : a.mayImport.join(', ');
    return {
      kind: 'arrow', from, to,
      message: `${a.name} -> ${b.name} is not an arrow of the layout: ${from} imports ${to}, `
        + `but ${a.name} may import ${allowed} (lint/layout.ts)`,
    };
  }
  if (b.door !== null && b.door.kept && to !== b.door.file) {
    return {
      kind: 'door', from, to,
      message: `${from} imports ${to}, inside ${b.name}: import its door ${b.door.file} (lint/layout.ts)`,
    };
  }
  return null;
}

function globRegExp(glob: string): RegExp {
  const body = glob.split('**').map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')).join('.*');
  return new RegExp(`^${body}$`);
}

const globs = new Map<string, RegExp>();
export function matchesGlob(file: string, glob: string): boolean {
  let re = globs.get(glob);
  if (re === undefined) {
    re = globRegExp(glob);
    globs.set(glob, re);
  }
  return re.test(file);
}

/** The listed exception that allows `from` importing `to`, if any. */
export function exceptionFor(from: string, to: string): Exception | null {
  return exceptions.find((e) => e.from.some((g) => matchesGlob(from, g)) && e.to.some((g) => matchesGlob(to, g))) ?? null;
}

/** A violation that no exception allows, or null. */
export function importError(from: string, to: string): Violation | null {
  const v = checkImport(from, to);
  if (v === null || v.kind === 'no-room') return v;
  return exceptionFor(from, to) === null ? v : null;
}
