// Operations of unknown outcome (`info`) are what makes register histories hard: one may take
// effect at any time after its invoke, or never, so it stays open to the end of the history,
// leaves no quiescent point after it (segments.ts) and multiplies the places the search must try
// it. Two sound reductions take most of them out of the way.

import type { Operation } from '../history.ts';
import { produced } from './refute.ts';
import { canonicalJson } from './values.ts';

/** Values some ok operation saw: what an ok read returned, what an ok cas swapped out. */
function observedValues(ops: readonly Operation[]): Map<string, number> {
  // value → earliest completion of an operation that saw it
  const seen = new Map<string, number>();
  const note = (v: string, at: number): void => {
    const t = seen.get(v);
    if (t === undefined || at < t) seen.set(v, at);
  };
  for (const op of ops) {
    if (op.status !== 'ok') continue;
    if (op.f === 'read') note(canonicalJson(op.output ?? null), op.completeNs);
    else if (op.f === 'cas' && op.output === true) note(canonicalJson((op.value as unknown[])[0]), op.completeNs);
  }
  return seen;
}

/**
 * An info write or cas whose value someone saw, and that no other operation writes, did take
 * effect, before the first operation that saw it completed: it becomes an ok operation
 * completing then. Any linearization of the history has it there, so the histories have the same
 * linearizations; it just closes, which gives quiescent points back.
 */
export function settleObservedInfo(ops: readonly Operation[]): Operation[] {
  const writers = new Map<string, number>();
  for (const op of ops) {
    const v = produced(op);
    if (v !== undefined) writers.set(v, (writers.get(v) ?? 0) + 1);
  }
  const seen = observedValues(ops);
  return ops.map((op) => {
    if (op.status !== 'info' || op.f === 'read') return op;
    const v = produced(op)!;
    const by = seen.get(v);
    // A cas that expects what it writes would see itself; leave such oddities to the search.
    const selfSeen = op.f === 'cas' && canonicalJson((op.value as unknown[])[0]) === v;
    if (v === 'null' || writers.get(v) !== 1 || by === undefined || by < op.invokeNs || selfSeen) return op;
    return { ...op, status: 'ok', completeNs: by, output: op.f === 'cas' ? true : undefined };
  });
}

/**
 * Without the info writes and cas whose value nobody observed. An operation of unknown outcome
 * may also not have happened, so if the rest is linearizable, so is the whole: linearize the
 * dropped ones as never having taken effect. The converse can fail (an unobserved value may be
 * what made a cas report false), so a failure here must be rechecked with them.
 */
export function withoutUnobservedInfo(ops: readonly Operation[]): Operation[] {
  const seen = observedValues(ops);
  return ops.filter((op) => op.status === 'ok' || op.f === 'read' || seen.has(produced(op)!));
}
