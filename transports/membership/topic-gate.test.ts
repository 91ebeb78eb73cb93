import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TopicGate } from './topic-gate.ts';

test('the membership topic gate: rejects strangers, unsigned and oversized messages; rate-limits each signer; bounded', () => {
  const gate = new TopicGate({ isAdmitted: (p) => p !== 'stranger', frameBytesMax: 100, perSecond: 2, burst: 3, signersMax: 2 });
  assert.equal(gate.check(null, 10, 0).verdict, 'reject');
  assert.equal(gate.check('stranger', 10, 0).verdict, 'reject');
  assert.equal(gate.check('a', 101, 0).verdict, 'reject');
  // A burst of 3, then the rate: 2 a second.
  assert.deepEqual([1, 2, 3, 4].map(() => gate.check('a', 10, 0).verdict), ['accept', 'accept', 'accept', 'ignore']);
  assert.equal(gate.check('a', 10, 400).verdict, 'ignore'); // 0.8 of a token
  assert.equal(gate.check('a', 10, 500).verdict, 'accept'); // 1.0
  assert.deepEqual(gate.check('a', 10, 500), { verdict: 'ignore', why: 'rate_limited' });
  assert.equal(gate.check('b', 10, 500).verdict, 'accept', 'another signer has its own budget');
  assert.deepEqual(gate.refused, { unsigned: 1, notAdmitted: 1, oversized: 1, rate: 3 });
  // At most 2 signers are tracked: a third forgets the least recently seen ('a').
  gate.check('c', 10, 600);
  assert.equal(gate.signers, 2);
  assert.deepEqual([1, 2, 3].map(() => gate.check('a', 10, 600).verdict), ['accept', 'accept', 'accept'], 'a forgotten signer starts with a full burst');
});
