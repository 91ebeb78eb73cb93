// The libp2p membership driver on real nodes: 4 agents in one process on 127.0.0.1 (mDNS off),
// joining through one seed, with a fast probe period. Every wait is on a condition.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PrivateKey, Stream } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import * as lp from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createCoveyNode, generateIdentityKey, type CoveyNode } from '../node.ts';
import { MembershipDriver, membershipProtocol, membershipTopic, parseAddr, type MemberInfo, type MembershipTuning } from './driver.ts';
import type { MemberEvent, Meta } from './index.ts';
import { waitFor } from '../testing/eventually.ts';

const logger = pino({ level: process.env.COVEY_TEST_LOG_LEVEL ?? 'silent' });
const swarm = 'test-swarm';
const n = 4;
const tuning: MembershipTuning = {
  probeIntervalMs: 300, probeTimeoutMs: 100, indirectTimeoutMs: 150, gossipIntervalMs: 100, pushPullIntervalMs: 2000,
};
const voterMeta: Meta = { role: 'voter', devices: [], plugins: [], battery: null };
const workerMeta: Meta = { role: 'worker', devices: ['camera'], plugins: [], battery: 0.9 };

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => { unhandled.push(e); };
process.on('unhandledRejection', onUnhandled);

interface Agent {
  key: PrivateKey;
  node: CoveyNode;
  driver: MembershipDriver;
  registry: Registry;
  events: MemberEvent[];
  port: number;
  stopped: boolean;
}

const agents: Agent[] = [];
const extra: CoveyNode[] = [];
let seeds: string[] = [];

async function startAgent(key: PrivateKey, port: number, meta: Meta): Promise<Agent> {
  const node = await createCoveyNode({ privateKey: key, listen: [`/ip4/127.0.0.1/tcp/${port}`] });
  const registry = new Registry();
  const events: MemberEvent[] = [];
  const driver = new MembershipDriver({ node, swarm, logger, registry, meta, seeds, tuning, onEvent: (e) => events.push(e) });
  await driver.start();
  return { key, node, driver, registry, events, port: node.getMultiaddrs()[0].nodeAddress().port, stopped: false };
}

const live = (): Agent[] => agents.filter((a) => !a.stopped);

function view(a: Agent, id: string): MemberInfo | undefined {
  return a.driver.members().find((m) => m.id === id);
}

async function metricValue(a: Agent, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = a.registry.getSingleMetric(name);
  assert.ok(m, `metric ${name} exists`);
  return (await m.get()).values
    .filter((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l))
    .reduce((s, x) => s + x.value, 0);
}

/** Every running agent lists every running agent (itself included) alive. */
function allAlive(): boolean {
  const ids = live().map((a) => a.driver.id);
  return live().every((a) => ids.every((id) => view(a, id)?.state === 'alive'));
}

before(async () => {
  const keys = await Promise.all(Array.from({ length: n }, () => generateIdentityKey()));
  // Agent 0 is the seed; the others know only its multiaddr (…/p2p/<id>), as from a swarm config.
  const first = await startAgent(keys[0], 0, voterMeta);
  agents.push(first);
  seeds = [first.node.getMultiaddrs()[0].toString()];
  for (let i = 1; i < n; i++) agents.push(await startAgent(keys[i], 0, i === 1 ? voterMeta : workerMeta));
});

after(async () => {
  for (const a of live()) {
    await a.driver.stop({ leave: false });
    await a.node.stop();
  }
  await Promise.all(extra.map((x) => x.stop()));
  process.off('unhandledRejection', onUnhandled);
  if (process.env.DEBUG_HANDLES === '1') setTimeout(() => console.log(process.getActiveResourcesInfo()), 2000).unref();
});

