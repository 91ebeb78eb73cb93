// Membership statements at the core (statement.ts, membership.ts "Trust"): signed self-statements,
// the roster, claims bounded by their subject's signed incarnation. Keyless digest signatures here
// (deterministic); ed25519.test.ts checks the real signer, driver-trust.test.ts real nodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { incarnationMax } from './config.ts';
import { Membership } from './membership.ts';
import { digestSigner, statementText, type Trust } from './statement.ts';
import type { AliveItem, DeadItem, GossipItem, MemberEvent, MemberRecord, Meta, Outgoing, Role } from './types.ts';
import { validateMessage } from './validate.ts';

const worker: Meta = { role: 'worker', devices: [], plugins: [], battery: null };
const voter: Meta = { role: 'voter', devices: [], plugins: [], battery: null };
const signer = digestSigner('test');

function alive(id: string, incarnation = 0, meta: Meta = worker, addr = `sim://${id}`): AliveItem {
  const s = { kind: 'alive', id, addr, incarnation, meta } as const;
  return { ...s, sig: signer.sign(s) };
}

function leave(id: string, incarnation = 0): DeadItem {
  return { kind: 'dead', id, incarnation, from: id, sig: signer.sign({ kind: 'left', id, incarnation }) };
}

function roster(entries: Record<string, Role>): Trust {
  return { isAdmitted: (id) => id in entries, roleOf: (id) => entries[id] ?? null };
}

/** Agent `a` (joined) that knows b, c, d alive at incarnation 0; events of the setup taken. */
function agent(trust?: Trust): { a: Membership; events: MemberEvent[]; sent: Outgoing[]; gossip(from: string, items: GossipItem[]): void } {
  const a = new Membership({ id: 'a', addr: 'sim://a', nowMs: 0, seed: 3, signer, trust });
  a.join([]);
  const events: MemberEvent[] = [];
  const sent: Outgoing[] = [];
  const gossip = (from: string, items: GossipItem[]): void => {
    a.step({ type: 'message', from, msg: { type: 'gossip', gossip: items }, nowMs: 1 });
    const r = a.takeReady();
    events.push(...r.events);
    sent.push(...r.messages);
  };
  gossip('b', [alive('b'), alive('c'), alive('d', 0, voter)]);
  events.length = 0;
  sent.length = 0;
  return { a, events, sent, gossip };
}

test('a tampered alive statement is dropped and counted; the record stays as its subject signed it', () => {
  const { a, events, gossip } = agent();
  const good = alive('c', 1);
  gossip('b', [{ ...good, addr: '/ip4/6.6.6.6/tcp/1' }, { ...good, meta: voter }, { ...good, incarnation: 2 }]);
  assert.equal(a.stats.badSignatures, 3);
  assert.equal(a.member('c')!.incarnation, 0);
  assert.equal(a.member('c')!.addr, 'sim://c');
  assert.equal(events.length, 0);
  gossip('b', [good]);
  assert.equal(a.member('c')!.incarnation, 1);
});

test('a statement signed by another member (re-attributed) or unsigned does not verify', () => {
  const { a, gossip } = agent();
  const byB = alive('b', 5);
  gossip('b', [{ ...byB, id: 'c' }]);
  gossip('b', [{ ...alive('c', 5), sig: 'x' }]);
  assert.equal(a.stats.badSignatures, 2);
  assert.equal(a.member('c')!.incarnation, 0);
  // The same holds for made-up members: none is listed.
  gossip('b', Array.from({ length: 40 }, (_, i) => ({ ...alive(`fake-${i}`), sig: 'made-up' })));
  assert.equal(a.memberList().length, 4);
});

