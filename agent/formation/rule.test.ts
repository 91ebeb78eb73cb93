import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  abort, choose, form, initialState, onAborted, onFormed, onPropose, onRestart, propose, shouldPropose, statusOf,
  type FormationState, type FormedVoter, type Proposal,
} from './rule.ts';

// Ids compare as strings; short ones keep the tests readable (the rule never parses them).
const [a, b, c, d, z] = ['pB', 'pC', 'pD', 'pE', 'pA'];
const voters = (ids: readonly string[]): FormedVoter[] => ids.map((id) => ({ id, addrs: [`/ip4/127.0.0.1/tcp/${id.charCodeAt(1)}`] }));

test('the choice is the k smallest ids among itself and the candidates, none with fewer than k', () => {
  assert.equal(choose(c, [b], 3), null);
  assert.deepEqual(choose(c, [d, b, a], 3), [a, b, c]);
  assert.deepEqual(choose(d, [c, b, a], 3), [a, b, c], 'an agent may choose a set without itself (it will be a worker)');
  assert.deepEqual(choose(a, [a, b, b, c], 3), [a, b, c]);
});

test('three agents that see each other form one set: the coordinator proposes, both accept, formed', () => {
  const choice = choose(a, [b, c], 3)!;
  assert.equal(shouldPropose(initialState, a, choice), true);
  assert.equal(shouldPropose(initialState, b, choose(b, [a, c], 3)), false, 'only the smallest id proposes');
  const { state: sa, proposal } = propose(initialState, choice);
  assert.deepEqual(sa.lock, { set: [a, b, c], attempt: 1 });
  const rb = onPropose(initialState, b, choose(b, [a, c], 3), proposal, a);
  const rc = onPropose(initialState, c, choose(c, [a, b], 3), proposal, a);
  assert.deepEqual([rb.answer, rc.answer], [{ accept: true }, { accept: true }]);
  const formed = form(sa, proposal, voters([a, b, c]));
  assert.deepEqual(formed.formed?.map((v) => v.id), [a, b, c]);
  assert.equal(statusOf(formed, a, proposal), 'formed');
  // Members learn it from the coordinator; a fourth agent (no lock) adopts it as a worker.
  assert.deepEqual(onFormed(rb.state, formed.formed!, a, 3).formed?.map((v) => v.id), [a, b, c]);
  assert.deepEqual(onFormed(initialState, formed.formed!, b, 3).formed?.map((v) => v.id), [a, b, c]);
});

test('a late lower id does not change a formed set: members refuse it, and it adopts the formed set', () => {
  const { state: sa, proposal } = propose(initialState, [a, b, c]);
  const fa = form(sa, proposal, voters([a, b, c]));
  const fb = onFormed(onPropose(initialState, b, [a, b, c], proposal, a).state, fa.formed!, a, 3);
  // z < a arrives: its choice is {z, a, b}, and it coordinates it.
  const zChoice = choose(z, [a, b, c], 3)!;
  assert.deepEqual(zChoice, [z, a, b]);
  const { state: sz, proposal: pz } = propose(initialState, zChoice);
  const ra = onPropose(fa, a, choose(a, [z, b, c], 3), pz, z);
  const rb = onPropose(fb, b, choose(b, [z, a, c], 3), pz, z);
  assert.equal(ra.answer.accept, false);
  assert.match((ra.answer as { reason: string }).reason, /already belongs to a formed swarm/);
  assert.equal(rb.answer.accept, false);
  assert.deepEqual(ra.state, fa, 'a formed agent holds no new lock');
  // z aborts its own attempt, then hears the formed set from a member and adopts it (as a worker).
  const released = abort(sz, pz);
  assert.equal(released.lock, null);
  assert.deepEqual(onFormed(released, fa.formed!, a, 3).formed?.map((v) => v.id), [a, b, c]);
  assert.equal(onFormed(released, fa.formed!, d, 3).formed, null, 'only a member of the formed set is believed');
  assert.equal(onFormed(released, fa.formed!, a, 5).formed, null, 'a set of another size is another swarm');
});

