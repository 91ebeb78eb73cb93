// One describe per handler of replica.ts (PROTOCOL.md §5, §6, §12), driven through a small Cluster
// or bare Replicas fed crafted messages. Every Cluster scenario ends by checking INV1–INV8.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, type ClusterOptions } from '../cluster.ts';
import { Replica } from './replica.ts';
import type { ReplicaOptions } from './config.ts';
import { emptyDeps, makeDeps } from './deps.ts';
import { initCoord, instanceId, type InstanceId, type ReplicaId } from './ids.ts';
import { NOP, type Batch, type Envelope, type Message, type Ready } from './types.ts';
import { CoveyStateMachine } from '../statemachine/machine.ts';
import type { Command } from '../statemachine/commands.ts';

// ---- helpers --------------------------------------------------------------------------------

let requestIds = 0;
// Each command its own client unless a test names one: a client's commands conflict with each
// other (its session, conflicts.ts), and these tests mean commands on other keys not to.
const put = (key: string, value: string, clientId?: string): Command => {
  const requestId = ++requestIds;
  return { clientId: clientId ?? `c${requestId}`, requestId, timestampMs: 0, op: 'put', key, value };
};
const get = (key: string, clientId?: string): Command => {
  const requestId = ++requestIds;
  return { clientId: clientId ?? `c${requestId}`, requestId, timestampMs: 0, op: 'get', key };
};
const batch = (...commands: Command[]): Batch => ({ commands });
const none3 = emptyDeps(3);
const deps3 = (...ids: InstanceId[]) => makeDeps(ids, [0, 0, 0]);

/** A bare replica of a 3-group (f = e = 1) whose timers never fire on their own. */
function bare(self: ReplicaId, o: Partial<ReplicaOptions> = {}): Replica {
  const r = new Replica({ self, n: 3, f: 1, e: 1, recoveryTimeoutMs: 1e9, recoveryTimeoutMaxMs: 1e9, thriftyPreAccept: false, ...o }, new CoveyStateMachine());
  r.takeReady();
  return r;
}

/**
 * Feed one message; the Ready's `messages` here are everything it sends, early or after the sync
 * (what waits for durability is tested on its own, in "votes count once durable").
 */
function recv(r: Replica, from: ReplicaId, msg: Message): Ready {
  r.step({ type: 'message', from, msg });
  return everything(r.takeReady());
}

function everything(ready: Ready): Ready {
  return { ...ready, messages: [...ready.early, ...ready.messages], early: [] };
}

const sent = (ready: Ready, type: Message['type']): Envelope[] => [...ready.early, ...ready.messages].filter((e) => e.msg.type === type);

/** What a driver does once a Ready's records are durable: hand the replica its own votes back. */
function handBack(r: Replica, ready: Ready): Ready {
  for (const env of ready.messages) if (env.to === r.self) r.step({ type: 'message', from: r.self, msg: env.msg });
  return everything(r.takeReady());
}

function cluster(o: Omit<ClusterOptions, 'n' | 'f' | 'e'> & Partial<Pick<ClusterOptions, 'n' | 'f' | 'e'>> = {}): Cluster {
  // The paper's handlers, each PreAccept to every peer (the thrifty choice: thrifty.test.ts).
  return new Cluster({ n: 3, f: 1, e: 1, thriftyPreAccept: false, ...o });
}

function deliverWhere(cl: Cluster, pred: (e: Envelope) => boolean, what: string): Envelope {
  const i = cl.find(pred, what);
  const env = cl.network[i];
  cl.deliver(i);
  return env;
}

/** Deliver the first `type` message about `id` from → to. */
function deliverAbout(cl: Cluster, type: Message['type'], id: InstanceId, from: ReplicaId, to: ReplicaId): Envelope {
  return deliverWhere(cl, (e) => e.msg.type === type && 'id' in e.msg && e.msg.id === id && e.from === from && e.to === to, `${type}(${id}) ${from}→${to}`);
}

function inFlight(cl: Cluster, type: Message['type'], id: InstanceId, from?: ReplicaId): Envelope[] {
  return cl.network.filter((e) => e.msg.type === type && 'id' in e.msg && e.msg.id === id && (from === undefined || e.from === from));
}

function settled(cl: Cluster): void {
  assert.ok(cl.settle(200), 'the group settles');
  assert.deepEqual(cl.violations(), []);
}

// ---- PreAccept (lines 11–18) ----------------------------------------------------------------

describe('PreAccept', () => {
  const id = instanceId(1, 0);

  test('guard bal = 0 ∧ INITIAL: after joining a ballot the PreAccept is not answered', () => {
    const r = bare(1);
    recv(r, 2, { type: 'Recover', b: 2, id });
    const ready = recv(r, 0, { type: 'PreAccept', id, cmd: batch(put('x', '1')), dep: none3 });
    assert.deepEqual(sent(ready, 'PreAcceptOK'), []);
    assert.deepEqual(ready.persist, []);
    assert.equal(r.instance(id)?.phase, 'INITIAL');
    assert.equal(r.instance(id)?.cmd, null);
  });

  test('guard: an ACCEPTED instance is not pre-accepted again', () => {
    const r = bare(1);
    const c = batch(put('x', '1'));
    recv(r, 0, { type: 'Accept', b: 0, id, cmd: c, dep: deps3(instanceId(4, 2)) });
    const ready = recv(r, 0, { type: 'PreAccept', id, cmd: c, dep: none3 });
    assert.deepEqual(ready.messages, []);
    assert.equal(r.instance(id)?.phase, 'ACCEPTED');
    assert.deepEqual(r.instance(id)?.dep.ids, [instanceId(4, 2)]);
  });

  test('dependencies: D ∪ the conflicting known ids; read-read pairs and other keys excluded', () => {
    const r = bare(1);
    const wx = instanceId(1, 2), ry = instanceId(2, 2), rx = instanceId(3, 2), wy = instanceId(4, 2);
    recv(r, 2, { type: 'PreAccept', id: wx, cmd: batch(put('x', '1')), dep: none3 });
    recv(r, 2, { type: 'PreAccept', id: ry, cmd: batch(get('y')), dep: none3 });
    const okRx = sent(recv(r, 2, { type: 'PreAccept', id: rx, cmd: batch(get('x')), dep: none3 }), 'PreAcceptOK');
    assert.deepEqual(okRx.map((e) => e.msg), [{ type: 'PreAcceptOK', id: rx, dep: deps3(wx) }], 'a read of x depends on the write of x');
    const unknown = instanceId(7, 0);
    const ready = recv(r, 0, { type: 'PreAccept', id, cmd: batch(get('x'), put('z', '2')), dep: deps3(unknown) });
    const ok = sent(ready, 'PreAcceptOK');
    assert.equal(ok.length, 1);
    assert.equal(ok[0].to, 0);
    // wx conflicts (write x); rx does not (read-read of x); ry does not (other key); unknown comes from D
    assert.deepEqual(ok[0].msg, { type: 'PreAcceptOK', id, dep: deps3(wx, unknown) });
    assert.deepEqual(r.instance(id)?.initDep, deps3(unknown));
    // a later write of y conflicts with the read of y only
    const ok2 = sent(recv(r, 0, { type: 'PreAccept', id: wy, cmd: batch(put('y', '3')), dep: none3 }), 'PreAcceptOK');
    assert.deepEqual(ok2[0].msg, { type: 'PreAcceptOK', id: wy, dep: deps3(ry) });
  });

  test('a duplicate PreAccept gets the same PreAcceptOK again and changes nothing', () => {
    const r = bare(1);
    const msg: Message = { type: 'PreAccept', id, cmd: batch(put('x', '1')), dep: none3 };
    const first = recv(r, 0, msg);
    // a conflicting instance arrives in between: the repeated answer must not include it
    recv(r, 2, { type: 'PreAccept', id: instanceId(1, 2), cmd: batch(put('x', '2')), dep: none3 });
    const again = recv(r, 0, msg);
    assert.deepEqual(sent(again, 'PreAcceptOK'), sent(first, 'PreAcceptOK'));
    assert.deepEqual(sent(again, 'PreAcceptOK')[0].msg, { type: 'PreAcceptOK', id, dep: none3 });
    assert.deepEqual(again.persist, [], 'nothing new to persist');
  });

  test('the instance is persisted in the same Ready that carries the PreAcceptOK', () => {
    const r = bare(1);
    const c = batch(put('x', '1'));
    const ready = recv(r, 0, { type: 'PreAccept', id, cmd: c, dep: none3 });
    assert.equal(sent(ready, 'PreAcceptOK').length, 1);
    const recs = ready.persist.filter((p) => p.kind === 'instance' && p.instance.id === id);
    assert.equal(recs.length, 1);
    const rec = recs[0];
    assert.ok(rec.kind === 'instance');
    assert.equal(rec.instance.phase, 'PREACCEPTED');
    assert.equal(rec.instance.bal, 0);
    assert.deepEqual(rec.instance.cmd, c);
    assert.deepEqual(rec.instance.initCmd, c);
    assert.deepEqual(rec.instance.dep, none3);
  });

  test('the coordinator persists its own proposal in the Ready that sends the PreAccepts', () => {
    const r = bare(0);
    r.step({ type: 'submit', command: put('x', '1') });
    const ready = r.takeReady();
    assert.deepEqual(sent(ready, 'PreAccept').map((e) => e.to), [1, 2]);
    const rec = ready.persist.find((p) => p.kind === 'instance' && p.instance.id === id);
    assert.ok(rec?.kind === 'instance' && rec.instance.phase === 'PREACCEPTED');
  });
});

