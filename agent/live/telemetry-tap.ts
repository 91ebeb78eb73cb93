// The agent's own view of the swarm's telemetry: it listens on every telemetry topic it learns of
// and keeps, per topic, the JSON schema (when a plugin declared the topic with one, here or on
// another agent), the last value with its sender and time, a message count, a rate and a short
// history. The dashboard, `covey telemetry echo|hz`, `covey kv watch` and the Foxglove bridge
// read it; nothing here is replicated or durable.
//
// Topics are learned three ways, because gossipsub delivers only topics one has subscribed to:
// a plugin on this agent declares one (ctx.telemetry.topic); a peer subscribes to one (gossipsub's
// subscription news); or a peer announces one it declared on the reserved `covey/schemas` topic
// (so a publisher that never subscribes is found too, and its schema travels with it).
// Everything is bounded: topics, history per topic (in values and in bytes), the size of a value
// kept in history, the size of an announced schema.

import { z } from 'zod';
import type { Cancel } from '../plugins/api.ts';

/** Telemetry topics tracked at once; later ones are counted in `topicsRefused` and ignored. */
export const topicsMax = 256;
/** Values kept per topic for charts that open late. */
export const historyMax = 120;
/** A value bigger than this (JSON bytes) is kept as the last value, but not in the history. */
export const historyValueBytesMax = 4096;
/** A topic's history is also cut to this many bytes of values: 256 topics hold at most 8 MiB. */
export const historyBytesMax = 32 * 1024;
/** The rate is messages per second over this window. */
export const rateWindowMs = 5000;
/** Arrival times kept for the rate; a faster topic's rate saturates at rateSamplesMax / window. */
const rateSamplesMax = 2000;
/** An announced schema bigger than this is ignored. */
export const schemaBytesMax = 16 * 1024;
/** How often this agent re-announces the schemas of the topics its plugins declared. */
export const announceEveryMs = 15_000;

/** The reserved topic on which agents announce the topics they declared, with their schemas. */
export const schemasTopic = 'covey/schemas';

const announcement = z.strictObject({ topic: z.string().min(1).max(256), schema: z.record(z.string(), z.unknown()).nullable() });

export interface TelemetrySample {
  readonly topic: string;
  /** The sender's peer id (this agent's own for what its plugins publish). */
  readonly from: string;
  readonly value: unknown;
  /** This agent's wall clock when the message arrived (ms since the epoch). */
  readonly atMs: number;
}

export interface TopicSummary {
  readonly topic: string;
  /** JSON Schema (draft 2020-12) of the topic's values, or null when no agent has declared it yet. */
  readonly schema: Record<string, unknown> | null;
  readonly last: TelemetrySample | null;
  readonly count: number;
  /** Messages per second over the last rateWindowMs. */
  readonly ratePerS: number;
}

export interface TopicDetail extends TopicSummary {
  /** Oldest first, at most historyMax. */
  readonly history: readonly TelemetrySample[];
}

/** What the tap needs from the agent: its plugin environment's telemetry, and gossipsub's subscription news. */
export interface TelemetryTapPort {
  readonly selfId: string;
  subscribe(topic: string, fn: (data: Uint8Array, from: string) => void): Cancel;
  publish(topic: string, data: Uint8Array): Promise<void>;
  /** Calls fn with each plugin telemetry topic that a peer subscribes to. */
  onPeerTopic(fn: (topic: string) => void): Cancel;
  /** Repeats fn every ms (the agent's timers); returns its cancel. */
  every(ms: number, fn: () => void): Cancel;
}

interface TopicState {
  readonly topic: string;
  schema: Record<string, unknown> | null;
  /** Declared by a plugin on this agent: announced to the others. */
  declaredHere: boolean;
  last: TelemetrySample | null;
  count: number;
  readonly arrivals: number[];
  readonly history: TelemetrySample[];
  /** Bytes of each history entry's value, in the same order. */
  readonly historyBytes: number[];
  historyBytesTotal: number;
  cancel: Cancel | null;
}

type Listener = (s: TelemetrySample) => void;

export class TelemetryTap {
  readonly #now: () => number;
  readonly #topics = new Map<string, TopicState>();
  readonly #listeners = new Map<string, Set<Listener>>();
  #port: TelemetryTapPort | null = null;
  readonly #cancels: Cancel[] = [];
  /** Topics not tracked because topicsMax was reached. */
  topicsRefused = 0;
  /** Messages that were not JSON. */
  invalid = 0;

  constructor(o: { readonly now?: () => number } = {}) {
    this.#now = o.now ?? Date.now;
  }

