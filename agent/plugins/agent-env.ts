// The real agent's PluginEnvironment (environment.ts): consensus through the Agent's submit,
// stale reads from its replica, telemetry over gossipsub, membership from the SWIM driver, the
// wall clock and real timers, node:crypto randomness, pino child loggers, and a private durable
// store per plugin in lmdb. The simulator has its own environment (sim/plugins/); plugins see
// neither, only their context (context.ts).
//
// Telemetry: plugin topic T travels on the gossipsub topic `covey/<swarm>/telemetry/T`. The node
// subscribes to it when the first local subscriber appears and unsubscribes when the last one
// goes; messages are signed (StrictSign), `from` is the publisher's peer id, and this agent's own
// messages are not delivered back. Publishing with no peer subscribed yet is not an error
// (best effort, like gossipsub itself).
//
// Store: one lmdb environment at `<dataDir>/plugins`, one database, keys `<plugin>:<key>`, values
// as JSON text. Opened with `overlappingSync: false`, as consensus/storage/lmdb.ts is, so that a
// write's promise resolves only after the commit has been synced: an acknowledged `put` survives
// kill -9. Opened on first use, closed by `close()` (the agent's stop, after the plugin host's).

import { getRandomValues } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { Message as PubSubMessage, PubSub } from '@libp2p/interface';
import { open, type RootDatabase } from 'lmdb';
import type { ZodType } from 'zod';
import type { CommandResult, Operation, TaskView } from '../../consensus/index.ts';
import type { KvListQuery, KvPage } from '../kv-list.ts';
import { realTimeClock, type DeviceClock } from '../../devices/clock.ts';
import type { Device } from '../../devices/types.ts';
import type { MemberInfo } from '../../transports/membership/driver.ts';
import type { MemberEvent, MemberEventType } from '../../transports/membership/index.ts';
import { DeadlineError, UnavailableError as DriverUnavailableError } from '../driver.ts';
import type { Logger } from '../log.ts';
import type { TelemetryStats } from '../telemetry-stats.ts';
import { UnavailableError, type Cancel, type MemberChange, type MemberView, type PluginLogger, type PluginStore, type StaleRead } from './api.ts';
import { listingServedByVoters, type PluginEnvironment } from './environment.ts';

/** What the environment needs from the agent (the Agent passes closures over its parts). */
export interface AgentEnvironmentOptions {
  readonly agentId: string;
  /**
   * This agent's role, or how to read it now: the agent's changes when the voter set moves (a
   * worker promoted, a voter removed), and its plugins' stale reads follow at once.
   */
  readonly role: 'voter' | 'worker' | (() => 'voter' | 'worker');
  /** The swarm's name: telemetry topics are namespaced by it. */
  readonly swarm: string;
  readonly submit: (op: Operation) => Promise<CommandResult>;
  /** The voter's local copy; null on a worker (it holds no state); refused whenever `role` says worker. */
  readonly staleGet: ((key: string) => StaleRead<string | null>) | null;
  /** One page of the voter's local keys under a prefix; null on a worker. */
  readonly staleList?: ((q: KvListQuery) => StaleRead<KvPage>) | null;
  /** The voter's local task board; null on a worker. */
  readonly staleTasks?: (() => StaleRead<TaskView[]>) | null;
  /** The node's gossipsub (services.pubsub); null: telemetry stays local (publishing does nothing). */
  readonly pubsub: PubSub | null;
  /** Whether a peer is on the swarm roster: telemetry from anyone else is dropped. Default: everyone. */
  readonly admits?: (peerId: string) => boolean;
  readonly members: () => readonly MemberInfo[];
  /** Registers a listener for the membership driver's events. */
  readonly onMemberEvent: (fn: (e: MemberEvent) => void) => Cancel;
  readonly devices: ReadonlyMap<string, Device>;
  readonly logger: Logger;
  /** Directory of the plugins' lmdb store (`<dataDir>/plugins`), created on first use. */
  readonly storeDir: string;
  /** Defaults to realTimeClock(). */
  readonly timers?: DeviceClock;
  /** Counts telemetry per topic for /metrics (agent/telemetry-stats.ts); none when absent. */
  readonly telemetry?: TelemetryStats;
  /** Told of topics the plugins declare and of what they publish (the live layer's telemetry tap, agent/live/). */
  readonly observer?: TelemetryObserver;
}

/** What sees this agent's own telemetry: gossipsub never delivers one's own messages back. */
export interface TelemetryObserver {
  declared(topic: string, schema: ZodType | null): void;
  published(topic: string, data: Uint8Array): void;
}

/** The gossipsub topic that carries a plugin telemetry topic. */
export function telemetryTopic(swarm: string, topic: string): string {
  return `covey/${swarm}/telemetry/${topic}`;
}

