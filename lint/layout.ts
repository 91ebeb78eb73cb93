// The house plan (DESIGN.md, "Layout"), as the one table that the import rule (lint/rooms-rule.ts,
// run by `npm run lint`), the README's Layout section (lint/readme.ts) and their test
// (lint/layout.test.ts) all read. A room is a folder with one job; another room may import it
// only if it is listed below as an arrow, and, where the room keeps a door, only through its door.
// Anything else is an error, unless it is one of the exceptions at the end, each with its reason
// (a fault still to fix, or why it is none), listed so that no new one slips in; the test fails
// on an exception nothing needs any more, so that the list only shrinks.

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
  /**
   * Rooms that only its tests may import: `*.test.ts` files and test helpers (a file named
   * testing.ts or under a testing/ folder). For test kits, which nothing that ships may load.
   */
  readonly testsMayImport?: readonly string[];
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
    // The storage port and its in-memory adapter are the core's; the durable adapters are their own room.
    paths: ['consensus/', 'consensus/storage/port.ts', 'consensus/storage/memory.ts'],
    job: 'EPaxos*: the pure replica core with the protocol invariants the simulator checks (core/), the replicated '
      + 'state machine (statemachine/), the storage port and its in-memory adapter (storage/port.ts, memory.ts), '
      + 'the in-memory cluster the property tests and the model checker drive (cluster.ts)',
    door: { file: 'consensus/index.ts', kept: true },
    mayImport: ['kit'],
    testsMayImport: ['consensus-testing'],
  },
  {
    name: 'consensus-storage',
    paths: ['consensus/storage/'],
    job: 'the durable adapters of consensus\'s storage port: lmdb and the write-ahead log (I/O, hence outside the pure '
      + 'core; its door loads lmdb\'s native module, which importing consensus does not)',
    door: { file: 'consensus/storage/wal-storage.ts', kept: true },
    mayImport: ['consensus'],
  },
  {
    name: 'consensus-testing',
    paths: ['consensus/testing/'],
    job: 'consensus\'s test kit: fast-check generators of commands and batches, scheduled runs of a cluster, the '
      + 'test setup; nothing that ships loads it (it needs fast-check), so only tests and test helpers import it',
    door: { file: 'consensus/testing/index.ts', kept: true },
    mayImport: ['consensus'],
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
    // The membership driver, its gossipsub topic gate and its Ed25519 signer live beside the core
    // but do I/O (or serve what does): they are transports, and use the core through its door.
    paths: [
      'transports/',
      'transports/membership/driver.ts', 'transports/membership/driver.test.ts', 'transports/membership/driver-trust.test.ts',
      'transports/membership/ed25519.ts', 'transports/membership/ed25519.test.ts',
      'transports/membership/topic-gate.ts', 'transports/membership/topic-gate.test.ts',
    ],
    job: 'how agents reach each other: the libp2p node, peer keeper, link health, the consensus RPC and its wire codec '
      + '(which carry consensus messages, hence the arrow to consensus), snapshot transfer, the membership driver',
    door: { file: 'transports/index.ts', kept: false },
    mayImport: cores,
    testsMayImport: ['consensus-testing'],
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
    mayImport: ['transports', ...cores, 'consensus-storage', 'devices'],
  },
  {
    name: 'cli',
    // DESIGN.md puts the CLI at the top level; until it moves there it is agent/cli/.
    paths: ['cli/', 'agent/cli/'],
    job: 'the `covey` command: a thin, lazy-loading front for agent/, sim/ and bench/ (still in agent/cli/); '
      + 'it also reads consensus\'s door for `covey quorum`\'s arithmetic and the command types',
    door: null,
    // consensus is a leaf that imports nothing of the project, so the arrow closes no cycle.
    mayImport: ['agent', 'sim', 'bench', 'consensus'],
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

export const exceptions: readonly Exception[] = [
  {
    from: ['agent/nemesis/run.ts'],
    to: ['sim/history.ts', 'sim/check/linearizability.ts'],
    why: 'the network nemesis judges real agents\' histories with the simulator\'s checker, as bench/swarm-bench.ts does; '
      + 'it would belong in bench/ too, but its small run is in npm test, which bench/ is not (a fault, issue 16)',
  },
  {
    from: ['agent/devices.test.ts', 'agent/http.test.ts'],
    to: ['agent/cli/agent-commands.ts'],
    why: 'two end-to-end agent tests also check what `covey status` prints of the agent they start, with the CLI\'s '
      + 'formatStatus: the arrow runs cli -> agent (a fault, in tests only: those checks belong in a CLI test)',
  },
  {
    from: ['agent/cli/agent-commands.ts'],
    to: ['transports/node.ts'],
    why: '`covey init` makes and saves the swarm key with transports\' pnet helpers, loaded only when it runs, '
      + 'instead of through agent/ (a fault: agent/ has no module for the swarm key file to hold them yet)',
  },
  {
    from: ['bench/agent-start.ts'],
    to: ['agent/cli/bundle.ts'],
    why: 'bench:agent-start measures the bundle the CLI builds and asks the CLI\'s own code whether it is fresh: '
      + 'a benchmark of the CLI, not a fault (an arrow bench -> cli would close a cycle with cli -> bench)',
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

/** Whether a file is a test or a test helper: `*.test.ts`, a file named testing.ts, or one under a testing/ folder. */
export function isTest(file: string): boolean {
  return /\.test\.ts$/.test(file) || /(^|\/)testing(\/|\.ts$)/.test(file);
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
  if (!a.mayImport.includes(b.name) && !(isTest(from) && (a.testsMayImport ?? []).includes(b.name))) {
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
