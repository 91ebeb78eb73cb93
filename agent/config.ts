// The agent's config file: YAML, validated with zod. Every error names the field, what was wrong
// and how to fix it, because the person reading it is setting up a device in a field.
//
// Relative paths in the file (identity key, data dir, swarm key) are relative to the file itself,
// so a config directory can be moved or copied as a whole.

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { DRIVERS, deviceSpecsSchema } from '../devices/registry.ts';
import { ConfigError } from './config-error.ts';
import { peerIdPattern } from '../consensus/index.ts';

/** A libp2p peer id in its usual base58 text form (Ed25519 ids start with 12D3KooW). */

const peerId = z.string().regex(peerIdPattern, { error: 'expected a libp2p peer id such as 12D3KooW… (`covey init` prints the id of a new agent)' });
const multiaddr = z.string().startsWith('/', { error: 'expected a multiaddr such as /ip4/127.0.0.1/tcp/4001' });
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { error: 'expected host:port, for example 127.0.0.1:7070' });
/** The log levels pino takes (log.level). */
export const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A voter is its peer id, or `{ id, addrs }` when its addresses are known in advance. */
const voter = z.preprocess((v) => typeof v === 'string' ? { id: v } : v,
  z.strictObject({ id: peerId, addrs: z.array(multiaddr).default([]) }));

/** One plugin to load: where its module is, its options, and whether it runs (a bare string is the module). */
const pluginEntry = z.preprocess((v) => typeof v === 'string' ? { module: v } : v, z.strictObject({
  module: z.string({ error: 'expected the plugin\'s module: a path such as ./plugins/heartbeat.ts (relative to this config file) or a package name' })
    .min(1, { error: 'expected the plugin\'s module: a path such as ./plugins/heartbeat.ts (relative to this config file) or a package name' }),
  /** Checked against the plugin's options schema when the agent starts. */
  options: z.unknown().optional(),
  enabled: z.boolean({ error: 'expected true or false (false keeps the entry but does not load the plugin)' }).default(true),
}, { error: 'expected a mapping such as { module: ./plugins/heartbeat.ts, options: { … } }' }));

const votersMin = 3;
const votersMax = 16;

/** What a swarm name may be: it goes into topic names and protocol ids. */
export const swarmNamePattern = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const swarmNameRule = 'expected a short lowercase name (letters, digits, dashes), for example "field-survey"';

