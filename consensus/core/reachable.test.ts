// The driver's 'reachable' hint (types.ts Event): which peers answer now. It may only make a
// replica decide sooner — go to the slow path once a fast quorum can only come from peers it does
// not reach, and ask the others for an instance whose coordinator it does not reach — never change
// what is decided (issue 16: a majority side that waited out a timeout on every instance, and two
// voters cut one way recovering each other's instances at the full recovery timeout).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Replica } from './replica.ts';
import type { ReplicaOptions } from './config.ts';
import { makeDeps } from './deps.ts';
import { instanceId, type ReplicaId } from './ids.ts';
import type { Envelope, Message, Ready } from './types.ts';
import { CoveyStateMachine } from '../statemachine/machine.ts';
import type { Command } from '../statemachine/commands.ts';

let requestIds = 0;
const put = (key: string, value: string): Command => ({ clientId: 'c1', requestId: ++requestIds, timestampMs: 0, op: 'put', key, value });

function bare(self: ReplicaId, n: number, o: Partial<ReplicaOptions> = {}): Replica {
  const f = Math.floor((n - 1) / 2);
  const r = new Replica({ self, n, f, e: n === 3 ? 1 : 2, recoveryTimeoutMs: 1e9, recoveryTimeoutMaxMs: 1e9, fastPathTimeoutMs: 1e9, ...o }, new CoveyStateMachine());
  r.takeReady();
  return r;
}

function all(ready: Ready): Envelope[] {
  return [...ready.early, ...ready.messages];
}

/** Steps, then hands the replica its own votes back as a driver does once the turn is durable. */
function step(r: Replica, ev: Parameters<Replica['step']>[0]): Envelope[] {
  r.step(ev);
  const out: Envelope[] = [];
  for (let ready = r.takeReady(); ; ready = r.takeReady()) {
    const own = ready.messages.filter((e) => e.to === r.self);
    out.push(...all(ready).filter((e) => e.to !== r.self));
    if (own.length === 0) return out;
    for (const e of own) r.step({ type: 'message', from: r.self, msg: e.msg });
  }
}

const of = (out: Envelope[], type: Message['type']): Envelope[] => out.filter((e) => e.msg.type === type);

