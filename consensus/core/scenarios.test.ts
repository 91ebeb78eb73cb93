// Scripted scenarios from PROTOCOL.md: the worked example of §6 and the single-ballot pitfall of
// §10 that breaks the original EPaxos. Each is played message by message on the real core.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../cluster.ts';
import { decideRecovery } from './recovery.ts';
import { instanceId } from './ids.ts';
import { NOP, type RecoverOK } from './types.ts';
import { emptyDeps } from './deps.ts';
import type { Command } from '../statemachine/commands.ts';

const A = 0, B = 1, C = 2, D = 3, E = 4;
const put = (clientId: string, value: string): Command => ({ clientId, requestId: 1, timestampMs: 0, op: 'put', key: 'x', value });

/** `who` recovers `id` with Q = {who} ∪ peers, through the Validate round (lines 43–62). */
function recoverAndValidate(cl: Cluster, who: number, id: number, peers: number[]): void {
  cl.recover(who, id);
  for (const p of peers) cl.deliverMsg('Recover', who, p);
  for (const p of peers) cl.deliverMsg('RecoverOK', p, who);
  for (const p of peers) cl.deliverMsg('Validate', who, p);
  for (const p of peers) cl.deliverMsg('ValidateOK', p, who);
}

test('§6 worked example (n=5, f=2, e=2): the fast-committed id1 survives, id2 becomes Nop', () => {
  const cl = new Cluster({ n: 5, f: 2, e: 2, recoveryTimeoutMs: 1_000_000, recoveryTimeoutMaxMs: 1_000_000, thriftyPreAccept: false });
  const id1 = instanceId(1, A), id2 = instanceId(1, B);

  // 1. A submits id1 with D = ∅; A, C and D answer ∅; A commits on the fast path, then crashes
  //    before any Commit arrives.
  cl.submit(A, put('a', 'c1'));
  cl.deliverMsg('PreAccept', A, C);
  cl.deliverMsg('PreAccept', A, D);
  cl.deliverMsg('PreAcceptOK', C, A);
  cl.deliverMsg('PreAcceptOK', D, A);
  assert.equal(cl.replicas[A].instance(id1)?.phase, 'COMMITTED');
  assert.equal(cl.replicas[A].stats.fastCommits, 1);
  const fastValue = cl.replicas[A].instance(id1)!;
  assert.deepEqual(fastValue.dep.ids, []);
  cl.crash(A);
  cl.dropWhere((e) => e.msg.type === 'PreAccept' && e.msg.id === id1); // B and E never hear of id1

  // 2. B submits id2, which conflicts with id1, with D = ∅. D holds id1 and answers {id1}; E answers ∅.
  //    B crashes.
  cl.submit(B, put('b', 'c2'));
  cl.deliverMsg('PreAccept', B, D);
  cl.deliverMsg('PreAccept', B, E);
  assert.deepEqual(cl.replicas[D].instance(id2)?.dep.ids, [id1]);
  assert.deepEqual(cl.replicas[E].instance(id2)?.dep.ids, []);
  cl.crash(B);
  cl.dropWhere((e) => e.msg.type === 'PreAccept' || e.msg.type === 'PreAcceptOK');

  // 3. C recovers id1 with Q = {C, D, E}: |Rmax| = 2 ≥ |Q|−e = 1; Validate finds id2; 2 ≠ 1, so C
  //    sends Waiting(id1, 2) and waits.
  recoverAndValidate(cl, C, id1, [D, E]);
  const waiting = cl.network.filter((e) => e.msg.type === 'Waiting' && e.from === C);
  assert.ok(waiting.length > 0, 'C sends Waiting');
  assert.deepEqual(waiting[0].msg, { type: 'Waiting', id: id1, k: 2 });
  assert.equal(cl.replicas[C].instance(id1)?.phase, 'PREACCEPTED', 'C still waits');

  // 4. D recovers id2 with Q' = {C, D, E}: only E is in R'max (|R'max| = 1 = |Q'|−e); Validate
  //    returns id1 whose coordinator A ∉ Q', so line 65 gives id2 the value Nop.
  recoverAndValidate(cl, D, id2, [C, E]);
  const accept2 = cl.network.find((e) => e.msg.type === 'Accept' && e.msg.id === id2);
  assert.ok(accept2 !== undefined && accept2.msg.type === 'Accept');
  assert.equal(accept2.msg.cmd, NOP, 'id2 is recovered as Nop (line 65)');

  // 5. Once id2 commits as Nop, C's wait ends by lines 72–73 and id1 commits with (c1, ∅): the
  //    value A fast-committed.
  cl.runUntilQuiet();
  for (const r of [C, D, E]) {
    assert.equal(cl.replicas[r].instance(id2)?.cmd, NOP);
    const got = cl.replicas[r].instance(id1)!;
    assert.equal(got.phase, 'COMMITTED', `id1 committed at ${r}`);
    assert.deepEqual(got.cmd, fastValue.cmd);
    assert.deepEqual(got.dep, fastValue.dep);
  }
  // A comes back and everything agrees: INV1–INV8 over the whole history.
  cl.restart(A);
  cl.restart(B);
  assert.ok(cl.settle(50, 2_000_000)); // recovery timeouts in this test are long on purpose
  assert.deepEqual(cl.violations(), []);
});

