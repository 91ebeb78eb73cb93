// One in-process hub of what changes on this agent, for anything that streams it: the HTTP
// layer's `GET /events` (Server-Sent Events, the dashboard), `covey kv watch`, the Foxglove
// bridge. Producers emit; listeners get the events their filter passes. Emitting never blocks
// and never throws back at a producer: each listener is called synchronously and is expected
// to buffer (and bound) what it cannot deliver at once (sse.ts does).

import type { TaskView } from '../../consensus/index.ts';
import type { Cancel } from '../plugins/api.ts';

export const eventKinds = ['member', 'task', 'kv', 'telemetry', 'position', 'consensus', 'voters'] as const;
export type EventKind = (typeof eventKinds)[number];

/** Listeners at once (SSE clients, watchers, bridges); one more is refused with LiveLimitError. */
export const listenersMax = 64;

export interface MemberEventData {
  readonly kind: 'member';
  /** The membership protocol's event: join, update, suspect, alive, dead, leave. */
  readonly type: string;
  readonly peerId: string;
  readonly state: string;
  readonly role: string;
  readonly incarnation: number;
  /** The member's advertised battery fraction (0..1), or null. */
  readonly battery: number | null;
  readonly atMs: number;
}

export interface TaskEventData {
  readonly kind: 'task';
  /** The command that changed it: task.create, task.claim, task.renew, task.complete, task.release. */
  readonly op: string;
  readonly task: TaskView;
  readonly atMs: number;
}

export interface KvEventData {
  readonly kind: 'kv';
  readonly key: string;
  /** null: deleted. */
  readonly value: string | null;
  readonly atMs: number;
}

export interface TelemetryEventData {
  readonly kind: 'telemetry';
  readonly topic: string;
  readonly from: string;
  readonly value: unknown;
  readonly atMs: number;
}

export interface PositionEventData {
  readonly kind: 'position';
  /** The agent (peer id) whose device it is. */
  readonly agent: string;
  readonly device: string;
  readonly lat: number;
  readonly lon: number;
  /** Metres above home, when known. */
  readonly alt?: number;
  /** Battery fraction 0..1, when the device reports one. */
  readonly battery?: number;
  readonly atMs: number;
}

export interface ConsensusEventData {
  readonly kind: 'consensus';
  /** Instances committed per second at this voter over the last sample (null on a worker). */
  readonly commitsPerS: number | null;
  /** Mean latency of the commands this agent answered over the last ~10 s, ms (null when none). */
  readonly latencyMs: number | null;
  /** Share of the commands this voter led over the last ~10 s that committed on the fast path, 0..1 (null when it led none). */
  readonly fastPathShare: number | null;
  /** Recoveries of stalled instances started here since start (null on a worker). */
  readonly recoveries: number | null;
  readonly committed: number | null;
  readonly reachableVoters: number;
  readonly voters: number;
  readonly atMs: number;
}

/** This agent moved to a new epoch of the voter set (docs/reconfiguration.md). */
export interface VotersEventData {
  readonly kind: 'voters';
  readonly epoch: number;
  /** Peer ids in seat order. */
  readonly voters: readonly string[];
  /** This agent's role in the epoch. */
  readonly role: 'voter' | 'worker';
  readonly atMs: number;
}

export type LiveEvent = MemberEventData | TaskEventData | KvEventData | TelemetryEventData | PositionEventData | ConsensusEventData | VotersEventData;

/** Which events a listener wants. Prefix applies to kv keys and task ids, topic to telemetry. */
export interface EventFilter {
  readonly kinds: ReadonlySet<EventKind>;
  readonly prefix?: string;
  readonly topic?: string;
}

export const allKinds: ReadonlySet<EventKind> = new Set(eventKinds);

export function passes(f: EventFilter, e: LiveEvent): boolean {
  if (!f.kinds.has(e.kind)) return false;
  if (f.prefix !== undefined) {
    if (e.kind === 'kv' && !e.key.startsWith(f.prefix)) return false;
    if (e.kind === 'task' && !e.task.taskId.startsWith(f.prefix)) return false;
  }
  if (f.topic !== undefined && e.kind === 'telemetry' && e.topic !== f.topic) return false;
  return true;
}

/** A query that names something that is not there: the caller answers 400 with the message. */
export class EventQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventQueryError';
  }
}

/** Too many listeners already: the caller answers 503. */
export class LiveLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LiveLimitError';
  }
}

/** `kinds=a,b&prefix=P&topic=T` (every kind when `kinds` is absent); throws EventQueryError saying what is wrong. */
export function parseEventFilter(q: URLSearchParams): EventFilter {
  for (const name of q.keys()) {
    if (!['kinds', 'prefix', 'topic', 'token'].includes(name)) throw new EventQueryError(`unknown query parameter "${name}"; /events takes kinds, prefix and topic`);
  }
  const raw = q.get('kinds');
  let kinds: ReadonlySet<EventKind> = allKinds;
  if (raw !== null) {
    const names = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (names.length === 0) throw new EventQueryError(`query "kinds" is empty; give a comma-separated list of ${eventKinds.join(', ')} (or leave it out for all)`);
    const bad = names.filter((n) => !(eventKinds as readonly string[]).includes(n));
    if (bad.length > 0) throw new EventQueryError(`query "kinds": unknown kind(s) ${bad.map((b) => JSON.stringify(b)).join(', ')}; the kinds are ${eventKinds.join(', ')}`);
    kinds = new Set(names as EventKind[]);
  }
  const prefix = q.get('prefix') ?? undefined;
  const topic = q.get('topic') ?? undefined;
  if (topic === '') throw new EventQueryError('query "topic" is empty; give a telemetry topic name (GET /telemetry lists them) or leave it out');
  return { kinds, prefix, topic };
}

type Listener = (e: LiveEvent) => void;

export class LiveEvents {
  readonly #listeners = new Map<Listener, EventFilter>();
  /** Events emitted, by kind (tests and the dashboard's footer). */
  readonly emitted: Record<EventKind, number> = { member: 0, task: 0, kv: 0, telemetry: 0, position: 0, consensus: 0, voters: 0 };

  get listeners(): number {
    return this.#listeners.size;
  }

  /** Calls fn with every event that passes the filter; throws LiveLimitError past listenersMax. */
  subscribe(filter: EventFilter, fn: Listener): Cancel {
    if (this.#listeners.size >= listenersMax) throw new LiveLimitError(`this agent already streams to ${listenersMax} listeners; close one (a dashboard tab, a watch) or use another agent`);
    const entry: Listener = (e) => fn(e);
    this.#listeners.set(entry, filter);
    return () => { this.#listeners.delete(entry); };
  }

  emit(e: LiveEvent): void {
    this.emitted[e.kind]++;
    for (const [fn, filter] of [...this.#listeners]) {
      if (!passes(filter, e)) continue;
      try {
        fn(e);
      } catch {
        // A listener's failure is its own; the producer (consensus, membership) must not see it.
      }
    }
  }
}
