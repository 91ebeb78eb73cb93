// How smoothly the swarm rode one fault, from what the nemesis's clients and watchers recorded,
// with issue 16's targets beside each figure: the minority's /ready 503 within 1.5 s of the cut,
// a write acked at every agent within 2 s of the heal, the majority side's p50 during a split
// within 1.5× of no fault, two voters under a one-way cut between them at ≥ 80 % of their
// no-fault throughput.

import type { FaultPlan } from './faults.ts';
import type { OpRecord, ReadyChange } from './workload.ts';

export interface Window { fromMs: number; toMs: number }

export const targets = { readyDropMsMax: 1500, healToWriteMsMax: 2000, majorityP50RatioMax: 1.5, pairThroughputRatioMin: 0.8 } as const;

export interface FaultReport {
  fault: string;
  what: string;
  majority: readonly number[];
  minority: readonly number[];
  /** The no-fault window just before the fault, which the ratios compare with. */
  before: { throughput: number; p50Ms: number };
  figures: {
    /** Operations acked during the fault, by side. */
    ackedMajority: number;
    ackedMinority: number;
    /** Slowest minority agent's time from the cut to its /ready answering 503 (null: no minority, or one never dropped: see readyDropped). */
    readyDropMs: number | null;
    readyDropped: boolean;
    /** Slowest agent's time from the heal to its first acked write (null: some agent had none). */
    healToWriteMs: number | null;
    /** Each agent's time from the heal to its first acked write (null: none within the wait). */
    healToWriteMsByAgent: (number | null)[];
    /** p50 of operations acked on the majority side during the fault, and against no fault. */
    majorityP50Ms: number;
    majorityP50Ratio: number;
    /** Acked per second during the fault against no fault: all agents, and the one-way pair. */
    throughputRatio: number;
    pairThroughputRatio: number | null;
  };
  /** Each target that applies to this fault: met or not. */
  met: Record<string, boolean>;
}

export function faultReport(plan: FaultPlan, cut: Window, baseline: Window, ops: readonly OpRecord[], ready: readonly ReadyChange[][], resumedAtMs: readonly (number | null)[]): FaultReport {
  const work = ops.filter((x) => !x.probe && x.ok);
  const during = work.filter((x) => x.endMs >= cut.fromMs && x.endMs < cut.toMs);
  const before = work.filter((x) => x.endMs >= baseline.fromMs && x.endMs < baseline.toMs);
  const onSide = (xs: readonly OpRecord[], side: readonly number[]): OpRecord[] => xs.filter((x) => side.includes(x.agent));
  const cutS = (cut.toMs - cut.fromMs) / 1000;
  const baseS = (baseline.toMs - baseline.fromMs) / 1000;
  const rate = (n: number, s: number): number => (s > 0 ? n / s : 0);

  const drops = plan.minority.map((i) => ready[i].find((c) => !c.ready && c.atMs >= cut.fromMs && c.atMs <= cut.toMs)?.atMs ?? null);
  const readyDropped = drops.every((d) => d !== null);
  const readyDropMs = plan.minority.length === 0 || !readyDropped ? null : Math.round(Math.max(...drops.map((d) => d! - cut.fromMs)));
  const resumed = resumedAtMs.every((t) => t !== null);
  const healToWriteMs = resumed ? Math.round(Math.max(...resumedAtMs.map((t) => t! - cut.toMs))) : null;
  const majorityP50Ms = p50(onSide(during, plan.majority));
  const baseP50 = p50(before);
  const pair = plan.pair === null ? null
    : ratio(rate(onSide(during, plan.pair).length, cutS), rate(onSide(before, plan.pair).length, baseS));
  const figures = {
    ackedMajority: onSide(during, plan.majority).length,
    ackedMinority: onSide(during, plan.minority).length,
    readyDropMs,
    readyDropped,
    healToWriteMs,
    healToWriteMsByAgent: resumedAtMs.map((t) => (t === null ? null : Math.round(t - cut.toMs))),
    majorityP50Ms,
    majorityP50Ratio: ratio(majorityP50Ms, baseP50),
    throughputRatio: ratio(rate(during.length, cutS), rate(before.length, baseS)),
    pairThroughputRatio: pair,
  };
  const met: Record<string, boolean> = {};
  if (plan.minority.length > 0) met[`minority /ready 503 within ${targets.readyDropMsMax} ms of the cut`] = readyDropMs !== null && readyDropMs <= targets.readyDropMsMax;
  met[`a write acked at every agent within ${targets.healToWriteMsMax} ms of the heal`] = healToWriteMs !== null && healToWriteMs <= targets.healToWriteMsMax;
  if (plan.name === 'split') met[`majority-side p50 within ${targets.majorityP50RatioMax}x of no fault`] = figures.majorityP50Ratio <= targets.majorityP50RatioMax;
  if (pair !== null) met[`the one-way pair at ≥ ${targets.pairThroughputRatioMin * 100} % of its no-fault throughput`] = pair >= targets.pairThroughputRatioMin;
  const beforeFigures = { throughput: Math.round(rate(before.length, baseS)), p50Ms: baseP50 };
  return { fault: plan.name, what: plan.what, majority: plan.majority, minority: plan.minority, before: beforeFigures, figures, met };
}

/** Median latency of the operations, ms. */
export function p50(xs: readonly OpRecord[]): number {
  if (xs.length === 0) return 0;
  const s = xs.map((x) => x.endMs - x.beginMs).sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)] * 100) / 100;
}

function ratio(a: number, b: number): number {
  return b > 0 ? Math.round((a / b) * 100) / 100 : 0;
}
