// Two consensus groups on one node (docs/reconfiguration.md: one group per epoch): epoch 0's and
// epoch 1's ConsensusRpc side by side, with different voter lists in which a peer has different
// indexes. Each message reaches only its own epoch's onMessage, with the sender's index in that
// epoch's list; stopping one group leaves the other working; /covey/submit/1.0.0 is served by the
// instance chosen, and stays served when another instance on the node stops.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as lp from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { emptyDeps, instanceId, type Command, type CommandResult, type Message } from '../../consensus/index.ts';
import { createCoveyNode, generateIdentityKey, type CoveyNode } from '../node.ts';
import { encodeFrame } from '../wire/codec.ts';
import { ConsensusRpc, epaxosProtocol, epaxosProtocolFor } from './consensus-rpc.ts';
import { waitFor } from '../testing/eventually.ts';

const logger = pino({ level: 'silent' });
const watermark = (k: number): Message => ({ type: 'Watermark', executed: [k, 0, 0] });
const seqOf = (m: Message): number => (m.type === 'Watermark' ? m.executed[0] : -1);

interface Group {
  rpc: ConsensusRpc;
  got: { from: number; seq: number }[];
  served: number[];
}

// Nodes a, b, c, d. Epoch 0: [a, b, c]. Epoch 1: [c, a, d] (c replaced b; a is 0 then 1, c is 2 then 0).
const nodes: CoveyNode[] = [];
let ids: string[] = [];
let voters0: string[] = [];
let voters1: string[] = [];
const registries: Registry[] = [];
const groups = new Map<string, Group>(); // key: `${node letter}${epoch}`

function group(node: number, epoch: number, opts: { serveSubmit?: boolean } = {}): Group {
  const voters = epoch === 0 ? voters0 : voters1;
  const self = voters.indexOf(ids[node]);
  const g: Group = { rpc: null as unknown as ConsensusRpc, got: [], served: [] };
  g.rpc = new ConsensusRpc({
    node: nodes[node], voters, self: self < 0 ? null : self, logger, registry: registries[node], epoch, ...opts,
    onMessage: (from, msg) => g.got.push({ from, seq: seqOf(msg) }),
    onSubmit: async (command: Command): Promise<CommandResult> => {
      g.served.push(command.requestId);
      return { ok: true, value: `epoch ${epoch}` };
    },
  });
  return g;
}

const cmd = (requestId: number): Command => ({ clientId: 'c', requestId, timestampMs: 1, op: 'get', key: 'k' });

async function counter(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  assert.ok(m, `metric ${name} exists`);
  const v = (await m.get()).values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value ?? 0;
}

before(async () => {
  for (let i = 0; i < 4; i++) {
    nodes.push(await createCoveyNode({ privateKey: await generateIdentityKey(), listen: ['/ip4/127.0.0.1/tcp/0'] }));
    registries.push(new Registry());
  }
  ids = nodes.map((n) => n.peerId.toString());
  const [a, b, c, d] = ids;
  voters0 = [a, b, c];
  voters1 = [c, a, d];
  for (const x of nodes) {
    for (const y of nodes) if (x !== y) await x.peerStore.merge(y.peerId, { multiaddrs: y.getMultiaddrs() });
  }
  // On a and c both groups run, epoch 1's started second (so it takes submissions over, as an
  // agent starting the next epoch's group does); b runs only epoch 0, d only epoch 1.
  for (const [key, node, epoch] of [['a0', 0, 0], ['b0', 1, 0], ['c0', 2, 0], ['a1', 0, 1], ['c1', 2, 1], ['d1', 3, 1]] as const) {
    const g = group(node, epoch);
    await g.rpc.start();
    groups.set(key, g);
  }
});

after(async () => {
  for (const g of groups.values()) await g.rpc.stop();
  for (const n of nodes) await n.stop();
});

const g = (key: string): Group => {
  const x = groups.get(key);
  assert.ok(x, key);
  return x;
};

