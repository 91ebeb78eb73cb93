// /covey/join/1.0.0 between real libp2p nodes on 127.0.0.1: an old voter gives a new voter the
// state at the change (docs/reconfiguration.md rule 6), the new voter acks once onOffer resolved;
// refusals stop the sender; unreachable or restarted receivers get the offer again; garbage is
// refused, counted and logged once, and never throws.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import * as lp from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { createCoveyNode, generateIdentityKey, type CoveyNode } from '../node.ts';
import { freePorts } from '../ports.ts';
import { waitFor } from '../testing/eventually.ts';
import {
  JoinTransfer, joinChangeCharsMax, joinProtocol, validateJoinOffer, type JoinAck, type JoinOffer,
} from './join-transfer.ts';

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => { unhandled.push(e); };
process.on('unhandledRejection', onUnhandled);

const offerBytesMax = 64 * 1024;

interface Agent {
  key: PrivateKey;
  id: string;
  port: number;
  node: CoveyNode;
  join: JoinTransfer;
  registry: Registry;
  /** Offers that reached onOffer, after it resolved ("persisted"). */
  got: { from: string; offer: JoinOffer }[];
  warnings: { msg: string; peer?: string; reason?: string; detail?: string }[];
}

/** Voters of epoch 0 each agent trusts as senders of the state at a change (the agent's rule, made up here). */
const trustedSenders = new Set<string>();
const agents: Agent[] = [];
let ghost = ''; // a voter id of no running node, to make voter lists of 3

async function startAgent(key: PrivateKey, port = 0, persistMs = 0): Promise<Agent> {
  const [free] = port === 0 ? await freePorts(1) : [port];
  const node = await createCoveyNode({ privateKey: key, listen: [`/ip4/127.0.0.1/tcp/${free}`] });
  const id = node.peerId.toString();
  const warnings: Agent['warnings'] = [];
  const logger: Logger = pino({ level: 'warn' }, { write: (s: string) => { warnings.push(JSON.parse(s)); } });
  const registry = new Registry();
  const got: Agent['got'] = [];
  const join = new JoinTransfer({
    node, logger, registry, offerBytesMax,
    accept: (from, offer) => {
      if (!trustedSenders.has(from)) return `${from} is not a voter of epoch ${offer.epoch - 1} known here`;
      if (!offer.voters.includes(id)) return `this agent is not a voter of epoch ${offer.epoch}`;
      return null;
    },
    onOffer: async (from, offer) => {
      await new Promise((r) => setTimeout(r, persistMs)); // the fsync
      got.push({ from, offer });
    },
  });
  await join.start();
  return { key, id, port: free, node, join, registry, got, warnings };
}

async function stopAgent(a: Agent): Promise<void> {
  await a.join.stop();
  await a.node.stop();
}

/** Tells `a` where `b` listens (PeerKeeper's job in the agent), also while `b` is down. */
async function introduce(a: Agent, b: { id: string; key: PrivateKey; port: number }): Promise<void> {
  await a.node.peerStore.merge(peerIdFromPrivateKey(b.key), { multiaddrs: [multiaddr(`/ip4/127.0.0.1/tcp/${b.port}`)] });
}

