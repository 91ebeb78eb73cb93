// Refutation before search: cheap checks, each sound on its own, that find the common register
// violations in O(n log n) without the exponential search, and name the few operations that
// show them. They hold for any history (values need not be unique), since each only argues
// from real-time order:
//
//  - a read (or a cas that swapped) saw a value that no write could have produced by then:
//    nothing writes it, or every write of it was invoked after the read completed;
//  - a stale read: it saw v although a write w of another value completed before the read was
//    invoked, and every write of v (the initial value counts as written at -∞) completed before
//    w was invoked. Then w is linearized after every write of v and before the read, and nothing
//    after w writes v again. "A read of the initial value after a write completed" is the case
//    v = null, when nothing writes null.
//
// A history these checks pass may still be refuted by the search; one they refute is refuted.

import type { Operation } from '../history.ts';
import { canonicalJson } from './values.ts';

export interface Refutation {
  reason: string;
  /** The operations that show it, in time order. */
  operations: Operation[];
}

/** What an operation saw: the value an ok read returned, the value an ok cas swapped out. */
function observed(op: Operation): string | undefined {
  if (op.status !== 'ok') return undefined;
  if (op.f === 'read') return canonicalJson(op.output ?? null);
  if (op.f === 'cas' && op.output === true) return canonicalJson((op.value as unknown[])[0]);
  return undefined;
}

/** The value an operation may have written: any write, an info cas, an ok cas that swapped. */
export function produced(op: Operation): string | undefined {
  if (op.f === 'write') return canonicalJson(op.value ?? null);
  if (op.f === 'cas' && (op.status === 'info' || op.output === true)) return canonicalJson((op.value as unknown[])[1]);
  return undefined;
}

/** A write or cas that certainly changed the register: ok write, ok cas that swapped. */
function certainWrite(op: Operation): string | undefined {
  return op.status === 'ok' ? produced(op) : undefined;
}

export function refuteCheaply(ops: readonly Operation[]): Refutation | null {
  const producers = new Map<string, Operation[]>();
  for (const op of ops) {
    const v = produced(op);
    if (v === undefined) continue;
    let list = producers.get(v);
    if (!list) producers.set(v, (list = []));
    list.push(op);
  }
  return readFromNowhere(ops, producers) ?? staleRead(ops, producers);
}

function readFromNowhere(ops: readonly Operation[], producers: Map<string, Operation[]>): Refutation | null {
  for (const op of ops) {
    const v = observed(op);
    if (v === undefined || v === 'null') continue;
    const writers = producers.get(v) ?? [];
    if (writers.length === 0) {
      return { reason: `${seen(op)} ${v}, a value never written to ${op.key}`, operations: [op] };
    }
    const first = writers.reduce((a, b) => (b.invokeNs < a.invokeNs ? b : a));
    if (first.invokeNs > op.completeNs) {
      return {
        reason: `${seen(op)} ${v} and completed at ${op.completeNs} ns, before any write of ${v} was invoked (the first at ${first.invokeNs} ns)`,
        operations: [op, first],
      };
    }
  }
  return null;
}

function staleRead(ops: readonly Operation[], producers: Map<string, Operation[]>): Refutation | null {
  // Sweep readers by invoke time over certain writes by completion time, keeping the two latest
  // invoked writes of different values among those completed so far: the latest one writing a
  // value other than the read's is then one of the two.
  const readers = ops.filter((op) => observed(op) !== undefined).sort((a, b) => a.invokeNs - b.invokeNs);
  const writes = ops.filter((op) => certainWrite(op) !== undefined).sort((a, b) => a.completeNs - b.completeNs);
  let best: Operation | null = null;
  let second: Operation | null = null;
  let i = 0;
  for (const r of readers) {
    while (i < writes.length && writes[i].completeNs < r.invokeNs) {
      const w = writes[i++];
      if (best === null || w.invokeNs > best.invokeNs) {
        if (best !== null && certainWrite(best) !== certainWrite(w)) second = best;
        best = w;
      } else if (certainWrite(w) !== certainWrite(best) && (second === null || w.invokeNs > second.invokeNs)) {
        second = w;
      }
    }
    const v = observed(r)!;
    const w = best !== null && certainWrite(best) !== v ? best : second;
    if (w === null) continue;
    const writers = producers.get(v) ?? [];
    const lastWriteOfV = writers.reduce<Operation | null>((a, b) => (a === null || b.completeNs > a.completeNs ? b : a), null);
    // The initial value is written at -∞, and only once: a history that writes null again is
    // judged by its writes of null.
    const lastDone = lastWriteOfV?.completeNs ?? -Infinity;
    if (w.invokeNs <= lastDone) continue;
    const why = lastWriteOfV === null
      ? `${v} is the initial value and nothing writes it again`
      : `every write of ${v} had completed before it began (the last at ${lastWriteOfV.completeNs} ns)`;
    return {
      reason: `stale read: ${seen(r)} ${v} at ${r.invokeNs}–${r.completeNs} ns, after ${w.f} ${certainWrite(w)} completed at ${w.completeNs} ns; ${why}`,
      operations: [...(lastWriteOfV !== null ? [lastWriteOfV] : []), w, r],
    };
  }
  return null;
}

function seen(op: Operation): string {
  return op.f === 'read' ? `process ${op.process} read` : `process ${op.process}'s cas swapped out`;
}
