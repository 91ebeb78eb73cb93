// Plugins inside the simulator: every agent runs the plugin under agent/plugins' PluginHost (the
// same host, context and supervision as on a device), with a PluginEnvironment backed by the
// SimWorld — timers on virtual time, commands through the simulated network to the simulated
// voters, telemetry broadcast with the network's loss and cuts, simulated devices. A crash ends
// the agent's plugins mid-flight (nothing of that incarnation acts again); a restart starts them
// afresh, with their private store intact and the hardware where it was.
//
// Membership is modelled here, not simulated: an agent is seen dead 2 s after it crashed and alive
// again when it restarts (sim/membership simulates the SWIM protocol itself).

import type { DeviceClock } from '../../devices/clock.ts';
import type { Device } from '../../devices/types.ts';
import type { TaskView } from '../../consensus/index.ts';
import { PluginHost, type LoadedPlugin, type SupervisionOptions } from '../../agent/plugins/host.ts';
import { validateOptions } from '../../agent/plugins/loader.ts';
import { UnavailableError, type MemberChange, type MemberView, type PluginLogger, type PluginStore } from '../../agent/plugins/api.ts';
import type { PluginDefinition } from '../../agent/plugins/api.ts';
import { listingServedByVoters, type PluginEnvironment } from '../../agent/plugins/environment.ts';
import { pageKeys } from '../../agent/kv-list.ts';
import type { SimHost, SimWorld } from '../engine/simulation.ts';
import type { PluginScenario, Published, ScenarioAgent, ScenarioSetup, ScenarioView } from './scenario.ts';

const usPerMs = 1000;
/** How long after a crash the others see the agent dead (membership model). */
const detectMs = 2000;

export interface SimPluginOptions {
  readonly plugin: PluginDefinition<unknown, unknown>;
  readonly source: string;
  readonly scenario: PluginScenario;
  readonly seed: number;
  /** Share of the mortal agents the crash fault kills for good (0 to disable). */
  readonly killShare: number;
  /** A scripted partition: this share of the non-voters cut off for this long, starting at this share of the ideal time (null: none). */
  readonly longPartition: { readonly share: number; readonly durationMs: number; readonly atIdealShare: number } | null;
  readonly supervision?: Partial<SupervisionOptions>;
  /** Keep plugin log lines (with virtual time) in `logs`. */
  readonly keepLogs?: boolean;
}

export interface LogLine {
  readonly atMs: number;
  readonly agent: number;
  readonly level: string;
  readonly msg: string;
  readonly fields: object;
}

export class SimPluginHost implements SimHost {
  readonly #o: SimPluginOptions;
  #world!: SimWorld;
  #setup!: ScenarioSetup;
  readonly #hosts = new Map<number, PluginHost>();
  readonly #devices = new Map<number, Map<string, Device>>();
  readonly #stores = new Map<string, Map<string, unknown>>();
  readonly #subscribers = new Map<number, Map<string, Set<(data: Uint8Array, from: string) => void>>>();
  readonly #memberListeners = new Map<number, Set<(c: MemberChange) => void>>();
  readonly #downSince = new Map<number, number>();
  readonly published: Published[] = [];
  readonly killed: { agent: number; atMs: number }[] = [];
  readonly logs: LogLine[] = [];
  /** Plugin failures seen (restarts under supervision), per agent. */
  readonly failures: { agent: number; atMs: number; error: string; fields: object }[] = [];
  #ended = false;

  constructor(o: SimPluginOptions) {
    this.#o = o;
  }

  attach(world: SimWorld): void {
    this.#world = world;
    this.#setup = { agents: world.agents, voters: world.voters, seed: this.#o.seed };
    const hwClock = this.#deviceClock();
    for (let a = 0; a < world.agents; a++) {
      const specs = this.#o.scenario.devices?.(this.#agent(a), this.#setup, { clock: hwClock, random: world.random }) ?? [];
      const m = new Map<string, Device>();
      for (const d of specs) {
        if (m.has(d.id)) throw new Error(`scenario: agent ${a} has two devices named "${d.id}"`);
        m.set(d.id, d);
        // Opened at once: simulated devices open synchronously up to their first await.
        d.open().catch(() => { /* status says unavailable; the plugin sees it */ });
      }
      this.#devices.set(a, m);
    }
    this.#scheduleFaults();
    for (let a = 0; a < world.agents; a++) this.#startAgent(a);
  }

