// A real local swarm on loopback: N agent processes, each with its own key, data dir, ports and
// log, described by DIR/swarm.json. `covey swarm up` makes (or reuses) it and starts the agents;
// `covey swarm down` stops them; tests and `covey swarm bench` kill and restart single agents.
// The first agents are voters, the rest workers; every agent's config may carry plugins, devices
// and any other config fields on top of what the swarm needs (CreateOptions).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import type { DeviceSpecInput } from '../devices/registry.ts';
import { freePorts } from '../transports/ports.ts';
import { AgentClient } from './client.ts';
import { ConfigError, parseConfig } from './config.ts';
import { createIdentity, saveIdentity } from './identity.ts';
import { agentEnv, agentNodeFlags } from './node-flags.ts';

export interface SwarmAgent {
  readonly index: number;
  readonly peerId: string;
  readonly dir: string;
  readonly config: string;
  readonly http: string;
  readonly log: string;
  readonly voter: boolean;
  pid: number | null;
}

export interface Swarm {
  readonly dir: string;
  readonly name: string;
  readonly agents: SwarmAgent[];
}

/** One plugin entry of an agent config (agent/config.ts): a module path is best absolute here. */
export interface SwarmPlugin {
  readonly module: string;
  readonly options?: unknown;
  readonly enabled?: boolean;
}

/** Which agent a per-agent option is asked about. */
export interface AgentSlot {
  readonly index: number;
  readonly voter: boolean;
  /** 0, 1, … among the workers; null for a voter. */
  readonly workerIndex: number | null;
}

type PerAgent<T> = T | ((index: number, agent: AgentSlot) => T);

export interface CreateOptions {
  /** Agents in all. Default: voters + workers when `workers` is given, else 3. */
  readonly agents?: number;
  /** How many of the agents are voters (the first ones). Default: 3 when `workers` is given; else all up to 7, else 5. */
  readonly voters?: number;
  /** Agents beyond the voters (they forward to voters); the total is then voters + workers. */
  readonly workers?: number;
  /** Plugins in every agent's config, or per agent. Relative module paths resolve against the agent's directory. */
  readonly plugins?: PerAgent<readonly SwarmPlugin[]>;
  /** Devices (devices/registry.ts specs) per agent, e.g. `(i, a) => a.voter ? [] : [{ driver: 'sim-autopilot', … }]`. */
  readonly devices?: PerAgent<readonly DeviceSpecInput[]>;
  /**
   * More config, merged into each agent's (after the swarm's own fields): mappings are merged,
   * `plugins` and `devices` lists are appended to (a plugin already listed gets its options
   * merged instead: mergePlugins), anything else replaces. Applied in order.
   */
  readonly configExtra?: PerAgent<Record<string, unknown>> | readonly PerAgent<Record<string, unknown>>[];
  /** The agents' log level (default info). */
  readonly logLevel?: string;
  readonly name?: string;
  /** Test-only: lets tests cut agents apart through /debug/partition. */
  readonly faultInjection?: boolean;
  readonly requestTimeoutMs?: number;
  /** Snapshot (and truncate) every this many applied instances; the agents' default when absent. */
  readonly snapshotEveryApplied?: number;
}

const coveyCli = new URL('./cli/covey.mjs', import.meta.url).pathname;
const swarmFile = (dir: string): string => join(dir, 'swarm.json');

