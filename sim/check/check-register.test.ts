// The whole register pipeline (cheap refutations, settling info operations, segments, search)
// against a brute force that tries every order of every subset of the info operations, on small
// random histories — linearizable or not, with values written more than once, so the soundness
// arguments of refute.ts and info-operations.ts are tested where they are most delicate.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Operation } from '../history.ts';
import { checkRegister } from './check-register.ts';
import { splitAtQuiescence } from './segments.ts';

const values = [null, 'a', 'b', 'c'];

const operation = fc.record({
  f: fc.constantFrom('read' as const, 'write' as const, 'cas' as const),
  invoke: fc.integer({ min: 0, max: 40 }),
  length: fc.integer({ min: 1, max: 15 }),
  info: fc.boolean(), // a read of unknown outcome is dropped by the checker, so it stays ok
  a: fc.constantFrom(...values),
  b: fc.constantFrom('a', 'b', 'c'),
  swapped: fc.boolean(),
});

type Spec = { f: 'read' | 'write' | 'cas'; invoke: number; length: number; info: boolean; a: string | null; b: string; swapped: boolean };

function toOperations(specs: readonly Spec[]): Operation[] {
  return specs.map((s, id): Operation => {
    const info = s.info && s.f !== 'read';
    const base = { id, process: id, key: 'k', invokeNs: s.invoke, completeNs: info ? Infinity : s.invoke + s.length, status: info ? 'info' : 'ok', line: id + 1 } as const;
    if (s.f === 'read') return { ...base, f: 'read', value: undefined, output: s.a };
    if (s.f === 'write') return { ...base, f: 'write', value: s.b, output: undefined };
    return { ...base, f: 'cas', value: [s.a, s.b], output: info ? undefined : s.swapped };
  });
}

/** Every subset of the info operations, every order that respects real time. */
function bruteForce(ops: readonly Operation[]): boolean {
  const info = ops.filter((o) => o.status === 'info');
  for (let mask = 0; mask < 1 << info.length; mask++) {
    const chosen = ops.filter((o) => o.status === 'ok' || (mask & (1 << info.indexOf(o))) !== 0);
    if (orders(chosen, null)) return true;
  }
  return false;
}

function orders(left: readonly Operation[], state: unknown): boolean {
  if (left.length === 0) return true;
  for (const o of left) {
    if (left.some((p) => p !== o && p.completeNs < o.invokeNs)) continue; // not minimal
    let next: unknown;
    if (o.f === 'read') { if (o.output !== state) continue; next = state; }
    else if (o.f === 'write') next = o.value;
    else {
      const [expected, value] = o.value as [unknown, unknown];
      if (o.status === 'info') next = state === expected ? value : state;
      else if (o.output === true) { if (state !== expected) continue; next = value; }
      else { if (state === expected) continue; next = state; }
    }
    if (orders(left.filter((p) => p !== o), next)) return true;
  }
  return false;
}

describe('checkRegister agrees with a brute force', () => {
  it('on random small histories, with repeated values and operations of unknown outcome', () => {
    let refuted = 0;
    fc.assert(
      fc.property(fc.array(operation, { minLength: 1, maxLength: 7 }), (specs) => {
        const ops = toOperations(specs);
        const expected = bruteForce(ops);
        const v = checkRegister('k', ops, { statesMax: 1_000_000 });
        if (!expected) refuted++;
        assert.equal(v.verdict, expected ? 'linearizable' : 'not-linearizable', `${v.reason ?? ''}\n${JSON.stringify(ops)}`);
      }),
      { numRuns: 3000 },
    );
    assert.ok(refuted > 300, `only ${refuted} of the histories were not linearizable: the test would not see a false alarm`);
  });
});

describe('splitAtQuiescence', () => {
  const op = (id: number, invokeNs: number, completeNs: number): Operation =>
    ({ id, process: id, key: 'k', f: 'read', value: undefined, output: null, invokeNs, completeNs, status: 'ok', line: id });
  it('cuts only where every earlier operation completed strictly before the next was invoked', () => {
    const segs = splitAtQuiescence([op(0, 0, 10), op(1, 5, 20), op(2, 20, 30), op(3, 31, 40), op(4, 50, Infinity), op(5, 60, 70)]);
    assert.deepEqual(segs.map((s) => s.map((o) => o.id)), [[0, 1, 2], [3], [4, 5]]);
  });
});
