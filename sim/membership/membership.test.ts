// Simulator tests of the membership core (issue 5): detection, no false alarms at 5% loss,
// a 30 s partition and its merge, refutation, leave, rejoin after restart, metadata, malformed
// input. Each run is deterministic: the seed decides everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MembershipSim, idOf } from './harness.ts';
import { detectionRun, partitionRun } from './scenarios.ts';
import { memberlistSuspicionTimeoutMs, type Meta } from '../../transports/membership/index.ts';

const lossy = { loss: 0.05 };

function converged(agents: number, seed: number, meta?: (a: number) => Meta): MembershipSim {
  const sim = new MembershipSim({ agents, seed, network: lossy, meta });
  sim.startAll();
  assert.notEqual(sim.runUntil(() => sim.converged(), 60_000, 100), null, 'swarm converged');
  return sim;
}

test('same seed, same run: identical trace hash and result; another seed differs', () => {
  const a = detectionRun({ agents: 50, seed: 11, network: lossy, afterMs: 2000 });
  const b = detectionRun({ agents: 50, seed: 11, network: lossy, afterMs: 2000 });
  const c = detectionRun({ agents: 50, seed: 12, network: lossy, afterMs: 2000 });
  assert.deepEqual(a, b);
  assert.notEqual(a.traceHash, c.traceHash);
});

test('50 agents, 5% loss: a crashed member is marked dead by every live member, with no false positives', () => {
  for (const seed of [1, 2, 3]) {
    const r = detectionRun({ agents: 50, seed, network: lossy });
    assert.notEqual(r.detectMs, null, `seed ${seed}: crash of ${r.victim} never detected by all`);
    assert.ok(r.detectMs! < memberlistSuspicionTimeoutMs(50), `seed ${seed}: ${r.detectMs} ms`);
    assert.equal(r.falsePositives, 0, `seed ${seed}`);
  }
});

test('500 agents, 5% loss: crash detected by all, no false positives', () => {
  const r = detectionRun({ agents: 500, seed: 1, network: lossy, validate: false, warmupMs: 2000, afterMs: 5000 });
  assert.notEqual(r.detectMs, null);
  assert.ok(r.detectMs! < memberlistSuspicionTimeoutMs(500), `${r.detectMs} ms`);
  assert.equal(r.falsePositives, 0);
});

test('several crashes at once at 5% loss: all detected, nobody alive declared dead', () => {
  const sim = converged(50, 5);
  sim.runForMs(3000);
  const victims = [7, 19, 33, 48];
  for (const v of victims) sim.crash(v);
  const done = sim.runUntil(() => victims.every((v) => sim.allSeeDead(v)), 30_000, 20);
  assert.notEqual(done, null);
  sim.runForMs(20_000);
  assert.deepEqual(sim.falsePositives(), []);
  assert.deepEqual(sim.rejected, [], 'every message the cores sent passes validation');
});

for (const agents of [50, 500]) {
  test(`${agents} agents, 5% loss, 30 s partition: both sides declare the other dead, then merge after heal`, () => {
    const r = partitionRun({ agents, seed: 3, network: lossy, validate: agents <= 50 });
    assert.notEqual(r.apartMs, null, 'both sides declared the other dead within the 30 s cut');
    assert.notEqual(r.mergeMs, null, 'merged after heal');
    assert.ok(r.mergeMs! <= 20_000, `merge took ${r.mergeMs} ms (aim: two push-pull periods)`);
    assert.equal(r.falsePositives, 0, 'no one declared dead inside its own side');
  });
}