// ---- PreAcceptOK (lines 19–25) ----------------------------------------------------------------

describe('PreAcceptOK', () => {
  test('fast path: n−e matching answers commit with D = initDep (n=5, e=2)', () => {
    const cl = cluster({ n: 5, f: 2, e: 2 });
    cl.submit(0, put('x', 'first'));
    settled(cl);
    const x0 = instanceId(1, 0), y = instanceId(2, 0);
    assert.equal(cl.replicas[0].stats.fastCommits, 1);
    cl.submit(0, put('x', 'second'));
    assert.deepEqual(cl.replicas[0].instance(y)?.initDep.ids, [x0]);
    deliverAbout(cl, 'PreAccept', y, 0, 1);
    deliverAbout(cl, 'PreAcceptOK', y, 1, 0);
    assert.equal(cl.replicas[0].instance(y)?.phase, 'PREACCEPTED', 'two matching answers are not a fast quorum of 3');
    deliverAbout(cl, 'PreAccept', y, 0, 2);
    deliverAbout(cl, 'PreAcceptOK', y, 2, 0);
    const inst = cl.replicas[0].instance(y)!;
    assert.equal(inst.phase, 'COMMITTED');
    assert.deepEqual(inst.dep, inst.initDep);
    assert.deepEqual(inst.dep.ids, [x0]);
    assert.equal(cl.replicas[0].stats.fastCommits, 2);
    assert.equal(cl.replicas[0].stats.slowCommits, 0);
    assert.equal(inFlight(cl, 'Accept', y).length, 0, 'no Accept phase');
    const commits = inFlight(cl, 'Commit', y, 0);
    assert.deepEqual(commits.map((e) => e.to), [1, 2, 3, 4]);
    for (const e of commits) assert.ok(e.msg.type === 'Commit' && e.msg.b === 0 && e.msg.dep.ids.length === 1 && e.msg.dep.ids[0] === x0);
    settled(cl);
  });

  test('slow path: mismatching answers → Accept(0) with the union of the answers', () => {
    const cl = cluster();
    const z1 = instanceId(1, 1), z2 = instanceId(1, 2), y = instanceId(1, 0);
    cl.submit(1, put('x', 'z1')); // known to 1 only for now
    cl.submit(2, put('x', 'z2')); // known to 2 only for now
    cl.submit(0, put('x', 'y'));
    assert.deepEqual(cl.replicas[0].instance(y)?.initDep, none3);
    deliverAbout(cl, 'PreAccept', y, 0, 1);
    deliverAbout(cl, 'PreAcceptOK', y, 1, 0);
    assert.equal(inFlight(cl, 'Accept', y).length, 0, 'with one answer left a fast quorum is still possible');
    deliverAbout(cl, 'PreAccept', y, 0, 2);
    deliverAbout(cl, 'PreAcceptOK', y, 2, 0);
    const accepts = inFlight(cl, 'Accept', y, 0);
    assert.equal(accepts.length, 2);
    const m = accepts[0].msg;
    assert.ok(m.type === 'Accept');
    assert.equal(m.b, 0);
    assert.deepEqual(m.dep, deps3(z1, z2));
    assert.equal(cl.replicas[0].stats.slowCommits, 1);
    assert.equal(cl.replicas[0].stats.fastCommits, 0);
    assert.equal(cl.replicas[0].instance(y)?.phase, 'ACCEPTED');
    settled(cl);
    for (const rep of cl.replicas) assert.deepEqual(rep.instance(y)?.dep, deps3(z1, z2));
  });

  test('waiting for the fast path times out into the slow path after fastPathTimeoutMs', () => {
    const cl = cluster({ fastPathTimeoutMs: 50 });
    const z = instanceId(1, 1), y = instanceId(1, 0);
    cl.submit(1, put('x', 'z'));
    cl.submit(0, put('x', 'y'));
    deliverAbout(cl, 'PreAccept', y, 0, 1);
    deliverAbout(cl, 'PreAcceptOK', y, 1, 0); // {z} ≠ ∅; replica 2 stays silent
    cl.tickAll(40);
    assert.equal(inFlight(cl, 'Accept', y).length, 0, 'still waiting at 40 ms');
    assert.equal(cl.replicas[0].instance(y)?.phase, 'PREACCEPTED');
    cl.tickAll(10);
    const accepts = inFlight(cl, 'Accept', y, 0);
    assert.deepEqual(accepts.map((e) => e.to), [1, 2]);
    assert.ok(accepts[0].msg.type === 'Accept');
    assert.deepEqual(accepts[0].msg.dep, deps3(z));
    assert.equal(cl.replicas[0].stats.slowCommits, 1);
    settled(cl);
  });
});

// ---- Accept (lines 26–33) --------------------------------------------------------------------

