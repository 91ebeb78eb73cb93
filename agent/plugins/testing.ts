// An in-process PluginEnvironment for tests: a ManualClock, Covey's real state machine applied
// directly (one agent's view of a swarm whose consensus always answers, unless told otherwise),
// a telemetry bus shared by the environments of one test, and an in-memory store. Not for
// production; the agent and the simulator have their own environments.

import { ManualClock, seededRandom } from '../../devices/clock.ts';
import type { Device } from '../../devices/types.ts';
import { type Command, type CommandResult, CoveyStateMachine, type Operation } from '../../consensus/index.ts';
import { UnavailableError, type Cancel, type MemberChange, type MemberView, type PluginLogger, type PluginStore } from './api.ts';
import { listingServedByVoters, type PluginEnvironment } from './environment.ts';
import { pageKeys } from '../kv-list.ts';

/** What the environments of one test share: the clock, the replicated state and the telemetry bus. */
export class TestWorld {
  readonly clock = new ManualClock(0);
  readonly machine = new CoveyStateMachine();
  /** While true, every command rejects with UnavailableError (no majority). */
  unavailable = false;
  readonly logs: { level: string; plugin: string; msg: string; fields: object }[] = [];
  readonly #subscribers = new Map<string, Set<{ agent: string; fn: (data: Uint8Array, from: string) => void }>>();
  readonly #memberListeners = new Set<(c: MemberChange) => void>();
  readonly members: MemberView[] = [];
  #requestId = 0;

  apply(agent: string, op: Operation): CommandResult {
    const command = { clientId: agent, requestId: ++this.#requestId, timestampMs: this.clock.now(), ...op } as Command;
    return this.machine.apply(command);
  }

  publish(topic: string, data: Uint8Array, from: string): void {
    for (const s of this.#subscribers.get(topic) ?? []) if (s.agent !== from) s.fn(data, from);
  }

  subscribe(topic: string, agent: string, fn: (data: Uint8Array, from: string) => void): Cancel {
    const set = this.#subscribers.get(topic) ?? new Set();
    this.#subscribers.set(topic, set);
    const entry = { agent, fn };
    set.add(entry);
    return () => { set.delete(entry); };
  }

  memberChange(change: MemberChange): void {
    for (const fn of this.#memberListeners) fn(change);
  }

  onMemberChange(fn: (c: MemberChange) => void): Cancel {
    this.#memberListeners.add(fn);
    return () => { this.#memberListeners.delete(fn); };
  }

  /** Moves the clock and lets promise continuations run between timers. */
  async advance(ms: number, stepMs = 10): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) {
      this.clock.advance(Math.min(stepMs, ms - t));
      await settle();
    }
  }
}

/** Lets every queued promise continuation run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

/** One agent's environment; a 'worker' (the default) is refused the listings, as on a real worker. */
export function testEnvironment(world: TestWorld, agentId: string, devices: ReadonlyMap<string, Device> = new Map(), role: 'voter' | 'worker' = 'worker'): PluginEnvironment {
  const stores = new Map<string, Map<string, unknown>>();
  const random = seededRandom(agentId.length + 7);
  const logger = (plugin: string): PluginLogger => {
    const at = (level: string) => (obj: object | string, msg?: string): void => {
      world.logs.push(typeof obj === 'string' ? { level, plugin, msg: obj, fields: {} } : { level, plugin, msg: msg ?? '', fields: obj });
    };
    return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  };
  return {
    agentId,
    role,
    timers: world.clock,
    wallClock: () => 1_700_000_000_000 + world.clock.now(),
    random: () => random.float(),
    async submit(op) {
      await Promise.resolve();
      if (world.unavailable) throw new UnavailableError('no majority of voters answered (test)');
      return world.apply(agentId, op);
    },
    async staleGet(key) {
      return { value: world.machine.get(key), stale: true, staleness: {} };
    },
    async staleList(q) {
      if (role === 'worker') throw listingServedByVoters(agentId, 'kv.list');
      return { value: pageKeys(world.machine, q), stale: true, staleness: {} };
    },
    async staleTasks() {
      if (role === 'worker') throw listingServedByVoters(agentId, 'tasks.list');
      return { value: world.machine.listTasks(), stale: true, staleness: {} };
    },
    async publish(topic, data) {
      world.publish(topic, data, agentId);
    },
    subscribe: (topic, fn) => world.subscribe(topic, agentId, fn),
    members: () => world.members.map((m) => ({ ...m, self: m.id === agentId })),
    onMemberChange: (fn) => world.onMemberChange(fn),
    devices,
    logger,
    store(plugin): PluginStore {
      const m = stores.get(plugin) ?? new Map<string, unknown>();
      stores.set(plugin, m);
      return {
        async get(key) { return structuredClone(m.get(key)); },
        async put(key, value) { m.set(key, structuredClone(value)); },
        async delete(key) { m.delete(key); },
        async keys(prefix = '') { return [...m.keys()].filter((k) => k.startsWith(prefix)).sort(); },
      };
    },
  };
}
