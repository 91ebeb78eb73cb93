// Instance ids and ballots (PROTOCOL.md §2).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ballotOwner, formatId, initCoord, instanceId, instanceSeq, isInstanceId, nextBallot, replicasMax, seqMax,
} from './ids.ts';

describe('instanceId packing', () => {
  test('round-trips seq and coordinator', () => {
    for (const [seq, c] of [[1, 0], [1, 15], [7, 3], [123_456, 9], [seqMax, replicasMax - 1]] as const) {
      const id = instanceId(seq, c);
      assert.ok(Number.isSafeInteger(id), `id for (${seq}, ${c}) is a safe integer`);
      assert.equal(instanceSeq(id), seq);
      assert.equal(initCoord(id), c);
    }
    assert.equal(formatId(instanceId(42, 3)), '42.3');
  });

  test('numeric order equals lexicographic (seq, coordinator) order', () => {
    const pairs: [number, number][] = [];
    for (const seq of [1, 2, 3, 15, 16, 17, 1000, seqMax]) for (const c of [0, 1, 2, 14, 15]) pairs.push([seq, c]);
    const lex = (a: [number, number], b: [number, number]): number => a[0] - b[0] || a[1] - b[1];
    for (const a of pairs) {
      for (const b of pairs) {
        const byId = Math.sign(instanceId(a[0], a[1]) - instanceId(b[0], b[1]));
        assert.equal(byId, Math.sign(lex(a, b)), `(${a}) vs (${b})`);
      }
    }
    // concrete: a larger seq wins over any coordinator; equal seq compares coordinators
    assert.ok(instanceId(2, 0) > instanceId(1, 15));
    assert.ok(instanceId(5, 1) < instanceId(5, 2));
  });

  test('rejects out-of-range seq and coordinator', () => {
    assert.throws(() => instanceId(0, 0), RangeError);
    assert.throws(() => instanceId(-1, 0), RangeError);
    assert.throws(() => instanceId(1.5, 0), RangeError);
    assert.throws(() => instanceId(seqMax + 1, 0), RangeError);
    assert.throws(() => instanceId(1, replicasMax), /replica id out of range/);
    assert.throws(() => instanceId(1, -1), /replica id out of range/);
  });

  test('isInstanceId checks the coordinator against n', () => {
    assert.equal(isInstanceId(instanceId(3, 2), 3), true);
    assert.equal(isInstanceId(instanceId(3, 3), 3), false);
    assert.equal(isInstanceId(5, 3), false, 'seq 0 is not an id');
    assert.equal(isInstanceId('17', 3), false);
    assert.equal(isInstanceId(16.5, 3), false);
  });
});

describe('ballots', () => {
  test('ballot 0 is owned by initCoord(id); ballots above 0 by b mod n', () => {
    const id = instanceId(9, 2);
    assert.equal(ballotOwner(0, 5, id), 2);
    assert.equal(ballotOwner(0, 5, instanceId(9, 4)), 4);
    assert.equal(ballotOwner(1, 5, id), 1);
    assert.equal(ballotOwner(5, 5, id), 0);
    assert.equal(ballotOwner(13, 5, id), 3);
  });

  test('concrete nextBallot values (b = k·n + self)', () => {
    assert.equal(nextBallot(0, 0, 3), 3, 'replica 0 never uses ballot 0');
    assert.equal(nextBallot(0, 1, 3), 1);
    assert.equal(nextBallot(0, 2, 3), 2);
    assert.equal(nextBallot(1, 1, 3), 4);
    assert.equal(nextBallot(2, 1, 3), 4);
    assert.equal(nextBallot(3, 1, 3), 4);
    assert.equal(nextBallot(4, 1, 3), 7);
    assert.equal(nextBallot(7, 0, 5), 10);
  });

  test('nextBallot is strictly above its argument, owned by self and never 0', () => {
    const id = instanceId(1, 0);
    for (const n of [1, 2, 3, 5, 7, 16]) {
      for (let self = 0; self < n; self++) {
        for (let above = 0; above < 5 * n + 3; above++) {
          const b = nextBallot(above, self, n);
          assert.ok(b > above, `n=${n} self=${self} above=${above}: ${b}`);
          assert.notEqual(b, 0);
          assert.equal(ballotOwner(b, n, id), self, `n=${n} self=${self} above=${above}: ${b}`);
          assert.ok(b - above <= n, 'the smallest such ballot');
        }
      }
    }
  });
});
