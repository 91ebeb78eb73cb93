// The register workload: reads, writes and compare-and-sets. With probability `conflict` an
// operation goes to one of `keys` shared registers (where clients interfere and the
// linearizability checker has work to do); otherwise to a register only its own process uses,
// which commits on the fast path without dependencies. Every written value is unique.

import type { CommandResult } from '../../consensus/index.ts';
import type { Random } from '../engine/random.ts';
import type { Completion, OpSpec, Proc, Workload } from './workload.ts';

export interface KvWorkloadOptions {
  /** Shared registers. */
  readonly keys: number;
  /** Share of operations on a shared register, 0..1. */
  readonly conflict: number;
  /** Closed-loop think time between operations (ms, µs resolution). */
  readonly thinkMs: { readonly min: number; readonly max: number };
}

export function kvWorkload(o: KvWorkloadOptions): Workload {
  const writes = new Map<number, number>();
  /** The last value each process read or saw per key: the next cas's expectation. */
  const lastRead = new Map<number, Map<string, string | null>>();
  const seen = (p: Proc): Map<string, string | null> => {
    let m = lastRead.get(p.id);
    if (m === undefined) { m = new Map(); lastRead.set(p.id, m); }
    return m;
  };
  return {
    name: 'kv',
    next(p: Proc, rng: Random): OpSpec {
      const shared = rng.chance(o.conflict);
      const k = rng.int(0, o.keys - 1);
      const key = shared ? `k${k}` : `p${p.id}`;
      const roll = rng.int(0, 99);
      if (roll < 40) return { op: { op: 'get', key }, f: 'read', key };
      const n = (writes.get(p.id) ?? 0) + 1;
      writes.set(p.id, n);
      const value = `v-${p.id}-${n}`;
      if (roll < 80) return { op: { op: 'put', key, value }, f: 'write', key, value };
      const expected = seen(p).get(key) ?? null;
      return { op: { op: 'cas', key, expected, value }, f: 'cas', key, value: [expected, value] };
    },
    complete(p: Proc, spec: OpSpec, result: CommandResult): Completion {
      if (!result.ok) return { type: 'fail' }; // refused by the state machine: no effect
      if (spec.f === 'read') {
        const value = result.value ?? null;
        seen(p).set(spec.key, value);
        return { type: 'ok', value };
      }
      if (spec.f === 'write') return { type: 'ok' };
      if (result.swapped !== true) seen(p).set(spec.key, result.value ?? null);
      return { type: 'ok', value: result.swapped === true };
    },
    unknown(): void {},
    thinkUs(_p: Proc, rng: Random): number {
      return rng.int(Math.round(o.thinkMs.min * 1000), Math.round(o.thinkMs.max * 1000));
    },
  };
}