export const configSchema = z.strictObject({
  swarm: z.strictObject({
    name: z.string().regex(swarmNamePattern, { error: swarmNameRule }),
    /** A pnet pre-shared key file (libp2p's /key/swarm/psk/1.0.0/ format); agents without it cannot connect. */
    keyFile: z.string().optional(),
    /**
     * The peers admitted from the start besides the voters (docs/security.md). Present, even
     * empty: only roster members may connect, and `covey peers admit|revoke` change it. Absent:
     * an open swarm, where every peer that is not revoked may connect.
     */
    roster: z.array(peerId).max(10_000).optional(),
    /**
     * Form the swarm without listing the voters (docs/agent.md, "A swarm that forms by itself"):
     * the first this many agents with this swarm name and this figure that find each other
     * become the voters, agreed once and kept in the data dir. Exclusive with `voters`.
     */
    expectVoters: z.number({ error: 'expected a whole number of voters, such as 3' }).int({ error: 'expected a whole number of voters, such as 3' })
      .min(votersMin, { error: `expect at least ${votersMin} voters (3, 5 or 7 are usual; consensus needs a majority that survives a crash)` })
      .max(votersMax, { error: `at most ${votersMax} voters; other agents join as workers` }).optional(),
  }),
  identity: z.string().default('identity.key'),
  dataDir: z.string().default('data'),
  listen: z.array(multiaddr).min(1).default(['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws']),
  /** Addresses other agents should dial instead of the listen addresses (behind NAT or a proxy). */
  announce: z.array(multiaddr).default([]),
  /**
   * The voters, in the same order in every agent's config: a voter's index is its replica id.
   * Absent with `swarm.expectVoters` (the agent fills it in once the swarm has formed).
   */
  voters: z.array(voter).max(votersMax, { error: `at most ${votersMax} voters; other agents join as workers without being listed` }).optional(),
  bootstrap: z.array(multiaddr).default([]),
  mdns: z.boolean().default(true),
  http: z.strictObject({
    listen: hostPort.default('127.0.0.1:7070'),
    /** Required when `listen` is not a loopback address: clients send `Authorization: Bearer <token>`. */
    token: z.string().min(16, { error: 'use a token of at least 16 characters' }).optional(),
  }).default({ listen: '127.0.0.1:7070' }),
  /**
   * Opt-in Foxglove WebSocket server (agent/live/foxglove-bridge.ts; docs/agent.md#foxglove). It has
   * no authentication, so only a loopback address is accepted: reach it through an SSH tunnel.
   */
  foxglove: z.strictObject({
    listen: z.string({ error: 'expected host:port, for example 127.0.0.1:8765' }).pipe(hostPort).default('127.0.0.1:8765'),
  }, { error: 'expected a mapping such as { listen: 127.0.0.1:8765 } (leave foxglove out to turn the bridge off)' }).optional(),
  log: z.strictObject({ level: z.enum(levels).default('info') }).default({ level: 'info' }),
  consensus: z.strictObject({
    tickMs: z.number().int().min(1).max(1000).optional(),
    /** Take a snapshot and forget instances every voter executed, every this many applied (0: never). */
    snapshotEveryApplied: z.number().int().min(0).optional(),
    /** How long a client operation may wait for consensus before it fails (ms). */
    requestTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
  }).default({ requestTimeoutMs: 5000 }),
  /**
   * Automatic replacement of a lost voter (docs/reconfiguration.md, "Automatic replacement"): a
   * voter membership has held dead for `afterMs` is replaced by a live roster member of one of
   * `roles` (mains power first, then the fullest battery of at least `batteryFloor`).
   */
  voterReplacement: z.strictObject({
    enabled: z.boolean().default(true),
    afterMs: z.number().int().min(1000).max(86_400_000).default(30_000),
    roles: z.array(z.string().min(1).max(64)).min(1).max(16).default(['worker', 'voter']),
    batteryFloor: z.number().min(0).max(1).default(0.3),
  }).default({ enabled: true, afterMs: 30_000, roles: ['worker', 'voter'], batteryFloor: 0.3 }),
  /** Test-only: lets `/debug/partition` cut this agent off from chosen peers. Never on in the field. */
  faultInjection: z.boolean().default(false),
  /**
   * Plugins to run (docs/plugins.md): a module path relative to this file, or a package name,
   * whose default export is a definePlugin(...) result; `options` are checked by the plugin's
   * own schema when the agent starts.
   */
  plugins: z.array(pluginEntry).default([]),
  /**
   * The devices this agent drives (devices/registry.ts; docs/agent.md#devices): one entry per
   * device, `{ driver, name, ... }`; plugins reach them by `name`. Opened when the agent starts; a
   * device that cannot be opened leaves the agent running without it (shown unavailable).
   */
  devices: deviceSpecsSchema.default([]),
});

export type AgentConfig = Omit<z.output<typeof configSchema>, 'voters'> & {
  /** Empty until a swarm with `swarm.expectVoters` has formed (agent/formation/); then its voters. */
  readonly voters: NonNullable<z.output<typeof configSchema>['voters']>;
  /** The directory of the config file: relative paths above resolve against it. */
  readonly baseDir: string;
};

export { ConfigError };

const loopback = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d+$/;