  crashed(agent: number): void {
    this.#hosts.delete(agent); // its plugins die mid-flight: nothing of that incarnation runs again
    this.#subscribers.delete(agent);
    this.#memberListeners.delete(agent);
    this.#downSince.set(agent, this.#nowMs());
    const inc = this.#world.incarnation(agent);
    this.#world.deviceTimer(detectMs * usPerMs, () => {
      if (this.#world.incarnation(agent) === inc && !this.#world.isUp(agent)) this.#tellMembers({ type: 'dead', member: this.#memberView(agent, -1) });
    });
  }

  restarted(agent: number): void {
    this.#downSince.delete(agent);
    if (this.#ended) return;
    this.#tellMembers({ type: 'alive', member: this.#memberView(agent, -1) });
    this.#startAgent(agent);
  }

  deliver(to: number, from: number, topic: string, data: Uint8Array): void {
    for (const fn of [...(this.#subscribers.get(to)?.get(topic) ?? [])]) fn(data, agentId(from));
  }

  done(): boolean {
    return this.#o.scenario.done(this.view());
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const h of this.#hosts.values()) void h.stop();
  }

  /** What the scenario sees: ground truth of the run so far. */
  view(): ScenarioView {
    const world = this.#world;
    return {
      setup: this.#setup,
      nowMs: this.#nowMs(),
      tasks: (): TaskView[] => {
        let best: TaskView[] = [];
        let bestDone = -1;
        for (let v = 0; v < world.voters; v++) {
          const list = world.machine(v).listTasks();
          const done = list.filter((t) => t.status === 'done').length;
          if (done > bestDone || (done === bestDone && list.length > best.length)) { best = list; bestDone = done; }
        }
        return best;
      },
      published: this.published,
      killed: this.killed,
      devices: (a) => [...(this.#devices.get(a)?.values() ?? [])],
    };
  }

  /** Plugin states per agent (for reports and tests). */
  states(): { agent: number; state: string }[] {
    return [...this.#hosts.entries()].map(([agent, h]) => ({ agent, state: h.status()[0]?.state ?? 'none' }));
  }

  // ---- internals ---------------------------------------------------------------------------

  #nowMs(): number {
    return this.#world.nowUs() / usPerMs;
  }

  #agent(a: number): ScenarioAgent {
    return { index: a, id: agentId(a), role: a < this.#world.voters ? 'voter' : 'worker' };
  }

  #startAgent(a: number): void {
    if (this.#ended || !this.#world.isUp(a)) return;
    const def = this.#o.plugin;
    const options = validateOptions(def, this.#o.scenario.options(this.#agent(a), this.#setup), `agent ${a}`);
    const loaded: LoadedPlugin = { definition: def, options, source: this.#o.source };
    const host = new PluginHost(this.#environment(a), [loaded], this.#o.supervision);
    this.#hosts.set(a, host);
    void host.start();
  }

  /** Faults of the plugin run: drones lost for good, and one long partition. */
  #scheduleFaults(): void {
    const world = this.#world;
    const ideal = this.#o.scenario.idealTimeMs(this.#setup);
    const mortal: number[] = [];
    for (let a = 0; a < world.agents; a++) {
      const ag = this.#agent(a);
      if (this.#o.scenario.mortal?.(ag, this.#setup) ?? ag.role === 'worker') mortal.push(a);
    }
    const order = shuffle(mortal, world.random);
    const kills = Math.round(this.#o.killShare * mortal.length);
    for (const a of order.slice(0, kills)) {
      const atMs = Math.round(ideal * (0.05 + 0.75 * world.random.float()));
      world.deviceTimer(atMs * usPerMs, () => {
        this.killed.push({ agent: a, atMs: this.#nowMs() });
        world.kill(a);
        // The vehicle is lost with its agent: its hardware stops.
        for (const d of this.#devices.get(a)?.values() ?? []) void d.close();
      });
    }
    const lp = this.#o.longPartition;
    if (lp !== null) {
      const workers = shuffle(Array.from({ length: world.agents - world.voters }, (_, i) => world.voters + i), world.random);
      const side = workers.slice(0, Math.max(1, Math.round(lp.share * workers.length)));
      world.deviceTimer(Math.round(ideal * lp.atIdealShare) * usPerMs, () => world.cut(side, lp.durationMs * usPerMs));
    }
  }

  /** The hardware's clock: virtual time, running whatever happens to the agents. */
  #deviceClock(): DeviceClock {
    return {
      now: () => this.#nowMs(),
      after: (ms, fn) => this.#world.deviceTimer(ms * usPerMs, fn),
      every: (ms, fn) => repeat((delayUs, f) => this.#world.deviceTimer(delayUs, f), ms, fn),
    };
  }

  #memberView(a: number, self: number): MemberView {
    const up = this.#world.isUp(a);
    const since = this.#downSince.get(a);
    const dead = !up && since !== undefined && this.#nowMs() - since >= detectMs;
    return { id: agentId(a), state: dead ? 'dead' : 'alive', role: a < this.#world.voters ? 'voter' : 'worker', self: a === self };
  }

  #tellMembers(change: MemberChange): void {
    for (const [a, set] of this.#memberListeners) {
      if (agentId(a) === change.member.id) continue;
      for (const fn of [...set]) fn(change);
    }
  }

  #environment(a: number): PluginEnvironment {
    const world = this.#world;
    const inc = world.incarnation(a);
    const current = (): boolean => world.incarnation(a) === inc && world.isUp(a);
    const timers: DeviceClock = {
      now: () => this.#nowMs(),
      after: (ms, fn) => world.agentTimer(a, ms * usPerMs, fn),
      every: (ms, fn) => repeat((delayUs, f) => world.agentTimer(a, delayUs, f), ms, fn),
    };
    const logger = (plugin: string): PluginLogger => {
      const at = (level: string) => (obj: object | string, msg?: string): void => {
        if (level === 'error') this.failures.push({ agent: a, atMs: this.#nowMs(), error: typeof obj === 'string' ? obj : (msg ?? ''), fields: typeof obj === 'string' ? {} : obj });
        if (this.#o.keepLogs !== true) return;
        this.logs.push(typeof obj === 'string'
          ? { atMs: this.#nowMs(), agent: a, level, msg: `${plugin}: ${obj}`, fields: {} }
          : { atMs: this.#nowMs(), agent: a, level, msg: `${plugin}: ${msg ?? ''}`, fields: obj });
      };
      return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
    };
    return {
      agentId: agentId(a),
      role: a < world.voters ? 'voter' : 'worker',
      timers,
      // The agent's own clock, the same one its commands are stamped with (so lease times compare).
      wallClock: () => world.localMs(a),
      random: () => world.random.float(),
      submit: (op) => new Promise((resolve, reject) => {
        if (!current()) return; // a dead incarnation: never answered
        world.submit(a, op, (r) => {
          if (!current()) return;
          if (r === null) reject(new UnavailableError(`no voter answered ${op.op} in time (simulated agent ${a}); it may still take effect`));
          else resolve(r);
        });
      }),
      staleGet: async (key) => {
        if (a >= world.voters) throw new Error('stale reads are served by voters (they hold the state); read linearizably');
        return { value: world.machine(a).get(key), stale: true, staleness: { simulated: true } };
      },
      staleList: async (q) => {
        if (a >= world.voters) throw listingServedByVoters(agentId(a), 'kv.list');
        return { value: pageKeys(world.machine(a), q), stale: true, staleness: { simulated: true } };
      },
      staleTasks: async () => {
        if (a >= world.voters) throw listingServedByVoters(agentId(a), 'tasks.list');
        return { value: world.machine(a).listTasks(), stale: true, staleness: { simulated: true } };
      },
      publish: async (topic, data) => {
        if (!current()) return;
        this.published.push({ agent: a, topic, value: JSON.parse(new TextDecoder().decode(data)), atMs: this.#nowMs() });
        world.broadcast(a, topic, data);
      },
      subscribe: (topic, fn) => {
        if (!current()) return () => {};
        let byTopic = this.#subscribers.get(a);
        if (byTopic === undefined) this.#subscribers.set(a, (byTopic = new Map()));
        let set = byTopic.get(topic);
        if (set === undefined) byTopic.set(topic, (set = new Set()));
        set.add(fn);
        return () => { set.delete(fn); };
      },
      members: () => Array.from({ length: world.agents }, (_, m) => this.#memberView(m, a)),
      onMemberChange: (fn) => {
        if (!current()) return () => {};
        let set = this.#memberListeners.get(a);
        if (set === undefined) this.#memberListeners.set(a, (set = new Set()));
        set.add(fn);
        return () => { set.delete(fn); };
      },
      devices: this.#devices.get(a) ?? new Map(),
      logger,
      store: (plugin) => this.#store(a, plugin),
    };
  }

  /** A private store per agent and plugin; it survives crashes (written through at once). */
  #store(a: number, plugin: string): PluginStore {
    const key = `${a}/${plugin}`;
    let m = this.#stores.get(key);
    if (m === undefined) this.#stores.set(key, (m = new Map()));
    const map = m;
    return {
      async get(k) { return structuredClone(map.get(k)); },
      async put(k, v) { map.set(k, structuredClone(v)); },
      async delete(k) { map.delete(k); },
      async keys(prefix = '') { return [...map.keys()].filter((k) => k.startsWith(prefix)).sort(); },
    };
  }
}

/** every() on top of a one-shot timer: re-armed before each call, so fn may cancel it. */
function repeat(after: (delayUs: number, fn: () => void) => () => void, ms: number, fn: () => void): () => void {
  if (!(ms > 0)) throw new RangeError(`every(): period must be > 0, got ${ms}`);
  let cancel = (): void => {};
  let stopped = false;
  const arm = (): void => { cancel = after(ms * usPerMs, () => { if (stopped) return; arm(); fn(); }); };
  arm();
  return () => { stopped = true; cancel(); };
}

export function agentId(a: number): string {
  return `agent-${a}`;
}

function shuffle<T>(items: readonly T[], random: { float(): number }): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random.float() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
