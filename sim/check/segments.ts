// Splitting one register's history at quiescent points: instants when no operation is open.
// Every operation before such a point precedes every operation after it in real time, so a
// linearization of the whole is a linearization of the first part followed by one of the second,
// and the second only needs to know which values the first can leave in the register. The search
// then costs the sum over the parts instead of (nearly) their product — the difference between
// deciding a long history in milliseconds and giving up on it.
//
// An operation of unknown outcome never closes (it may take effect at any later time), so no
// point after its invoke is quiescent: everything from there on is one segment.

import type { Operation } from '../history.ts';

/** The operations in time order of invoke, cut wherever every earlier one completed strictly before the next was invoked. */
export function splitAtQuiescence(ops: readonly Operation[]): Operation[][] {
  const sorted = ops.slice().sort((a, b) => a.invokeNs - b.invokeNs || a.id - b.id);
  const segments: Operation[][] = [];
  let current: Operation[] = [];
  let openUntil = -Infinity;
  for (const op of sorted) {
    if (current.length > 0 && openUntil < op.invokeNs) {
      segments.push(current);
      current = [];
    }
    current.push(op);
    openUntil = Math.max(openUntil, op.completeNs);
  }
  if (current.length > 0) segments.push(current);
  return segments;
}
