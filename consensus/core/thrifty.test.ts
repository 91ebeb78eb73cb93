// The thrifty choice (EPaxos §4.4; replica.ts fastQuorumPeers): a proposal's PreAccept goes first to
// just enough heard peers for a fast quorum, the others only when one of those stays silent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, type ClusterOptions } from '../cluster.ts';
import { instanceId, type InstanceId, type ReplicaId } from './ids.ts';
import type { Command } from '../statemachine/commands.ts';
import type { Envelope, Message } from './types.ts';

let requestIds = 0;
const put = (key: string, value: string): Command => {
  const requestId = ++requestIds;
  return { clientId: `c${requestId}`, requestId, timestampMs: 0, op: 'put', key, value };
};

function cluster(o: Partial<ClusterOptions> = {}): Cluster {
  return new Cluster({ n: 3, f: 1, e: 1, recoveryTimeoutMs: 1e9, recoveryTimeoutMaxMs: 1e9, ...o });
}

function toWhom(cl: Cluster, type: Message['type'], id: InstanceId): ReplicaId[] {
  return cl.network.filter((e: Envelope) => e.msg.type === type && 'id' in e.msg && e.msg.id === id).map((e) => e.to).sort();
}

function deliver(cl: Cluster, type: Message['type'], id: InstanceId, from: ReplicaId, to: ReplicaId): void {
  cl.deliver(cl.find((e) => e.msg.type === type && 'id' in e.msg && e.msg.id === id && e.from === from && e.to === to, `${type} ${from}→${to}`));
}

test('n=3: each PreAccept goes to one peer, and consecutive proposals to each peer in turn', () => {
  const cl = cluster({ pipelineInstancesMax: 4 });
  for (let i = 0; i < 4; i++) cl.submit(0, put(`k${i}`, 'v'));
  const firstPeers = [1, 2, 3, 4].map((seq) => toWhom(cl, 'PreAccept', instanceId(seq, 0)));
  for (const peers of firstPeers) assert.equal(peers.length, 1);
  assert.deepEqual(firstPeers.flat().sort(), [1, 1, 2, 2], 'an even share for each peer');
  cl.runUntilQuiet();
  assert.deepEqual(cl.violations(), []);
  assert.equal(cl.replicas[0].stats.fastCommits, 4);
  for (const r of [1, 2]) for (let seq = 1; seq <= 4; seq++) assert.equal(cl.replicas[r].instance(instanceId(seq, 0))?.phase, 'COMMITTED');
});

test('n=5: each PreAccept goes to two peers (a fast quorum of 3 with the coordinator)', () => {
  const cl = cluster({ n: 5, f: 2, e: 2 });
  cl.submit(0, put('x', 'v'));
  assert.equal(toWhom(cl, 'PreAccept', instanceId(1, 0)).length, 2);
  cl.runUntilQuiet();
  assert.equal(cl.replicas[0].stats.fastCommits, 1);
  assert.deepEqual(cl.violations(), []);
});

test('a peer the driver says it does not hear is not asked', () => {
  for (const unheard of [1, 2]) {
    const cl = cluster({ pipelineInstancesMax: 4 });
    cl.step(0, { type: 'reachable', replicas: [0, 3 - unheard] });
    for (let i = 0; i < 4; i++) cl.submit(0, put(`k${i}`, 'v'));
    for (let seq = 1; seq <= 4; seq++) assert.deepEqual(toWhom(cl, 'PreAccept', instanceId(seq, 0)), [3 - unheard]);
  }
});

