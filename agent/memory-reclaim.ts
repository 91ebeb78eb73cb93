// Giving memory back to the device after a burst (issue 13: "memory returns to baseline").
//
// After a flood (a peer's garbage frames, a backlog of client commands) an agent's live objects
// shrink back, but its RSS does not, for two reasons measured with /proc/PID/smaps
// (docs/benchmarks.md, fuzz:wire):
//   - V8 keeps the heap pages it grew to, and the garbage in them, while the agent is idle: an
//     idle agent allocates too little to start a collection, and V8's memory reducer did not run
//     within minutes. Only a collection that aims to shrink the heap gives the pages back.
//   - glibc malloc, which holds every Buffer's bytes (socket reads, noise, yamux), keeps freed
//     chunks in its arenas; free() returns memory only from the top of an arena, so a few live
//     chunks pin the rest. Only malloc_trim(3) returns the free pages in the middle
//     (agent/malloc-trim.ts; absent where it cannot be loaded).
// So when the process has grown past the smallest it has been (2 MiB, below) and the event loop is mostly
// idle (the burst is over), this asks V8 for its smallest heap and then trims malloc — at most once
// per `intervalMsMin`, and, while reclaims give little back (the memory is in use: a bigger state,
// more peers), ever more rarely, up to once per `intervalMsMax`: a grown agent never pays for
// nothing often. The collection pauses the agent (tens
// of ms for a heap of ~100 MiB on this 2-core machine); the idleness condition keeps that pause away
// from busy moments, and consensus tolerates a pause of that size (its timeouts are in seconds).
//
// Start-up is a burst too: compiling the bundle, opening the store, replaying the log and meeting
// the peers leave garbage and malloc chunks behind, but the size right after them is the first
// one seen, so growth over it never counts them. So once, the first time the agent is idle at
// least `settleAfterMs` after it started, it reclaims without growth (issue 12: an idle agent's
// RSS went 126 → 113 MiB with it on this machine, docs/benchmarks.md). That settling reclaim also
// drops the compiled code of what ran only while starting (config parsing, schema building, the
// libp2p node's construction): V8 flushes a function's bytecode only after several major
// collections without a call, and an idle agent makes one a minute or so.

import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from './log.ts';
import { loadMallocTrim } from './malloc-trim.ts';

/** How often the process's size and the event loop's idleness are looked at. */
export const checkEveryMsDefault = 10_000;
/** The least time between two reclaims: each costs a pause. */
export const intervalMsMinDefault = 30_000;
/** The most time between two reclaims while the process stays grown and reclaims give little back. */
export const intervalMsMaxDefault = 600_000;
/** The settling reclaim after start-up comes at the first idle check this long after start. */
export const settleAfterMsDefault = 20_000;
/**
 * Growth of RSS over the smallest size seen that is worth a reclaim. Small, because an idle agent
 * creeps: its timers and gossip promote about 64 KiB/s of garbage to V8's old space, which V8
 * collects only once it has grown by several MiB (5–8 MiB over 90 s on this machine, issue 12's
 * idle RSS ≤ 100 MB). At 2 MiB an idle agent reclaims about every 40 s, a pause of 60–120 ms each
 * (about 0.2 % of a core); it was 16 MiB, which an idle agent never reached (docs/benchmarks.md).
 */
export const growthBytesMinDefault = 2 * 1024 * 1024;
/** Busiest event loop (share of the last check's time spent running) counted as idle. */
export const busyMaxDefault = 0.2;
/** A reclaim that gave back less than this found the memory in use: the next one waits twice as long. */
export const reclaimedBytesMeaningful = 1024 * 1024;

export interface ReclaimSample {
  readonly rssBytes: number;
  /** Share of the time since the previous sample the event loop was busy (0..1). */
  readonly busy: number;
  readonly nowMs: number;
}

export interface ReclaimLimits {
  readonly intervalMsMin: number;
  readonly intervalMsMax: number;
  readonly growthBytesMin: number;
  readonly busyMax: number;
  readonly settleAfterMs: number;
}

/**
 * Whether to reclaim now: grown by `growthBytesMin` over the smallest size seen (`floorBytes`),
 * idle, and the last reclaim at least `intervalMs` ago. Pure, so the policy is tested without a process.
 */