/** Writes keys and configs for a new swarm in `dir` (which must not hold one already). */
export async function createSwarm(dirIn: string, o: CreateOptions): Promise<Swarm> {
  const dir = resolve(dirIn);
  if (existsSync(swarmFile(dir))) throw new Error(`${dir} already holds a swarm (swarm.json); use it as it is, or choose another --dir`);
  let total: number;
  let voterCount: number;
  if (o.workers !== undefined) {
    if (!Number.isInteger(o.workers) || o.workers < 0) throw new Error(`--workers must be a whole number of agents, got ${o.workers}`);
    voterCount = o.voters ?? 3;
    total = voterCount + o.workers;
    if (o.agents !== undefined && o.agents !== total) throw new Error(`-n (${o.agents}) must equal --voters (${voterCount}) + --workers (${o.workers}); give two of them`);
  } else {
    total = o.agents ?? 3;
    voterCount = o.voters ?? (total <= 7 ? total : 5);
  }
  if (!Number.isInteger(total) || total < 1 || total > 64) throw new Error(`-n must be from 1 to 64 agents, got ${total}`);
  if (!Number.isInteger(voterCount) || voterCount < 1 || voterCount > Math.min(total, 16)) throw new Error(`--voters must be from 1 to ${Math.min(total, 16)}, got ${voterCount}`);
  const name = o.name ?? 'local';
  mkdirSync(dir, { recursive: true });
  const ids = await Promise.all(Array.from({ length: total }, () => createIdentity()));
  const ports = await freePorts(total * 3);
  const tcp = (i: number) => ports[3 * i];
  const voters = ids.slice(0, voterCount).map((id, i) => ({ id: id.peerId, addrs: [`/ip4/127.0.0.1/tcp/${tcp(i)}`] }));
  const agents: SwarmAgent[] = [];
  for (let i = 0; i < total; i++) {
    const adir = join(dir, `agent-${i}`);
    mkdirSync(adir, { recursive: true });
    saveIdentity(join(adir, 'identity.key'), ids[i]);
    const http = `127.0.0.1:${ports[3 * i + 2]}`;
    const slot: AgentSlot = { index: i, voter: i < voterCount, workerIndex: i < voterCount ? null : i - voterCount };
    const base: Record<string, unknown> = {
      swarm: { name },
      identity: 'identity.key',
      dataDir: 'data',
      listen: [`/ip4/127.0.0.1/tcp/${tcp(i)}`, `/ip4/127.0.0.1/tcp/${ports[3 * i + 1]}/ws`],
      voters,
      bootstrap: [`/ip4/127.0.0.1/tcp/${tcp(0)}/p2p/${ids[0].peerId}`].filter(() => i !== 0),
      mdns: false,
      http: { listen: http },
      log: { level: o.logLevel ?? 'info' },
      consensus: { requestTimeoutMs: o.requestTimeoutMs ?? 5000, ...(o.snapshotEveryApplied === undefined ? {} : { snapshotEveryApplied: o.snapshotEveryApplied }) },
      faultInjection: o.faultInjection ?? false,
    };
    const extras = o.configExtra === undefined ? [] : Array.isArray(o.configExtra) ? o.configExtra : [o.configExtra as PerAgent<Record<string, unknown>>];
    let config = base;
    for (const e of extras) config = mergeConfig(config, pick(e, slot));
    const plugins = pick(o.plugins ?? [], slot);
    const devices = pick(o.devices ?? [], slot);
    if (plugins.length > 0 || devices.length > 0) config = mergeConfig(config, { plugins, devices });
    const text = `# agent ${i} of the local swarm "${name}" (covey swarm up)\n` + stringify(config);
    // Check it now: a bad plugin entry or device spec is an error here, naming the agent, not a dead process later.
    try {
      parseConfig(text, `agent ${i} (${slot.voter ? 'voter' : 'worker'})`, adir);
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(`the local swarm's config for ${err.message}`);
      throw err;
    }
    writeFileSync(join(adir, 'config.yaml'), text);
    agents.push({ index: i, peerId: ids[i].peerId, dir: adir, config: join(adir, 'config.yaml'), http: `http://${http}`, log: join(adir, 'agent.log'), voter: i < voterCount, pid: null });
  }
  const swarm: Swarm = { dir, name, agents };
  saveSwarm(swarm);
  return swarm;
}

function pick<T>(v: PerAgent<T>, slot: AgentSlot): T {
  return typeof v === 'function' ? (v as (index: number, agent: AgentSlot) => T)(slot.index, slot) : v;
}