/** Parses and checks a config; `source` names the file in errors. Throws ConfigError. */
export function parseConfig(text: string, source: string, baseDir: string): AgentConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos !== undefined ? ` at line ${err.linePos[0].line}` : '';
    throw new ConfigError(`${source}: not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`${source}: expected a YAML mapping with at least "swarm" and "voters"; run \`covey init\` to write a complete one`);
  }
  // reportInput: an issue carries the value it is about, so "missing" (undefined) and "wrong type" differ.
  const parsed = configSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${formatPath(i.path, raw)}: ${describeIssue(i)}`);
    throw new ConfigError(`${source}: ${lines.length} problem${lines.length === 1 ? '' : 's'}:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  const voters = checkVoters(c.voters, c.swarm.expectVoters, source);
  const ids = voters.map((v) => v.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup !== undefined) throw new ConfigError(`${source}: voters: ${dup} is listed twice; every voter appears once`);
  if (!loopback.test(c.http.listen) && c.http.token === undefined) {
    throw new ConfigError(`${source}: http.token: required because http.listen (${c.http.listen}) is reachable from other machines; ` +
      'set a token of at least 16 characters, or listen on 127.0.0.1');
  }
  if (c.foxglove !== undefined && !loopback.test(c.foxglove.listen)) {
    throw new ConfigError(`${source}: foxglove.listen: ${c.foxglove.listen} is reachable from other machines, and the Foxglove bridge has no authentication; ` +
      'listen on 127.0.0.1 (the default, 127.0.0.1:8765) and connect from elsewhere through an SSH tunnel (ssh -L 8765:127.0.0.1:8765 DEVICE)');
  }
  return { ...c, voters, baseDir };
}

/** `voters` or `swarm.expectVoters`, exactly one: the voters are either listed or formed. */
function checkVoters(voters: AgentConfig['voters'] | undefined, expectVoters: number | undefined, source: string): AgentConfig['voters'] {
  if (voters !== undefined && expectVoters !== undefined) {
    throw new ConfigError(`${source}: voters and swarm.expectVoters: give one of them, not both; list the voters' peer ids, or let the first ${expectVoters} agents that find each other form the swarm`);
  }
  if (expectVoters !== undefined) return [];
  if (voters === undefined) {
    throw new ConfigError(`${source}: voters: missing; list the voters' peer ids (\`covey init\` prints each agent's), or set swarm.expectVoters: 3 to let the first 3 agents that find each other form the swarm`);
  }
  if (voters.length < votersMin) {
    throw new ConfigError(`${source}: voters: list at least ${votersMin} voters (3, 5 or 7 are usual; consensus needs a majority that survives a crash): the peer ids \`covey init\` printed on each voter, or set swarm.expectVoters instead`);
  }
  return voters;
}

export function loadConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOENT'
      ? `${file}: no such config file; run \`covey init --dir DIR\` to write one`
      : `${file}: cannot read the config file (${code ?? (err as Error).message})`);
  }
  return parseConfig(text, file, dirname(resolve(file)));
}

/** A path from the config, resolved against the config file's directory. */
export function configPath(c: AgentConfig, p: string): string {
  return isAbsolute(p) ? p : resolve(c.baseDir, p);
}

function formatPath(path: readonly PropertyKey[], raw?: unknown): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => {
    if (typeof p !== 'number') return i === 0 ? String(p) : '.' + String(p);
    // A device entry is named too, when it has a name: `devices[1] ("led").line`.
    if (i === 1 && path[0] === 'devices') {
      const name = (((raw as { devices?: unknown }).devices as { name?: unknown }[] | undefined)?.[p])?.name;
      if (typeof name === 'string' && name !== '') return `[${p}] (${JSON.stringify(name)})`;
    }
    return `[${p}]`;
  }).join('');
}

const deviceExample = '{ driver: sim-autopilot, name: autopilot, home: { lat: 47.4, lon: 8.5 } }';

function describeIssue(i: z.core.$ZodIssue): string {
  if (i.path[0] === 'devices') {
    if (i.path.length === 1 && i.code === 'invalid_type') return `expected a list of devices, one entry each, such as - ${deviceExample}`;
    if (i.path.length === 2 && i.code === 'invalid_type') return `expected a mapping such as ${deviceExample}`;
    if (i.path.length === 3 && i.path[2] === 'driver' && /^unknown driver undefined/.test(i.message)) return `missing; name the device's driver (one of ${DRIVERS.join(', ')})`;
    if (i.code === 'unrecognized_keys') return `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')}; check the spelling (each driver's fields: docs/agent.md, "Devices")`;
  }
  if (i.code === 'unrecognized_keys') return `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')}; check the spelling (fields: see docs/agent.md)`;
  if (i.code === 'invalid_type' && i.input === undefined) return 'missing; this field is required';
  return i.message;
}