export function shouldReclaim(s: ReclaimSample, floorBytes: number, lastReclaimMs: number, intervalMs: number, l: ReclaimLimits): boolean {
  if (s.busy > l.busyMax) return false;
  if (lastReclaimMs === -Infinity && s.nowMs >= l.settleAfterMs) return true; // settling after start-up
  return s.rssBytes - floorBytes >= l.growthBytesMin && s.nowMs - lastReclaimMs >= intervalMs;
}

/** The wait before the next reclaim: the least after one that gave memory back, else twice the last, up to the most. */
export function nextIntervalMs(intervalMs: number, reclaimedBytes: number, l: ReclaimLimits): number {
  return reclaimedBytes >= reclaimedBytesMeaningful ? l.intervalMsMin : Math.min(intervalMs * 2, l.intervalMsMax);
}

export interface MemoryReclaimOptions {
  readonly logger: Logger;
  readonly registry: Registry;
  readonly checkEveryMs?: number;
  readonly limits?: Partial<ReclaimLimits>;
  /** The process's size and idleness now (default: process.memoryUsage.rss and eventLoopUtilization). */
  readonly sample?: () => ReclaimSample;
  /** What a reclaim does, step by step (default: shrink V8's heap, then trim malloc where it can). */
  readonly steps?: readonly ReclaimStep[];
  /**
   * True while a pause would cost more than usual, so no reclaim starts: the agent's, while it is
   * cut off from a majority of the voters. Quiet because it cannot commit, it would otherwise reclaim
   * then (issue 16: a 1 s pause measured right at a heal held back reconnecting and catching up).
   */
  readonly holdOff?: () => boolean;
}

export interface ReclaimStep {
  /** Labels what it gave back in covey_memory_reclaimed_rss_bytes_total. */
  readonly name: string;
  /** `settling`: the once-only reclaim after start-up (see the top of this file). */
  run(settling: boolean): void;
}

export class MemoryReclaim {
  readonly #o: MemoryReclaimOptions;
  readonly #limits: ReclaimLimits;
  readonly #sample: () => ReclaimSample;
  readonly #steps: readonly ReclaimStep[];
  readonly #reclaims: Counter;
  readonly #reclaimedBytes: Counter<'step'>;
  readonly #pauseSeconds: Histogram;
  #timer: NodeJS.Timeout | null = null;
  /**
   * The smallest RSS seen. Not the size after the last reclaim: one that ran during a slow flood
   * would set the mark high, and the memory the rest of the flood took would never be reclaimed.
   */
  #floorBytes = Infinity;
  #lastReclaimMs = -Infinity;
  #intervalMs: number;

