// Quorum sizes (PROTOCOL.md §1): slow, Accept and recovery quorums have n−f processes; the fast
// quorum has n−e, counting the coordinator. The paper requires n ≥ max(2e+f−1, 2f+1), e ≤ f.

import { assert } from './assert.ts';
import { replicasMax } from './ids.ts';

export interface QuorumConfig {
  readonly n: number;
  readonly f: number;
  readonly e: number;
}

export interface Quorums extends QuorumConfig {
  readonly slowQuorumSize: number;
  readonly fastQuorumSize: number;
}

/** Returns the quorum sizes, or throws naming the bound that (n, f, e) breaks. */
export function quorums(cfg: QuorumConfig): Quorums {
  const { n, f, e } = cfg;
  for (const [name, v] of Object.entries({ n, f, e })) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`quorum config: ${name} must be a non-negative integer, got ${v}`);
  }
  if (n < 1 || n > replicasMax) throw new RangeError(`quorum config: n must be between 1 and ${replicasMax}, got ${n}`);
  // f = 0 only for a group of one (`covey agent --dev`): its one voter is every quorum. Two or
  // more voters that tolerate no crash would stop at the first one, which is never what is meant.
  if (f < 1 && n > 1) throw new RangeError(`quorum config: f must be at least 1 with ${n} voters (got ${f}); only a single voter (a dev agent) tolerates no crash`);
  if (e > f) throw new RangeError(`quorum config: e (${e}) must not exceed f (${f})`);
  if (n < 2 * f + 1) throw new RangeError(`quorum config: n=${n} tolerates at most f=${Math.floor((n - 1) / 2)} crashes (n ≥ 2f+1), got f=${f}`);
  if (n < 2 * e + f - 1) throw new RangeError(`quorum config: n=${n} is below 2e+f−1=${2 * e + f - 1}; lower e (fast-path fault tolerance)`);
  const q = { n, f, e, slowQuorumSize: n - f, fastQuorumSize: n - e };
  // What the protocol's safety leans on (PROTOCOL.md §1): any two slow quorums intersect, and a
  // fast quorum is at least a slow one.
  assert(2 * q.slowQuorumSize > n, () => `slow quorums of ${q.slowQuorumSize} out of ${n} need not intersect`);
  assert(q.fastQuorumSize >= q.slowQuorumSize, () => `fast quorum ${q.fastQuorumSize} is below the slow quorum ${q.slowQuorumSize}`);
  return q;
}

/** The usual configuration for n voters: f = ⌊(n−1)/2⌋ and the largest e the bound allows. */
export function defaultQuorumConfig(n: number): QuorumConfig {
  const f = Math.floor((n - 1) / 2);
  return { n, f, e: defaultFastTolerance(n, f) };
}

/** The largest e the bound n ≥ 2e+f−1 allows for n voters and f, and never above f. */
export function defaultFastTolerance(n: number, f: number): number {
  return Math.max(0, Math.min(f, Math.floor((n - f + 1) / 2)));
}
