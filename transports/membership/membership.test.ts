import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Membership } from './membership.ts';
import { BroadcastQueue } from './broadcast.ts';
import { retransmitLimit, suspicionBoundsMs, suspicionTimeoutMs, membershipDefaults, memberlistSuspicionTimeoutMs } from './config.ts';
import { digestSigner } from './statement.ts';
import type { AliveItem, GossipItem, Message, Meta, Ready } from './types.ts';

const meta: Meta = { role: 'worker', devices: [], plugins: [], battery: null };
const signer = digestSigner('test');

function node(id: string, seed = 1): Membership {
  return new Membership({ id, addr: `sim://${id}`, nowMs: 0, seed, signer });
}

/** `id`'s signed alive statement. */
function alive(id: string, incarnation = 0, m: Meta = meta, addr = `sim://${id}`): AliveItem {
  const s = { kind: 'alive', id, addr, incarnation, meta: m } as const;
  return { ...s, sig: signer.sign(s) };
}

function gossipOf(ready: Ready): GossipItem[] {
  return ready.messages.flatMap((o) => ('gossip' in o.msg ? [...o.msg.gossip] : o.msg.type === 'pushPull' ? [] : []));
}

test('suspicion timeout: max with no confirmations, min once k arrive, log-shaped between', () => {
  const { minMs, maxMs } = suspicionBoundsMs({ suspicionMult: 4, suspicionMaxMult: 6, probeIntervalMs: 1000 }, 500);
  assert.equal(Math.round(minMs), Math.round(memberlistSuspicionTimeoutMs(500)));
  assert.equal(suspicionTimeoutMs(minMs, maxMs, 0, 3), Math.floor(maxMs));
  assert.equal(suspicionTimeoutMs(minMs, maxMs, 3, 3), minMs);
  assert.equal(suspicionTimeoutMs(minMs, maxMs, 9, 3), minMs);
  const one = suspicionTimeoutMs(minMs, maxMs, 1, 3);
  assert.equal(one, Math.floor(maxMs - (maxMs - minMs) * Math.log(2) / Math.log(4)));
  assert.equal(suspicionTimeoutMs(minMs, maxMs, 0, 0), maxMs);
  assert.equal(retransmitLimit(4, 5), 4);
  assert.equal(retransmitLimit(4, 50), 8);
  assert.equal(retransmitLimit(4, 500), 12);
});

test('broadcast queue: one item per member, fewest sends first, newest first among equals, dropped at the limit', () => {
  const q = new BroadcastQueue();
  const s = (id: string, inc = 0): GossipItem => ({ kind: 'suspect', id, incarnation: inc, from: 'x' });
  q.push(s('a'));
  q.push(s('b'));
  assert.deepEqual(q.take(1, 2).map((i) => i.id), ['b']);
  assert.deepEqual(q.take(2, 2).map((i) => i.id), ['a', 'b']);
  assert.deepEqual(q.take(2, 2).map((i) => i.id), ['a']);
  assert.equal(q.size, 0);
  q.push(s('c'));
  q.push({ kind: 'dead', id: 'c', incarnation: 0, from: 'y' });
  assert.equal(q.size, 1);
  assert.deepEqual(q.take(5, 3).map((i) => i.kind), ['dead']);
});

test('a member refutes a suspicion about itself with a higher incarnation, and tells its accuser', () => {
  const a = node('a');
  a.join([]);
  a.takeReady();
  a.step({ type: 'message', from: 'b', msg: { type: 'gossip', gossip: [alive('b')] } });
  a.takeReady();
  a.step({ type: 'message', from: 'b', msg: { type: 'gossip', gossip: [{ kind: 'suspect', id: 'a', incarnation: 0, from: 'b' }] } });
  assert.equal(a.incarnation, 1);
  const r = a.takeReady();
  const direct = r.messages.find((o) => o.to === 'b' && o.msg.type === 'gossip');
  assert.ok(direct, 'refutation sent straight to the accuser');
  assert.deepEqual((direct!.msg as Extract<Message, { type: 'gossip' }>).gossip[0], alive('a', 1));
  // An old suspicion (lower incarnation) changes nothing.
  a.step({ type: 'message', from: 'b', msg: { type: 'gossip', gossip: [{ kind: 'suspect', id: 'a', incarnation: 0, from: 'b' }] } });
  assert.equal(a.incarnation, 1);
  assert.equal(a.stats.refutations, 1);
});

test('a probe unanswered becomes a suspicion, then dead after the timeout; events say so', () => {
  const a = node('a', 7);
  a.join([]);
  a.step({ type: 'message', from: 'b', msg: { type: 'gossip', gossip: [alive('b')] } });
  let ready = a.takeReady();
  assert.deepEqual(ready.events.map((e) => [e.type, e.member.id]), [['join', 'b']]);
  const seen: string[] = [];
  let now = 0;
  for (let i = 0; i < 200 && a.member('b')!.state !== 'dead'; i++) {
    now = Math.max(now + 1, ready.wakeAtMs ?? now + 100);
    a.step({ type: 'tick', nowMs: now, entropy: i * 2654435761 });
    ready = a.takeReady();
    for (const e of ready.events) seen.push(e.type);
  }
  assert.deepEqual(seen, ['suspect', 'dead']);
  assert.ok(now < 10_000, `dead after ${now} ms`);
  assert.equal(a.stats.declaredDead, 1);
});

test('setMeta refuses over-size metadata with a clear error and keeps the old record', () => {
  const a = node('a');
  a.join([]);
  const big: Meta = { role: 'voter', devices: Array.from({ length: 30 }, (_, i) => `device-${i}-xxxxxxxxxxxx`), plugins: [], battery: 1 };
  const r = a.setMeta(big);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.reason, /^setMeta: meta: \d+ bytes is over the 512-byte limit/);
  assert.deepEqual(a.member('a')!.meta, meta);
  assert.equal(a.incarnation, 0);
  const ok = a.setMeta({ role: 'voter', devices: ['gps'], plugins: ['survey'], battery: 0.9 });
  assert.ok(ok.ok);
  assert.equal(a.incarnation, 1);
  assert.equal(gossipOf(a.takeReady()).length, 0); // queued, sent with the next ping or gossip round
});

test('the same inputs give the same outputs (no hidden clock or randomness)', () => {
  const run = (): string => {
    const a = node('a', 42);
    a.join([{ id: 'b', addr: 'sim://b' }]);
    const out: unknown[] = [a.takeReady()];
    for (const id of ['b', 'c', 'd', 'e']) a.step({ type: 'message', from: 'b', msg: { type: 'gossip', gossip: [alive(id)] } });
    for (let t = 1; t < 30; t++) {
      a.step({ type: 'tick', nowMs: t * 137, entropy: t * 7919 });
      out.push(a.takeReady());
    }
    return JSON.stringify(out);
  };
  assert.equal(run(), run());
});

test('options are checked: a probe cycle must fit its period', () => {
  assert.throws(() => new Membership({ id: 'a', addr: 'x', nowMs: 0, seed: 1, signer, probeTimeoutMs: 600, indirectTimeoutMs: 600 }), /must be below probeIntervalMs/);
  assert.throws(() => new Membership({ id: '', addr: 'x', nowMs: 0, seed: 1, signer }), /id must be/);
  assert.equal(membershipDefaults.probeIntervalMs, 1000);
});