describe('Accept', () => {
  const id = instanceId(1, 1);
  const c = batch(put('x', '1'));
  const D = deps3(instanceId(3, 2));

  test('guard bal ≤ b: a lower ballot is ignored, an equal or higher one adopted', () => {
    const r = bare(0);
    recv(r, 1, { type: 'PreAccept', id, cmd: c, dep: none3 });
    recv(r, 2, { type: 'Recover', b: 5, id });
    const low = recv(r, 1, { type: 'Accept', b: 4, id, cmd: NOP, dep: none3 });
    assert.deepEqual(low.messages, []);
    assert.deepEqual(low.persist, []);
    assert.equal(r.instance(id)?.phase, 'PREACCEPTED');
    assert.deepEqual(r.instance(id)?.cmd, c);

    const eq = recv(r, 2, { type: 'Accept', b: 5, id, cmd: c, dep: D });
    assert.deepEqual(sent(eq, 'AcceptOK').map((e) => [e.to, e.msg]), [[2, { type: 'AcceptOK', b: 5, id }]]);
    assert.equal(eq.persist.length, 1, 'the vote is persisted with the AcceptOK');
    const s = r.instance(id)!;
    assert.deepEqual([s.phase, s.bal, s.abal], ['ACCEPTED', 5, 5]);
    assert.deepEqual(s.dep, D);

    const hi = recv(r, 1, { type: 'Accept', b: 7, id, cmd: NOP, dep: none3 });
    assert.deepEqual(sent(hi, 'AcceptOK').map((e) => e.msg), [{ type: 'AcceptOK', b: 7, id }]);
    assert.deepEqual([r.instance(id)!.bal, r.instance(id)!.abal, r.instance(id)!.cmd], [7, 7, NOP]);
    assert.deepEqual(recv(r, 2, { type: 'Accept', b: 5, id, cmd: c, dep: D }).messages, [], 'now below bal');
  });

  test('a duplicate Accept at the ballot already accepted is answered again', () => {
    const r = bare(0);
    const msg: Message = { type: 'Accept', b: 0, id, cmd: c, dep: D };
    recv(r, 1, msg);
    const again = recv(r, 1, msg);
    assert.deepEqual(sent(again, 'AcceptOK').map((e) => e.msg), [{ type: 'AcceptOK', b: 0, id }]);
    assert.deepEqual(again.persist, []);
  });

  test('a COMMITTED replica answers an Accept with its Commit and stays COMMITTED', () => {
    const r = bare(0);
    recv(r, 1, { type: 'Commit', b: 0, id, cmd: c, dep: D });
    const ready = recv(r, 2, { type: 'Accept', b: 5, id, cmd: NOP, dep: none3 });
    assert.deepEqual(ready.messages.map((e) => [e.to, e.msg]), [[2, { type: 'Commit', b: 0, id, cmd: c, dep: D }]]);
    const s = r.instance(id)!;
    assert.equal(s.phase, 'COMMITTED');
    assert.deepEqual(s.cmd, c);
    assert.deepEqual(s.dep, D);
    assert.equal(s.bal, 0);
  });
});

// ---- AcceptOK (lines 34–36) -----------------------------------------------------------------

describe('AcceptOK', () => {
  test('n−f AcceptOKs at the ballot → Commit to all (n=5, f=2)', () => {
    const r = new Replica({ self: 0, n: 5, f: 2, e: 2, recoveryTimeoutMs: 1e9, recoveryTimeoutMaxMs: 1e9 }, new CoveyStateMachine());
    r.takeReady();
    const id = instanceId(1, 0);
    const z = instanceId(9, 4);
    const Dz = makeDeps([z], [0, 0, 0, 0, 0]);
    r.step({ type: 'submit', command: put('x', '1') });
    r.takeReady();
    recv(r, 1, { type: 'PreAcceptOK', id, dep: Dz });
    recv(r, 2, { type: 'PreAcceptOK', id, dep: Dz });
    const slow = recv(r, 3, { type: 'PreAcceptOK', id, dep: Dz }); // 3 mismatches > e: fast path impossible
    assert.deepEqual(sent(slow, 'Accept').filter((e) => e.to !== 0).map((e) => e.to), [1, 2, 3, 4]);
    assert.equal(r.instance(id)?.phase, 'ACCEPTED');
    assert.deepEqual(handBack(r, slow).messages, [], 'its own AcceptOK, durable: 1 of 3');

    assert.deepEqual(recv(r, 1, { type: 'AcceptOK', b: 0, id }).messages, [], '2 of 3');
    assert.deepEqual(recv(r, 1, { type: 'AcceptOK', b: 0, id }).messages, [], 'a duplicate does not count');
    assert.deepEqual(recv(r, 2, { type: 'AcceptOK', b: 3, id }).messages, [], 'another ballot does not count');
    const done = recv(r, 2, { type: 'AcceptOK', b: 0, id });
    const commits = sent(done, 'Commit');
    assert.deepEqual(commits.map((e) => e.to), [1, 2, 3, 4]);
    assert.ok(commits[0].msg.type === 'Commit');
    assert.equal(commits[0].msg.b, 0);
    assert.deepEqual(commits[0].msg.dep, Dz);
    assert.equal(r.instance(id)?.phase, 'COMMITTED');
    assert.equal(r.isApplied(id), false, 'blocked on z');
    assert.equal(r.stats.slowCommits, 1);
  });

  test('in a cluster: AcceptOK from n−f commits everywhere', () => {
    const cl = cluster();
    const y = instanceId(1, 0);
    cl.submit(1, put('x', 'z'));
    cl.submit(0, put('x', 'y'));
    cl.dropWhere((e) => e.msg.type === 'PreAccept' && e.msg.id === y && e.to === 2);
    deliverAbout(cl, 'PreAccept', y, 0, 1);
    deliverAbout(cl, 'PreAcceptOK', y, 1, 0);
    cl.tickAll(100); // fast path timeout
    deliverAbout(cl, 'Accept', y, 0, 1);
    assert.equal(cl.replicas[0].instance(y)?.phase, 'ACCEPTED');
    deliverAbout(cl, 'AcceptOK', y, 1, 0);
    assert.equal(cl.replicas[0].instance(y)?.phase, 'COMMITTED');
    assert.equal(inFlight(cl, 'Commit', y, 0).length, 2);
    settled(cl);
  });
});

// ---- Commit (lines 37–42) -------------------------------------------------------------------

describe('Commit', () => {
  const id = instanceId(1, 1);
  const c = batch(put('x', '1'));

  test('adopted: COMMITTED, persisted and executed', () => {
    const r = bare(0);
    const ready = recv(r, 1, { type: 'Commit', b: 0, id, cmd: c, dep: none3 });
    const s = r.instance(id)!;
    assert.deepEqual([s.phase, s.bal, s.abal], ['COMMITTED', 0, 0]);
    assert.deepEqual(s.cmd, c);
    assert.ok(ready.persist.some((p) => p.kind === 'instance' && p.instance.phase === 'COMMITTED'));
    assert.ok(ready.persist.some((p) => p.kind === 'applied' && p.id === id));
    assert.deepEqual(ready.executed.map((x) => [x.id, x.results]), [[id, [{ ok: true }]]]);
    assert.equal(r.isApplied(id), true);
    assert.deepEqual(ready.replies, [], 'only the coordinator answers the client');
  });

  test('learned even at a ballot other than the one joined', () => {
    const r = bare(0);
    recv(r, 1, { type: 'PreAccept', id, cmd: c, dep: none3 });
    recv(r, 2, { type: 'Recover', b: 5, id });
    recv(r, 1, { type: 'Commit', b: 1, id, cmd: c, dep: none3 });
    const s = r.instance(id)!;
    assert.deepEqual([s.phase, s.bal, s.abal], ['COMMITTED', 5, 1]);
    // and at a higher ballot than joined: bal is raised so that abal ≤ bal
    const r2 = bare(0);
    recv(r2, 1, { type: 'Commit', b: 4, id, cmd: NOP, dep: none3 });
    assert.deepEqual([r2.instance(id)!.bal, r2.instance(id)!.abal, r2.instance(id)!.cmd], [4, 4, NOP]);
  });

  test('a contradicting Commit increments agreementViolations and changes nothing', () => {
    const r = bare(0);
    recv(r, 1, { type: 'Commit', b: 0, id, cmd: c, dep: none3 });
    const same = recv(r, 2, { type: 'Commit', b: 2, id, cmd: c, dep: none3 });
    assert.equal(r.stats.agreementViolations, 0, 'the same value at another ballot is no contradiction');
    assert.deepEqual(same.persist, []);
    const bad1 = recv(r, 2, { type: 'Commit', b: 2, id, cmd: NOP, dep: none3 });
    const bad2 = recv(r, 2, { type: 'Commit', b: 0, id, cmd: c, dep: deps3(instanceId(3, 2)) });
    assert.equal(r.stats.agreementViolations, 2);
    assert.deepEqual([...bad1.persist, ...bad2.persist, ...bad1.executed, ...bad2.executed], []);
    const s = r.instance(id)!;
    assert.deepEqual([s.phase, s.bal, s.abal], ['COMMITTED', 0, 0]);
    assert.deepEqual(s.cmd, c);
    assert.deepEqual(s.dep, none3);
    assert.equal(r.stats.committed, 1);
  });
});