test('the asked peer silent past fastPathTimeoutMs: the others are asked, and one of them completes the fast quorum', () => {
  const cl = cluster({ fastPathTimeoutMs: 50, retransmitMs: 1e9 });
  const id = instanceId(1, 0);
  cl.submit(0, put('x', 'v'));
  const [asked] = toWhom(cl, 'PreAccept', id);
  const other = 3 - asked;
  cl.dropWhere((e) => e.msg.type === 'PreAccept' && e.to === asked);
  cl.tickAll(40);
  assert.deepEqual(toWhom(cl, 'PreAccept', id), [], 'nobody else asked before the timeout');
  cl.tickAll(10);
  assert.deepEqual(toWhom(cl, 'PreAccept', id), [other]);
  deliver(cl, 'PreAccept', id, 0, other);
  deliver(cl, 'PreAcceptOK', id, other, 0);
  assert.equal(cl.replicas[0].instance(id)?.phase, 'COMMITTED');
  assert.equal(cl.replicas[0].stats.fastCommits, 1);
  cl.runUntilQuiet();
  assert.deepEqual(cl.violations(), []);
});

test('a mismatching answer from the only peer asked goes to the slow path at once, not at the timeout', () => {
  const cl = cluster({ fastPathTimeoutMs: 1e9, retransmitMs: 1e9, pipelineInstancesMax: 4 });
  const id = instanceId(1, 0);
  cl.submit(0, put('x', 'y'));
  const [asked] = toWhom(cl, 'PreAccept', id);
  // The asked peer proposes a conflicting command that reaches nobody, so its answer names it.
  cl.submit(asked, put('x', 'z'));
  cl.dropWhere((e) => e.from === asked);
  deliver(cl, 'PreAccept', id, 0, asked);
  deliver(cl, 'PreAcceptOK', id, asked, 0);
  assert.deepEqual(toWhom(cl, 'Accept', id), [1, 2]);
  assert.equal(cl.replicas[0].stats.slowCommits, 1);
  cl.runUntilQuiet();
  assert.deepEqual(cl.violations(), []);
});

test('thriftyPreAccept off: every peer is asked', () => {
  const cl = cluster({ n: 5, f: 2, e: 2, thriftyPreAccept: false });
  cl.submit(0, put('x', 'v'));
  assert.deepEqual(toWhom(cl, 'PreAccept', instanceId(1, 0)), [1, 2, 3, 4]);
});

test('a peer that leaves a PreAccept unanswered past the fast-path timeout is passed over, and asked again a second later', () => {
  // A one-way cut: replica 0 hears peer `deaf` (so the hint keeps it), but nothing 0 sends reaches it.
  const cl = cluster({ fastPathTimeoutMs: 50, retransmitMs: 1e9 });
  cl.submit(0, put('k0', 'v'));
  const [deaf] = toWhom(cl, 'PreAccept', instanceId(1, 0));
  const other = 3 - deaf;
  const cut = (): void => { cl.dropWhere((e) => e.from === 0 && e.to === deaf); };
  cut();
  cl.tickAll(50); // the fast-path timeout: the other peer is asked
  cut();
  cl.runUntilQuiet();
  assert.equal(cl.replicas[0].instance(instanceId(1, 0))?.phase, 'COMMITTED');
  // The next proposals, whatever their seq's turn in the rotation, go to the peer that answers.
  for (let seq = 2; seq <= 5; seq++) {
    cl.submit(0, put(`k${seq}`, 'v'));
    assert.deepEqual(toWhom(cl, 'PreAccept', instanceId(seq, 0)), [other], `seq ${seq}`);
    cut();
    cl.runUntilQuiet();
    assert.equal(cl.replicas[0].instance(instanceId(seq, 0))?.phase, 'COMMITTED', `seq ${seq} committed without waiting`);
  }
  // A second after its first unanswered PreAccept, the deaf peer gets its turn again.
  cl.tickAll(1000);
  const asked: ReplicaId[] = [];
  for (let seq = 6; seq <= 7; seq++) {
    cl.submit(0, put(`k${seq}`, 'v'));
    asked.push(...toWhom(cl, 'PreAccept', instanceId(seq, 0)));
    cl.runUntilQuiet();
  }
  assert.ok(asked.includes(deaf), `asked: ${asked.join(',')}`);
  assert.deepEqual(cl.violations(), []);
});