/**
 * `extra` over `base`: mappings merge, the `plugins` and `devices` lists are appended to, other
 * values replace. A plugin entry of `extra` whose module is already listed merges into that entry
 * instead (mergePlugins), so a fragment can give one role other options for the same plugin.
 */
export function mergeConfig(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    const b = out[k];
    if (k === 'plugins' && Array.isArray(v)) out[k] = mergePlugins(Array.isArray(b) ? b : [], v);
    else if (k === 'devices' && Array.isArray(v)) out[k] = [...(Array.isArray(b) ? b : []), ...v];
    else if (isMap(v) && isMap(b)) out[k] = mergeConfig(b, v);
    else out[k] = v;
  }
  return out;
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Plugin entries of `extra` over `base`, by module (the same text; a fragment's relative paths are
 * absolute by then): a module already listed keeps its place, its `options` merge key by key
 * (mappings within merge the same way; anything else, lists included, replaces) and `enabled`
 * replaces when given; a new module is appended. A bare string entry is `{ module }`.
 */
export function mergePlugins(base: readonly unknown[], extra: readonly unknown[]): unknown[] {
  const out = [...base];
  const moduleOf = (p: unknown): unknown => typeof p === 'string' ? p : isMap(p) ? p.module : undefined;
  for (const e of extra) {
    const m = moduleOf(e);
    const i = typeof m === 'string' ? out.findIndex((p) => moduleOf(p) === m) : -1;
    if (i < 0) {
      out.push(e);
      continue;
    }
    const was: Record<string, unknown> = typeof out[i] === 'string' ? { module: m } : { ...(out[i] as Record<string, unknown>) };
    const now: Record<string, unknown> = typeof e === 'string' ? { module: m } : (e as Record<string, unknown>);
    if (now.options !== undefined) was.options = isMap(was.options) && isMap(now.options) ? mergeOptions(was.options, now.options) : now.options;
    if (now.enabled !== undefined) was.enabled = now.enabled;
    out[i] = was;
  }
  return out;
}

function mergeOptions(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(extra)) out[k] = isMap(v) && isMap(out[k]) ? mergeOptions(out[k] as Record<string, unknown>, v) : v;
  return out;
}

/**
 * A YAML config fragment for `covey swarm up --config-extra FILE`: a mapping of agent config
 * fields. Relative plugin module paths (./x.ts, ../x) are made absolute against the fragment's
 * directory, so the agents (whose configs live elsewhere) find them.
 */
export function readConfigFragment(file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `cannot read it as YAML: ${(err as Error).message.split('\n')[0]}`}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${file}: expected a YAML mapping of agent config fields, such as plugins: [...] and devices: [...]`);
  const fragment = raw as Record<string, unknown>;
  const base = dirname(resolve(file));
  if (Array.isArray(fragment.plugins)) {
    fragment.plugins = fragment.plugins.map((p: unknown) => {
      const module = typeof p === 'string' ? p : p !== null && typeof p === 'object' ? (p as { module?: unknown }).module : undefined;
      if (typeof module !== 'string' || !module.startsWith('.') || isAbsolute(module)) return p;
      const abs = resolve(base, module);
      return typeof p === 'string' ? abs : { ...(p as object), module: abs };
    });
  }
  return fragment;
}

export function readSwarm(dirIn: string): Swarm {
  const dir = resolve(dirIn);
  let text: string;
  try {
    text = readFileSync(swarmFile(dir), 'utf8');
  } catch {
    throw new Error(`${dir} holds no local swarm (no swarm.json); start one with \`covey swarm up -n 3 --dir ${dirIn}\``);
  }
  return JSON.parse(text) as Swarm;
}

export function saveSwarm(s: Swarm): void {
  const tmp = swarmFile(s.dir) + '.tmp';
  writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n');
  renameSync(tmp, swarmFile(s.dir));
}