test('refutation: a live member suspected by mistake refutes with a higher incarnation and is never declared dead', () => {
  const sim = converged(20, 21);
  sim.recordEvents = true;
  const before = sim.node(9)!.incarnation;
  // Agent 4 is told that agent 9 is suspect, as if its probe had been lost.
  const r = sim.inject(4, idOf(2), { type: 'gossip', gossip: [{ kind: 'suspect', id: idOf(9), incarnation: before, from: idOf(2) }] });
  assert.ok(r.ok);
  assert.equal(sim.view(4, 9), 'suspect');
  sim.runForMs(15_000);
  assert.ok(sim.node(9)!.incarnation > before);
  for (let a = 0; a < 20; a++) if (a !== 9) assert.equal(sim.view(a, 9), 'alive', `agent ${a}`);
  assert.deepEqual(sim.verdicts, []);
  assert.ok(sim.events.some((e) => e.observer === 4 && e.event.type === 'alive' && e.event.member.id === idOf(9)));
});

test('leave: every member records it as left (not dead) with a leave event, and the leaver stops', () => {
  const sim = converged(30, 8);
  sim.recordEvents = true;
  sim.leave(12);
  sim.runForMs(10_000);
  for (let a = 0; a < 30; a++) if (a !== 12) assert.equal(sim.view(a, 12), 'left', `agent ${a}`);
  assert.equal(sim.node(12)!.status, 'left');
  assert.deepEqual(sim.verdicts, [], 'a leave is not a death');
  assert.equal(sim.events.filter((e) => e.event.type === 'leave' && e.event.member.id === idOf(12)).length, 29);
  assert.ok(sim.converged(), 'the others still agree on each other');
});

test('rejoin after a restart: the new process outbids its old incarnation and is alive everywhere', () => {
  const sim = converged(30, 13);
  // A first life with a few metadata updates, so its incarnation is above 0.
  for (let i = 0; i < 3; i++) assert.ok(sim.setMeta(17, { role: 'worker', devices: [], plugins: [`v${i}`], battery: null }).ok);
  sim.runForMs(3000);
  const old = sim.node(17)!.incarnation;
  assert.equal(old, 3);
  sim.crash(17);
  assert.notEqual(sim.runUntil(() => sim.allSeeDead(17), 20_000, 20), null);
  sim.restart(17); // kept nothing: starts at incarnation 0
  assert.notEqual(sim.runUntil(() => sim.converged(), 30_000, 50), null, 'rejoined');
  assert.ok(sim.node(17)!.incarnation > old, `incarnation ${sim.node(17)!.incarnation} > ${old}`);
  for (let a = 0; a < 30; a++) if (a !== 17) assert.ok(sim.node(a)!.member(idOf(17))!.incarnation > old);
  // A restart before anyone noticed, with new metadata: the old record (same incarnation) speaks
  // for the new process until it outbids it.
  sim.crash(5);
  sim.boot(5, undefined, { role: 'voter', devices: [], plugins: [], battery: null });
  assert.notEqual(sim.runUntil(() => sim.converged() && sim.node(9)!.member(idOf(5))!.meta.role === 'voter', 30_000, 50), null);
  assert.ok(sim.node(5)!.incarnation > 0);
});

test('metadata: an update reaches every member through gossip; over-size is refused with a clear error', () => {
  const sim = converged(50, 4, (a) => ({ role: a < 3 ? 'voter' : 'worker', devices: ['gps'], plugins: [], battery: 1 }));
  assert.equal(sim.node(30)!.member(idOf(1))!.meta.role, 'voter');
  const meta: Meta = { role: 'worker', devices: ['gps', 'camera'], plugins: ['survey', 'relay'], battery: 0.42 };
  assert.ok(sim.setMeta(22, meta).ok);
  const done = sim.runUntil(() => {
    for (let a = 0; a < 50; a++) if (a !== 22 && sim.node(a)!.member(idOf(22))!.meta.battery !== 0.42) return false;
    return true;
  }, 10_000, 20);
  assert.notEqual(done, null, 'update spread');
  for (let a = 0; a < 50; a++) assert.deepEqual(sim.node(a)!.member(idOf(22))!.meta, meta);
  const big = sim.setMeta(22, { ...meta, plugins: Array.from({ length: 32 }, (_, i) => `plugin-number-${i}`) });
  assert.equal(big.ok, false);
  if (!big.ok) assert.match(big.reason, /over the 512-byte limit/);
});

