// The automatic replacement policy (voter-replacement.ts): who is replaced, by whom, when, and
// when not — checked on cases an operator would recognise and, as properties, over random views.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { candidatesInOrder, decideReplacement, defaultReplacementPolicy, type ReplacementView } from './voter-replacement.ts';

const policy = { replaceAfterMs: 30_000, roles: ['worker'], batteryFloor: 0.3 };
const view = (o: Partial<ReplacementView>): ReplacementView => ({
  self: 'a', nowMs: 100_000, voters: ['a', 'b', 'c'], deadSinceMs: new Map(), reachable: new Set(['a', 'b', 'c']), changeInFlight: false,
  candidates: [{ id: 'w1', role: 'worker', battery: 0.9, alive: true }], ...o,
});

test('a voter dead for replaceAfter is replaced by the best live candidate, in its seat', () => {
  const d = decideReplacement(view({ deadSinceMs: new Map([['b', 60_000]]), reachable: new Set(['a', 'c']) }), policy);
  assert.deepEqual(d, { kind: 'replace', out: 'b', in: 'w1', voters: ['a', 'w1', 'c'], reason: 'b dead for 40 s; w1 takes its seat' });
});

test('not before replaceAfter, not while a change is in flight, not from a minority side, not by another voter', () => {
  assert.deepEqual(decideReplacement(view({ deadSinceMs: new Map([['b', 80_000]]) }), policy), { kind: 'none' });
  assert.match((decideReplacement(view({ deadSinceMs: new Map([['b', 0]]), changeInFlight: true }), policy) as { reason: string }).reason, /in flight/);
  assert.match((decideReplacement(view({ deadSinceMs: new Map([['b', 0]]), reachable: new Set(['a']) }), policy) as { reason: string }).reason, /minority side/);
  assert.match((decideReplacement(view({ self: 'c', deadSinceMs: new Map([['b', 0]]) }), policy) as { reason: string }).reason, /^a decides/);
  // The first voter dead itself: the next live one decides.
  assert.equal(decideReplacement(view({ self: 'b', deadSinceMs: new Map([['a', 0]]), reachable: new Set(['b', 'c']) }), policy).kind, 'replace');
});

test('candidates: mains power first, then the fullest battery above the floor; never a voter, a dead one or another role', () => {
  const candidates = [
    { id: 'low', role: 'worker', battery: 0.2, alive: true },
    { id: 'half', role: 'worker', battery: 0.5, alive: true },
    { id: 'full', role: 'worker', battery: 0.95, alive: true },
    { id: 'mains', role: 'worker', battery: null, alive: true },
    { id: 'gone', role: 'worker', battery: null, alive: false },
    { id: 'cam', role: 'camera', battery: null, alive: true },
    { id: 'b', role: 'worker', battery: null, alive: true },
  ];
  assert.deepEqual(candidatesInOrder({ voters: ['a', 'b', 'c'], candidates }, policy).map((c) => c.id), ['mains', 'full', 'half']);
  const none = decideReplacement(view({ deadSinceMs: new Map([['b', 0]]), candidates: candidates.filter((c) => c.id === 'low') }), policy);
  assert.match((none as { reason: string }).reason, /no eligible replacement for b/);
});

test('properties: at most one voter decides to replace in any view; the new set keeps its size, drops a voter dead long enough and adds an eligible one', () => {
  const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  const arb = fc.record({
    n: fc.constantFrom(3, 5),
    dead: fc.array(fc.tuple(fc.nat(6), fc.integer({ min: 0, max: 100_000 })), { maxLength: 4 }),
    unreachable: fc.array(fc.nat(6), { maxLength: 4 }),
    inFlight: fc.boolean(),
    // One advertisement per peer, as membership holds them.
    candidates: fc.uniqueArray(fc.record({ id: fc.constantFrom(...ids, 'w1', 'w2'), role: fc.constantFrom('worker', 'camera'), battery: fc.option(fc.double({ min: 0, max: 1, noNaN: true })), alive: fc.boolean() }), { maxLength: 5, selector: (c) => c.id }),
  });
  fc.assert(fc.property(arb, (x) => {
    const voters = ids.slice(0, x.n);
    const deadSinceMs = new Map(x.dead.map(([i, t]) => [ids[i], t] as const));
    const reachable = new Set(voters.filter((_, i) => !x.unreachable.includes(i)));
    const base = { nowMs: 100_000, voters, deadSinceMs, reachable, candidates: x.candidates, changeInFlight: x.inFlight };
    const deciders = voters.map((self) => ({ self, d: decideReplacement({ ...base, self }, defaultReplacementPolicy) })).filter((e) => e.d.kind === 'replace');
    assert.ok(deciders.length <= 1, `${deciders.length} voters decide`);
    for (const { self, d } of deciders) {
      if (d.kind !== 'replace') continue;
      assert.ok(!x.inFlight && reachable.has(self) && !deadSinceMs.has(self));
      assert.ok(voters.filter((id) => reachable.has(id)).length > voters.length / 2, 'a majority is reachable');
      assert.ok(100_000 - deadSinceMs.get(d.out)! >= defaultReplacementPolicy.replaceAfterMs);
      assert.equal(d.voters.length, voters.length);
      assert.equal(new Set(d.voters).size, voters.length);
      const c = x.candidates.find((k) => k.id === d.in);
      assert.ok(c !== undefined && c.alive && defaultReplacementPolicy.roles.includes(c.role));
      assert.ok(!voters.includes(d.in) && (c.battery === null || c.battery >= defaultReplacementPolicy.batteryFloor));
    }
  }), { numRuns: 2000 });
});
