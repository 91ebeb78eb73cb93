// Quorum sizes and the bound n ≥ max(2e+f−1, 2f+1) (PROTOCOL.md §1).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultQuorumConfig, quorums } from './quorum.ts';

describe('quorums', () => {
  // The table of PROTOCOL.md §1: n, f, e → slow/recovery quorum, fast quorum.
  const table: [number, number, number, number, number][] = [
    [3, 1, 1, 2, 2],
    [5, 2, 2, 3, 3],
    [5, 2, 1, 3, 4],
    [7, 3, 2, 4, 5],
    [7, 3, 1, 4, 6],
  ];
  for (const [n, f, e, slow, fast] of table) {
    test(`n=${n} f=${f} e=${e}: slow ${slow}, fast ${fast}`, () => {
      assert.deepEqual(quorums({ n, f, e }), { n, f, e, slowQuorumSize: slow, fastQuorumSize: fast });
    });
  }

  test('the largest e of the table is the default; one more breaks 2e+f−1', () => {
    assert.deepEqual(defaultQuorumConfig(3), { n: 3, f: 1, e: 1 });
    assert.deepEqual(defaultQuorumConfig(5), { n: 5, f: 2, e: 2 });
    assert.deepEqual(defaultQuorumConfig(7), { n: 7, f: 3, e: 2 });
    assert.throws(() => quorums({ n: 7, f: 3, e: 3 }), /2e\+f−1=8/);
  });

  test('n below 2f+1 is rejected naming that bound', () => {
    assert.throws(() => quorums({ n: 4, f: 2, e: 1 }), (err: Error) => err instanceof RangeError && /n ≥ 2f\+1/.test(err.message));
    assert.throws(() => quorums({ n: 5, f: 3, e: 1 }), /2f\+1/);
  });

  test('n below 2e+f−1 is rejected naming that bound', () => {
    // n=9, f=4: 2e+f−1 ≤ 9 ⇒ e ≤ 3
    assert.equal(quorums({ n: 9, f: 4, e: 3 }).fastQuorumSize, 6);
    assert.throws(() => quorums({ n: 9, f: 4, e: 4 }), (err: Error) => err instanceof RangeError && /2e\+f−1=11/.test(err.message));
  });

  test('e > f is rejected naming that bound', () => {
    assert.throws(() => quorums({ n: 7, f: 1, e: 2 }), /e \(2\) must not exceed f \(1\)/);
  });

  test('f = 0 with more than one voter, non-integers, negatives and n outside 1..16 are rejected', () => {
    assert.throws(() => quorums({ n: 3, f: 0, e: 0 }), /f must be at least 1 with 3 voters/);
    assert.throws(() => quorums({ n: 2, f: 0, e: 0 }), /f must be at least 1 with 2 voters/);
    assert.throws(() => quorums({ n: 3, f: 1.5, e: 1 }), /f must be a non-negative integer/);
    assert.throws(() => quorums({ n: 3, f: 1, e: -1 }), /e must be a non-negative integer/);
    assert.throws(() => quorums({ n: 17, f: 8, e: 1 }), /n must be between 1 and 16/);
    assert.throws(() => quorums({ n: 0, f: 1, e: 1 }), /n must be between/);
  });

  test('a single voter (a dev agent) is every quorum: n=1, f=0, e=0', () => {
    assert.deepEqual(defaultQuorumConfig(1), { n: 1, f: 0, e: 0 });
    const q = quorums(defaultQuorumConfig(1));
    assert.equal(q.slowQuorumSize, 1);
    assert.equal(q.fastQuorumSize, 1);
  });
});
