// Dependency sets with a watermark floor (PROTOCOL.md §12, bounded dependencies).
//
// A Deps value stands for the set   ids ∪ { every conflicting id' : seq(id') ≤ floor[initCoord(id')] }.
// The floor comes from ids every voter had executed when the set was made, so such ids precede,
// at every voter, anything not yet executed. All set questions the protocol asks (membership in
// Validate, equality on the fast path, union on the slow path) are asked of that meaning, which
// keeps the paper's Agreement and Visibility arguments intact while the explicit part stays small.

import { initCoord, instanceSeq, type InstanceId } from './ids.ts';
import type { Deps } from './types.ts';

export function emptyDeps(n: number): Deps {
  return { ids: [], floor: new Array<number>(n).fill(0) };
}

export function belowFloor(id: InstanceId, floor: readonly number[]): boolean {
  return instanceSeq(id) <= floor[initCoord(id)];
}

/** Semantic membership: is `id` in the set `d` stands for (given that id conflicts). */
export function depsInclude(d: Deps, id: InstanceId): boolean {
  return belowFloor(id, d.floor) || binarySearch(d.ids, id);
}

function binarySearch(a: readonly number[], x: number): boolean {
  let lo = 0, hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = a[mid];
    if (v === x) return true;
    if (v < x) lo = mid + 1; else hi = mid - 1;
  }
  return false;
}

/** Canonical form: sorted, unique, nothing at or below the floor. */
export function makeDeps(ids: Iterable<InstanceId>, floor: readonly number[]): Deps {
  const out: number[] = [];
  for (const id of ids) if (!belowFloor(id, floor)) out.push(id);
  out.sort((a, b) => a - b);
  let w = 0;
  for (let r = 0; r < out.length; r++) if (r === 0 || out[r] !== out[r - 1]) out[w++] = out[r];
  out.length = w;
  return { ids: out, floor };
}

export function depsEqual(a: Deps, b: Deps): boolean {
  return arraysEqual(a.ids, b.ids) && arraysEqual(a.floor, b.floor);
}

/** Element-wise equality of two number vectors (id lists, floors, applied prefixes). */
export function arraysEqual(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function maxFloor(a: readonly number[], b: readonly number[]): readonly number[] {
  let same = true;
  for (let i = 0; i < a.length; i++) if (b[i] > a[i]) { same = false; break; }
  if (same) return a;
  return a.map((v, i) => Math.max(v, b[i]));
}

export function floorAtLeast(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] < b[i]) return false;
  return true;
}

/** The union of the sets two Deps stand for (slow path, line 21). */
export function depsUnion(a: Deps, b: Deps): Deps {
  if (depsEqual(a, b)) return a;
  const floor = maxFloor(a.floor, b.floor);
  return makeDeps(concat(a.ids, b.ids), floor);
}

function* concat(a: readonly number[], b: readonly number[]): Iterable<number> {
  yield* a;
  yield* b;
}