describe('ConsensusRpc with one group per epoch on a node', () => {
  it('names the protocol by epoch, epoch 0 as before', () => {
    assert.equal(epaxosProtocolFor(0), epaxosProtocol);
    assert.equal(epaxosProtocolFor(0), '/covey/epaxos/1.0.0');
    assert.equal(epaxosProtocolFor(1), '/covey/epaxos/1.0.0/epoch/1');
    assert.equal(epaxosProtocolFor(12), '/covey/epaxos/1.0.0/epoch/12');
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) assert.throws(() => epaxosProtocolFor(bad), RangeError);
    assert.equal(g('a0').rpc.protocol, '/covey/epaxos/1.0.0');
    assert.equal(g('a1').rpc.protocol, '/covey/epaxos/1.0.0/epoch/1');
    assert.throws(() => new ConsensusRpc({ node: nodes[0], voters: voters1, self: 1, logger, epoch: -1, onMessage: () => {} }), RangeError);
  });

  it("delivers each message only to its epoch's group, with the sender's index in that epoch", async () => {
    // a → c in epoch 0: a is 0, c is 2.
    g('a0').rpc.send([{ from: 0, to: 2, msg: watermark(10) }]);
    // a → c in epoch 1: a is 1, c is 0.
    g('a1').rpc.send([{ from: 1, to: 0, msg: watermark(20) }]);
    // c → a in both: c is 2 in epoch 0 (a is 0), 0 in epoch 1 (a is 1).
    g('c0').rpc.send([{ from: 2, to: 0, msg: watermark(30) }]);
    g('c1').rpc.send([{ from: 0, to: 1, msg: watermark(40) }]);
    // Members of one group only.
    g('b0').rpc.send([{ from: 1, to: 2, msg: watermark(50) }]);
    g('d1').rpc.send([{ from: 2, to: 0, msg: watermark(60) }, { from: 2, to: 1, msg: watermark(61) }]);
    await waitFor('every message', () => g('c0').got.length >= 2 && g('c1').got.length >= 2 && g('a0').got.length >= 1 && g('a1').got.length >= 2);
    await new Promise((r) => setTimeout(r, 200)); // room for a stray delivery to show up
    assert.deepEqual(g('c0').got.sort((x, y) => x.seq - y.seq), [{ from: 0, seq: 10 }, { from: 1, seq: 50 }]);
    assert.deepEqual(g('c1').got.sort((x, y) => x.seq - y.seq), [{ from: 1, seq: 20 }, { from: 2, seq: 60 }]);
    assert.deepEqual(g('a0').got, [{ from: 2, seq: 30 }]);
    assert.deepEqual(g('a1').got.sort((x, y) => x.seq - y.seq), [{ from: 0, seq: 40 }, { from: 2, seq: 61 }]);
    assert.deepEqual(g('b0').got, []);
    assert.deepEqual(g('d1').got, []);
    // Both instances on a count into the same counters of a's one registry.
    assert.equal(await counter(registries[0], 'covey_rpc_messages_received_total'), 3);
    assert.equal(await counter(registries[0], 'covey_rpc_messages_sent_total'), 2);
  });

  it("validates each frame in its epoch: a voters.change made in epoch 1 travels in epoch 1's group", async () => {
    // The change that would close epoch 1, proposed by c (replica 0 of epoch 1) to a (replica 1).
    const change: Command = { clientId: 'op', requestId: 1, timestampMs: 1, op: 'voters.change', epoch: 1, voters: [ids[2], ids[0], ids[1]].join(','), reason: 'test' };
    const preAccept: Message = { type: 'PreAccept', id: instanceId(1, 0), cmd: { commands: [change] }, dep: emptyDeps(3) };
    const before = g('a1').got.length;
    const dropped = await counter(registries[0], 'covey_rpc_frames_dropped_total', { reason: 'invalid' });
    g('c1').rpc.send([{ from: 0, to: 1, msg: preAccept }]);
    await waitFor('the PreAccept at a in epoch 1', () => g('a1').got.length > before);
    assert.equal(await counter(registries[0], 'covey_rpc_frames_dropped_total', { reason: 'invalid' }), dropped, 'not refused as a change of another epoch');
  });

  it("drops a frame sent on an epoch's protocol by a peer that is not a voter of that epoch", async () => {
    // b is a voter of epoch 0 only: its frame on epoch 1's protocol is a non-voter's there.
    const before = await counter(registries[2], 'covey_rpc_frames_dropped_total', { reason: 'non_voter' });
    const stream = await nodes[1].dialProtocol(nodes[2].peerId, epaxosProtocolFor(1));
    await pipe([encodeFrame([watermark(70)])], (s) => lp.encode(s), stream.sink).catch(() => {});
    await stream.close().catch(() => {});
    await waitFor('the drop counted', async () => (await counter(registries[2], 'covey_rpc_frames_dropped_total', { reason: 'non_voter' })) > before);
    assert.ok(!g('c1').got.some((x) => x.seq === 70) && !g('c0').got.some((x) => x.seq === 70));
  });

  it('serves submissions from the instance chosen, and keeps serving them when another stops', async () => {
    // On c, epoch 1's instance started last and took submissions over; b forwards with epoch 0's indexes (c is 2).
    assert.equal(g('c1').rpc.servesSubmit, true);
    assert.equal(g('c0').rpc.servesSubmit, false);
    assert.deepEqual(await g('b0').rpc.submit(2, cmd(1)), { ok: true, value: 'epoch 1' });
    assert.deepEqual([g('c0').served, g('c1').served], [[], [1]]);
    // Moved back, then forward again: the handler is replaced, never missing.
    await g('c0').rpc.takeOverSubmit();
    assert.equal(g('c1').rpc.servesSubmit, false);
    assert.deepEqual(await g('d1').rpc.submit(0, cmd(2)), { ok: true, value: 'epoch 0' });
    await g('c1').rpc.takeOverSubmit();
    assert.deepEqual(await g('a1').rpc.submit(0, cmd(3)), { ok: true, value: 'epoch 1' });
    assert.deepEqual([g('c0').served, g('c1').served], [[2], [1, 3]]);
    // An instance started with serveSubmit: false never takes them.
    const quiet = group(3, 0, { serveSubmit: false }); // d as a non-voter of epoch 0
    await quiet.rpc.start();
    assert.equal(quiet.rpc.servesSubmit, false);
    assert.equal(g('d1').rpc.servesSubmit, true);
    await quiet.rpc.stop();
    assert.deepEqual(await g('a1').rpc.submit(2, cmd(4)), { ok: true, value: 'epoch 1' }, "stopping a non-serving instance left d's handler");
  });

  it('a second instance of the same epoch on a node is refused, and the first keeps working', async () => {
    const twin = group(0, 1);
    await assert.rejects(twin.rpc.start(), /cannot handle \/covey\/epaxos\/1\.0\.0\/epoch\/1/);
    assert.equal(g('a1').rpc.servesSubmit, true, 'the failed start took nothing over');
    g('c1').rpc.send([{ from: 0, to: 1, msg: watermark(80) }]);
    await waitFor('the message', () => g('a1').got.some((x) => x.seq === 80));
    assert.deepEqual(twin.got, []);
  });

  it("stopping one epoch's group leaves the other working, submissions included", async () => {
    await g('c0').rpc.stop();
    // Epoch 0's frames to c have no handler now (a's writer keeps retrying; consensus retransmits).
    g('a0').rpc.send([{ from: 0, to: 2, msg: watermark(90) }]);
    g('a1').rpc.send([{ from: 1, to: 0, msg: watermark(91) }]);
    await waitFor('epoch 1 still delivers to c', () => g('c1').got.some((x) => x.seq === 91));
    assert.ok(!g('c0').got.some((x) => x.seq === 90));
    assert.equal(g('c1').rpc.servesSubmit, true);
    assert.deepEqual(await g('d1').rpc.submit(0, cmd(5)), { ok: true, value: 'epoch 1' });
    // And c's epoch-1 group still sends.
    g('c1').rpc.send([{ from: 0, to: 2, msg: watermark(92) }]);
    await waitFor('d hears c', () => g('d1').got.some((x) => x.seq === 92 && x.from === 0));
    // Stopping the serving one leaves the node without a submit handler (no instance is left to serve).
    await g('c1').rpc.stop();
    await assert.rejects(g('d1').rpc.submit(0, cmd(6)), /submit to voter 0/);
  });
});