test('malformed messages are dropped with a reason and change nothing', () => {
  const sim = converged(10, 6);
  const inc = sim.node(3)!.incarnation;
  const bad: unknown[] = [
    'hello',
    { type: 'gossip', gossip: [{ kind: 'dead', id: idOf(3), incarnation: -1, from: idOf(1) }] },
    { type: 'gossip', gossip: [{ kind: 'alive', id: idOf(8), addr: 'x', incarnation: 99, meta: { role: 'admin', devices: [], plugins: [], battery: null } }] },
    { type: 'pushPull', reply: false, members: [{ id: idOf(8), addr: 'x', incarnation: 99, state: 'dead', meta: null }] },
    { type: 'ping', seq: 1, target: idOf(3), gossip: [], sneaky: 1 },
  ];
  for (const raw of bad) {
    const r = sim.inject(3, idOf(1), raw);
    assert.equal(r.ok, false, JSON.stringify(raw));
    if (!r.ok) assert.ok(r.reason.length > 0);
  }
  assert.equal(sim.inject(3, 42, { type: 'nack', seq: 1 }).ok, false, 'a non-string sender is refused');
  assert.equal(sim.node(3)!.stats.rejected, 6);
  assert.equal(sim.node(3)!.incarnation, inc);
  assert.equal(sim.node(3)!.member(idOf(8))!.incarnation, 0);
  sim.runForMs(5000);
  assert.ok(sim.converged());
});

test('issue 13: a forged frame (a leave and a death at 2^40, a made-up signature) and made-up members change nobody\'s view', () => {
  const sim = converged(20, 31);
  sim.recordEvents = true;
  const high = 2 ** 40;
  const forged = [
    { kind: 'dead', id: idOf(1), incarnation: high, from: idOf(1), sig: 'made-up' },
    { kind: 'dead', id: idOf(2), incarnation: high, from: idOf(0) },
    { kind: 'suspect', id: idOf(2), incarnation: high, from: idOf(0) },
    ...Array.from({ length: 40 }, (_, i) => ({ kind: 'alive', id: `fake-${i}`, addr: 'sim://attacker', incarnation: 0, meta: { role: 'voter', devices: [], plugins: [], battery: null }, sig: 'made-up' })),
  ];
  for (let a = 0; a < 20; a++) assert.ok(sim.inject(a, idOf(19), { type: 'gossip', gossip: forged }).ok);
  // The exact frame of the finding (2^53 − 1) does not pass the validator at all.
  assert.equal(sim.inject(5, idOf(19), { type: 'gossip', gossip: [{ kind: 'dead', id: idOf(2), incarnation: 2 ** 53 - 1, from: idOf(0) }] }).ok, false);
  sim.runForMs(10_000);
  assert.ok(sim.converged());
  for (let a = 0; a < 20; a++) {
    assert.ok(sim.node(a)!.incarnation < 100);
    assert.equal(sim.node(a)!.memberList().length, 20, 'no made-up member listed');
  }
  assert.deepEqual(sim.verdicts, []);
  assert.ok(!sim.events.some((e) => (e.event.type === 'dead' || e.event.type === 'leave') && [idOf(1), idOf(2)].includes(e.event.member.id)));
});

test('issue 13: with a roster, a member off it is never listed and its frames change nothing', () => {
  // Agents 0..9 are on the roster; agent 10 runs the same code but is not admitted.
  const roster = new Set(Array.from({ length: 10 }, (_, i) => idOf(i)));
  const sim = new MembershipSim({ agents: 11, seed: 32, network: lossy, trust: { isAdmitted: (id) => roster.has(id), roleOf: () => null } });
  sim.startAll();
  sim.runForMs(20_000);
  for (let a = 0; a < 10; a++) {
    assert.equal(sim.node(a)!.member(idOf(10)), undefined, `agent ${a} lists the outsider`);
    assert.equal(sim.node(a)!.memberList().length, 10);
  }
  assert.ok(sim.node(0)!.stats.notAdmitted > 0);
});