// ---- Recover (lines 46–49) ------------------------------------------------------------------

describe('Recover', () => {
  const id = instanceId(1, 1);
  const c = batch(put('x', '1'));

  test('bal is raised and RecoverOK carries abal, cmd, dep, initDep and phase', () => {
    const r = bare(0);
    const known = instanceId(1, 2);
    recv(r, 2, { type: 'PreAccept', id: known, cmd: batch(put('x', '0')), dep: none3 });
    recv(r, 1, { type: 'PreAccept', id, cmd: c, dep: none3 }); // dep grows to {known}
    const ready = recv(r, 2, { type: 'Recover', b: 2, id });
    assert.deepEqual(ready.messages.map((e) => [e.to, e.msg]), [[2, {
      type: 'RecoverOK', b: 2, id, abal: 0, cmd: c, dep: deps3(known), initDep: none3, phase: 'PREACCEPTED',
    }]]);
    assert.equal(r.instance(id)?.bal, 2);
    assert.equal(r.instance(id)?.phase, 'PREACCEPTED', 'nothing else changes');
    const rec = ready.persist.find((p) => p.kind === 'instance');
    assert.ok(rec?.kind === 'instance' && rec.instance.bal === 2, 'the joined ballot is persisted before the RecoverOK leaves');

    recv(r, 2, { type: 'Accept', b: 2, id, cmd: c, dep: deps3(known) });
    const later = recv(r, 1, { type: 'Recover', b: 4, id });
    assert.deepEqual(later.messages.map((e) => e.msg), [{
      type: 'RecoverOK', b: 4, id, abal: 2, cmd: c, dep: deps3(known), initDep: none3, phase: 'ACCEPTED',
    }]);
  });

  test('a lower ballot is ignored; so is the ballot joined once a vote was cast at it', () => {
    const r = bare(0);
    recv(r, 1, { type: 'PreAccept', id, cmd: c, dep: none3 });
    recv(r, 2, { type: 'Recover', b: 5, id });
    const low = recv(r, 1, { type: 'Recover', b: 4, id });
    assert.deepEqual(low.messages, []);
    assert.deepEqual(low.persist, []);
    assert.equal(r.instance(id)?.bal, 5);
    recv(r, 2, { type: 'Accept', b: 5, id, cmd: NOP, dep: none3 });
    const eq = recv(r, 2, { type: 'Recover', b: 5, id });
    assert.deepEqual(eq.messages, []);
    assert.deepEqual([r.instance(id)!.bal, r.instance(id)!.abal], [5, 5]);
  });

  test('Covey: a retransmitted Recover at the ballot joined, before any vote at it, gets the same RecoverOK', () => {
    const r = bare(0);
    recv(r, 1, { type: 'PreAccept', id, cmd: c, dep: none3 });
    const first = recv(r, 2, { type: 'Recover', b: 5, id });
    const again = recv(r, 2, { type: 'Recover', b: 5, id });
    assert.deepEqual(again.messages, first.messages);
    assert.deepEqual(again.persist, []);
  });

  test('a COMMITTED replica answers Recover with the Commit', () => {
    const r = bare(0);
    recv(r, 1, { type: 'Commit', b: 0, id, cmd: c, dep: none3 });
    const ready = recv(r, 2, { type: 'Recover', b: 5, id });
    assert.deepEqual(ready.messages.map((e) => e.msg), [{ type: 'Commit', b: 0, id, cmd: c, dep: none3 }]);
    assert.equal(r.instance(id)?.bal, 0);
  });
});

// ---- Validate / ValidateOK (lines 60–66, 81–87) --------------------------------------------