test('a replayed older statement changes nothing, and costs no signature check', () => {
  const { a, events, gossip } = agent();
  gossip('b', [alive('c', 2, worker, 'sim://c2')]);
  events.length = 0;
  const checks = a.stats.badSignatures;
  gossip('b', [alive('c', 1, worker, 'sim://c1'), alive('c', 2, worker, 'sim://c1'), alive('c', 0)]);
  assert.equal(a.member('c')!.addr, 'sim://c2');
  assert.equal(a.member('c')!.incarnation, 2);
  assert.equal(a.stats.badSignatures, checks);
  assert.equal(events.length, 0);
  // A replayed leave of an earlier life does not end the later one.
  gossip('b', [leave('c', 1)]);
  assert.equal(a.member('c')!.state, 'alive');
});

test('a leave counts only when the member signed it; a forged one is dropped', () => {
  const { a, events, gossip } = agent();
  gossip('x', [{ ...leave('c'), sig: signer.sign({ kind: 'left', id: 'b', incarnation: 0 }) }]);
  assert.equal(a.member('c')!.state, 'alive');
  assert.equal(a.stats.badSignatures, 1);
  assert.equal(events.length, 0);
  gossip('x', [leave('c')]);
  assert.equal(a.member('c')!.state, 'left');
  assert.deepEqual(events.map((e) => [e.type, e.member.id]), [['leave', 'c']]);
  // A signed alive above the leave brings it back (a restart).
  gossip('x', [alive('c', 1)]);
  assert.equal(a.member('c')!.state, 'alive');
});

test('finding 1: claims above what the subject signed are ignored, and never drive anyone towards the bound', () => {
  const { a, events, sent, gossip } = agent();
  const high = incarnationMax;
  gossip('b', [
    { kind: 'dead', id: 'c', incarnation: high, from: 'b' },
    { kind: 'suspect', id: 'd', incarnation: high, from: 'b' },
    { kind: 'dead', id: 'a', incarnation: high, from: 'b' },
    { kind: 'suspect', id: 'a', incarnation: high, from: 'b' },
  ]);
  assert.equal(a.member('c')!.state, 'alive');
  assert.equal(a.member('d')!.state, 'alive');
  assert.equal(a.incarnation, 0, 'no refutation at a forged number');
  assert.equal(a.stats.unbackedClaims, 4);
  assert.equal(events.length, 0);
  // The victim asks the accuser for its table instead (at most once per probe period): a true
  // claim about a previous life comes with that life's signed record.
  assert.equal(sent.filter((o) => o.to === 'b' && o.msg.type === 'pushPull').length, 1);
  // The exact frame of the finding does not even pass the validator (2^53 − 1 is above the bound).
  const v = validateMessage({ type: 'gossip', gossip: [{ kind: 'dead', id: 'c', incarnation: 2 ** 53 - 1, from: 'b' }] });
  assert.equal(v.ok, false);
  if (!v.ok) assert.match(v.reason, /incarnation: expected an integer in 0\.\.1099511627776/);
});

test('a claim at the subject\'s signed incarnation counts, and the subject\'s signed refutation outranks it', () => {
  const { a, events, gossip } = agent();
  gossip('b', [{ kind: 'dead', id: 'c', incarnation: 0, from: 'b' }]);
  assert.equal(a.member('c')!.state, 'dead');
  gossip('c', [alive('c', 1)]);
  assert.equal(a.member('c')!.state, 'alive');
  assert.deepEqual(events.map((e) => e.type), ['dead', 'join']);
  // The same claim replayed now refers to an incarnation the subject has outbid.
  gossip('b', [{ kind: 'dead', id: 'c', incarnation: 0, from: 'b' }]);
  assert.equal(a.member('c')!.state, 'alive');
});

test('a restarted member refutes only above a record it really signed', () => {
  // A previous life signed incarnation 7; the new process starts at 0.
  const { a, gossip } = agent();
  gossip('b', [alive('a', 7)]);
  assert.equal(a.incarnation, 8);
  gossip('b', [{ ...alive('a', 900), sig: 'forged' }]);
  assert.equal(a.incarnation, 8);
  assert.equal(a.stats.badSignatures, 1);
});

