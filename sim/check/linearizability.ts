// Linearizability checker for per-key registers (read / write / cas).
//
// Each key is an independent register, so each is checked on its own (linearizability is
// local: Herlihy & Wing 1990), which keeps every search small. check-register.ts decides one
// key: cheap refutations first, then a search over the history cut at quiescent points.

import { toOperations } from '../history.ts';
import type { History, Operation } from '../history.ts';
import { checkRegister, type RegisterVerdict } from './check-register.ts';

export { canonicalJson } from './values.ts';

/**
 * Default bound on search states per key. Past it the checker gives up on that key and reports
 * a violation with `unknown: true`: the answer is "unknown", not "not linearizable". A state
 * costs (2 + operations in the segment / 32) × 4 bytes in the memo plus 8 bytes of table, so this
 * also bounds memory: 140 MB of states for a 1,000-operation segment (under 300 MB with the
 * pool's room to grow, search-memo.ts).
 */
export const searchStatesMax = 1_000_000;

export interface Violation {
  key: string;
  reason: string;
  /** The operations that show it: the fewest found, in time order. */
  operations: Operation[];
  /** True when the search limit was reached: linearizability is unknown, not refuted. */
  unknown?: boolean;
}

export interface LinearizabilityResult {
  /** False when a violation was found or the search limit was reached on some key. */
  linearizable: boolean;
  keys: number;
  /** Register operations checked (fail operations and info reads are dropped). */
  operations: number;
  violations: Violation[];
  /** The verdict on each key, in order of first appearance. */
  verdicts: RegisterVerdict[];
}

export interface CheckOptions {
  searchStatesMax?: number;
  /** Called after each key is decided (for progress on long histories). */
  onKey?: (verdict: RegisterVerdict, done: number, total: number) => void;
}

export function checkLinearizable(history: History, options: CheckOptions = {}): LinearizabilityResult {
  const statesMax = options.searchStatesMax ?? searchStatesMax;
  const byKey = operationsByKey(toOperations(history));
  const violations: Violation[] = [];
  const verdicts: RegisterVerdict[] = [];
  let count = 0;
  for (const [key, ops] of byKey) {
    count += ops.length;
    const v = checkRegister(key, ops, { statesMax });
    verdicts.push(v);
    options.onKey?.(v, verdicts.length, byKey.size);
    if (v.verdict === 'linearizable') continue;
    violations.push({
      key, reason: v.reason ?? v.verdict, operations: v.witness ?? [],
      ...(v.verdict === 'unknown' ? { unknown: true } : {}),
    });
  }
  return { linearizable: violations.length === 0, keys: byKey.size, operations: count, violations, verdicts };
}

/** Register operations by key; an info read returned nothing to the client, so it constrains nothing and is dropped. */
function operationsByKey(ops: readonly Operation[]): Map<string, Operation[]> {
  const byKey = new Map<string, Operation[]>();
  for (const op of ops) {
    if (op.f === 'read' && op.status === 'info') continue;
    let list = byKey.get(op.key);
    if (!list) byKey.set(op.key, (list = []));
    list.push(op);
  }
  return byKey;
}