  constructor(o: MemoryReclaimOptions) {
    this.#o = o;
    this.#limits = { intervalMsMin: intervalMsMinDefault, intervalMsMax: intervalMsMaxDefault, growthBytesMin: growthBytesMinDefault, busyMax: busyMaxDefault, settleAfterMs: settleAfterMsDefault, ...o.limits };
    this.#intervalMs = this.#limits.intervalMsMin;
    this.#sample = o.sample ?? processSampler();
    this.#steps = o.steps ?? processSteps(o.logger);
    this.#reclaims = new Counter({ name: 'covey_memory_reclaims_total', help: 'Times this agent, idle after growing, asked V8 and malloc to give memory back', registers: [o.registry] });
    this.#reclaimedBytes = new Counter({
      name: 'covey_memory_reclaimed_rss_bytes_total', help: 'RSS given back by those reclaims (bytes, before minus after each step: v8, malloc)',
      labelNames: ['step'] as const, registers: [o.registry],
    });
    this.#pauseSeconds = new Histogram({
      name: 'covey_memory_reclaim_pause_seconds', help: 'How long each reclaim held the event loop (both steps)',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [o.registry],
    });
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => this.check(), this.#o.checkEveryMs ?? checkEveryMsDefault);
    this.#timer.unref(); // never what keeps a stopping process alive
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One look (the timer's; tests call it directly). Returns the bytes given back, or null when it did not reclaim. */
  check(): number | null {
    const s = this.#sample();
    this.#floorBytes = Math.min(this.#floorBytes, s.rssBytes);
    if (!shouldReclaim(s, this.#floorBytes, this.#lastReclaimMs, this.#intervalMs, this.#limits)) return null;
    if (this.#o.holdOff?.() === true) return null;
    const started = performance.now();
    const settling = this.#lastReclaimMs === -Infinity;
    const gave: Record<string, number> = {};
    let before = s.rssBytes;
    for (const step of this.#steps) {
      try {
        step.run(settling);
      } catch (err) {
        // Never fatal: the agent runs on at its present size, and the next reclaim waits its interval.
        this.#o.logger.warn({ err, step: step.name }, 'could not reclaim memory');
      }
      const rss = this.#sample().rssBytes;
      gave[step.name] = Math.max(0, before - rss);
      this.#reclaimedBytes.inc({ step: step.name }, gave[step.name]);
      before = rss;
    }
    const after = this.#sample();
    const reclaimed = Math.max(0, s.rssBytes - after.rssBytes);
    this.#lastReclaimMs = after.nowMs;
    this.#intervalMs = nextIntervalMs(this.#intervalMs, reclaimed, this.#limits);
    this.#floorBytes = Math.min(this.#floorBytes, after.rssBytes);
    this.#reclaims.inc();
    const pauseMs = performance.now() - started;
    this.#pauseSeconds.observe(pauseMs / 1000);
    const level = reclaimed >= reclaimedBytesMeaningful ? 'info' : 'debug';
    this.#o.logger[level]({ rssBeforeMiB: mib(s.rssBytes), rssAfterMiB: mib(after.rssBytes), gaveMiB: Object.fromEntries(Object.entries(gave).map(([k, v]) => [k, mib(v)])), pauseMs: Math.round(pauseMs), nextInS: this.#intervalMs / 1000 }, 'idle after growing: gave memory back');
    return reclaimed;
  }
}

/** RSS and event-loop busyness since the previous call. */
function processSampler(): () => ReclaimSample {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return { rssBytes: process.memoryUsage.rss(), busy: Number.isFinite(busy) ? busy : 0, nowMs: performance.now() };
  };
}

type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;
let gcFunction: GcFunction | null = null;

/**
 * V8's gc(), got once without --expose-gc on the command line: the flag is set, one throwaway
 * context is made (gc is installed into contexts made while it is set), and the flag is cleared,
 * so neither the agent's own context nor any made later (a plugin's vm) has a gc of its own.
 */
function exposedGc(): GcFunction {
  if (gcFunction !== null) return gcFunction;
  v8.setFlagsFromString('--expose-gc');
  try {
    gcFunction = vm.runInNewContext('gc') as GcFunction;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
  if (typeof gcFunction !== 'function') throw new Error('V8 did not expose gc() with --expose-gc set');
  return gcFunction;
}

/**
 * Asks V8 for its smallest heap: the "last resort" collection, V8's low-memory one — repeated
 * full collections that also release the weak Buffers' memory, shrink the young generation and
 * free pooled pages — which a plain gc() does not (measured on a test process with 245 MiB of
 * heap committed: 136 MiB left after gc(), 6 MiB after this). v8.queryObjects does the same
 * collection but then walks every object: 2.7 s against 0.35 s for this on a heap of 200,000
 * live objects (this machine under load).
 */
export function shrinkV8Heap(o: { readonly flushCode?: boolean } = {}): void {
  const gc = exposedGc();
  if (o.flushCode !== true) return gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  // V8's test flag for code flushing, set for this one collection: every function's bytecode is
  // dropped whatever its age (not those running now); what runs again is compiled again on its
  // next call, once, and what ran only at start-up stays dropped. Measured on idle agents: 1–2
  // MiB less RSS 30 s after start, 1–2 MB less heap in use (docs/benchmarks.md).
  v8.setFlagsFromString('--stress-flush-code');
  try {
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  } finally {
    v8.setFlagsFromString('--no-stress-flush-code');
  }
}

/** V8 first (its collection frees the Buffers' malloc chunks), then malloc. */
function processSteps(logger: Logger): ReclaimStep[] {
  const steps: ReclaimStep[] = [{ name: 'v8', run: (settling) => shrinkV8Heap({ flushCode: settling }) }];
  const malloc = loadMallocTrim();
  if (malloc.trim !== null) steps.push({ name: 'malloc', run: () => { malloc.trim(); } });
  else logger.info({ reason: malloc.unavailable }, 'malloc is not trimmed after bursts: memory freed by Buffers stays with the process');
  return steps;
}

function mib(bytes: number): number {
  return Math.round(bytes / 1048576 * 10) / 10;
}