describe("the 'reachable' hint", () => {
  // Five voters (f = e = 2: fast quorum 3, slow 3); voter 0 hears only 1 and 2, as on the majority
  // side of a 3 | 2 split. Voter 1 answers with a dependency voter 0 did not have: no fast quorum
  // can be made of 0, 1 and 2, and 3 and 4 will not answer.
  function proposeOnMajoritySide(hint: boolean): { r: Replica; accepts: number } {
    const r = bare(0, 5);
    if (hint) step(r, { type: 'reachable', replicas: [0, 1, 2] });
    const out = step(r, { type: 'submit', command: put('k', 'v') });
    const pre = of(out, 'PreAccept')[0].msg as Extract<Message, { type: 'PreAccept' }>;
    const other = makeDeps([instanceId(1, 1)], [0, 0, 0, 0, 0]);
    let accepts = of(step(r, { type: 'message', from: 1, msg: { type: 'PreAcceptOK', id: pre.id, dep: other } }), 'Accept').length;
    accepts += of(step(r, { type: 'message', from: 2, msg: { type: 'PreAcceptOK', id: pre.id, dep: pre.dep } }), 'Accept').length;
    return { r, accepts };
  }

  test('a coordinator that cannot make a fast quorum of the peers it reaches goes to the slow path at once', () => {
    assert.equal(proposeOnMajoritySide(false).accepts, 0, 'without the hint it waits for voters 3 and 4 (the fast-path timeout)');
    const { r, accepts } = proposeOnMajoritySide(true);
    assert.equal(accepts, 4, 'with it, Accept goes out on the third answer');
    assert.equal(r.stats.slowCommits, 1);
  });

  test('the hint arriving while a proposal waits decides it then', () => {
    const { r } = proposeOnMajoritySide(false);
    const out = step(r, { type: 'reachable', replicas: [0, 1, 2] });
    assert.equal(of(out, 'Accept').length, 4);
  });

  test('peers that are reached but silent are still waited for', () => {
    const { r } = proposeOnMajoritySide(false);
    assert.equal(of(step(r, { type: 'reachable', replicas: [0, 1, 2, 3, 4] }), 'Accept').length, 0);
  });

  // Three voters; voter 0 does not reach voter 1 (a one-way cut): it learns of 1's instance from
  // voter 2 but 1 cannot send it the Commit. It asks the others after learnFromOthersMs.
  function learnOf(r: Replica): void {
    const id = instanceId(1, 1);
    step(r, { type: 'message', from: 1, msg: { type: 'PreAccept', id, cmd: { commands: [put('k', 'w')] }, dep: makeDeps([], [0, 0, 0]) } });
  }

  test('an instance whose coordinator is not reached is asked of the others after learnFromOthersMs', () => {
    const r = bare(0, 3, { learnFromOthersMs: 150 });
    step(r, { type: 'tick', nowMs: 0, entropy: 1 });
    step(r, { type: 'reachable', replicas: [0, 2] });
    learnOf(r);
    assert.equal(of(step(r, { type: 'tick', nowMs: 100, entropy: 1 }), 'Recover').length, 0, 'not before');
    assert.equal(of(step(r, { type: 'tick', nowMs: 200, entropy: 1 }), 'Recover').length, 2, 'asked of both peers after 150 ms');
  });

  test('without the hint the same instance waits for the full recovery timeout', () => {
    const r = bare(0, 3, { learnFromOthersMs: 150 });
    step(r, { type: 'tick', nowMs: 0, entropy: 1 });
    learnOf(r);
    assert.equal(of(step(r, { type: 'tick', nowMs: 10_000, entropy: 1 }), 'Recover').length, 0);
  });

  test('a coordinator that becomes unreachable has its pending instances asked of the others soon', () => {
    const r = bare(0, 3, { learnFromOthersMs: 150 });
    step(r, { type: 'tick', nowMs: 0, entropy: 1 });
    learnOf(r);
    step(r, { type: 'tick', nowMs: 1000, entropy: 1 });
    step(r, { type: 'reachable', replicas: [0, 2] });
    assert.equal(of(step(r, { type: 'tick', nowMs: 1200, entropy: 1 }), 'Recover').length, 2);
  });
});

describe('a heal: voters heard again', () => {
  // Voter 0 of three, cut off: its proposal's PreAccepts went nowhere, and retransmissions are
  // 1 s apart. When the others are heard again it retransmits at the next tick, not up to 1 s later.
  function proposeCutOff(): Replica {
    const r = bare(0, 3, { retransmitMs: 1000 });
    step(r, { type: 'tick', nowMs: 0, entropy: 1 });
    step(r, { type: 'reachable', replicas: [0] });
    step(r, { type: 'submit', command: put('k', 'v') });
    assert.equal(of(step(r, { type: 'tick', nowMs: 100, entropy: 1 }), 'PreAccept').length, 0, 'no retransmission yet');
    return r;
  }

  test('leads retransmit to the silent at the next tick', () => {
    const r = proposeCutOff();
    step(r, { type: 'reachable', replicas: [0, 1, 2] });
    assert.equal(of(step(r, { type: 'tick', nowMs: 110, entropy: 1 }), 'PreAccept').length, 2);
  });

  test('without a voter coming back, the retransmission waits for retransmitMs', () => {
    const r = proposeCutOff();
    step(r, { type: 'reachable', replicas: [0] });
    assert.equal(of(step(r, { type: 'tick', nowMs: 110, entropy: 1 }), 'PreAccept').length, 0);
    assert.equal(of(step(r, { type: 'tick', nowMs: 1010, entropy: 1 }), 'PreAccept').length, 2);
  });
});