test('conflicting proposals: a member locked on one set refuses another until its coordinator aborts', () => {
  // b does not see a yet and coordinates {b, c, d}; a coordinates {a, b, c}.
  const { state: sb, proposal: pb } = propose(initialState, [b, c, d]);
  const { state: sa, proposal: pa } = propose(initialState, [a, b, c]);
  const bAnswer = onPropose(sb, b, choose(b, [a, c, d], 3), pa, a);
  assert.equal(bAnswer.answer.accept, false, 'b holds its own proposal');
  // d sees only b, c, d and accepts b's; c sees everyone, so b's set is not its choice.
  const dr = onPropose(initialState, d, choose(d, [b, c], 3), pb, b);
  assert.equal(dr.answer.accept, true);
  const cr = onPropose(initialState, c, choose(c, [a, b, d], 3), pb, b);
  assert.equal(cr.answer.accept, false);
  // Both coordinators abort; d releases only on its coordinator's word, for that very attempt.
  const sbAborted = abort(sb, pb);
  assert.equal(statusOf(sbAborted, b, pb), 'aborted');
  assert.deepEqual(onAborted(dr.state, pb, a), dr.state, 'an abort from anyone but the coordinator is ignored');
  assert.deepEqual(onAborted(dr.state, { ...pb, attempt: 7 }, b), dr.state, 'an abort of another attempt is ignored');
  const dFree = onAborted(dr.state, pb, b);
  assert.equal(dFree.lock, null);
  const saAborted = abort(sa, pa);
  // Views have converged: a tries again (attempt 2), everyone accepts.
  const { state: sa2, proposal: pa2 } = propose(saAborted, [a, b, c]);
  assert.equal(pa2.attempt, 2);
  assert.equal(onPropose(sbAborted, b, choose(b, [a, c, d], 3), pa2, a).answer.accept, true);
  assert.equal(onPropose(cr.state, c, choose(c, [a, b, d], 3), pa2, a).answer.accept, true);
  assert.equal(onPropose(dFree, d, choose(d, [a, b, c], 3), pa2, a).answer.accept, false, 'd is not in the set');
  assert.deepEqual(form(sa2, pa2, voters([a, b, c])).formed?.map((v) => v.id), [a, b, c]);
});

test('a locked member adopts no other formed set, and a stale abort does not release a newer attempt', () => {
  const p1: Proposal = { set: [a, b, c], attempt: 1 };
  const p2: Proposal = { set: [a, b, c], attempt: 2 };
  const locked1 = onPropose(initialState, b, [a, b, c], p1, a).state;
  const locked2 = onPropose(locked1, b, [a, b, c], p2, a).state;
  assert.deepEqual(locked2.lock, p2, 'a newer attempt of the same set takes the lock over');
  assert.equal(onPropose(locked2, b, [a, b, c], p1, a).answer.accept, false, 'an older attempt is stale');
  assert.deepEqual(onAborted(locked2, p1, a), locked2, 'the abort of attempt 1 does not release attempt 2');
  assert.equal(onFormed(locked2, voters([b, c, d]), b, 3).formed, null, 'a set it is not locked on');
  assert.deepEqual(onFormed(locked2, voters([a, b, c]), b, 3).formed?.map((v) => v.id), [a, b, c], 'its own set, from any member');
});

test('a restart after accepting keeps the lock; a coordinator that restarts undecided aborts its attempt', () => {
  const p: Proposal = { set: [a, b, c], attempt: 3 };
  const member = onPropose(initialState, b, [a, b, c], p, a).state;
  // The state went to disk before the answer; what comes back from it is the same state.
  const reloaded = JSON.parse(JSON.stringify(member)) as FormationState;
  assert.deepEqual(onRestart(reloaded, b), member, 'a member keeps its lock across a restart');
  assert.equal(onPropose(onRestart(reloaded, b), b, [z, b, c], { set: [z, b, c], attempt: 1 }, z).answer.accept, false);
  const { state: coord, proposal } = propose({ ...initialState, attempt: 2 }, [a, b, c]);
  assert.deepEqual(proposal, p);
  const restarted = onRestart(coord, a);
  assert.equal(restarted.lock, null);
  assert.equal(restarted.attempt, 3, 'the attempt counter survives, so the next attempt is 4');
  assert.equal(statusOf(restarted, a, p), 'aborted', 'and members asking about it are released');
  assert.equal(propose(restarted, [a, b, c]).proposal.attempt, 4);
  const formed = form(coord, proposal, voters([a, b, c]));
  assert.deepEqual(onRestart(formed, a), formed, 'a formed agent stays formed');
});