export function isAlive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts agent `i` as a detached process logging to its agent.log; returns its pid. */
export function startAgent(s: Swarm, i: number): number {
  const a = s.agents[i];
  if (isAlive(a.pid)) throw new Error(`agent ${i} is already running (pid ${a.pid})`);
  const fd = openSync(a.log, 'a');
  // An agent's own Node flags and environment (agent/node-flags.ts), not covey.mjs's shebang: spawning node directly skips that.
  const child = spawn(process.execPath, [...agentNodeFlags, coveyCli, 'agent', '--config', a.config], { detached: true, stdio: ['ignore', fd, fd], env: agentEnv() });
  closeSync(fd);
  child.unref();
  a.pid = child.pid ?? null;
  saveSwarm(s);
  return a.pid!;
}

/** Stops agent `i`: SIGTERM and a graceful stop, or SIGKILL (`hard`, or after `graceMs`). */
export async function stopAgent(s: Swarm, i: number, o: { hard?: boolean; graceMs?: number } = {}): Promise<void> {
  const a = s.agents[i];
  const pid = a.pid;
  if (pid !== null && isAlive(pid)) {
    process.kill(pid, o.hard === true ? 'SIGKILL' : 'SIGTERM');
    const until = Date.now() + (o.graceMs ?? 10_000);
    while (isAlive(pid) && Date.now() < until) await sleep(25);
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(10);
  }
  a.pid = null;
  saveSwarm(s);
}

/** Waits until every running agent answers /ready (or `timeoutMs` passes, then throws). */
export async function waitReady(s: Swarm, timeoutMs: number, which: readonly number[] = s.agents.map((a) => a.index), onProgress?: (ready: number, total: number) => void): Promise<void> {
  const until = Date.now() + timeoutMs;
  const pending = new Set(which);
  const tokens = new Map(which.map((i) => [i, httpToken(s.agents[i].config)]));
  let last = '';
  while (pending.size > 0) {
    for (const i of [...pending]) {
      const a = s.agents[i];
      if (!isAlive(a.pid)) throw new Error(`agent ${i} exited while starting; see its log: ${a.log}\n${tail(a.log, 12)}`);
      try {
        const token = tokens.get(i);
        const r = await fetch(a.http + '/ready', { signal: AbortSignal.timeout(1000), headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
        if (r.ok) pending.delete(i); else last = `agent ${i}: ${(await r.json() as { reason: string }).reason}`;
      } catch {
        last = `agent ${i}: HTTP not up yet`;
      }
    }
    onProgress?.(which.length - pending.size, which.length);
    if (pending.size === 0) break;
    if (Date.now() > until) throw new Error(`agents ${[...pending].join(', ')} not ready after ${timeoutMs} ms (${last}); logs: ${s.agents[[...pending][0]].log}`);
    await sleep(100);
  }
}

/** The agent's HTTP token from its config (a `--config-extra` may set one), if any. */
function httpToken(configFile: string): string | undefined {
  try {
    const c = parseYaml(readFileSync(configFile, 'utf8')) as { http?: { token?: unknown } } | null;
    return typeof c?.http?.token === 'string' ? c.http.token : undefined;
  } catch {
    return undefined; // the agent itself reports a broken config
  }
}

export async function swarmUp(dir: string, o: CreateOptions, onProgress?: (ready: number, total: number) => void): Promise<Swarm> {
  const s = existsSync(swarmFile(resolve(dir))) ? readSwarm(dir) : await createSwarm(dir, o);
  const toStart = s.agents.filter((a) => !isAlive(a.pid)).map((a) => a.index);
  for (const i of toStart) startAgent(s, i);
  await waitReady(s, 60_000, s.agents.map((a) => a.index), onProgress);
  return s;
}

export async function swarmDown(dir: string): Promise<number> {
  const s = readSwarm(dir);
  let stopped = 0;
  await Promise.all(s.agents.map(async (a) => {
    if (isAlive(a.pid)) stopped++;
    await stopAgent(s, a.index);
  }));
  saveSwarm(s);
  return stopped;
}

export function client(s: Swarm, i: number): AgentClient {
  return new AgentClient(s.agents[i].http);
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