test('§10 single-ballot pitfall: recovery selects by abal, not by the ballot last joined', () => {
  // n = 3 (f = 1, e = 1); ballots are k·3 + i, so 1 and 4 are X's, 2 is Y's, 3 is replica 0's.
  const cl = new Cluster({ n: 3, f: 1, e: 1, recoveryTimeoutMs: 1_000_000, recoveryTimeoutMaxMs: 1_000_000, thriftyPreAccept: false });
  const O = 0, X = 1, Y = 2;
  const id = instanceId(1, O);
  cl.submit(O, put('z', 'v'));
  cl.deliverMsg('PreAccept', O, X);
  cl.dropWhere(() => true);

  // X recovers at ballot 1 with Q = {X, Y} and accepts v = (c, ∅); its Accept to Y is lost.
  recoverAndValidate(cl, X, id, [Y]);
  assert.equal(cl.replicas[X].instance(id)?.phase, 'ACCEPTED');
  assert.equal(cl.replicas[X].instance(id)?.abal, 1);
  const v = cl.replicas[X].instance(id)!.cmd;
  assert.notEqual(v, NOP);
  cl.dropWhere(() => true);

  // Y recovers at ballot 2 with Q = {Y, O}: the coordinator O is in Q (line 56), so Nop; Y and O
  // accept it at ballot 2 — v' = Nop is chosen. The Commits are lost.
  cl.recover(Y, id);
  cl.deliverMsg('Recover', Y, O);
  cl.deliverMsg('RecoverOK', O, Y);
  cl.deliverMsg('Accept', Y, O);
  cl.deliverMsg('AcceptOK', O, Y);
  assert.equal(cl.replicas[Y].instance(id)?.phase, 'COMMITTED');
  assert.equal(cl.replicas[Y].instance(id)?.cmd, NOP);
  cl.dropWhere(() => true);

  // X joins ballot 3 (O's recovery) without voting in it: it now holds bal 3, abal 1, value v.
  cl.recover(O, id);
  cl.deliverMsg('Recover', O, X);
  cl.dropWhere(() => true);
  assert.equal(cl.replicas[X].instance(id)?.bal, 3);
  assert.equal(cl.replicas[X].instance(id)?.abal, 1);

  // X recovers at ballot 4 with Q = {X, O}. With one ballot variable X would report 3 > 2 and
  // re-propose v; EPaxos* compares abal (1 < 2) and re-proposes the chosen Nop.
  cl.recover(X, id);
  cl.deliverMsg('Recover', X, O);
  cl.deliverMsg('RecoverOK', O, X);
  const accept = cl.network.find((e) => e.msg.type === 'Accept' && e.from === X);
  assert.ok(accept?.msg.type === 'Accept');
  assert.equal(accept.msg.b, 4);
  assert.equal(accept.msg.cmd, NOP, 'recovery re-proposes the value voted at the highest abal');

  // The same answers judged by the ballot last joined pick v: the original EPaxos's divergence.
  const n = 3;
  const x: RecoverOK = { type: 'RecoverOK', b: 4, id, abal: 1, cmd: v, dep: emptyDeps(n), initDep: emptyDeps(n), phase: 'ACCEPTED' };
  const o: RecoverOK = { type: 'RecoverOK', b: 4, id, abal: 2, cmd: NOP, dep: emptyDeps(n), initDep: emptyDeps(n), phase: 'ACCEPTED' };
  assert.equal(decideRecovery(id, new Map([[X, x], [O, o]]), { n, f: 1, e: 1 }).cmd, NOP);
  assert.notEqual(decideRecovery(id, new Map([[X, { ...x, abal: 3 }], [O, o]]), { n, f: 1, e: 1 }).cmd, NOP);

  cl.runUntilQuiet();
  assert.ok(cl.settle(50, 2_000_000));
  for (const r of cl.replicas) assert.equal(r.instance(id)?.cmd, NOP, `replica ${r.self} agrees on Nop`);
  assert.deepEqual(cl.violations(), []);
});