  /** Starts listening through the agent's telemetry (topics declared before this are kept and subscribed now). */
  start(port: TelemetryTapPort): void {
    if (this.#port !== null) throw new Error('TelemetryTap.start: already started');
    this.#port = port;
    for (const t of this.#topics.values()) this.#listen(t);
    this.#cancels.push(port.subscribe(schemasTopic, (data, from) => this.#onAnnouncement(data, from)));
    // A peer that just subscribed to the announcements has missed the last round: announce again
    // now rather than leave it without schemas for up to announceEveryMs.
    this.#cancels.push(port.onPeerTopic((topic) => { if (topic === schemasTopic) this.#announceAll(); else this.#track(topic); }));
    this.#cancels.push(port.every(announceEveryMs, () => this.#announceAll()));
    this.#announceAll();
  }

  stop(): void {
    for (const c of this.#cancels.splice(0)) c();
    for (const t of this.#topics.values()) { t.cancel?.(); t.cancel = null; }
    this.#port = null;
  }

  /** A plugin on this agent declared `topic` with a zod schema: track it, and tell the others its schema. */
  declare(topic: string, schema: z.ZodType | null): void {
    const t = this.#track(topic);
    if (t === null) return;
    t.declaredHere = true;
    if (schema !== null && t.schema === null) t.schema = jsonSchemaOf(schema);
    this.#announce(t);
  }

  /** A message this agent published itself (gossipsub does not deliver one's own messages back). */
  published(topic: string, data: Uint8Array): void {
    if (topic === schemasTopic) return;
    this.#receive(topic, data, this.#port?.selfId ?? 'self');
  }

  /** Every tracked topic, by name. */
  topics(): TopicSummary[] {
    const now = this.#now();
    return [...this.#topics.values()].sort((a, b) => (a.topic < b.topic ? -1 : 1)).map((t) => this.#summary(t, now));
  }

  /** One topic with its history, or null when it is not tracked. */
  topic(name: string): TopicDetail | null {
    const t = this.#topics.get(name);
    return t === undefined ? null : { ...this.#summary(t, this.#now()), history: [...t.history] };
  }

  /** Calls fn with every message on `topic` ('*': every topic) from now on. */
  subscribe(topic: string, fn: Listener): Cancel {
    let set = this.#listeners.get(topic);
    if (set === undefined) { set = new Set(); this.#listeners.set(topic, set); }
    const entry: Listener = (s) => fn(s);
    set.add(entry);
    const listeners = set;
    return () => {
      listeners.delete(entry);
      if (listeners.size === 0 && this.#listeners.get(topic) === listeners) this.#listeners.delete(topic);
    };
  }

  #summary(t: TopicState, now: number): TopicSummary {
    while (t.arrivals.length > 0 && t.arrivals[0] <= now - rateWindowMs) t.arrivals.shift();
    return { topic: t.topic, schema: t.schema, last: t.last, count: t.count, ratePerS: t.arrivals.length / (rateWindowMs / 1000) };
  }

  #track(topic: string): TopicState | null {
    const known = this.#topics.get(topic);
    if (known !== undefined) return known;
    if (topic === schemasTopic) return null;
    if (this.#topics.size >= topicsMax) { this.topicsRefused++; return null; }
    const t: TopicState = { topic, schema: null, declaredHere: false, last: null, count: 0, arrivals: [], history: [], historyBytes: [], historyBytesTotal: 0, cancel: null };
    this.#topics.set(topic, t);
    this.#listen(t);
    return t;
  }

  #listen(t: TopicState): void {
    if (this.#port === null || t.cancel !== null) return;
    t.cancel = this.#port.subscribe(t.topic, (data, from) => this.#receive(t.topic, data, from));
  }

  #receive(topic: string, data: Uint8Array, from: string): void {
    const t = this.#track(topic);
    if (t === null) return;
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(data));
    } catch {
      this.invalid++;
      return;
    }
    const atMs = this.#now();
    const sample: TelemetrySample = { topic, from, value, atMs };
    t.last = sample;
    t.count++;
    t.arrivals.push(atMs);
    if (t.arrivals.length > rateSamplesMax) t.arrivals.shift();
    if (data.length <= historyValueBytesMax) {
      t.history.push(sample);
      t.historyBytes.push(data.length);
      t.historyBytesTotal += data.length;
      while (t.history.length > historyMax || t.historyBytesTotal > historyBytesMax) {
        t.history.shift();
        t.historyBytesTotal -= t.historyBytes.shift()!;
      }
    }
    this.#tell(topic, sample);
    this.#tell('*', sample);
  }

  #tell(key: string, sample: TelemetrySample): void {
    const set = this.#listeners.get(key);
    if (set === undefined) return;
    for (const fn of [...set]) {
      try {
        fn(sample);
      } catch {
        // A listener's fault is its own (an SSE client gone, a bridge closing): the others still hear.
      }
    }
  }

  #onAnnouncement(data: Uint8Array, from: string): void {
    if (data.length > schemaBytesMax) return;
    let parsed: z.output<typeof announcement>;
    try {
      const r = announcement.safeParse(JSON.parse(new TextDecoder().decode(data)));
      if (!r.success) return;
      parsed = r.data;
    } catch {
      return;
    }
    if (from === this.#port?.selfId) return;
    const t = this.#track(parsed.topic);
    if (t !== null && t.schema === null && parsed.schema !== null) t.schema = parsed.schema;
  }

  #announceAll(): void {
    for (const t of this.#topics.values()) if (t.declaredHere) this.#announce(t);
  }

  #announce(t: TopicState): void {
    const port = this.#port;
    if (port === null) return;
    const data = new TextEncoder().encode(JSON.stringify({ topic: t.topic, schema: t.schema }));
    if (data.length > schemaBytesMax) return;
    port.publish(schemasTopic, data).catch(() => { /* best effort: announced again in announceEveryMs */ });
  }
}

/** The topic's JSON Schema, or null when zod cannot express it (transforms, custom checks). */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> | null {
  try {
    const s = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'output' }) as Record<string, unknown>;
    return JSON.stringify(s).length <= schemaBytesMax ? s : null;
  } catch {
    return null;
  }
}
