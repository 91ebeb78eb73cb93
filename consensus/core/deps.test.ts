// Dependency sets with a watermark floor (PROTOCOL.md §12, bounded dependencies).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { belowFloor, depsEqual, depsInclude, depsUnion, emptyDeps, floorAtLeast, makeDeps, maxFloor } from './deps.ts';
import { instanceId } from './ids.ts';

const id = instanceId;

describe('makeDeps', () => {
  test('canonical form: sorted ascending, duplicates removed, ids at or below the floor dropped', () => {
    const floor = [2, 0, 5];
    const d = makeDeps([id(4, 1), id(3, 0), id(1, 1), id(3, 0), id(2, 0), id(5, 2), id(6, 2), id(1, 1)], floor);
    // id(2,0) ≤ floor[0]=2 and id(5,2) ≤ floor[2]=5 are covered by the floor
    assert.deepEqual(d.ids, [id(1, 1), id(3, 0), id(4, 1), id(6, 2)]);
    assert.deepEqual(d.floor, [2, 0, 5]);
    assert.equal(d.floor.length, 3);
  });

  test('empty input and emptyDeps', () => {
    assert.deepEqual(makeDeps([], [0, 0, 0]), { ids: [], floor: [0, 0, 0] });
    assert.deepEqual(emptyDeps(5), { ids: [], floor: [0, 0, 0, 0, 0] });
  });

  test('the same set in any order gives equal Deps', () => {
    const a = makeDeps([id(9, 0), id(1, 2), id(5, 1)], [0, 0, 0]);
    const b = makeDeps([id(5, 1), id(9, 0), id(1, 2), id(9, 0)], [0, 0, 0]);
    assert.ok(depsEqual(a, b));
  });
});

describe('depsInclude', () => {
  const d = makeDeps([id(7, 0), id(2, 1)], [3, 0, 1]);

  test('explicit ids are included', () => {
    assert.equal(depsInclude(d, id(7, 0)), true);
    assert.equal(depsInclude(d, id(2, 1)), true);
  });

  test('every id at or below the floor of its coordinator is included', () => {
    assert.equal(depsInclude(d, id(1, 0)), true);
    assert.equal(depsInclude(d, id(3, 0)), true);
    assert.equal(depsInclude(d, id(1, 2)), true);
    assert.equal(belowFloor(id(3, 0), d.floor), true);
  });

  test('ids above the floor and not explicit are not included', () => {
    assert.equal(depsInclude(d, id(4, 0)), false);
    assert.equal(depsInclude(d, id(1, 1)), false, 'floor[1] = 0 covers nothing');
    assert.equal(depsInclude(d, id(2, 2)), false);
    assert.equal(depsInclude(d, id(8, 0)), false);
    assert.equal(depsInclude(emptyDeps(3), id(1, 0)), false);
  });

  test('binary search over a long explicit list', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => id(2 * i + 1, 1));
    const big = makeDeps(ids, [0, 0, 0]);
    for (let s = 1; s <= 2000; s++) assert.equal(depsInclude(big, id(s, 1)), s % 2 === 1, `seq ${s}`);
  });
});

describe('depsUnion', () => {
  test('explicit union, floors combined element-wise by max, covered ids dropped', () => {
    const a = makeDeps([id(2, 0), id(5, 1)], [1, 0, 0]);
    const b = makeDeps([id(3, 2), id(5, 1), id(9, 0)], [0, 6, 0]);
    const u = depsUnion(a, b);
    // id(5,1) is now under floor[1] = 6
    assert.deepEqual(u, { ids: [id(2, 0), id(9, 0), id(3, 2)].sort((x, y) => x - y), floor: [1, 6, 0] });
    for (const x of [id(1, 0), id(2, 0), id(9, 0), id(5, 1), id(3, 2), id(6, 1)]) assert.equal(depsInclude(u, x), true, String(x));
    assert.equal(depsInclude(u, id(3, 0)), false);
    assert.equal(depsInclude(u, id(7, 1)), false);
  });

  test('the union includes every member of either side (semantic superset)', () => {
    const a = makeDeps([id(4, 0), id(8, 2)], [2, 1, 0]);
    const b = makeDeps([id(3, 1), id(5, 0)], [0, 0, 4]);
    const u = depsUnion(a, b);
    for (let s = 1; s <= 10; s++) {
      for (let c = 0; c < 3; c++) {
        const x = id(s, c);
        if (depsInclude(a, x) || depsInclude(b, x)) assert.equal(depsInclude(u, x), true, `(${s}, ${c})`);
      }
    }
    assert.ok(depsEqual(depsUnion(a, b), depsUnion(b, a)), 'commutative');
  });

  test('union with an equal or empty set', () => {
    const a = makeDeps([id(4, 0)], [0, 0, 0]);
    assert.ok(depsEqual(depsUnion(a, a), a));
    assert.ok(depsEqual(depsUnion(a, emptyDeps(3)), a));
    assert.ok(depsEqual(depsUnion(emptyDeps(3), a), a));
  });
});

describe('depsEqual, maxFloor, floorAtLeast', () => {
  test('equal ids and floors are equal; any difference is not', () => {
    const a = makeDeps([id(1, 0), id(2, 1)], [0, 0]);
    assert.ok(depsEqual(a, makeDeps([id(2, 1), id(1, 0)], [0, 0])));
    assert.ok(!depsEqual(a, makeDeps([id(1, 0)], [0, 0])));
    assert.ok(!depsEqual(a, makeDeps([id(1, 0), id(3, 1)], [0, 0])));
    assert.ok(!depsEqual(makeDeps([id(5, 0)], [0, 0]), makeDeps([id(5, 0)], [0, 1])), 'floors differ');
    assert.ok(!depsEqual(emptyDeps(2), emptyDeps(3)));
  });

  test('maxFloor and floorAtLeast', () => {
    assert.deepEqual(maxFloor([1, 5, 0], [2, 3, 0]), [2, 5, 0]);
    const a = [4, 4];
    assert.equal(maxFloor(a, [1, 2]), a, 'returns the first when it already dominates');
    assert.equal(floorAtLeast([2, 5], [2, 4]), true);
    assert.equal(floorAtLeast([2, 5], [3, 0]), false);
  });
});