describe('MembershipDriver', () => {
  it('joins every agent through one seed; all list each other alive', async () => {
    await waitFor('all agents alive everywhere', allAlive);
    // A member may be known through gossip before it has sent this agent anything itself.
    await waitFor('every agent heard from every other', () => agents.every((a) => a.driver.members().every((m) => m.lastHeardMsAgo !== null)));
    for (const a of agents) {
      const ms = a.driver.members();
      assert.equal(ms.length, n);
      assert.equal(a.driver.status, 'joined');
      for (const m of ms) {
        if (m.id === a.driver.id) assert.equal(m.lastHeardMsAgo, 0);
        else assert.ok(m.lastHeardMsAgo !== null && m.lastHeardMsAgo < 20_000, `heard from ${m.id}`);
        // Addresses are the members' listen multiaddrs: what lets agent 3 dial agent 2 without discovery.
        assert.ok(parseAddr(m.addr, m.id).length > 0, `addr ${m.addr} is dialable`);
      }
      assert.deepEqual(view(a, agents[1].driver.id)?.meta, voterMeta);
      assert.deepEqual(view(a, agents[2].driver.id)?.meta, workerMeta);
    }
    // Agents 2 and 3 learnt each other through the seed only, and talk directly.
    assert.ok(agents[3].node.getConnections(agents[2].node.peerId).length > 0 || agents[2].node.getConnections(agents[3].node.peerId).length > 0);
    // The gauge follows the table (a false suspicion on a loaded machine may be in flight: compare, not assume).
    const gauge = await metricValue(agents[0], 'covey_membership_members', { state: 'alive' });
    assert.equal(gauge, agents[0].driver.members().filter((m) => m.state === 'alive').length);
    assert.ok(gauge >= 2);
    assert.ok(await metricValue(agents[0], 'covey_membership_frames_sent_total', { channel: 'stream', type: 'ping' }) > 0);
    assert.ok(await metricValue(agents[0], 'covey_membership_frames_received_total', { channel: 'stream', type: 'ack' }) > 0);
    assert.ok(agents[3].events.some((e) => e.type === 'join' && e.member.id === agents[2].driver.id));
  });

  it('spreads a metadata update; refuses an over-size one', async () => {
    const a = agents[2];
    const before = a.driver.incarnation;
    const meta: Meta = { role: 'worker', devices: ['camera', 'gps'], plugins: ['patrol'], battery: 0.42 };
    assert.deepEqual(a.driver.setMeta(meta), { ok: true });
    assert.ok(a.driver.incarnation > before);
    await waitFor('the new meta everywhere', () => live().every((b) => {
      const v = view(b, a.driver.id);
      return v !== undefined && v.incarnation > before && v.meta.battery === 0.42 && v.meta.plugins[0] === 'patrol';
    }));
    // 'update' normally; 'alive' or 'join' when a false suspicion on a loaded machine was in flight.
    for (const b of live()) if (b !== a) assert.ok(b.events.some((e) => e.type !== 'suspect' && e.type !== 'dead' && e.member.id === a.driver.id && e.member.meta.battery === 0.42));
    const big = a.driver.setMeta({ role: 'worker', devices: [], plugins: Array.from({ length: 30 }, (_, i) => `plugin-with-a-long-name-${i}`), battery: null });
    assert.equal(big.ok, false);
    assert.match(big.ok ? '' : big.reason, /512-byte limit/);
  });

  it('drops garbage, foreign-swarm and oversized frames, counts them, and keeps working', async () => {
    const target = agents[0];
    const x = await createCoveyNode({ privateKey: await generateIdentityKey(), listen: ['/ip4/127.0.0.1/tcp/0'] });
    extra.push(x);
    const addr = multiaddr(seeds[0]);
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    const frame = (b: Uint8Array) => lp.encode.single(b, { maxDataLength: 64 * 1024 * 1024 }).subarray();
    const writeRaw = async (chunks: Uint8Array[]) => {
      const stream: Stream = await x.dialProtocol(addr, membershipProtocol);
      // The driver aborts a stream whose framing is lost: the write may then never settle.
      await Promise.race([pipe(chunks, stream.sink).catch(() => {}), new Promise((r) => setTimeout(r, 1000))]);
      await stream.close({ signal: AbortSignal.timeout(1000) }).catch(() => stream.abort(new Error('test done')));
    };
    const dropped = (reason: string) => metricValue(target, 'covey_membership_frames_dropped_total', { reason });
    const before = {
      malformed: await dropped('malformed'), foreign: await dropped('foreign_swarm'), invalid: await dropped('invalid'),
      oversized: await dropped('oversized'), truncated: await dropped('truncated'), notSelf: await dropped('not_self'),
    };
    const gossipFromX = await metricValue(target, 'covey_membership_frames_received_total', { channel: 'stream', type: 'gossip' });

    await writeRaw([
      frame(new Uint8Array([0xff, 0x00, 0x13, 0x37])), // not UTF-8
      frame(enc([1, 2, 3])), // not an envelope
      frame(enc({ swarm, msg: { type: 'gossip', gossip: [] }, extra: 1 })), // unknown field
      frame(enc({ swarm: 'other-swarm', msg: { type: 'gossip', gossip: [] } })),
      frame(enc({ swarm, msg: { type: 'ping', seq: 1 } })), // fails the core's validator
      frame(enc({ swarm, msg: { type: 'gossip', gossip: [], pad: 'x'.repeat(100_000) } })), // > 64 KiB, not a pushPull
      frame(enc({ swarm, msg: { type: 'gossip', gossip: [] } })), // valid: still accepted on the same stream
    ]);
    await writeRaw([new Uint8Array([100]), new Uint8Array(10)]); // a length of 100, then 10 bytes: truncated
    await writeRaw([frame(new Uint8Array(5 * 1024 * 1024))]); // over the pushPull bound: oversized, stream closed

    const counts = async () => ({
      malformed: await dropped('malformed') - before.malformed, foreign: await dropped('foreign_swarm') - before.foreign,
      invalid: await dropped('invalid') - before.invalid, oversized: await dropped('oversized') - before.oversized,
      truncated: await dropped('truncated') - before.truncated,
    });
    let c = await counts();
    const deadline = Date.now() + 10_000;
    while ((c.malformed < 3 || c.foreign < 1 || c.invalid < 1 || c.oversized < 2 || c.truncated < 1) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      c = await counts();
    }
    assert.deepEqual(c, { malformed: 3, foreign: 1, invalid: 1, oversized: 2, truncated: 1 });
    assert.ok(await metricValue(target, 'covey_membership_frames_received_total', { channel: 'stream', type: 'gossip' }) > gossipFromX);
    // The stranger sent nothing that makes it a member.
    assert.equal(view(target, x.peerId.toString()), undefined);

    // The topic: garbage and a statement about someone else are dropped too.
    const topic = membershipTopic(swarm);
    x.services.pubsub.subscribe(topic);
    await waitFor('the stranger sees the seed on the topic', () => x.services.pubsub.getSubscribers(topic).some((p) => p.equals(target.node.peerId)));
    await x.services.pubsub.publish(topic, new Uint8Array([1, 2, 3]));
    const other = agents[1].driver.id;
    await x.services.pubsub.publish(topic, enc({ swarm, msg: { type: 'gossip', gossip: [{ kind: 'dead', id: other, incarnation: 99, from: other, sig: 'A'.repeat(86) }] } }));
    await x.services.pubsub.publish(topic, enc({ swarm: 'other-swarm', msg: { type: 'gossip', gossip: [] } }));
    const dl = Date.now() + 10_000;
    let t = { m: 0, s: 0, f: 0 };
    while (Date.now() < dl) {
      t = { m: await dropped('malformed') - before.malformed - 3, s: await dropped('not_self') - before.notSelf, f: await dropped('foreign_swarm') - before.foreign - 1 };
      if (t.m >= 1 && t.s >= 1 && t.f >= 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(t, { m: 1, s: 1, f: 1 });

    // Still working: nobody was hurt by the forged leave, and a new update spreads.
    await waitFor('everyone still alive everywhere', allAlive);
    assert.deepEqual(target.driver.setMeta({ ...voterMeta, plugins: ['still-here'] }), { ok: true });
    await waitFor('the seed\'s update everywhere', () => live().every((b) => view(b, target.driver.id)?.meta.plugins[0] === 'still-here'));
    await x.stop();
  });

  it('declares a hard-stopped member dead (no leave sent)', async () => {
    const victim = agents[3];
    const id = victim.driver.id;
    await victim.node.stop();
    await victim.driver.stop({ leave: false });
    victim.stopped = true;
    const t0 = Date.now();
    await waitFor('the crashed member dead everywhere', () => live().every((a) => view(a, id)?.state === 'dead'));
    for (const a of live()) assert.ok(a.events.some((e) => e.type === 'dead' && e.member.id === id));
    assert.ok(Date.now() - t0 < 15_000);
    assert.ok(await metricValue(agents[0], 'covey_membership_members', { state: 'dead' }) >= 1);
  });

  it('takes a restarted member (same key, same port) back alive with a higher incarnation', async () => {
    const old = agents[3];
    const id = old.driver.id;
    const deadAt = Math.max(...live().map((a) => view(a, id)!.incarnation));
    const back = await startAgent(old.key, old.port, workerMeta);
    agents[3] = back;
    assert.equal(back.driver.id, id);
    await waitFor('the restarted member alive everywhere', () => live().every((a) => {
      const v = view(a, id);
      return v !== undefined && v.state === 'alive' && v.incarnation > deadAt;
    }));
    await waitFor('the restarted member sees everyone', allAlive);
    for (const a of live()) if (a !== back) assert.ok(a.events.some((e) => e.type === 'join' && e.member.id === id && e.member.incarnation > deadAt));
  });

  it('shows a gracefully stopped member as left', async () => {
    const leaver = agents[2];
    const id = leaver.driver.id;
    const seen = new Map(agents.map((a) => [a, a.events.length]));
    await leaver.driver.stop();
    assert.equal(leaver.driver.status, 'left');
    leaver.stopped = true;
    await waitFor('the member left everywhere', () => live().every((a) => view(a, id)?.state === 'left'));
    await leaver.node.stop();
    for (const a of live()) {
      const since = a.events.slice(seen.get(a));
      assert.ok(since.some((e) => e.type === 'leave' && e.member.id === id));
      assert.ok(!since.some((e) => e.type === 'dead' && e.member.id === id), 'left, not dead');
    }
    assert.deepEqual(unhandled, []);
  });
});