describe('Validate / ValidateOK', () => {
  test('Validate at the joined ballot answers I_q and records the command; at another ballot it is ignored', () => {
    const r = bare(0);
    const id = instanceId(5, 1);
    const c = batch(put('x', 'v'));
    const x1 = instanceId(1, 1), y1 = instanceId(1, 2), seer = instanceId(2, 1), dx = instanceId(2, 2);
    recv(r, 1, { type: 'PreAccept', id: x1, cmd: batch(put('x', 'a')), dep: none3 }); // conflicts, does not see id
    recv(r, 2, { type: 'PreAccept', id: y1, cmd: batch(put('y', 'b')), dep: none3 }); // other key
    recv(r, 1, { type: 'PreAccept', id: seer, cmd: batch(put('x', 'c')), dep: deps3(id) }); // sees id
    recv(r, 2, { type: 'PreAccept', id: dx, cmd: batch(put('x', 'd')), dep: none3 }); // named in D
    recv(r, 2, { type: 'Recover', b: 2, id });
    assert.deepEqual(recv(r, 1, { type: 'Validate', b: 4, id, cmd: c, dep: deps3(dx) }).messages, [], 'ballot not joined');
    assert.equal(r.instance(id)?.cmd, null);

    const ready = recv(r, 2, { type: 'Validate', b: 2, id, cmd: c, dep: deps3(dx) });
    assert.deepEqual(ready.messages.map((e) => [e.to, e.msg]), [[2, { type: 'ValidateOK', b: 2, id, I: [[x1, 'PREACCEPTED']] }]]);
    const s = r.instance(id)!;
    assert.deepEqual([s.phase, s.bal, s.abal], ['INITIAL', 2, 0], 'phase, bal and abal unchanged');
    assert.deepEqual(s.cmd, c);
    assert.deepEqual(s.initCmd, c);
    assert.deepEqual(s.initDep, deps3(dx));
    assert.ok(ready.persist.some((p) => p.kind === 'instance' && p.instance.id === id), 'persisted with the ValidateOK');
    // from now on id counts in the dependencies of new conflicting commands
    const later = instanceId(3, 2);
    const ok = sent(recv(r, 2, { type: 'PreAccept', id: later, cmd: batch(get('x')), dep: none3 }), 'PreAcceptOK');
    assert.ok(ok[0].msg.type === 'PreAcceptOK');
    assert.ok(ok[0].msg.dep.ids.includes(id));
  });

  test('ValidateOK from all of Q with an empty I → Accept of the original value (line 63)', () => {
    const cl = cluster();
    const id = instanceId(1, 0);
    cl.submit(0, put('x', 'v'));
    const proposal = cl.replicas[0].instance(id)!;
    deliverAbout(cl, 'PreAccept', id, 0, 1);
    cl.dropWhere(() => true); // the coordinator never hears back
    cl.recover(1, id); // Q = {1, 2}: 1 PREACCEPTED with dep = initDep, 2 INITIAL
    deliverAbout(cl, 'Recover', id, 1, 2);
    deliverAbout(cl, 'RecoverOK', id, 2, 1);
    const v = deliverAbout(cl, 'Validate', id, 1, 2);
    assert.ok(v.msg.type === 'Validate' && v.msg.b === 1);
    assert.equal(inFlight(cl, 'Validate', id).length, 0, 'Validate goes to Q only, not to the coordinator');
    const vok = deliverAbout(cl, 'ValidateOK', id, 2, 1);
    assert.deepEqual(vok.msg, { type: 'ValidateOK', b: 1, id, I: [] });
    const accepts = inFlight(cl, 'Accept', id, 1);
    assert.equal(accepts.length, 2);
    assert.ok(accepts[0].msg.type === 'Accept');
    assert.equal(accepts[0].msg.b, 1);
    assert.deepEqual(accepts[0].msg.cmd, proposal.cmd);
    assert.deepEqual(accepts[0].msg.dep, proposal.initDep);
    settled(cl);
    for (const rep of cl.replicas) assert.deepEqual(rep.instance(id)?.cmd, proposal.cmd);
  });

  test('a COMMITTED pair in I → Accept(Nop) (line 65, first condition)', () => {
    // n = 5 (f = e = 2, |Q| = 3, |Q|−e = 1). id (put x) from 0 reaches 1 only; z (put x) from 4
    // fast-commits at 4, 2, 3 without seeing id. 1 recovers id with Q = {1, 2, 3}: |Rmax| = 1, so
    // it validates; 2 lists z as COMMITTED, 3 as PREACCEPTED.
    const cl = cluster({ n: 5, f: 2, e: 2 });
    const id = instanceId(1, 0), z = instanceId(1, 4);
    cl.submit(0, put('x', 'id'));
    deliverAbout(cl, 'PreAccept', id, 0, 1);
    cl.dropWhere((e) => 'id' in e.msg && e.msg.id === id);
    cl.submit(4, put('x', 'z'));
    deliverAbout(cl, 'PreAccept', z, 4, 2);
    deliverAbout(cl, 'PreAccept', z, 4, 3);
    deliverAbout(cl, 'PreAcceptOK', z, 2, 4);
    deliverAbout(cl, 'PreAcceptOK', z, 3, 4);
    assert.equal(cl.replicas[4].instance(z)?.phase, 'COMMITTED');
    assert.deepEqual(cl.replicas[4].instance(z)?.dep, emptyDeps(5));
    deliverAbout(cl, 'Commit', z, 4, 2);

    cl.recover(1, id);
    deliverAbout(cl, 'Recover', id, 1, 2);
    deliverAbout(cl, 'Recover', id, 1, 3);
    deliverAbout(cl, 'RecoverOK', id, 2, 1);
    deliverAbout(cl, 'RecoverOK', id, 3, 1);
    assert.deepEqual(inFlight(cl, 'Validate', id, 1).map((e) => e.to), [2, 3], 'Validate to Q only');
    deliverAbout(cl, 'Validate', id, 1, 2);
    deliverAbout(cl, 'Validate', id, 1, 3);
    assert.deepEqual(deliverAbout(cl, 'ValidateOK', id, 2, 1).msg, { type: 'ValidateOK', b: 1, id, I: [[z, 'COMMITTED']] });
    assert.equal(inFlight(cl, 'Accept', id).length, 0, 'waits for ValidateOK from all of Q');
    assert.deepEqual(deliverAbout(cl, 'ValidateOK', id, 3, 1).msg, { type: 'ValidateOK', b: 1, id, I: [[z, 'PREACCEPTED']] });
    const acc = inFlight(cl, 'Accept', id, 1);
    assert.equal(acc.length, 4);
    assert.ok(acc[0].msg.type === 'Accept' && acc[0].msg.b === 1 && acc[0].msg.cmd === NOP);
    assert.deepEqual(acc[0].msg.dep, emptyDeps(5));
    settled(cl);
    for (const rep of cl.replicas) {
      assert.equal(rep.instance(id)?.cmd, NOP);
      assert.deepEqual(rep.instance(z)?.dep, emptyDeps(5));
    }
  });
});

// ---- Waiting (lines 67–79) -------------------------------------------------------------------

describe('Waiting', () => {
  // n = 3 (n−f−e = 1). id (put x) from 0 reaches 1 only; z (put x) from 2 reaches nobody. 1 recovers
  // id with Q = {1, 2}: |Rmax| = 1 = |Q|−e, Validate at 2 lists z (initCoord(z) = 2 ∈ Q), so 1
  // sends Waiting(id, 1) and waits.
  const id = instanceId(1, 0), z = instanceId(1, 2);
  function waitingScenario(): { cl: Cluster; c: Batch } {
    const cl = cluster();
    cl.submit(0, put('x', 'id'));
    cl.submit(2, put('x', 'z'));
    deliverAbout(cl, 'PreAccept', id, 0, 1);
    cl.recover(1, id);
    deliverAbout(cl, 'Recover', id, 1, 2);
    deliverAbout(cl, 'RecoverOK', id, 2, 1);
    deliverAbout(cl, 'Validate', id, 1, 2);
    const vok = deliverAbout(cl, 'ValidateOK', id, 2, 1);
    assert.deepEqual(vok.msg, { type: 'ValidateOK', b: 1, id, I: [[z, 'PREACCEPTED']] });
    assert.deepEqual(inFlight(cl, 'Waiting', id, 1).map((e) => [e.to, e.msg]), [
      [0, { type: 'Waiting', id, k: 1 }], [2, { type: 'Waiting', id, k: 1 }],
    ]);
    assert.equal(inFlight(cl, 'Accept', id).length, 0, 'waiting, not accepting');
    assert.ok(cl.replicas[1].pendingIds().includes(z), 'the ids in I are put on the recovery track');
    return { cl, c: cl.replicas[0].instance(id)!.cmd as Batch };
  }

  test('lines 74–75: Waiting(id\', k\') with k\' > n−f−e → Accept(Nop); k\' = n−f−e is not enough', () => {
    const { cl } = waitingScenario();
    // The Waiting records below are crafted: in this run no recovery of z could report k' = 2. Drop
    // 1's PreAcceptOK so that 0 cannot fast-commit id meanwhile, which makes Nop a safe outcome.
    assert.equal(cl.dropWhere((e) => e.msg.type === 'PreAcceptOK' && e.msg.id === id), 1);
    cl.step(1, { type: 'message', from: 0, msg: { type: 'Waiting', id: z, k: 1 } });
    assert.equal(inFlight(cl, 'Accept', id).length, 0);
    cl.step(1, { type: 'message', from: 0, msg: { type: 'Waiting', id: z, k: 2 } });
    const acc = inFlight(cl, 'Accept', id, 1);
    assert.equal(acc.length, 2);
    assert.ok(acc[0].msg.type === 'Accept' && acc[0].msg.b === 1 && acc[0].msg.cmd === NOP);
    assert.equal(cl.replicas[1].stats.recoveredAsNop, 1);
    settled(cl);
    for (const rep of cl.replicas) assert.equal(rep.instance(id)?.cmd, NOP);
  });

  test('lines 72–73: every id\' in I commits with id in its dep → Accept of the original', () => {
    const { cl, c } = waitingScenario();
    deliverAbout(cl, 'PreAccept', z, 2, 1); // 1 knows id: answers {id}
    deliverAbout(cl, 'PreAcceptOK', z, 1, 2);
    deliverAbout(cl, 'PreAccept', z, 2, 0); // 0 knows id: answers {id}
    deliverAbout(cl, 'PreAcceptOK', z, 0, 2); // all 3 answered, mismatching: slow path with {id}
    deliverAbout(cl, 'Accept', z, 2, 1);
    deliverAbout(cl, 'AcceptOK', z, 1, 2);
    assert.equal(cl.replicas[2].instance(z)?.phase, 'COMMITTED');
    assert.equal(inFlight(cl, 'Accept', id).length, 0, 'still waiting until 1 learns the commit');
    deliverAbout(cl, 'Commit', z, 2, 1);
    assert.deepEqual(cl.replicas[1].instance(z)?.dep.ids, [id]);
    const acc = inFlight(cl, 'Accept', id, 1);
    assert.equal(acc.length, 2);
    assert.ok(acc[0].msg.type === 'Accept');
    assert.deepEqual(acc[0].msg.cmd, c);
    assert.deepEqual(acc[0].msg.dep, none3);
    settled(cl);
    for (const rep of cl.replicas) assert.deepEqual(rep.instance(id)?.cmd, c);
  });

  test('lines 76–79: a late RecoverOK from initCoord(id) outside Q → Accept(Nop)', () => {
    const { cl } = waitingScenario();
    deliverAbout(cl, 'Recover', id, 1, 0);
    const late = deliverAbout(cl, 'RecoverOK', id, 0, 1);
    assert.ok(late.msg.type === 'RecoverOK' && late.msg.phase === 'PREACCEPTED');
    const acc = inFlight(cl, 'Accept', id, 1);
    assert.ok(acc.length === 2 && acc[0].msg.type === 'Accept' && acc[0].msg.cmd === NOP);
    settled(cl);
    for (const rep of cl.replicas) assert.equal(rep.instance(id)?.cmd, NOP);
  });

  test('a Waiting record is kept and counts for a later wait on that id', () => {
    const r = bare(1);
    recv(r, 0, { type: 'Waiting', id: z, k: 2 });
    recv(r, 2, { type: 'Waiting', id: z, k: 0 }); // a smaller k later does not erase the larger one
    // 1 now waits on z in a recovery of id: the earlier record ends the wait at once (line 74)
    recv(r, 0, { type: 'PreAccept', id, cmd: batch(put('x', 'id')), dep: none3 });
    r.step({ type: 'recover', id });
    const b = r.instance(id)!.bal;
    handBack(r, everything(r.takeReady())); // its own RecoverOK
    const validate = recv(r, 2, { type: 'RecoverOK', b, id, abal: 0, cmd: null, dep: none3, initDep: none3, phase: 'INITIAL' });
    handBack(r, validate); // its own ValidateOK
    const ready = recv(r, 2, { type: 'ValidateOK', b, id, I: [[z, 'PREACCEPTED']] });
    const acc = sent(ready, 'Accept');
    assert.equal(acc.length, 2);
    assert.ok(acc[0].msg.type === 'Accept' && acc[0].msg.cmd === NOP);
  });
});