test('the roster: strangers\' frames, their records and their claims are dropped; a role must match the roster', () => {
  const trust = roster({ a: 'worker', b: 'worker', c: 'worker', d: 'voter' });
  const { a, events, gossip } = agent(trust);
  assert.equal(a.memberList().length, 4);
  const before = a.stats.notAdmitted;
  gossip('x', [{ kind: 'dead', id: 'c', incarnation: 0, from: 'x' }]); // the frame of a stranger
  gossip('b', [{ kind: 'dead', id: 'c', incarnation: 0, from: 'x' }]); // a stranger's claim, relayed
  gossip('b', [alive('x'), alive('y')]); // validly signed, not admitted
  assert.equal(a.stats.notAdmitted - before, 4);
  assert.equal(a.member('c')!.state, 'alive');
  assert.equal(a.member('x'), undefined);
  // c is a worker on the roster: its own signed claim to be a voter is refused.
  gossip('c', [alive('c', 1, voter)]);
  assert.equal(a.stats.roleRefused, 1);
  assert.equal(a.member('c')!.meta.role, 'worker');
  assert.equal(events.length, 0);
  gossip('c', [alive('c', 2, { ...worker, plugins: ['p'] })]);
  assert.deepEqual(a.member('c')!.meta.plugins, ['p']);
});

test('at the incarnation bound a member neither refutes nor updates its metadata', () => {
  const a = new Membership({ id: 'a', addr: 'sim://a', nowMs: 0, seed: 1, signer, incarnation: incarnationMax });
  a.join([]);
  a.step({ type: 'message', from: 'b', msg: { type: 'gossip', gossip: [alive('b'), { kind: 'suspect', id: 'a', incarnation: incarnationMax, from: 'b' }] } });
  assert.equal(a.incarnation, incarnationMax);
  assert.equal(a.stats.incarnationExhausted, 1);
  const r = a.setMeta(voter);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.reason, /restart under a new identity/);
  assert.throws(() => new Membership({ id: 'a', addr: 'x', nowMs: 0, seed: 1, signer, incarnation: incarnationMax + 1 }), /incarnation must be/);
});

test('push-pull carries signed records verbatim; a forged record in it is dropped, the rest merged', () => {
  const { a, gossip } = agent();
  gossip('c', [leave('c')]);
  a.step({
    type: 'message', from: 'b', nowMs: 2, msg: {
      type: 'pushPull', reply: false, members: ([
        { state: 'alive', alive: alive('e', 3) },
        { state: 'alive', alive: { ...alive('f', 3), sig: 'forged' } },
        { state: 'dead', alive: alive('d', 0, voter) },
      ] as const).map((r): MemberRecord => ({ ...r, leave: null })),
    },
  });
  assert.equal(a.member('e')!.incarnation, 3);
  assert.equal(a.member('f'), undefined);
  const answer = a.takeReady().messages.find((o) => o.to === 'b' && o.msg.type === 'pushPull');
  assert.ok(answer && answer.msg.type === 'pushPull');
  const c = answer.msg.members.find((r) => r.alive.id === 'c')!;
  assert.deepEqual(c, { state: 'left', alive: alive('c'), leave: leave('c') });
  // What the core sends passes the validator (the wire's rules hold for its own output).
  assert.ok(validateMessage(JSON.parse(JSON.stringify(answer.msg))).ok);
});

test('the signed text is canonical, domain-separated and names the swarm', () => {
  const s = { kind: 'alive', id: 'a', addr: '/ip4/1.2.3.4/tcp/1', incarnation: 3, meta: { role: 'voter', devices: ['gps'], plugins: [], battery: 0.5 } } as const;
  assert.equal(statementText('swarm-1', s), '["covey-membership-v1","swarm-1","alive","a","/ip4/1.2.3.4/tcp/1",3,"voter",["gps"],[],0.5]');
  assert.equal(statementText('swarm-1', { kind: 'left', id: 'a', incarnation: 3 }), '["covey-membership-v1","swarm-1","left","a",3]');
  assert.notEqual(digestSigner('swarm-2').sign(s), digestSigner('swarm-1').sign(s));
});
