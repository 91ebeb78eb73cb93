// What the wire fuzzer watches on the agents under test: that each process still runs, answers
// /health, and commits (a PUT through it, read back through another agent); each one's resident
// memory (VmRSS from /proc, the figure the issue reported); and the counters on /metrics that
// prove the frames reached the decoders (each refused frame is counted where it is refused).

import { readFileSync } from 'node:fs';
import { AgentClient } from '../client.ts';

/** The resident set of a process in MiB, or null when it is gone (or /proc is not there). */
export function rssMiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) / 1024;
  } catch {
    return null;
  }
}

/** Attempts at reading /metrics: a keep-alive socket the agent has just closed fails one fetch. */
const metricsAttempts = 3;

async function metricsText(http: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await (await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    } catch (err) {
      if (attempt >= metricsAttempts) throw new Error(`cannot read ${http}/metrics: ${(err as Error).message}`, { cause: err });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** The sum of every series of `name` in a Prometheus text exposition whose labels match `labels`. */
export function metricSum(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const want = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (want) sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return sum;
}

/** The counters that prove delivery, one figure per decoder. */
export interface DecoderCounts {
  /** Consensus frames dropped (all reasons): every fuzz frame the agent read is one. */
  readonly consensusDropped: number;
  /** Membership frames dropped, stream and topic together. */
  readonly membershipDropped: number;
  /** Submit requests refused as invalid (/covey/submit/1.0.0). */
  readonly submitInvalid: number;
  /**
   * Snapshot transfers received, whatever the outcome: `invalid` ones failed framing or JSON, `ok`
   * ones parsed and went on to the core's validator, which refused them (the fuzzer sends no valid one).
   */
  readonly snapshotReceived: number;
  /** Join offers refused on receipt by the decoder (`covey_join_offers_received_total`, outcome invalid, oversized or truncated). */
  readonly joinRefused: number;
  /**
   * Voters-topic messages dropped (`covey_voters_announcements_dropped_total`); null when the agent
   * does not show that counter (its VotersSync was not given the agent's registry).
   */
  readonly votersDropped: number | null;
}

/** The join receiver's outcomes that mean its decoder refused the offer (busy: refused unread; refused, failed: after decoding). */
const joinDecoderRefusals = ['invalid', 'oversized', 'truncated'] as const;
const votersDroppedMetric = 'covey_voters_announcements_dropped_total';

export async function decoderCounts(http: string): Promise<DecoderCounts> {
  const text = await metricsText(http);
  return {
    consensusDropped: metricSum(text, 'covey_rpc_frames_dropped_total'),
    membershipDropped: metricSum(text, 'covey_membership_frames_dropped_total'),
    submitInvalid: metricSum(text, 'covey_rpc_submits_served_total', { outcome: 'invalid' }),
    snapshotReceived: metricSum(text, 'covey_snapshots_received_total'),
    joinRefused: joinDecoderRefusals.reduce((s, outcome) => s + metricSum(text, 'covey_join_offers_received_total', { outcome }), 0),
    votersDropped: text.includes(`# TYPE ${votersDroppedMetric} `) ? metricSum(text, votersDroppedMetric) : null,
  };
}

export function countsDelta(after: DecoderCounts, before: DecoderCounts): DecoderCounts {
  return {
    consensusDropped: after.consensusDropped - before.consensusDropped,
    membershipDropped: after.membershipDropped - before.membershipDropped,
    submitInvalid: after.submitInvalid - before.submitInvalid,
    snapshotReceived: after.snapshotReceived - before.snapshotReceived,
    joinRefused: after.joinRefused - before.joinRefused,
    votersDropped: after.votersDropped === null || before.votersDropped === null ? null : after.votersDropped - before.votersDropped,
  };
}

/** The agent's V8 heap in use and its memory outside the heap (buffers), in MiB, from /metrics. */
export interface HeapFigures {
  readonly heapUsedMiB: number;
  /** The V8 heap as committed (used or not): what of the RSS the heap holds. */
  readonly heapTotalMiB: number;
  readonly externalMiB: number;
  /** The agent's memory reclaims so far (agent/memory-reclaim.ts) and the RSS each step gave back, MiB. */
  readonly reclaims: number;
  readonly reclaimedMiB: { readonly v8: number; readonly malloc: number };
  /** Their pauses: the mean, and the smallest histogram bound above the longest (null: none, or over the last bound). */
  readonly reclaimPauseMeanMs: number | null;
  readonly reclaimPauseAtMostS: number | null;
}

/** The smallest `le` bound of histogram `name` that holds every observation. */
function histogramBound(text: string, name: string): number | null {
  const count = metricSum(text, `${name}_count`);
  if (count === 0) return null;
  const bounds = [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([0-9.]+)"\\} (\\d+)`, 'gm'))]
    .map((m) => ({ le: Number(m[1]), n: Number(m[2]) }))
    .sort((x, y) => x.le - y.le);
  return bounds.find((b) => b.n === count)?.le ?? null;
}

export async function heapFigures(http: string): Promise<HeapFigures> {
  const text = await metricsText(http);
  const mib = (name: string) => Math.round(metricSum(text, name) / 1024 / 1024 * 10) / 10;
  const pauses = metricSum(text, 'covey_memory_reclaim_pause_seconds_count');
  const reclaimed = (step: string) => Math.round(metricSum(text, 'covey_memory_reclaimed_rss_bytes_total', { step }) / 1024 / 1024 * 10) / 10;
  return {
    heapUsedMiB: mib('covey_nodejs_heap_size_used_bytes'), heapTotalMiB: mib('covey_nodejs_heap_size_total_bytes'), externalMiB: mib('covey_nodejs_external_memory_bytes'),
    reclaims: metricSum(text, 'covey_memory_reclaims_total'), reclaimedMiB: { v8: reclaimed('v8'), malloc: reclaimed('malloc') },
    reclaimPauseMeanMs: pauses === 0 ? null : Math.round(metricSum(text, 'covey_memory_reclaim_pause_seconds_sum') / pauses * 1000),
    reclaimPauseAtMostS: histogramBound(text, 'covey_memory_reclaim_pause_seconds'),
  };
}

/** GET /health within `timeoutMs`; the reason when it does not answer 200. */
export async function healthProblem(http: string, timeoutMs: number): Promise<string | null> {
  try {
    const r = await fetch(`${http}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    return r.ok ? null : `/health answered ${r.status}`;
  } catch (err) {
    return `/health did not answer within ${timeoutMs} ms (${(err as Error).message})`;
  }
}

/**
 * Writes a fresh value through `writer` and reads it back linearizably through `reader`; the
 * reason when either fails or the value read is not the one written.
 */
export async function commitProblem(writer: AgentClient, reader: AgentClient, key: string, value: string, timeoutMs: number): Promise<string | null> {
  try {
    const put = await writer.put(key, value, { timeoutMs }, AbortSignal.timeout(timeoutMs + 5000));
    if (put.ok !== true) return `PUT ${key} through ${writer.baseUrl} was refused: ${JSON.stringify(put)}`;
    const got = await reader.get(key, { timeoutMs }) as { ok?: boolean; value?: unknown };
    if (got.value !== value) return `GET ${key} through ${reader.baseUrl} read ${JSON.stringify(got)}, expected ${JSON.stringify(value)}`;
    return null;
  } catch (err) {
    return `PUT/GET ${key} (${writer.baseUrl} → ${reader.baseUrl}) failed: ${(err as Error).message}`;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) { resolve(); return; }
    const t = setTimeout(() => { signal?.removeEventListener('abort', done); resolve(); }, ms);
    const done = () => { clearTimeout(t); resolve(); };
    signal?.addEventListener('abort', done, { once: true });
  });
}