// ---- Watermark, retransmission, batching, overload, Nop re-proposal, restart (Covey §12) ----

describe('Watermark', () => {
  test('a replica that missed an instance while down learns it from a watermark and commits it via recovery', () => {
    const cl = cluster({ watermarkEveryTicks: 1, recoveryTimeoutMs: 100, recoveryTimeoutMaxMs: 400 });
    const id = instanceId(1, 0);
    cl.crash(2);
    cl.submit(0, put('x', 'while-2-was-down'));
    cl.runUntilQuiet();
    assert.equal(cl.replicas[1].isApplied(id), true);
    cl.restart(2);
    assert.equal(cl.replicas[2].instance(id), undefined);
    const others = (): InstanceId[] => cl.replicas[2].pendingIds().filter((p) => initCoord(p) !== 2); // not its own skipped seqs
    assert.deepEqual(others(), []);
    cl.tickAll(10);
    const wm = cl.network.filter((e) => e.msg.type === 'Watermark' && e.to === 2);
    // Replica 2 reported nothing applied before it went down: the floor stays at 0.
    assert.deepEqual(wm.map((e) => e.msg), [{ type: 'Watermark', executed: [1, 0, 0], floor: [0, 0, 0] }, { type: 'Watermark', executed: [1, 0, 0], floor: [0, 0, 0] }]);
    cl.runUntilQuiet();
    assert.deepEqual(others(), [id], 'learned of id from the watermark');
    assert.notEqual(cl.replicas[2].instance(id)?.phase, 'COMMITTED');
    for (let i = 0; i < 20 && !cl.replicas[2].isApplied(id); i++) {
      cl.tickAll(50);
      cl.runUntilQuiet();
    }
    assert.equal(cl.replicas[2].instance(id)?.phase, 'COMMITTED');
    assert.equal(cl.replicas[2].isApplied(id), true);
    assert.ok(cl.replicas[2].stats.recoveriesStarted >= 1);
    assert.notEqual(cl.replicas[2].instance(id)?.cmd, NOP, 'recovered with its value');
    assert.equal((cl.machines[2] as CoveyStateMachine).digest(), (cl.machines[0] as CoveyStateMachine).digest());
    assert.equal(cl.replicas[2].executedWatermark()[0], 1);
    assert.deepEqual(cl.violations(), []);
  });
});

describe('retransmission', () => {
  test('a dropped PreAccept is re-sent after retransmitMs of ticks', () => {
    const cl = cluster({ retransmitMs: 200 });
    const id = instanceId(1, 0);
    cl.submit(0, put('x', '1'));
    assert.equal(cl.dropWhere((e) => e.msg.type === 'PreAccept'), 2);
    cl.tickAll(100);
    cl.tickAll(90);
    assert.deepEqual(inFlight(cl, 'PreAccept', id), [], 'not before retransmitMs');
    cl.tickAll(10);
    const again = inFlight(cl, 'PreAccept', id, 0);
    assert.deepEqual(again.map((e) => e.to), [1, 2]);
    const original = cl.ghost.proposals.get(id);
    assert.ok(original !== undefined);
    assert.deepEqual(again[0].msg, { type: 'PreAccept', id, cmd: original.cmd, dep: original.dep }, 'the same PreAccept');
    cl.runUntilQuiet();
    for (const rep of cl.replicas) assert.equal(rep.instance(id)?.phase, 'COMMITTED');
    assert.equal(cl.replicas[0].stats.fastCommits, 1);
    assert.equal(cl.replies[0].length, 1);
    assert.deepEqual(cl.violations(), []);
  });

  test('only the silent replicas get the retransmission', () => {
    const cl = cluster({ retransmitMs: 200, fastPathTimeoutMs: 1e6 });
    const z = instanceId(1, 1), id = instanceId(1, 0);
    cl.submit(1, put('x', 'z')); // known to 1: its answer will mismatch, so the fast path waits
    cl.submit(0, put('x', '1'));
    deliverAbout(cl, 'PreAccept', id, 0, 1);
    deliverAbout(cl, 'PreAcceptOK', id, 1, 0);
    cl.dropWhere((e) => e.msg.type === 'PreAccept' && e.msg.id === id);
    cl.tickAll(200);
    assert.deepEqual(inFlight(cl, 'PreAccept', id, 0).map((e) => e.to), [2]);
    assert.ok(inFlight(cl, 'PreAccept', z, 1).length >= 1);
    settled(cl);
  });
});

