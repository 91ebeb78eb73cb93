// What `covey sim --report FILE.html` shows, as one plain JSON value built from a run's result:
// the fault timeline per agent, throughput and latency over virtual time, the checkers' verdicts,
// the trace hash, and for plugin runs their failures, log lines and the mission's map. The page
// (html.ts, page.js) only draws it; tests read it back from the file (reportDataOf).

import type { FaultRecord } from '../engine/fault-log.ts';
import type { FaultCounts, SimulationResult } from '../engine/simulation.ts';
import type { LogLine } from '../plugins/host.ts';
import type { PluginRunResult, TrackPoint } from '../plugins/run.ts';
import type { MissionMap } from '../plugins/scenario.ts';

export interface Verdict {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** Completed operations per time bucket: rates per second of virtual time, latencies in ms. */
export interface OpSeries {
  readonly bucketMs: number;
  /** Bucket starts, seconds of virtual time. */
  readonly atS: number[];
  readonly okPerS: number[];
  readonly failPerS: number[];
  /** Operations that timed out or died with their agent (outcome unknown). */
  readonly infoPerS: number[];
  readonly p50Ms: (number | null)[];
  readonly p99Ms: (number | null)[];
}

export interface ReportAgent {
  readonly index: number;
  readonly id: string;
  readonly role: 'voter' | 'worker';
}

export interface PluginReport {
  readonly source: string;
  readonly missionComplete: boolean;
  readonly completeAtMs: number | null;
  readonly failures: readonly { readonly agent: number; readonly atMs: number; readonly error: string; readonly stack: string | null }[];
  readonly logs: readonly LogLine[];
  /** Log lines left out beyond logLinesMax. */
  readonly logsLeftOut: number;
  readonly map: MissionMap | null;
  readonly tracks: readonly { readonly agent: number; readonly points: readonly TrackPoint[] }[];
  readonly killed: readonly { readonly agent: number; readonly atMs: number }[];
}

export interface ReportData {
  readonly format: 1;
  readonly mode: 'workload' | 'plugin';
  /** One line saying what ran. */
  readonly title: string;
  /** The command that replays this run. */
  readonly replay: string;
  readonly seed: number;
  readonly traceHash: string;
  readonly events: number;
  /** Virtual time at the end of the run, ms. */
  readonly endMs: number;
  /** When the faults stopped (the end of the active phase), ms. */
  readonly faultsEndMs: number;
  readonly passed: boolean;
  readonly verdicts: readonly Verdict[];
  readonly violations: readonly string[];
  /** The summary `--json` prints for the same run. */
  readonly summary: Record<string, unknown>;
  readonly agents: readonly ReportAgent[];
  readonly faults: { readonly counts: FaultCounts; readonly log: readonly FaultRecord[] };
  readonly ops: OpSeries;
  readonly plugin: PluginReport | null;
}

/** Log lines embedded at most (the rest are counted): a report stays a file a browser opens. */
export const logLinesMax = 5000;
/** Time buckets of the charts at most. */
const bucketsMax = 240;

export interface WorkloadReportInput {
  readonly title: string;
  readonly replay: string;
  readonly seed: number;
  readonly voters: number;
  readonly agents: number;
  readonly durationMs: number;
  readonly summary: Record<string, unknown>;
  readonly result: SimulationResult;
  readonly passed: boolean;
}

export function workloadReport(i: WorkloadReportInput): ReportData {
  const r = i.result;
  return {
    format: 1, mode: 'workload', title: i.title, replay: i.replay, seed: i.seed, traceHash: r.traceHash, events: r.events,
    endMs: r.endMs, faultsEndMs: Math.min(i.durationMs, r.endMs), passed: i.passed,
    verdicts: engineVerdicts(r), violations: r.violations, summary: i.summary,
    agents: agentsOf(i.voters, i.agents),
    faults: { counts: r.faults, log: r.faultLog },
    ops: opSeries(r.history, r.endMs),
    plugin: null,
  };
}

export interface PluginReportInput {
  readonly title: string;
  readonly replay: string;
  readonly seed: number;
  readonly voters: number;
  readonly agents: number;
  readonly source: string;
  readonly summary: Record<string, unknown>;
  readonly run: PluginRunResult;
  readonly passed: boolean;
}

export function pluginReport(i: PluginReportInput): ReportData {
  const r = i.run;
  const sim = r.sim;
  // The active phase ends when the mission is done or at the limit; the last restart marks it too.
  const faultsEndMs = r.completeAtMs ?? sim.endMs;
  return {
    format: 1, mode: 'plugin', title: i.title, replay: i.replay, seed: i.seed, traceHash: sim.traceHash, events: sim.events,
    endMs: sim.endMs, faultsEndMs, passed: i.passed,
    verdicts: [
      { name: 'mission complete', ok: r.missionComplete, detail: r.completeAtMs === null ? 'not done when the run ended' : `done at ${(r.completeAtMs / 1000).toFixed(1)} s virtual` },
      { name: 'no task completed twice', ok: r.completions.moreThanOnce === 0, detail: `${r.completions.tasks} tasks completed, ${r.completions.moreThanOnce} more than once` },
      // Plugins' kv operations are not in the history: no register verdict unless it judged some.
      ...engineVerdicts(sim).filter((v) => v.name !== 'linearizable registers' || sim.linearizability.keys > 0),
    ],
    violations: sim.violations, summary: i.summary,
    agents: agentsOf(i.voters, i.agents),
    faults: { counts: sim.faults, log: sim.faultLog },
    ops: opSeries(sim.history, sim.endMs),
    plugin: {
      source: i.source,
      missionComplete: r.missionComplete,
      completeAtMs: r.completeAtMs,
      failures: r.failures.map((f) => ({ agent: f.agent, atMs: f.atMs, error: f.error, stack: stackOf(f.fields) })),
      logs: r.logs.slice(0, logLinesMax),
      logsLeftOut: Math.max(0, r.logs.length - logLinesMax),
      map: r.map,
      tracks: [...r.tracks.entries()].map(([agent, points]) => ({ agent, points })),
      killed: r.killed,
    },
  };
}

function agentsOf(voters: number, agents: number): ReportAgent[] {
  return Array.from({ length: agents }, (_, a) => ({ index: a, id: `agent-${a}`, role: a < voters ? 'voter' as const : 'worker' as const }));
}

/** The engine's checkers, one line each. Violations name their checker by prefix (simulation.ts's finish). */
function engineVerdicts(r: SimulationResult): Verdict[] {
  const count = (prefix: RegExp): number => r.violations.filter((v) => prefix.test(v)).length;
  const lin = r.linearizability;
  return [
    { name: 'linearizable registers', ok: r.linearizable, detail: `${lin.keys} keys, ${lin.operations} operations checked, ${lin.violations.length} violations` },
    ...(r.tasks === null ? [] : [{ name: 'task board fencing', ok: r.tasks.ok, detail: `${r.tasks.stats.claims} claims, ${r.tasks.stats.completions} completions, ${r.tasks.stats.refusedCompletions} refused; ${r.tasks.violations.length} violations` }]),
    { name: 'protocol invariants (INV1, INV2, INV7, INV8)', ok: count(/^INV/) === 0, detail: `${count(/^INV/)} violations` },
    { name: 'durability', ok: count(/^durability/) === 0 && count(/^state transfer/) === 0, detail: `${count(/^durability|^state transfer/)} violations` },
    { name: 'liveness (settled after the faults)', ok: r.settled && count(/^liveness|^agreement/) === 0, detail: r.settled ? 'every voter applied everything, same state' : 'did not settle' },
  ];
}

function stackOf(fields: object): string | null {
  const err = (fields as { err?: { stack?: unknown } }).err;
  return typeof err?.stack === 'string' ? err.stack : null;
}

/**
 * Throughput and latency over virtual time from a history (JSON Lines, HISTORY-FORMAT.md): a
 * process has one operation open at a time, so each completion pairs with its process's invoke.
 */
export function opSeries(history: string, endMs: number): OpSeries {
  const bucketMs = bucketFor(endMs);
  const buckets = Math.max(1, Math.ceil(endMs / bucketMs));
  const ok = new Array<number>(buckets).fill(0), fail = new Array<number>(buckets).fill(0), info = new Array<number>(buckets).fill(0);
  const latencies: number[][] = Array.from({ length: buckets }, () => []);
  const invokedAtNs = new Map<number, number>();
  for (const line of history.split('\n')) {
    if (line === '') continue;
    const e = JSON.parse(line) as { process: number; type: string; time: number };
    if (e.type === 'invoke') { invokedAtNs.set(e.process, e.time); continue; }
    const b = Math.min(buckets - 1, Math.floor(e.time / 1e6 / bucketMs));
    if (e.type === 'ok') {
      ok[b]++;
      const at = invokedAtNs.get(e.process);
      if (at !== undefined) latencies[b].push((e.time - at) / 1e6);
    } else if (e.type === 'fail') fail[b]++;
    else info[b]++;
    invokedAtNs.delete(e.process);
  }
  const perS = (n: number): number => Math.round((n / bucketMs) * 1000 * 10) / 10;
  const pct = (xs: number[], p: number): number | null => {
    if (xs.length === 0) return null;
    xs.sort((x, y) => x - y);
    return Math.round(xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] * 100) / 100;
  };
  return {
    bucketMs,
    atS: Array.from({ length: buckets }, (_, b) => (b * bucketMs) / 1000),
    okPerS: ok.map(perS), failPerS: fail.map(perS), infoPerS: info.map(perS),
    p50Ms: latencies.map((xs) => pct(xs, 0.5)),
    p99Ms: latencies.map((xs) => pct(xs, 0.99)),
  };
}

/** A round bucket width giving at most bucketsMax buckets (100 ms at least). */
function bucketFor(endMs: number): number {
  for (const w of [100, 250, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 300_000, 600_000]) if (endMs / w <= bucketsMax) return w;
  return Math.ceil(endMs / bucketsMax / 60_000) * 60_000;
}