/** lmdb's default largest key (bytes); longer keys are refused with a clear error. */
const storeKeyBytesMax = 1978;

const changeTypes: Record<MemberEventType, MemberChange['type']> = {
  join: 'joined', update: 'updated', suspect: 'suspect', alive: 'alive', dead: 'dead', leave: 'left',
};

/** A uniform float in [0, 1) with 53 random bits from the system's CSPRNG. */
export function cryptoRandom(): number {
  const w = getRandomValues(new Uint32Array(2));
  return (w[0] * 2 ** 21 + (w[1] >>> 11)) / 2 ** 53;
}

export class AgentEnvironment implements PluginEnvironment {
  readonly agentId: string;
  readonly timers: DeviceClock;
  readonly devices: ReadonlyMap<string, Device>;
  readonly #o: AgentEnvironmentOptions;
  /** Local subscribers per gossipsub topic. */
  readonly #subscribers = new Map<string, Set<(data: Uint8Array, from: string) => void>>();
  #listening = false;
  #db: RootDatabase<string, string> | null = null;
  #pendingWrites = new Set<Promise<unknown>>();
  #closed = false;

  constructor(o: AgentEnvironmentOptions) {
    this.#o = o;
    this.agentId = o.agentId;
    this.devices = o.devices;
    this.timers = o.timers ?? realTimeClock();
  }

  get role(): 'voter' | 'worker' {
    const r = this.#o.role;
    return typeof r === 'function' ? r() : r;
  }

  wallClock(): number {
    return Date.now();
  }

  random(): number {
    return cryptoRandom();
  }

  async submit(op: Operation): Promise<CommandResult> {
    try {
      return await this.#o.submit(op);
    } catch (err) {
      if (err instanceof DeadlineError || err instanceof DriverUnavailableError) throw new UnavailableError(err.message, { cause: err });
      throw err;
    }
  }

  async staleGet(key: string): Promise<StaleRead<string | null>> {
    if (this.#o.staleGet === null || this.role === 'worker') {
      throw new Error(`stale reads are served by voters (they hold the replicated state); this agent (${this.agentId}) is a worker: use kv.get, which is linearizable and works from any agent`);
    }
    return this.#o.staleGet(key);
  }