describe('batching', () => {
  test('with batchCommandsMax=100 and pipelineInstancesMax=1, 250 submits end up in 4 instances', () => {
    const cl = cluster({ batchCommandsMax: 100, pipelineInstancesMax: 1 });
    const cmds = Array.from({ length: 250 }, (_, i) => put(`k${i % 7}`, `v${i}`, 'batcher'));
    for (const c of cmds) cl.submit(0, c);
    assert.equal(cl.replicas[0].queuedCommands(), 249);
    settled(cl);
    assert.equal(cl.replicas[0].stats.proposed, 4);
    const sizes = [1, 2, 3, 4].map((s) => (cl.replicas[1].instance(instanceId(s, 0))?.cmd as Batch).commands.length);
    assert.deepEqual(sizes, [1, 100, 100, 49]);
    assert.deepEqual(cl.replies[0].map((r) => r.requestId), cmds.map((c) => c.requestId), 'answered once each, in order');
    assert.ok(cl.replies[0].every((r) => r.result.ok));
    const digests = cl.machines.map((m) => (m as CoveyStateMachine).digest());
    assert.equal(digests[1], digests[0]);
    assert.equal(digests[2], digests[0]);
  });

  test('batchBytesMax keeps a payload within one frame: large commands are split across instances, a huge one goes alone', () => {
    const cl = cluster({ batchCommandsMax: 100, pipelineInstancesMax: 1, batchBytesMax: 13_000 });
    const big = (i: number) => put(`b${i}`, 'x'.repeat(2000), 'bulky'); // ~6 KB estimated each
    const cmds = [put('first', 'v', 'bulky'), big(1), big(2), big(3), put('huge', 'y'.repeat(20_000), 'bulky'), big(4)];
    for (const c of cmds) cl.submit(0, c);
    settled(cl);
    const sizes = [1, 2, 3, 4, 5].map((s) => (cl.replicas[1].instance(instanceId(s, 0))?.cmd as Batch).commands.length);
    // first alone (nothing was queued), b1+b2 (~12 KB; b3 would pass 13 KB), b3 (huge would pass), huge alone, b4.
    assert.deepEqual(sizes, [1, 2, 1, 1, 1]);
    assert.equal(cl.replies[0].length, cmds.length);
  });

  test('batchBytesMax counts each string of a command once: a long clientId is not counted twice', () => {
    const cl = cluster({ batchCommandsMax: 100, pipelineInstancesMax: 1, batchBytesMax: 13_000 });
    // The clientId is nearly all of each command: 64 + 3 × (1000 + 1 + 1 + 3) = 3079 bytes
    // estimated, so four fit in 13,000 and five do not. Counting the clientId twice (6079 each)
    // would fit only two.
    const clientId = 'c'.repeat(1000);
    const cmds = Array.from({ length: 9 }, (_, i) => put(`${i}`, 'v', clientId));
    for (const c of cmds) cl.submit(0, c);
    settled(cl);
    const sizes = [1, 2, 3].map((s) => (cl.replicas[1].instance(instanceId(s, 0))?.cmd as Batch).commands.length);
    assert.deepEqual(sizes, [1, 4, 4], 'the first alone (nothing was queued), then four a batch');
    assert.equal(cl.replicas[0].stats.proposed, 3);
  });
});

describe('overload', () => {
  test('a submit beyond submitQueueCommandsMax is refused with an "overloaded" error', () => {
    const cl = cluster({ submitQueueCommandsMax: 5, pipelineInstancesMax: 1 });
    const cmds = Array.from({ length: 7 }, (_, i) => put('x', `v${i}`, 'busy'));
    for (const c of cmds) cl.submit(0, c);
    assert.equal(cl.replicas[0].queuedCommands(), 5);
    assert.equal(cl.replies[0].length, 1);
    const refused = cl.replies[0][0];
    assert.equal(refused.requestId, cmds[6].requestId);
    assert.equal(refused.clientId, 'busy');
    assert.ok(!refused.result.ok && /overloaded/.test(refused.result.error), JSON.stringify(refused));
    settled(cl);
    assert.equal(cl.replies[0].length, 7);
    assert.deepEqual(cl.replies[0].filter((r) => r.result.ok).map((r) => r.requestId).sort((a, b) => a - b), cmds.slice(0, 6).map((c) => c.requestId));
    assert.equal(cl.replicas[0].stats.proposed, 2, 'the first alone, then the five queued together');
  });
});

describe('Nop re-proposal', () => {
  test('a command whose instance became Nop is proposed again by its coordinator and answered', () => {
    const cl = cluster();
    const first = instanceId(1, 0), second = instanceId(2, 0);
    const cmd = put('x', 'survives', 'nop-client');
    cl.submit(0, cmd);
    cl.dropWhere((e) => e.msg.type === 'PreAccept');
    cl.recover(1, first); // Q = {1, 0}: the coordinator is in Q → Nop (line 56)
    deliverAbout(cl, 'Recover', first, 1, 0);
    deliverAbout(cl, 'RecoverOK', first, 0, 1);
    const acc = inFlight(cl, 'Accept', first, 1);
    assert.ok(acc.length === 2 && acc[0].msg.type === 'Accept' && acc[0].msg.cmd === NOP);
    cl.runUntilQuiet();
    for (const rep of cl.replicas) assert.equal(rep.instance(first)?.cmd, NOP);
    assert.equal(cl.replicas[0].stats.proposed, 2, 'proposed again');
    assert.deepEqual((cl.replicas[0].instance(second)?.cmd as Batch).commands, [cmd]);
    settled(cl);
    assert.deepEqual(cl.replies[0], [{ clientId: 'nop-client', requestId: cmd.requestId, result: { ok: true } }]);
    for (const rep of cl.replicas) assert.equal(rep.instance(second)?.phase, 'COMMITTED');
    const d = cl.machines.map((m) => (m as CoveyStateMachine).digest());
    assert.ok(d.every((x) => x === d[0]));
  });
});

