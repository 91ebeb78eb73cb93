// The measured scenarios, shared by the tests (sim/membership/*.test.ts) and the bench
// (bench/membership.ts): join and converge, then crash one agent and time its detection, or cut
// the swarm in two for 30 s and time the merge after the cut heals.

import { MembershipSim, type SimOptions } from './harness.ts';

/** Virtual time allowed for a fresh swarm to converge (every agent sees every agent alive). */
export const convergeMsMax = 90_000;

export interface DetectionResult {
  readonly convergedMs: number | null;
  readonly victim: number;
  /** Crash → every running agent marks the victim dead (ms of virtual time); null if never. */
  readonly detectMs: number | null;
  /** "Dead" verdicts about agents that were running and reachable, over the whole run. */
  readonly falsePositives: number;
  readonly traceHash: string;
  readonly messages: number;
}

/**
 * Join, converge, run `warmupMs`, crash one agent (not a seed), wait for every running agent to
 * mark it dead, then keep running `afterMs` so late false alarms are counted too.
 */
export function detectionRun(opts: SimOptions & { readonly warmupMs?: number; readonly afterMs?: number; readonly detectMsMax?: number }): DetectionResult {
  const sim = new MembershipSim(opts);
  sim.startAll();
  const conv = sim.runUntil(() => sim.converged(), convergeMsMax, 100);
  sim.runForMs(opts.warmupMs ?? 5000);
  const seeds = Math.min(opts.seeds ?? 3, opts.agents);
  const victim = opts.agents > seeds ? sim.rng.int(seeds, opts.agents - 1) : opts.agents - 1;
  const crashUs = sim.nowUs;
  sim.crash(victim);
  const seen = sim.runUntil(() => sim.allSeeDead(victim), opts.detectMsMax ?? 60_000, 10);
  sim.runForMs(opts.afterMs ?? 10_000);
  return {
    convergedMs: conv === null ? null : conv / 1000,
    victim,
    detectMs: seen === null ? null : (seen - crashUs) / 1000,
    falsePositives: sim.falsePositives().length,
    traceHash: sim.trace.hex(),
    messages: sim.net.stats.sent,
  };
}

export interface PartitionResult {
  readonly convergedMs: number | null;
  /** Cut → every agent marks every agent across the cut dead (ms); null if not within the cut. */
  readonly apartMs: number | null;
  /** Heal → every agent sees every agent alive again (ms); null if never. */
  readonly mergeMs: number | null;
  readonly falsePositives: number;
  readonly traceHash: string;
}

/** Join, converge, split into halves for `cutMs` (30 s), heal, time the merge. */
export function partitionRun(opts: SimOptions & { readonly cutMs?: number; readonly mergeMsMax?: number }): PartitionResult {
  const sim = new MembershipSim(opts);
  sim.startAll();
  const conv = sim.runUntil(() => sim.converged(), convergeMsMax, 100);
  sim.runForMs(2000);
  const side = new Set<number>();
  for (let a = 0; a < Math.floor(opts.agents / 2); a++) side.add(a);
  const cutUs = sim.nowUs;
  const cut = sim.split(side);
  const apartAt = sim.runUntil(() => sidesApart(sim, side), opts.cutMs ?? 30_000, 50);
  sim.runUntilUs(cutUs + Math.round((opts.cutMs ?? 30_000) * 1000));
  sim.heal(cut);
  const healUs = sim.nowUs;
  const merged = sim.runUntil(() => sim.converged(), opts.mergeMsMax ?? 120_000, 50);
  return {
    convergedMs: conv === null ? null : conv / 1000,
    apartMs: apartAt === null ? null : (apartAt - cutUs) / 1000,
    mergeMs: merged === null ? null : (merged - healUs) / 1000,
    falsePositives: sim.falsePositives().length,
    traceHash: sim.trace.hex(),
  };
}

/** Every agent on each side marks every agent on the other side dead. */
export function sidesApart(sim: MembershipSim, side: ReadonlySet<number>): boolean {
  for (let a = 0; a < sim.agents; a++) {
    if (!sim.running(a)) continue;
    for (let b = 0; b < sim.agents; b++) {
      if (side.has(a) === side.has(b)) continue;
      const s = sim.view(a, b);
      if (s !== 'dead' && s !== 'left') return false;
    }
  }
  return true;
}
