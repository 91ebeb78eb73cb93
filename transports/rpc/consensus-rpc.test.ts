import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PrivateKey, Stream } from '@libp2p/interface';
import * as lp from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { type Command, type CommandResult, type Envelope, instanceId, type Message } from '../../consensus/index.ts';
import { createCoveyNode, generateIdentityKey, type CoveyNode } from '../node.ts';
import { encodeFrame } from '../wire/codec.ts';
import { ConsensusRpc, epaxosProtocol } from './consensus-rpc.ts';
import { waitFor as poll } from '../testing/eventually.ts';

const waitFor = (what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> => poll(what, cond, timeoutMs);

const logger = pino({ level: 'silent' });
const frameBytesMax = 64 * 1024;
const n = 3;

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => { unhandled.push(e); };
process.on('unhandledRejection', onUnhandled);

const watermark = (k: number): Message => ({ type: 'Watermark', executed: [k, 0, 0] });
const seqOf = (m: Message): number => (m.type === 'Watermark' ? m.executed[0] : -1);

interface Agent {
  key: PrivateKey;
  node: CoveyNode;
  rpc: ConsensusRpc;
  registry: Registry;
  got: { from: number; msg: Message }[];
  port: number;
}

async function counter(a: Agent, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = a.registry.getSingleMetric(name);
  assert.ok(m, `metric ${name} exists`);
  const v = (await m.get()).values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value ?? 0;
}

const submitted: Command[] = [];
const onSubmit = async (command: Command): Promise<CommandResult> => {
  submitted.push(command);
  if (command.op === 'get' && command.key === 'boom') throw new Error('replica is overloaded');
  return { ok: true, value: `seen ${command.requestId}` };
};

let voters: string[] = [];
const agents: Agent[] = [];
const extra: CoveyNode[] = [];

async function startAgent(i: number, key: PrivateKey, port = 0, registry = new Registry()): Promise<Agent> {
  const node = await createCoveyNode({ privateKey: key, listen: [`/ip4/127.0.0.1/tcp/${port}`] });
  const got: Agent['got'] = [];
  const rpc = new ConsensusRpc({
    node, voters, self: i, logger, registry, frameBytesMax,
    onMessage: (from, msg) => got.push({ from, msg }),
    onSubmit: i === 2 ? undefined : onSubmit,
  });
  await rpc.start();
  const actualPort = node.getMultiaddrs()[0].nodeAddress().port;
  return { key, node, rpc, registry, got, port: actualPort };
}

/** Lets every node know the others' addresses (the PeerKeeper's job in the agent). */
async function introduce(): Promise<void> {
  for (const a of agents) {
    for (const b of agents) {
      if (a !== b) await a.node.peerStore.merge(b.node.peerId, { multiaddrs: b.node.getMultiaddrs() });
    }
  }
}

before(async () => {
  const keys = await Promise.all([0, 1, 2].map(() => generateIdentityKey()));
  const { peerIdFromPrivateKey } = await import('@libp2p/peer-id');
  voters = keys.map((k) => peerIdFromPrivateKey(k).toString());
  for (let i = 0; i < n; i++) agents.push(await startAgent(i, keys[i]));
  await introduce();
});

after(async () => {
  for (const a of agents) {
    await a.rpc.stop();
    await a.node.stop();
  }
  await Promise.all(extra.map((x) => x.stop()));
  process.off('unhandledRejection', onUnhandled);
});

function send(from: number, to: number, msgs: Message[]): void {
  agents[from].rpc.send(msgs.map((msg): Envelope => ({ from, to, msg })));
}

/** Writes raw bytes on a fresh consensus stream from `node` to agent 0, then closes it. */
async function writeRaw(node: CoveyNode, chunks: Uint8Array[]): Promise<void> {
  const stream: Stream = await node.dialProtocol(agents[0].node.peerId, epaxosProtocol);
  await pipe(chunks, stream.sink).catch(() => {});
  await stream.close().catch(() => {});
}

function lpFrame(bytes: Uint8Array): Uint8Array {
  return lp.encode.single(bytes).subarray();
}

describe('ConsensusRpc', () => {
  it('delivers messages in order per peer, one frame per turn', async () => {
    const a0 = agents[0];
    const framesBefore = await counter(agents[1], 'covey_rpc_frames_received_total');
    // One turn: three send calls, ten messages to voter 1 and one to voter 2, and one to self.
    send(0, 1, [watermark(1), watermark(2), watermark(3)]);
    send(0, 1, [4, 5, 6, 7].map(watermark));
    send(0, 2, [watermark(100)]);
    send(0, 0, [watermark(999)]); // to self: the caller's to deliver, skipped here
    send(0, 1, [8, 9, 10].map(watermark));
    await waitFor('voter 1 to get 10 messages', () => agents[1].got.length >= 10);
    await waitFor('voter 2 to get 1 message', () => agents[2].got.length >= 1);
    assert.deepEqual(agents[1].got.map((g) => g.from), new Array(10).fill(0));
    assert.deepEqual(agents[1].got.map((g) => seqOf(g.msg)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(await counter(agents[1], 'covey_rpc_frames_received_total') - framesBefore, 1, 'one turn, one frame');
    assert.deepEqual(agents[2].got, [{ from: 0, msg: watermark(100) }]);
    assert.equal(a0.got.length, 0);

    // Many turns: order kept across frames.
    agents[1].got.length = 0;
    for (let k = 1; k <= 200; k++) {
      send(0, 1, [watermark(k)]);
      if (k % 7 === 0) await new Promise((r) => setImmediate(r));
    }
    await waitFor('200 messages', () => agents[1].got.length >= 200);
    assert.deepEqual(agents[1].got.map((g) => seqOf(g.msg)), Array.from({ length: 200 }, (_, i) => i + 1));
    assert.deepEqual(agents[0].rpc.connectedVoters(), [1, 2]);
    assert.ok(await counter(a0, 'covey_rpc_messages_sent_total') >= 211);
  });

  it('forwards a submitted command to a voter and returns its result', async () => {
    const cmd: Command = { clientId: 'c1', requestId: 7, timestampMs: 1, op: 'put', key: 'k', value: 'v' };
    const r = await agents[2].rpc.submit(0, cmd);
    assert.deepEqual(r, { ok: true, value: 'seen 7' });
    assert.deepEqual(submitted.at(-1), cmd);
    const boom: Command = { clientId: 'c1', requestId: 8, timestampMs: 1, op: 'get', key: 'boom' };
    await assert.rejects(agents[2].rpc.submit(1, boom), /voter 1: refused: replica is overloaded/);
    // Voter 2 does not serve submissions.
    await assert.rejects(agents[0].rpc.submit(2, cmd), /voter 2: refused: .*not a voter/);
    await assert.rejects(agents[0].rpc.submit(0, cmd), /not another voter/);
    await assert.rejects(agents[2].rpc.submit(0, cmd, AbortSignal.abort(new Error('user gave up'))), /voter 0: aborted by the caller/);
  });

  it('drops every kind of bad frame, counts it by reason, and keeps working', async () => {
    const a0 = agents[0];
    const from1 = agents[1].node; // a voter's node, so the sender is known and only the bytes are bad
    const before = async (reason: string) => counter(a0, 'covey_rpc_frames_dropped_total', { reason });
    const base = {
      malformed: await before('malformed'), invalid: await before('invalid'),
      oversized: await before('oversized'), truncated: await before('truncated'),
    };
    const delivered = a0.got.length;

    // garbage bytes, and a known field with the wrong wire type (Frame.messages as a varint)
    await writeRaw(from1, [lpFrame(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3])), lpFrame(new Uint8Array([0x08, 0x01]))]);
    // invalid per validateMessage: a PreAccept for an instance of voter 0, claimed by voter 1
    const pre: Message = {
      type: 'PreAccept', id: instanceId(5, 0),
      cmd: { commands: [{ clientId: 'c', requestId: 1, timestampMs: 1, op: 'get', key: 'k' }] }, dep: { ids: [], floor: [0, 0, 0] },
    };
    // and a Watermark of the wrong length
    await writeRaw(from1, [lpFrame(encodeFrame([pre])), lpFrame(encodeFrame([{ type: 'Watermark', executed: [1] }]))]);
    // oversized: the length prefix alone is refused, before the bytes arrive
    await writeRaw(from1, [lp.encode.single(new Uint8Array(frameBytesMax + 1)).subarray()]);
    // truncated: a prefix promising 100 bytes, then 10 and the end of the stream
    await writeRaw(from1, [lpFrame(new Uint8Array(100)).subarray(0, 11)]);

    const deadline = Date.now() + 20_000;
    for (;;) {
      const now = {
        malformed: await before('malformed'), invalid: await before('invalid'),
        oversized: await before('oversized'), truncated: await before('truncated'),
      };
      const diff = Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - base[k as keyof typeof base]]));
      if (JSON.stringify(diff) === JSON.stringify({ malformed: 2, invalid: 2, oversized: 1, truncated: 1 })) break;
      if (Date.now() > deadline) assert.fail(`drops by reason: ${JSON.stringify(diff)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(a0.got.length, delivered, 'no bad frame reached onMessage');
    // A valid frame on a raw stream is delivered, then the normal path still works.
    await writeRaw(from1, [lpFrame(encodeFrame([watermark(41)]))]);
    send(1, 0, [watermark(42)]);
    await waitFor('good frames after the bad ones', () => a0.got.length >= delivered + 2);
    assert.deepEqual(a0.got.slice(delivered).map((g) => [g.from, seqOf(g.msg)]).sort(), [[1, 41], [1, 42]]);
    assert.deepEqual(unhandled, []);
  });

  it("drops a non-voter's frames", async () => {
    const stranger = await createCoveyNode({ privateKey: await generateIdentityKey(), listen: ['/ip4/127.0.0.1/tcp/0'] });
    extra.push(stranger);
    await stranger.peerStore.merge(agents[0].node.peerId, { multiaddrs: agents[0].node.getMultiaddrs() });
    const base = await counter(agents[0], 'covey_rpc_frames_dropped_total', { reason: 'non_voter' });
    const delivered = agents[0].got.length;
    await writeRaw(stranger, [lpFrame(encodeFrame([watermark(1)])), lpFrame(encodeFrame([watermark(2)]))]);
    const deadline = Date.now() + 20_000;
    while (await counter(agents[0], 'covey_rpc_frames_dropped_total', { reason: 'non_voter' }) - base < 2) {
      if (Date.now() > deadline) assert.fail('non-voter frames were not counted');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(agents[0].got.length, delivered);
    assert.deepEqual(agents[0].rpc.connectedVoters().includes(3), false);
  });

  /** A voter whose only peer (the ghost, at a free port) is down; `ghost()` brings the peer up. */
  async function lonelyVoter(): Promise<{ node: CoveyNode; voters: string[]; ghost: () => Promise<{ got: number[]; stop: () => Promise<void> }> }> {
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id');
    const { freePorts } = await import('../ports.ts');
    const { multiaddr } = await import('@multiformats/multiaddr');
    const [port] = await freePorts(1);
    const lonelyKey = await generateIdentityKey();
    const ghostKey = await generateIdentityKey();
    const voters = [peerIdFromPrivateKey(lonelyKey).toString(), peerIdFromPrivateKey(ghostKey).toString()];
    const node = await createCoveyNode({ privateKey: lonelyKey, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false });
    extra.push(node);
    const ghostAddr = `/ip4/127.0.0.1/tcp/${port}`;
    await node.peerStore.merge(peerIdFromPrivateKey(ghostKey), { multiaddrs: [multiaddr(ghostAddr)] });
    const ghost = async (): Promise<{ got: number[]; stop: () => Promise<void> }> => {
      const ghostNode = await createCoveyNode({ privateKey: ghostKey, listen: [ghostAddr], mdns: false });
      extra.push(ghostNode);
      const got: number[] = [];
      const rpc = new ConsensusRpc({ node: ghostNode, voters, self: 1, logger, onMessage: (_from, msg) => { if (msg.type === 'Watermark') got.push(msg.executed[0]); } });
      await rpc.start();
      await ghostNode.dial(node.getMultiaddrs()[0]); // ends the lonely writer's redial backoff (its connect event)
      return { got, stop: () => rpc.stop() };
    };
    return { node, voters, ghost };
  }

  /** Sends watermarks seq `from`..`to`−1 to voter 1, pausing `pauseMs` after each (0: one event-loop turn). */
  async function sendWatermarks(rpc: ConsensusRpc, from: number, to: number, pauseMs = 0): Promise<void> {
    for (let k = from; k < to; k++) {
      rpc.send([{ from: 0, to: 1, msg: { type: 'Watermark', executed: [k, 0] } }]);
      await new Promise((r) => (pauseMs === 0 ? setImmediate(r) : setTimeout(r, pauseMs)));
    }
  }

  async function sendDropped(registry: Registry, reason: string): Promise<number> {
    return (await registry.getSingleMetric('covey_rpc_send_frames_dropped_total')!.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  }

  it('bounds the queue to an unreachable peer, dropping the oldest frames', async () => {
    // The peer is down while 20 frames queue for it (bound 5); when it comes back it must get
    // the newest five, 15..19: consensus retransmits what is lost, and the newest state matters.
    const registry = new Registry();
    const { node, voters, ghost } = await lonelyVoter();
    // The ghost comes back after the writer's redial backoff; frames must not go stale meanwhile.
    const rpc = new ConsensusRpc({ node, voters, self: 0, logger, registry, queueFramesMax: 5, queueFrameStaleMs: 600_000, onMessage: () => {} });
    await rpc.start();
    await sendWatermarks(rpc, 0, 20);
    assert.equal(await sendDropped(registry, 'queue_full'), 15);
    const back = await ghost();
    await waitFor('the queued frames to arrive', () => back.got.length >= 5);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(back.got, [15, 16, 17, 18, 19]);
    await back.stop();
    await rpc.stop();
  });

  it('drops frames that waited longer than the stale bound for an unreachable peer, and sends the fresh ones', async () => {
    // Issue 16: after a 20 s split every link flushed its backlog at the heal, stale watermarks
    // among it, and voters that had just caught up by a snapshot sent snapshots back.
    const registry = new Registry();
    const { node, voters, ghost } = await lonelyVoter();
    const staleMs = 1000;
    const rpc = new ConsensusRpc({ node, voters, self: 0, logger, registry, queueFrameStaleMs: staleMs, onMessage: () => {} });
    await rpc.start();
    await sendWatermarks(rpc, 0, 5);
    await new Promise((r) => setTimeout(r, staleMs + 200));
    await sendWatermarks(rpc, 5, 8);
    const back = await ghost();
    await waitFor('the fresh frames to arrive', () => back.got.length >= 3);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(back.got, [5, 6, 7], 'only the frames queued within the bound');
    assert.equal(await sendDropped(registry, 'stale'), 5);
    await back.stop();
    await rpc.stop();
  });

  it('backs off redialling an unreachable peer however often the core sends to it', async () => {
    // Woken by every send, the writer redialled ~20 times a second through a whole partition.
    const { node, voters } = await lonelyVoter();
    let dials = 0;
    const dialProtocol = node.dialProtocol.bind(node);
    node.dialProtocol = ((...args: Parameters<typeof dialProtocol>) => { dials++; return dialProtocol(...args); }) as typeof node.dialProtocol;
    const rpc = new ConsensusRpc({ node, voters, self: 0, logger, onMessage: () => {} });
    await rpc.start();
    await sendWatermarks(rpc, 0, 60, 20); // 1.2 s of a core retransmitting every 20 ms
    // Backoff 100 ms, doubling (jittered): a handful of dials in 1.2 s, not one per send.
    assert.ok(dials >= 1 && dials <= 10, `${dials} dials for 60 sends`);
    await rpc.stop();
  });

  it('a restarted peer gets messages again', async () => {
    const old = agents[1];
    await old.rpc.stop();
    await old.node.stop();
    send(0, 1, [watermark(500)]); // lost or delivered later: consensus retransmits
    const fresh = await startAgent(1, old.key, old.port, old.registry);
    agents[1] = fresh;
    // Voter 0 keeps sending (as the core retransmits) until the new process hears it.
    const deadline = Date.now() + 30_000;
    let k = 600;
    while (!fresh.got.some((g) => g.from === 0)) {
      if (Date.now() > deadline) assert.fail('the restarted voter never got a message');
      send(0, 1, [watermark(k++)]);
      await new Promise((r) => setTimeout(r, 100));
    }
    // And it can send back.
    const before = agents[0].got.length;
    send(1, 0, [watermark(700)]);
    await waitFor('voter 0 to hear the restarted voter', () => agents[0].got.length > before);
    assert.deepEqual(agents[0].got.at(-1), { from: 1, msg: watermark(700) });
    assert.deepEqual(unhandled, []);
  });
});