describe('restart', () => {
  test('Replica.restore replays the execution log (same digest) and answers a retransmitted PreAccept identically', () => {
    const cl = cluster();
    for (let i = 0; i < 6; i++) cl.submit(i % 3, i % 2 === 0 ? put(`k${i % 4}`, `v${i}`) : get(`k${i % 4}`));
    settled(cl);
    const digest = (r: number): string => (cl.machines[r] as CoveyStateMachine).digest();
    const before = digest(1);
    assert.equal(before, digest(0));
    assert.ok(before.includes('v4'), 'the state machine holds the writes');

    // a: from 2, known to 1 only; b: from 0, conflicting, 1 answers {a}
    cl.submit(2, put('x', 'a'));
    const a = Math.max(...[...cl.ghost.proposals.keys()].filter((k) => initCoord(k) === 2));
    deliverAbout(cl, 'PreAccept', a, 2, 1);
    cl.submit(0, put('x', 'b'));
    const b = Math.max(...[...cl.ghost.proposals.keys()].filter((k) => initCoord(k) === 0));
    assert.equal(cl.replicas[0].instance(a), undefined, '0 does not know a');
    const pre = deliverAbout(cl, 'PreAccept', b, 0, 1);
    const answer = inFlight(cl, 'PreAcceptOK', b, 1)[0];
    assert.ok(answer.msg.type === 'PreAcceptOK');
    assert.deepEqual(answer.msg.dep.ids, [a]);
    cl.dropWhere((e) => e === answer); // the answer is lost

    cl.crash(1);
    cl.restart(1);
    assert.equal(digest(1), before, 'state machine rebuilt from the execution log');
    for (const id of cl.storages[0].appliedLog()) assert.equal(cl.replicas[1].isApplied(id), true);
    assert.equal(cl.replicas[1].instance(b)?.phase, 'PREACCEPTED');

    cl.network.push(pre); // the coordinator retransmits
    cl.deliver(cl.network.length - 1);
    const again = inFlight(cl, 'PreAcceptOK', b, 1);
    assert.equal(again.length, 1);
    assert.deepEqual(again[0], answer);
    settled(cl);
    assert.equal(digest(1), digest(0));
    assert.deepEqual(cl.replicas[1].stats.agreementViolations, 0);
  });

  test('a restarted coordinator does not reuse its sequence numbers, nor the ones it may have proposed early', () => {
    const cl = cluster({ earlyProposalsMax: 4 });
    cl.submit(0, put('x', '1'));
    cl.submit(0, put('x', '2'));
    settled(cl);
    cl.crash(0);
    cl.restart(0);
    // Seqs 3..6 may have gone out early before the crash (earlyProposalsMax = 4): skipped, recovered.
    assert.deepEqual(cl.replicas[0].pendingIds().sort((a, b) => a - b), [3, 4, 5, 6].map((s) => instanceId(s, 0)));
    cl.submit(0, put('x', '3'));
    assert.equal(cl.replicas[0].instance(instanceId(7, 0))?.phase, 'PREACCEPTED');
    settled(cl);
    for (const s of [3, 4, 5, 6]) assert.equal(cl.replicas[1].instance(instanceId(s, 0))?.cmd, NOP, `skipped seq ${s} became Nop`);
    assert.deepEqual(cl.replicas[1].executedWatermark(), [7, 0, 0], 'no gap stalls the prefix');
  });

  test('ids skipped by a restart that died before recovering them are recovered by the next restart', () => {
    const cl = cluster({ earlyProposalsMax: 2 });
    cl.submit(0, put('x', '1'));
    settled(cl);
    cl.crash(0);
    cl.restart(0); // skips 2, 3
    cl.crash(0); // before recovering them
    cl.restart(0); // skips 2, 3 again (still unknown) — and nothing above them
    assert.deepEqual(cl.replicas[0].pendingIds().sort((a, b) => a - b), [2, 3].map((s) => instanceId(s, 0)));
    settled(cl);
    assert.deepEqual(cl.replicas[2].executedWatermark(), [3, 0, 0]);
  });
});

// ---- votes count once durable (Covey §12) ------------------------------------------------------

describe('votes count once durable', () => {
  const id = instanceId(1, 0);
  const c = batch(put('x', 'c'));

  test('the coordinator proposes early, but counts its own PreAcceptOK only once it is handed back', () => {
    const r = bare(0);
    r.step({ type: 'submit', command: put('x', '1') });
    const ready = r.takeReady();
    assert.deepEqual(ready.early.filter((e) => e.msg.type === 'PreAccept').map((e) => e.to), [1, 2], 'PreAccepts leave before the sync');
    assert.ok(ready.persist.some((p) => p.kind === 'instance' && p.instance.id === id && p.instance.phase === 'PREACCEPTED'));
    assert.deepEqual(ready.messages.map((e) => [e.to, e.msg.type]), [[0, 'PreAcceptOK']], 'its own vote waits for the sync');
    // A peer's matching answer alone is not a fast quorum of 2: no Commit, no reply.
    const one = recv(r, 1, { type: 'PreAcceptOK', id, dep: none3 });
    assert.deepEqual([sent(one, 'Commit'), one.replies], [[], []]);
    assert.equal(r.instance(id)?.phase, 'PREACCEPTED');
    r.step({ type: 'message', from: 0, msg: ready.messages[0].msg });
    const back = r.takeReady();
    assert.deepEqual(back.early, [], 'a fast commit is not early: line 56 relies on the coordinator remembering it');
    assert.deepEqual(back.messages.filter((e) => e.msg.type === 'Commit').map((e) => e.to), [1, 2]);
    assert.ok(back.persist.some((p) => p.kind === 'instance' && p.instance.phase === 'COMMITTED'));
    assert.equal(back.replies.length, 1, 'the client is answered once both votes and the commit are durable');
  });

  test('a vote never leaves early, nor a fast commit or a recovery ballot; a ballot-0 Accept and a quorum-decided Commit do', () => {
    const r = bare(1);
    r.step({ type: 'message', from: 0, msg: { type: 'PreAccept', id, cmd: c, dep: none3 } });
    const answer = r.takeReady();
    assert.deepEqual(answer.early, []);
    assert.deepEqual(answer.messages.map((e) => [e.to, e.msg.type]), [[0, 'PreAcceptOK']]);
    r.step({ type: 'message', from: 0, msg: { type: 'Commit', b: 0, id, cmd: c, dep: none3 } });
    r.takeReady();
    r.step({ type: 'message', from: 2, msg: { type: 'Accept', b: 5, id, cmd: NOP, dep: none3 } });
    const answer2 = r.takeReady();
    assert.deepEqual([answer2.early, answer2.messages.map((e) => [e.to, e.msg.type])], [[], [[2, 'Commit']]],
      'a COMMITTED replica answers with the Commit once its record is durable (it may be its own fast commit)');

    const coord = bare(0);
    coord.step({ type: 'submit', command: put('x', '2') });
    const own = instanceId(1, 0);
    handBack(coord, coord.takeReady());
    coord.step({ type: 'message', from: 1, msg: { type: 'PreAcceptOK', id: own, dep: deps3(instanceId(9, 2)) } });
    coord.step({ type: 'message', from: 2, msg: { type: 'PreAcceptOK', id: own, dep: deps3(instanceId(9, 2)) } });
    const slow = coord.takeReady();
    assert.deepEqual(slow.early.map((e) => [e.to, e.msg.type]), [[1, 'Accept'], [2, 'Accept']], 'the ballot-0 Accept leaves early');
    assert.deepEqual(slow.messages.map((e) => [e.to, e.msg.type]), [[0, 'AcceptOK']]);
    handBack(coord, slow);
    coord.step({ type: 'message', from: 1, msg: { type: 'AcceptOK', b: 0, id: own } });
    assert.deepEqual(coord.takeReady().early.map((e) => [e.to, e.msg.type]), [[1, 'Commit'], [2, 'Commit']], 'a Commit decided by durable acceptances leaves early');

    const rec = bare(2);
    rec.step({ type: 'message', from: 0, msg: { type: 'PreAccept', id, cmd: c, dep: none3 } });
    rec.takeReady();
    rec.step({ type: 'recover', id });
    const recover = rec.takeReady();
    assert.deepEqual(recover.early, [], 'Recover waits until the ballot joined is durable');
    assert.deepEqual(recover.messages.map((e) => [e.to, e.msg.type]), [[0, 'Recover'], [1, 'Recover'], [2, 'RecoverOK']]);
  });

  test('at most earlyProposalsMax own proposals are out before they are known durable', () => {
    const r = bare(0, { earlyProposalsMax: 1, pipelineInstancesMax: 4, batchCommandsMax: 1 });
    r.step({ type: 'submit', command: put('x', '1') });
    r.step({ type: 'submit', command: put('y', '2') });
    const ready = r.takeReady();
    const early = ready.early.filter((e) => e.msg.type === 'PreAccept').map((e) => (e.msg as { id: number }).id);
    const late = ready.messages.filter((e) => e.msg.type === 'PreAccept').map((e) => (e.msg as { id: number }).id);
    assert.deepEqual([early, late], [[instanceId(1, 0), instanceId(1, 0)], [instanceId(2, 0), instanceId(2, 0)]]);
    handBack(r, ready); // both proposals durable: the budget is free again
    r.step({ type: 'submit', command: put('z', '3') });
    assert.equal(r.takeReady().early.filter((e) => e.msg.type === 'PreAccept').length, 2);
  });
});
