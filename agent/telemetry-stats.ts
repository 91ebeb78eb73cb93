// Telemetry as this agent sees it, per plugin topic: messages its plugins published, messages it
// received from other agents, messages its plugins' subscriptions dropped (not JSON, or not
// matching the topic's schema), and the recent rate. The plugin environment counts; /metrics
// reads the counts at scrape time.

import { performance } from 'node:perf_hooks';
import { Counter, Gauge, type Registry } from 'prom-client';

/** The rate is the messages of the last this many seconds, divided by them. */
export const rateWindowSeconds = 10;
/** Topics tracked at most: past it, new topics are counted under "(other)" so a flood of names cannot grow memory. */
export const topicsMax = 256;
const otherTopic = '(other)';

export interface TopicStats {
  readonly topic: string;
  readonly published: number;
  readonly received: number;
  readonly dropped: number;
  /** Messages published here or received here per second, over the last rateWindowSeconds. */
  readonly ratePerSecond: number;
  /** performance.now() of the last message (ms), or null. */
  readonly lastAtMs: number | null;
}

interface Entry {
  published: number;
  received: number;
  dropped: number;
  lastAtMs: number | null;
  /** Messages per whole second, the last rateWindowSeconds of them, as a ring. */
  readonly buckets: number[];
  bucketSecond: number;
}

export class TelemetryStats {
  readonly #topics = new Map<string, Entry>();
  readonly #nowMs: () => number;

  constructor(nowMs: () => number = () => performance.now()) {
    this.#nowMs = nowMs;
  }

  published(topic: string): void {
    const e = this.#entry(topic);
    e.published++;
    this.#tick(e);
  }

  received(topic: string): void {
    const e = this.#entry(topic);
    e.received++;
    this.#tick(e);
  }

  dropped(topic: string): void {
    this.#entry(topic).dropped++;
  }

  /** Every topic seen, sorted by name. */
  topics(): TopicStats[] {
    return [...this.#topics].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([topic, e]) => {
      this.#advance(e);
      const sum = e.buckets.reduce((x, y) => x + y, 0);
      return { topic, published: e.published, received: e.received, dropped: e.dropped, ratePerSecond: sum / rateWindowSeconds, lastAtMs: e.lastAtMs };
    });
  }

  #entry(topic: string): Entry {
    let e = this.#topics.get(topic);
    if (e === undefined) {
      if (this.#topics.size >= topicsMax && topic !== otherTopic) return this.#entry(otherTopic);
      e = { published: 0, received: 0, dropped: 0, lastAtMs: null, buckets: new Array<number>(rateWindowSeconds).fill(0), bucketSecond: Math.floor(this.#nowMs() / 1000) };
      this.#topics.set(topic, e);
    }
    return e;
  }

  #tick(e: Entry): void {
    this.#advance(e);
    e.buckets[e.bucketSecond % rateWindowSeconds]++;
    e.lastAtMs = this.#nowMs();
  }

  /** Empties the buckets of the seconds that passed since the entry's last message. */
  #advance(e: Entry): void {
    const second = Math.floor(this.#nowMs() / 1000);
    for (let s = e.bucketSecond + 1; s <= second && s <= e.bucketSecond + rateWindowSeconds; s++) e.buckets[s % rateWindowSeconds] = 0;
    e.bucketSecond = Math.max(e.bucketSecond, second);
  }
}

export function registerTelemetryMetrics(registry: Registry, stats: TelemetryStats): void {
  const counter = (name: string, help: string, pick: (t: TopicStats) => number): void => {
    new Counter({
      name, help, labelNames: ['topic'] as const, registers: [registry],
      collect() {
        this.reset();
        for (const t of stats.topics()) this.inc({ topic: t.topic }, pick(t));
      },
    });
  };
  counter('covey_telemetry_published_total', 'Telemetry messages this agent\'s plugins published, by topic', (t) => t.published);
  counter('covey_telemetry_received_total', 'Telemetry messages this agent received from other agents, by topic', (t) => t.received);
  counter('covey_telemetry_dropped_total', 'Telemetry messages this agent\'s plugin subscriptions dropped (not JSON, or not matching the topic\'s schema), by topic', (t) => t.dropped);
  new Gauge({
    name: 'covey_telemetry_rate_per_second', help: `Telemetry messages published or received here per second, by topic, over the last ${rateWindowSeconds} s`,
    labelNames: ['topic'] as const, registers: [registry],
    collect() {
      this.reset();
      for (const t of stats.topics()) this.set({ topic: t.topic }, t.ratePerSecond);
    },
  });
}