async function count(a: Agent, name: string, outcome: string): Promise<number> {
  const m = a.registry.getSingleMetric(name);
  assert.ok(m, name);
  return (await m.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}
const sent = (a: Agent, outcome: string) => count(a, 'covey_join_offers_sent_total', outcome);
const received = (a: Agent, outcome: string) => count(a, 'covey_join_offers_received_total', outcome);

const offerFor = (epoch: number, voters: string[], machine: unknown = { kv: [['k', `v${epoch}`]] }): JoinOffer =>
  ({ epoch, voters, change: `${epoch * 10}.0`, machine });

/** Writes `chunks` on a fresh join stream and returns the ack it got, if any. */
async function raw(from: CoveyNode, to: Agent, chunks: Uint8Array[]): Promise<JoinAck | null> {
  const stream = await from.dialProtocol(to.node.peerId, joinProtocol);
  return pipe(chunks, stream, (s) => lp.decode(s), async (s) => {
    for await (const c of s) return JSON.parse(new TextDecoder().decode(c.subarray())) as JoinAck;
    return null;
  }).catch(() => null);
}

const utf8 = (x: unknown): Uint8Array => new TextEncoder().encode(typeof x === 'string' ? x : JSON.stringify(x));
const frame = (bytes: Uint8Array): Uint8Array => lp.encode.single(bytes).subarray();

let sender: Agent; // an old voter: trusted
let joiner: Agent; // the new voter
let stranger: Agent; // not trusted

before(async () => {
  ghost = peerIdFromPrivateKey(await generateIdentityKey()).toString();
  sender = await startAgent(await generateIdentityKey());
  joiner = await startAgent(await generateIdentityKey(), 0, 100);
  stranger = await startAgent(await generateIdentityKey());
  agents.push(sender, joiner, stranger);
  trustedSenders.add(sender.id);
  for (const a of agents) for (const b of agents) if (a !== b) await introduce(a, b);
});

after(async () => {
  for (const a of agents) await stopAgent(a);
  process.off('unhandledRejection', onUnhandled);
});

describe('JoinTransfer', () => {
  it('validates an offer\'s shape', () => {
    const v = [sender.id, joiner.id, ghost];
    assert.deepEqual(validateJoinOffer(offerFor(1, v)), { ok: true, offer: offerFor(1, v) });
    assert.equal(validateJoinOffer({ ...offerFor(1, v), extra: 1 }).ok, true, 'unknown fields are dropped, for later versions');
    const bad: [unknown, RegExp][] = [
      [{ ...offerFor(1, v), epoch: 0 }, /^epoch:/],
      [{ ...offerFor(1, v), epoch: 1.5 }, /^epoch:/],
      [{ ...offerFor(1, v), epoch: 2 ** 53 }, /^epoch:/],
      [{ ...offerFor(1, v), epoch: '1' }, /^epoch:/],
      [offerFor(1, [...v, stranger.id]), /^voters: must hold 3, 5, 7 voters/],
      [offerFor(1, [sender.id, sender.id, ghost]), /^voters: must not list a voter twice/],
      [offerFor(1, [sender.id, 'not-a-peer', ghost]), /^voters\.1: must be a libp2p peer id/],
      [{ ...offerFor(1, v), change: '' }, /^change:/],
      [{ ...offerFor(1, v), change: '1'.repeat(joinChangeCharsMax + 1) }, /^change:/],
      [{ epoch: 1, voters: v, change: '1.0' }, /^machine:/],
      [null, /^offer:/],
      [[1, 2], /^offer:/],
    ];
    for (const [x, why] of bad) {
      const r = validateJoinOffer(x);
      assert.equal(r.ok, false, JSON.stringify(x));
      if (!r.ok) assert.match(r.reason, why);
    }
    // The sender checks what it sends: a bad offer is the caller's bug.
    assert.throws(() => sender.join.offer(joiner.id, { ...offerFor(1, v), epoch: 0 }), RangeError);
    assert.throws(() => sender.join.offer(stranger.id, offerFor(1, v)), /is not a voter of epoch 1/);
    assert.throws(() => sender.join.offer(sender.id, offerFor(1, v)), /to this node itself/);
    assert.throws(() => sender.join.offer(joiner.id, offerFor(1, v, { n: 1n })), /not JSON/);
    assert.deepEqual(sender.join.pending(), []);
  });

  it('an offer reaches the new voter and is acked once onOffer resolved', async () => {
    const offer = offerFor(1, [sender.id, joiner.id, ghost]);
    assert.equal(sender.join.offer(joiner.id, offer), true);
    assert.deepEqual(sender.join.pending(), [joiner.id]);
    assert.equal(sender.join.offer(joiner.id, offer), true, 'the same epoch again: still pending, not a second offer');
    await waitFor('the ack', () => sender.join.pending().length === 0);
    // onOffer (100 ms of "fsync") had resolved when the sender learned of the ack.
    assert.deepEqual(joiner.got, [{ from: sender.id, offer }]);
    assert.equal(await sent(sender, 'ok'), 1);
    assert.equal(await received(joiner, 'ok'), 1);
    // A duplicate offer of an epoch already taken reaches onOffer again and is acked ok again.
    sender.join.offer(joiner.id, offer);
    await waitFor('the second ack', () => sender.join.pending().length === 0);
    assert.equal(joiner.got.length, 2);
    assert.equal(await sent(sender, 'ok'), 2);
  });

  it('a refused offer stops the sender, which logs the reason; a non-accepted sender never reaches onOffer', async () => {
    const before = joiner.got.length;
    stranger.join.offer(joiner.id, offerFor(1, [stranger.id, joiner.id, ghost]));
    await waitFor('the refusal', () => stranger.join.pending().length === 0);
    assert.equal(await sent(stranger, 'refused'), 1);
    assert.equal(await received(joiner, 'refused'), 1);
    const logged = stranger.warnings.find((w) => w.msg.includes('refused the state at the change'));
    assert.match(logged?.reason ?? '', /is not a voter of epoch 0 known here/);
    // A trusted sender's offer that leaves the receiver out is refused too (JoinTransfer.offer
    // would not send it, so it goes on a raw stream).
    const ack = await raw(sender.node, joiner, [frame(utf8(offerFor(2, [sender.id, stranger.id, ghost])))]);
    assert.deepEqual(ack, { ok: false, error: 'this agent is not a voter of epoch 2' });
    // Not retried: after a while, still one refusal sent, and nothing reached the joiner's onOffer.
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(await sent(stranger, 'refused'), 1);
    assert.equal(await received(joiner, 'refused'), 2);
    assert.equal(joiner.got.length, before);
  });

  it('offers again until a receiver that was not reachable at first is up; a newer epoch replaces an older one', async () => {
    const key = await generateIdentityKey();
    const id = peerIdFromPrivateKey(key).toString();
    const [port] = await freePorts(1);
    await introduce(sender, { id, key, port });
    const voters = [sender.id, id, ghost];
    assert.equal(sender.join.offer(id, offerFor(3, voters)), true);
    assert.equal(sender.join.offer(id, offerFor(4, voters)), true, 'a higher epoch replaces the pending one');
    assert.equal(sender.join.offer(id, offerFor(3, voters)), false, 'a lower epoch than the pending one is ignored');
    assert.deepEqual(sender.join.pending(), [id]);
    const errors = await sent(sender, 'error');
    await waitFor('a few failed attempts', async () => (await sent(sender, 'error')) >= errors + 2);
    const late = await startAgent(key, port);
    agents.push(late);
    await waitFor('the late voter took it', () => sender.join.pending().length === 0);
    assert.deepEqual(late.got.map((g) => g.offer.epoch), [4], 'only the newest offer');
    assert.deepEqual(unhandled, []);
  });

  it('offers again after the receiver restarts', async () => {
    const { key, port } = joiner;
    await stopAgent(joiner);
    sender.join.offer(joiner.id, offerFor(5, [sender.id, joiner.id, ghost]));
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(sender.join.pending(), [joiner.id]);
    const fresh = await startAgent(key, port);
    agents[agents.indexOf(joiner)] = fresh;
    joiner = fresh;
    await waitFor('the restarted voter took it', () => sender.join.pending().length === 0);
    assert.deepEqual(fresh.got.map((g) => [g.from, g.offer.epoch]), [[sender.id, 5]]);
  });

  it('cancel and stop end pending offers', async () => {
    const key = await generateIdentityKey();
    const id = peerIdFromPrivateKey(key).toString();
    const [port] = await freePorts(1);
    await introduce(stranger, { id, key, port });
    stranger.join.offer(id, offerFor(1, [stranger.id, id, ghost]));
    assert.deepEqual(stranger.join.pending(), [id]);
    stranger.join.cancel(id);
    assert.deepEqual(stranger.join.pending(), []);
    const extra = await startAgent(await generateIdentityKey());
    agents.push(extra);
    await introduce(extra, { id, key, port });
    extra.join.offer(id, offerFor(1, [extra.id, id, ghost]));
    await extra.join.stop();
    assert.deepEqual(extra.join.pending(), []);
    assert.equal(extra.join.offer(id, offerFor(2, [extra.id, id, ghost])), false, 'stopped');
  });

  it('refuses garbage, counts it, logs it once per peer, and keeps working', async () => {
    const garbage = await startAgent(await generateIdentityKey());
    agents.push(garbage);
    await introduce(garbage, joiner);
    const v = [sender.id, joiner.id, ghost];
    const malformed: Uint8Array[] = [
      Uint8Array.of(0xff, 0xfe, 0x7b, 0x7d), // not UTF-8
      utf8('{"epoch": 1,'), // not JSON
      utf8({ ...offerFor(1, v), epoch: 0 }),
      utf8(offerFor(1, [...v, stranger.id])),
      utf8(offerFor(1, [sender.id, sender.id, ghost])),
      utf8({ ...offerFor(1, v), change: 'x'.repeat(1000) }),
      utf8({ epoch: 1, voters: v, change: '1.0' }),
      utf8('['.repeat(20_000) + ']'.repeat(20_000)),
    ];
    const got = joiner.got.length;
    for (const bytes of malformed) {
      const ack = await raw(garbage.node, joiner, [frame(bytes)]);
      assert.equal(ack?.ok, false);
      assert.match(ack.ok ? '' : ack.error, /^invalid offer: /);
    }
    await raw(garbage.node, joiner, [lp.encode.single(new Uint8Array(offerBytesMax + 1)).subarray()]); // oversized
    await raw(garbage.node, joiner, [frame(new Uint8Array(100)).subarray(0, 11)]); // truncated
    await raw(garbage.node, joiner, []); // no offer at all
    await waitFor('every refusal counted', async () => (await received(joiner, 'invalid')) === malformed.length
      && (await received(joiner, 'oversized')) === 1 && (await received(joiner, 'truncated')) === 2);
    assert.equal(joiner.got.length, got, 'nothing reached onOffer');
    const logged = joiner.warnings.filter((w) => w.msg === 'refused a join offer' && w.peer === garbage.id);
    assert.equal(logged.length, 1, JSON.stringify(logged));
    // Still working.
    sender.join.offer(joiner.id, offerFor(6, v));
    await waitFor('a good offer after the garbage', () => joiner.got.length === got + 1);
    assert.deepEqual(unhandled, []);
  });

  it('instances share a registry\'s counters', () => {
    const registry = new Registry();
    const make = () => new JoinTransfer({ node: sender.node, logger: pino({ level: 'silent' }), registry, accept: () => null, onOffer: async () => {} });
    make();
    assert.doesNotThrow(make);
  });
});
