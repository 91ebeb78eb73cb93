// The conflict index forgets lazily: whatever it keeps or drops, it must name every id above the
// pruned floor that touched a key, and never one at or below the floor the caller asks with.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConflictIndex } from './conflict-index.ts';
import { instanceId, instanceSeq, initCoord } from './ids.ts';
import type { Batch } from './types.ts';

const batch = (...keys: string[]): Batch => ({
  // A client per key: a client's commands conflict through its session (conflicts.ts).
  commands: keys.map((key, i) => ({ clientId: `c/${key}`, requestId: i, timestampMs: 0, op: 'put' as const, key, value: 'v' })),
});

function collect(ix: ConflictIndex, b: Batch, floor: readonly number[]): number[] {
  const out = new Set<number>();
  ix.candidates(b, floor, (id) => out.add(id));
  return [...out].sort((x, y) => x - y);
}

test('a key keeps its ids until the floor passes them, then a new id replaces the stale one', () => {
  const ix = new ConflictIndex(3);
  const a = instanceId(1, 0), b = instanceId(2, 0), c = instanceId(3, 0);
  ix.add(a, batch('x'), null);
  ix.add(b, batch('x'), null);
  assert.deepEqual(collect(ix, batch('x'), [0, 0, 0]), [a, b]);
  ix.prune([1, 0, 0]); // a applied everywhere
  assert.deepEqual(collect(ix, batch('x'), [1, 0, 0]), [b]);
  assert.equal(ix.completeAbove([0, 0, 0]), false, 'no longer complete below the pruned floor');
  const seen = new Set<number>(); // an id may be named once per key it shares (x and its client's session)
  ix.collectAndAdd(c, batch('x'), [1, 0, 0], (id) => seen.add(id));
  assert.deepEqual([...seen], [b]);
  assert.deepEqual(collect(ix, batch('x'), [1, 0, 0]), [b, c]);
});

test('model: after any adds and prunes, the index names exactly the ids above the floor on a key', () => {
  const op = fc.oneof(
    fc.record({ t: fc.constant('add' as const), seq: fc.integer({ min: 1, max: 400 }), coord: fc.nat(2), key: fc.nat(30) }),
    fc.record({ t: fc.constant('prune' as const), floor: fc.tuple(fc.nat(400), fc.nat(400), fc.nat(400)) }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 3000, size: 'max' }), (ops) => {
    const ix = new ConflictIndex(3, 4); // sweep as soon as 8 keys are held
    const truth = new Map<string, Set<number>>();
    let floor: number[] = [0, 0, 0];
    for (const o of ops) {
      if (o.t === 'prune') {
        ix.prune(o.floor);
        floor = floor.map((f, i) => Math.max(f, o.floor[i]));
        continue;
      }
      const id = instanceId(o.seq, o.coord), key = `k${o.key}`;
      const expected = [...(truth.get(key) ?? [])].filter((x) => instanceSeq(x) > floor[initCoord(x)]).sort((x, y) => x - y);
      const visited = new Set<number>();
      ix.collectAndAdd(id, batch(key), floor, (x) => visited.add(x));
      visited.delete(id);
      assert.deepEqual([...visited].sort((x, y) => x - y), expected.filter((x) => x !== id));
      if (!truth.has(key)) truth.set(key, new Set());
      truth.get(key)!.add(id);
    }
    for (const [key, ids] of truth) {
      const expected = [...ids].filter((x) => instanceSeq(x) > floor[initCoord(x)]).sort((x, y) => x - y);
      assert.deepEqual(collect(ix, batch(key), floor), expected);
    }
  }), { numRuns: 200 });
});

test('once the map has doubled, a prune sweeps out every key whose ids are all below the floor', () => {
  const ix = new ConflictIndex(3, 4);
  for (let seq = 1; seq <= 100; seq++) ix.add(instanceId(seq, 1), batch(`k${seq}`), null);
  ix.add(instanceId(101, 1), batch('live'), null);
  assert.equal(ix.keys, 202, 'each batch a key and its client\'s session');
  ix.prune([0, 100, 0]);
  assert.equal(ix.keys, 2, 'only the keys of the id above the floor are left');
  assert.deepEqual(collect(ix, batch('live'), [0, 100, 0]), [instanceId(101, 1)]);
});