  async staleList(q: KvListQuery): Promise<StaleRead<KvPage>> {
    if (this.#o.staleList === undefined || this.#o.staleList === null || this.role === 'worker') throw listingServedByVoters(this.agentId, 'kv.list');
    return this.#o.staleList(q);
  }

  async staleTasks(): Promise<StaleRead<TaskView[]>> {
    if (this.#o.staleTasks === undefined || this.#o.staleTasks === null || this.role === 'worker') throw listingServedByVoters(this.agentId, 'tasks.list');
    return this.#o.staleTasks();
  }

  // ---- telemetry ----------------------------------------------------------------------------

  declareTopic(topic: string, schema: ZodType): void {
    this.#o.observer?.declared(topic, schema);
  }

  async publish(topic: string, data: Uint8Array): Promise<void> {
    if (this.#closed) return;
    this.#o.observer?.published(topic, data);
    const pubsub = this.#o.pubsub;
    if (pubsub === null) return;
    this.#o.telemetry?.published(topic);
    try {
      await pubsub.publish(telemetryTopic(this.#o.swarm, topic), data);
    } catch (err) {
      // No peer subscribed (yet): best effort, like gossipsub's delivery itself.
      if (/NoPeersSubscribedToTopic/.test((err as Error).message)) return;
      throw err;
    }
  }

  subscribe(topic: string, fn: (data: Uint8Array, from: string) => void): Cancel {
    const pubsub = this.#o.pubsub;
    if (pubsub === null || this.#closed) return () => {};
    const full = telemetryTopic(this.#o.swarm, topic);
    if (!this.#listening) {
      pubsub.addEventListener('message', this.#onMessage);
      this.#listening = true;
    }
    let set = this.#subscribers.get(full);
    if (set === undefined) {
      set = new Set();
      this.#subscribers.set(full, set);
      pubsub.subscribe(full);
    }
    // Each subscription is its own entry, so the same function subscribed twice is called twice.
    const entry = (data: Uint8Array, from: string): void => fn(data, from);
    set.add(entry);
    const subscribers = set;
    return () => {
      if (!subscribers.delete(entry) || subscribers.size > 0) return;
      this.#subscribers.delete(full);
      if (!this.#closed) pubsub.unsubscribe(full);
    };
  }

  readonly #onMessage = (evt: CustomEvent<PubSubMessage>): void => {
    const m = evt.detail;
    const set = this.#subscribers.get(m.topic);
    if (set === undefined || m.type !== 'signed') return;
    const from = m.from.toString();
    if (from === this.agentId || this.#o.admits?.(from) === false) return;
    this.#o.telemetry?.received(m.topic.slice(telemetryTopic(this.#o.swarm, '').length));
    for (const fn of [...set]) {
      try {
        fn(m.data, from);
      } catch (err) {
        // context.ts guards plugin callbacks; this only catches a bug in the wiring itself.
        this.#o.logger.error({ err, topic: m.topic }, 'telemetry subscriber threw');
      }
    }
  };

  telemetryDropped(topic: string): void {
    this.#o.telemetry?.dropped(topic);
  }

  // ---- membership ---------------------------------------------------------------------------

  members(): MemberView[] {
    return this.#o.members().map((m) => this.#view(m));
  }

  onMemberChange(fn: (change: MemberChange) => void): Cancel {
    return this.#o.onMemberEvent((e) => fn({ type: changeTypes[e.type], member: this.#view(e.member) }));
  }

  #view(m: { readonly id: string; readonly state: MemberView['state']; readonly meta: { readonly role: string } }): MemberView {
    return { id: m.id, state: m.state, role: m.meta.role, self: m.id === this.agentId };
  }

  // ---- logs and store -----------------------------------------------------------------------

  logger(plugin: string): PluginLogger {
    const child = this.#o.logger.child({ plugin });
    const at = (level: 'debug' | 'info' | 'warn' | 'error') => (obj: object | string, msg?: string): void => {
      if (typeof obj === 'string') { child[level](obj); return; }
      // The child already binds `plugin`: drop a repeated one (the host adds it) so JSON lines keep unique keys.
      const fields = 'plugin' in obj && (obj as { plugin?: unknown }).plugin === plugin ? { ...obj, plugin: undefined } : obj;
      child[level](fields, msg);
    };
    return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  }

  store(plugin: string): PluginStore {
    const full = (key: string): string => {
      if (typeof key !== 'string' || key === '') throw new TypeError(`plugin "${plugin}": store keys are non-empty strings`);
      const k = `${plugin}:${key}`;
      if (Buffer.byteLength(k) > storeKeyBytesMax) throw new RangeError(`plugin "${plugin}": store key of ${Buffer.byteLength(key)} bytes is too long (at most ${storeKeyBytesMax - plugin.length - 1})`);
      return k;
    };
    return {
      get: async (key) => {
        const text = this.#store().get(full(key));
        return text === undefined ? undefined : JSON.parse(text);
      },
      put: async (key, value) => {
        const k = full(key);
        const text = JSON.stringify(value);
        if (text === undefined) throw new TypeError(`plugin "${plugin}": store.put(${JSON.stringify(key)}): the value is not JSON-serialisable (use delete to remove a key)`);
        await this.#write((db) => db.put(k, text));
      },
      delete: async (key) => {
        const k = full(key);
        await this.#write((db) => db.remove(k));
      },
      keys: async (prefix = '') => {
        const start = `${plugin}:${prefix}`;
        const out: string[] = [];
        for (const k of this.#store().getKeys({ start })) {
          if (!k.startsWith(start)) break;
          out.push(k.slice(plugin.length + 1));
        }
        return out;
      },
    };
  }

  #store(): RootDatabase<string, string> {
    if (this.#closed) throw new Error('the plugin store is closed (the agent is stopping)');
    if (this.#db === null) {
      mkdirSync(this.#o.storeDir, { recursive: true });
      this.#db = open<string, string>({
        path: this.#o.storeDir,
        encoding: 'string',
        overlappingSync: false, // the commit syncs before its promise resolves (consensus/storage/lmdb.ts)
        noSync: false,
        noMetaSync: false,
      });
    }
    return this.#db;
  }

  /** A write whose promise resolves once it is on disk. */
  async #write(fn: (db: RootDatabase<string, string>) => Promise<boolean>): Promise<void> {
    const db = this.#store();
    const p = (async () => {
      await fn(db);
      await db.flushed;
    })();
    this.#pendingWrites.add(p);
    try {
      await p;
    } finally {
      this.#pendingWrites.delete(p);
    }
  }

  /** Unsubscribes every telemetry topic and closes the store (after the plugin host has stopped). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const pubsub = this.#o.pubsub;
    if (pubsub !== null && this.#listening) {
      pubsub.removeEventListener('message', this.#onMessage);
      for (const t of this.#subscribers.keys()) {
        try { pubsub.unsubscribe(t); } catch { /* the node may be stopping */ }
      }
    }
    this.#subscribers.clear();
    await Promise.allSettled([...this.#pendingWrites]);
    const db = this.#db;
    this.#db = null;
    await db?.close();
  }
}
