// The voter-set plan (agent/voters-api.ts): each request's cases with the errors an operator
// reads, and a property over random sets and requests: a plan keeps the size in {3, 5, 7}, never
// lists a peer twice, adds only admitted peers, and replace keeps every seat but the one replaced.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { voterCounts } from '../consensus/index.ts';
import { plannedVoters, requestReason, votersCommand, votersView, type VotersRequest } from './voters-api.ts';

const everyone = () => true;
const three = ['a', 'b', 'c'];

function error(r: ReturnType<typeof plannedVoters>): string {
  assert.equal(r.ok, false, JSON.stringify(r));
  return (r as { error: string }).error;
}

test('add appends in new seats; two at a time take three voters to five', () => {
  assert.deepEqual(plannedVoters(three, { op: 'add', peers: ['d', 'e'] }, everyone), { ok: true, voters: ['a', 'b', 'c', 'd', 'e'] });
  assert.equal(error(plannedVoters(three, { op: 'add', peers: ['d'] }, everyone)),
    'a voter set has 3, 5 or 7 voters; this would leave 4: add two peers at once (covey voters add A B)');
  assert.equal(error(plannedVoters(['a', 'b', 'c', 'd', 'e', 'f', 'g'], { op: 'add', peers: ['h', 'i'] }, everyone)),
    'a voter set has 3, 5 or 7 voters; this would leave 9: at most 7: remove one first (covey voters remove A), or replace one (covey voters replace OLD NEW)');
  assert.equal(error(plannedVoters(three, { op: 'add', peers: ['b', 'd'] }, everyone)), 'b is already voter 1');
  assert.equal(error(plannedVoters(three, { op: 'add', peers: ['d', 'd'] }, everyone)), 'd is named twice');
  assert.equal(error(plannedVoters(three, { op: 'add', peers: ['d', 'e'] }, (id) => id !== 'e')),
    'e is not on the swarm roster; admit it first (covey peers admit e)');
});

test('remove drops and the seats after it move up; it never leaves fewer than three', () => {
  assert.deepEqual(plannedVoters(['a', 'b', 'c', 'd', 'e'], { op: 'remove', peers: ['b', 'd'] }, everyone), { ok: true, voters: ['a', 'c', 'e'] });
  assert.equal(error(plannedVoters(['a', 'b', 'c', 'd', 'e'], { op: 'remove', peers: ['b'] }, everyone)),
    'a voter set has 3, 5 or 7 voters; this would leave 4: remove two peers at once (covey voters remove A B)');
  assert.equal(error(plannedVoters(three, { op: 'remove', peers: ['a'] }, everyone)),
    'a voter set has 3, 5 or 7 voters; this would leave 2: at least 3: replace a voter instead of removing it (covey voters replace OLD NEW)');
  assert.equal(error(plannedVoters(three, { op: 'remove', peers: ['z'] }, everyone)), 'z is not a voter (covey voters ls lists them)');
  // A peer need not be admitted to leave: a revoked voter is exactly the one to remove.
  assert.equal(plannedVoters(['a', 'b', 'c', 'd', 'e'], { op: 'remove', peers: ['a', 'b'] }, () => false).ok, true);
});

test('replace puts the new peer in the old one\'s seat', () => {
  assert.deepEqual(plannedVoters(three, { op: 'replace', out: 'b', in: 'x' }, everyone), { ok: true, voters: ['a', 'x', 'c'] });
  assert.equal(error(plannedVoters(three, { op: 'replace', out: 'z', in: 'x' }, everyone)), 'z is not a voter (covey voters ls lists them)');
  assert.equal(error(plannedVoters(three, { op: 'replace', out: 'a', in: 'c' }, everyone)), 'c is already voter 2');
  assert.equal(error(plannedVoters(three, { op: 'replace', out: 'a', in: 'a' }, everyone)), 'replace names a twice; name the voter that leaves, then the peer that takes its seat');
  assert.equal(error(plannedVoters(three, { op: 'replace', out: 'a', in: 'x' }, () => false)), 'x is not on the swarm roster; admit it first (covey peers admit x)');
  // A config may list four voters (the agent allows 3 to 16); a swap cannot fix that by itself.
  assert.match(error(plannedVoters(['a', 'b', 'c', 'd'], { op: 'replace', out: 'a', in: 'x' }, everyone)), /this would leave 4: add or remove peers to reach 3, 5 or 7 voters first/);
});

test('the command, its default reason and the view', () => {
  assert.deepEqual(votersCommand(0, ['a', 'x', 'c'], 'a died'), { op: 'voters.change', epoch: 0, voters: 'a,x,c', reason: 'a died' });
  assert.equal(requestReason({ op: 'add', peers: ['d', 'e'] }), 'covey voters add d e');
  assert.equal(requestReason({ op: 'replace', out: 'a', in: 'x' }), 'covey voters replace a x');
  assert.deepEqual(votersView({ epoch: 0, ids: three, selfId: 'b', reachable: new Set([0, 1]), replaceAfterMs: null }), {
    epoch: 0, self: 1, replaceAfterMs: null,
    voters: [
      { peerId: 'a', index: 0, self: false, reachable: true },
      { peerId: 'b', index: 1, self: true, reachable: true },
      { peerId: 'c', index: 2, self: false, reachable: false },
    ],
  });
  const worker = votersView({ epoch: 0, ids: three, selfId: 'w', reachable: null, replaceAfterMs: null });
  assert.equal(worker.self, null);
  assert.deepEqual(worker.voters.map((v) => [v.self, v.reachable]), [[false, null], [false, null], [false, null]]);
});

test('property: a plan keeps 3, 5 or 7 voters, never lists one twice, admits only roster peers, and replace keeps the other seats', () => {
  const pool = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
  const peer = fc.constantFrom(...pool);
  const current = fc.constantFrom(...voterCounts).chain((n) => fc.shuffledSubarray(pool, { minLength: n, maxLength: n }));
  const request: fc.Arbitrary<VotersRequest> = fc.oneof(
    fc.record({ op: fc.constant('add' as const), peers: fc.array(peer, { minLength: 1, maxLength: 5 }) }),
    fc.record({ op: fc.constant('remove' as const), peers: fc.array(peer, { minLength: 1, maxLength: 5 }) }),
    fc.record({ op: fc.constant('replace' as const), out: peer, in: peer }),
  );
  const roster = fc.subarray(pool);
  let planned = 0;
  fc.assert(fc.property(current, request, roster, (cur, req, admittedList) => {
    const admitted = new Set(admittedList);
    const r = plannedVoters(cur, req, (id) => admitted.has(id));
    if (!r.ok) { assert.ok(r.error.length > 0); return; }
    planned++;
    const next = r.voters;
    assert.ok(voterCounts.includes(next.length), `size ${next.length}`);
    assert.equal(new Set(next).size, next.length, 'a voter listed twice');
    for (const id of next) if (!cur.includes(id)) assert.ok(admitted.has(id), `${id} joined off the roster`);
    if (req.op === 'replace') {
      assert.equal(next.length, cur.length);
      for (let i = 0; i < cur.length; i++) assert.equal(next[i], cur[i] === req.out ? req.in : cur[i], `seat ${i}`);
    } else if (req.op === 'add') {
      assert.deepEqual(next.slice(0, cur.length), cur, 'the seats already held keep their order');
    } else {
      assert.deepEqual(next, cur.filter((id) => !req.peers.includes(id)));
    }
  }), { numRuns: 3000 });
  assert.ok(planned > 100, `only ${planned} requests were plannable: the generator tests too little`);
});