describe('relaying Commits to the peers that had to recover them', () => {
  // Voter 2 of three hears voter 0; voter 1 does not (a one-way cut) and asked voter 2 to recover
  // one of 0's instances. 0's next Commits reach voter 1 through voter 2, for a while.
  const commitOf = (seq: number): Message => ({ type: 'Commit', b: 0, id: instanceId(seq, 0), cmd: { commands: [put('k', `v${seq}`)] }, dep: makeDeps([], [0, 0, 0]) });

  test('a coordinator\'s Commits are relayed to a peer that recently recovered its instances, then no more', () => {
    const r = bare(2, 3);
    step(r, { type: 'tick', nowMs: 0, entropy: 1 });
    assert.equal(of(step(r, { type: 'message', from: 0, msg: commitOf(1) }), 'Commit').length, 0, 'nobody asked: no relay');
    step(r, { type: 'message', from: 1, msg: { type: 'Recover', b: 1, id: instanceId(2, 0) } });
    const relayed = of(step(r, { type: 'message', from: 0, msg: commitOf(3) }), 'Commit');
    assert.deepEqual(relayed.map((e) => e.to), [1]);
    assert.equal(of(step(r, { type: 'message', from: 1, msg: commitOf(4) }), 'Commit').length, 0, 'only Commits from their coordinator are relayed');
    step(r, { type: 'tick', nowMs: 2500, entropy: 1 });
    assert.equal(of(step(r, { type: 'message', from: 0, msg: commitOf(5) }), 'Commit').length, 0, 'the relay ends 2 s after the last ask');
  });
});

describe('instances a peer has executed', () => {
  // A peer's watermark says it executed voter 1's instances 1..3: they are committed there, and
  // this replica missed their Commits (it was cut off). It asks the others soon, not at the full
  // recovery timeout — after a long partition that timeout was the former minority's delay.
  test('are asked of the others after learnFromOthersMs', () => {
    const r = bare(0, 3, { learnFromOthersMs: 150 });
    step(r, { type: 'tick', nowMs: 0, entropy: 1 });
    step(r, { type: 'message', from: 2, msg: { type: 'Watermark', executed: [0, 3, 0] } });
    assert.equal(of(step(r, { type: 'tick', nowMs: 100, entropy: 1 }), 'Recover').length, 0, 'not before');
    const recovers = of(step(r, { type: 'tick', nowMs: 200, entropy: 1 }), 'Recover');
    assert.deepEqual([...new Set(recovers.map((e) => (e.msg as { id: number }).id))].sort(), [instanceId(1, 1), instanceId(2, 1), instanceId(3, 1)].sort());
    assert.ok(recovers.length === 3 && recovers.every((e) => e.to === 2), 'each asked of the peer that executed it, alone');
  });

  test('go to every peer when the one that executed them stays silent', () => {
    const r = bare(0, 3, { learnFromOthersMs: 150, retransmitMs: 200 });
    step(r, { type: 'tick', nowMs: 0, entropy: 1 });
    step(r, { type: 'message', from: 2, msg: { type: 'Watermark', executed: [0, 1, 0] } });
    assert.deepEqual(of(step(r, { type: 'tick', nowMs: 200, entropy: 1 }), 'Recover').map((e) => e.to), [2]);
    assert.deepEqual(of(step(r, { type: 'tick', nowMs: 450, entropy: 1 }), 'Recover').map((e) => e.to).sort(), [1, 2], 'retransmitted to every silent peer');
  });

  test('one already waiting at the full timeout is asked soon too', () => {
    const r = bare(0, 3, { learnFromOthersMs: 150 });
    step(r, { type: 'tick', nowMs: 0, entropy: 1 });
    step(r, { type: 'message', from: 1, msg: { type: 'PreAccept', id: instanceId(1, 1), cmd: { commands: [put('k', 'w')] }, dep: makeDeps([], [0, 0, 0]) } });
    step(r, { type: 'tick', nowMs: 1000, entropy: 1 });
    step(r, { type: 'message', from: 2, msg: { type: 'Watermark', executed: [0, 1, 0] } });
    assert.deepEqual(of(step(r, { type: 'tick', nowMs: 1200, entropy: 1 }), 'Recover').map((e) => e.to), [2]);
  });
});