test('form refuses a proposal that is not pending, or voters that are not its set', () => {
  const { state, proposal } = propose(initialState, [a, b, c]);
  assert.throws(() => form(state, { ...proposal, attempt: 9 }, voters([a, b, c])), /not this coordinator's pending one/);
  assert.throws(() => form(state, proposal, voters([a, b, d])), /not the proposal's set/);
});

// Safety under any schedule: agents with arbitrary (changing) views propose, answer, abort, learn
// of formed sets and restart in any order; no two formed sets ever share a member, and every
// member of a formed set that has adopted one adopted that same set.
test('property: two formed sets never share a member, whatever the views and the order', () => {
  // Five agents and k = 3: two sets may share one member that coordinates neither.
  const ids = ['p0', 'p1', 'p2', 'p3', 'p4'];
  const k = 3;
  // Views are often complete (so sets do form) and sometimes partial (so proposals conflict).
  const view = fc.oneof(fc.constant(ids), fc.subarray(ids));
  const step = fc.oneof(
    // Any set may be some coordinator's choice (its view is the set itself).
    { weight: 2, arbitrary: fc.record({ t: fc.constant('propose' as const), set: fc.subarray(ids, { minLength: k, maxLength: k }) }) },
    // `agrees`: the member's view happens to give exactly the proposed set (safety must not
    // depend on views, so most answers see agreeing views and only the locks stand in the way).
    { weight: 6, arbitrary: fc.record({ t: fc.constant('answer' as const), msg: fc.nat(1000), view, agrees: fc.nat(3).map((x) => x > 0) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('decide' as const), who: fc.nat(4), abortIt: fc.nat(3).map((x) => x === 0) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('learn' as const), who: fc.nat(4), from: fc.nat(4) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('ask' as const), who: fc.nat(4) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('restart' as const), who: fc.nat(4) }) },
  );
  let runsFormed = 0;
  fc.assert(fc.property(fc.array(step, { minLength: 20, maxLength: 200 }), (steps) => {
    const st: FormationState[] = ids.map(() => initialState);
    const sent: { p: Proposal; to: string }[] = [];
    const accepted = new Map<string, Set<string>>(); // proposal key -> members that accepted
    const key = (p: Proposal) => `${p.set.join(',')}#${p.attempt}`;
    for (const s of steps) {
      if (s.t === 'answer') {
        // Any message sent so far, delivered now (again, perhaps: the network may duplicate).
        if (sent.length === 0) continue;
        const { p, to } = sent[s.msg % sent.length];
        const who = ids.indexOf(to);
        const r = onPropose(st[who], to, s.agrees ? p.set : choose(to, s.view, k), p, p.set[0]);
        st[who] = r.state;
        if (r.answer.accept) accepted.get(key(p))?.add(to);
        continue;
      }
      if (s.t === 'propose') {
        const me = s.set[0];
        const who = ids.indexOf(me);
        const choice = choose(me, s.set, k);
        if (!shouldPropose(st[who], me, choice)) continue;
        const r = propose(st[who], choice);
        st[who] = r.state;
        accepted.set(key(r.proposal), new Set([me]));
        for (const m of r.proposal.set) if (m !== me) sent.push({ p: r.proposal, to: m });
        continue;
      }
      const me = ids[s.who];
      if (s.t === 'decide') {
        const lock = st[s.who].lock;
        if (lock === null || lock.set[0] !== me || st[s.who].formed !== null) continue;
        // A coordinator forms once every member accepted, or gives up (a refusal, a timeout) at any time.
        const all = accepted.get(key(lock))?.size === k;
        if (s.abortIt) st[s.who] = abort(st[s.who], lock);
        else if (all) st[s.who] = form(st[s.who], lock, voters(lock.set));
      } else if (s.t === 'learn') {
        const f = st[s.from].formed;
        if (f !== null) st[s.who] = onFormed(st[s.who], f, ids[s.from], k);
      } else if (s.t === 'ask') {
        const lock = st[s.who].lock;
        if (lock === null) continue;
        const coord = ids.indexOf(lock.set[0]);
        const status = statusOf(st[coord], lock.set[0], lock);
        if (status === 'aborted') st[s.who] = onAborted(st[s.who], lock, lock.set[0]);
        if (status === 'formed') st[s.who] = onFormed(st[s.who], st[coord].formed!, lock.set[0], k);
      } else {
        st[s.who] = onRestart(st[s.who], me);
      }
    }
    const decided = st.map((x, i) => ({ i, f: x.formed?.map((v) => v.id).join(',') ?? null }));
    const sets = [...new Set(decided.map((x) => x.f).filter((f): f is string => f !== null))].map((f) => f.split(','));
    for (let i = 0; i < sets.length; i++) {
      for (let j = i + 1; j < sets.length; j++) {
        const shared = sets[i].filter((m) => sets[j].includes(m));
        assert.deepEqual(shared, [], `formed sets ${sets[i]} and ${sets[j]} share members`);
      }
    }
    if (sets.length > 0) runsFormed++;
    // A member of a formed set never adopted another one.
    for (const set of sets) for (const m of set) {
      const f = st[ids.indexOf(m)].formed;
      if (f !== null) assert.deepEqual(f.map((v) => v.id), set);
    }
  }), { numRuns: 2000 });
  // The schedules do reach formed sets (else the property above would hold vacuously).
  assert.ok(runsFormed > 50, `only ${runsFormed} runs formed anything`);
});
