// Reconfiguration in the core (docs/reconfiguration.md rules 1–5 and 7): a voters.change conflicts
// with everything, seals the replicas that hold it, and closes the epoch where it executes. The
// property test drives random schedules (reordering, loss, duplication, crashes mid-turn, restarts,
// concurrent changes) and checks, beside INV1–INV8 after every step, what the rules promise: every
// replica that closes does so at the same change with the same state; every instance with an effect
// is in the change's dependencies; nothing takes effect after it; and a command handed on to the
// next epoch never took effect in this one.

import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { Cluster } from '../cluster.ts';
import { belowFloor } from './deps.ts';
import { formatId, type InstanceId } from './ids.ts';
import { NOP, type Batch, type EpochClose } from './types.ts';
import type { Command } from '../statemachine/commands.ts';
import type { MachineSnapshot } from '../statemachine/snapshot.ts';

const options = {
  n: 3, f: 1, e: 1, pipelineInstancesMax: 2, recoveryTimeoutMs: 300, recoveryTimeoutMaxMs: 2000, retransmitMs: 100,
  watermarkEveryTicks: 1, indexLagExchanges: 1,
  thriftyPreAccept: false, // the scripts below deliver PreAccepts to every peer
} as const;

let clientSeq = 0;
function put(key: string, value: string): Command {
  return { clientId: `c${clientSeq++}`, requestId: 1, timestampMs: 0, op: 'put', key, value };
}
function change(epoch = 0, voters = 'a,b,d'): Command {
  return { clientId: `op${clientSeq++}`, requestId: 1, timestampMs: 0, op: 'voters.change', epoch, voters, reason: 'test' };
}

/** Deliver, sync and tick until nothing moves: `rounds` ticks of 100 ms. */
function run(c: Cluster, rounds = 60): void {
  for (let i = 0; i < rounds; i++) {
    c.runUntilQuiet();
    c.tickAll(100, i * 7919);
  }
  c.runUntilQuiet();
}

function isChangeBatch(cmd: unknown): boolean {
  return cmd !== null && cmd !== NOP && (cmd as Batch).commands.some((x) => x.op === 'voters.change');
}

describe('a voters.change in one epoch', () => {
  it('commits, executes everywhere after what came before it, and closes the epoch with the same state at every replica', () => {
    const c = new Cluster(options);
    c.submit(1, put('x', '1'));
    run(c, 5);
    c.submit(0, change());
    run(c, 5);
    const closes = c.closes;
    for (const [r, close] of closes.entries()) {
      assert.ok(close !== null, `replica ${r} closed the epoch`);
      assert.equal(close.change, closes[0]!.change);
      assert.deepEqual(close.machine, closes[0]!.machine);
      assert.equal(c.replicas[r].closedByChange(), close.change);
    }
    const machine = closes[0]!.machine as MachineSnapshot;
    assert.deepEqual(machine.voters, { epoch: 1, ids: ['a', 'b', 'd'] });
    assert.deepEqual(machine.kv, [['x', '1']]);
    assert.deepEqual(c.violations(), []);
    // The closed group takes no more commands: they belong to epoch 1.
    const late = put('y', '2');
    c.submit(2, late);
    assert.match(String((c.replies[2].at(-1)!.result as { error?: string }).error), /epoch 0 is closed by a voters.change; submit to the group of epoch 1/);
  });

  it('is refused at submission when made for another epoch', () => {
    const c = new Cluster(options);
    const stale = change(3);
    c.submit(0, stale);
    const reply = c.replies[0].at(-1)!;
    assert.equal(reply.clientId, stale.clientId);
    assert.match(String((reply.result as { error?: string }).error), /superseded: this voter group is at epoch 0, the voters.change was made for epoch 3/);
    assert.equal(c.network.length, 0, 'nothing was proposed');
  });

  it('seals a replica that holds it: a PreAccept it had not answered before gets no answer, and nothing is proposed', () => {
    const c = new Cluster(options);
    c.submit(0, change());
    c.syncAll();
    c.deliverMsg('PreAccept', 0, 1); // r1 now holds the change
    c.syncAll();
    assert.ok(c.replicas[1].isSealed());
    c.dropWhere(() => true);
    c.submit(2, put('x', '1')); // r2 does not hold the change: it proposes
    c.syncAll();
    const before = c.network.filter((e) => e.from === 1).length;
    c.deliverMsg('PreAccept', 2, 1);
    c.syncAll();
    assert.equal(c.network.filter((e) => e.from === 1).length, before, 'r1 answered a PreAccept while sealed');
    // And r1's own clients wait: nothing leaves r1 for them.
    c.submit(1, put('y', '1'));
    c.syncAll();
    assert.equal(c.network.filter((e) => e.from === 1 && e.msg.type === 'PreAccept').length, 0);
  });

  it('hands the commands it did not execute to the next epoch, and none of them took effect in this one', () => {
    const c = new Cluster(options);
    c.submit(0, change());
    c.syncAll();
    c.deliverMsg('PreAccept', 0, 1);
    c.syncAll();
    const waiting = put('z', '1');
    c.submit(1, waiting); // sealed: queued
    run(c, 5);
    const close = c.closes[1];
    assert.ok(close !== null);
    assert.deepEqual(close.requeue.map((x) => x.clientId), [waiting.clientId]);
    const machine = close.machine as MachineSnapshot;
    assert.ok(!machine.clients.some(([id]) => id === waiting.clientId));
    assert.ok(!machine.kv.some(([k]) => k === 'z'));
  });

  it('a change recovered as Nop unseals: the replica that held it proposes again', () => {
    const c = new Cluster({ ...options, sync: 'explicit' });
    c.submit(0, change()); // its PreAccept leaves early, before r0's own record is durable
    c.deliverMsg('PreAccept', 0, 1);
    c.syncAll(); // r1's record of the change is durable: r1 is sealed
    assert.ok(c.replicas[1].isSealed());
    c.crash(1);
    c.crash(0); // r0 never synced its record: it comes back without the change
    c.dropWhere(() => true);
    c.restart(0); // and recovers the seqs it may have proposed, with r2: nobody there holds it
    run(c, 30);
    c.restart(1);
    const next = put('x', '1');
    c.submit(1, next); // queued behind the seal until r1 learns the change's fate
    for (let i = 0; i < 80 && c.replies[1].length === 0; i++) { c.runUntilQuiet(); c.tickAll(100, i); }
    const id = [...c.replicas[1].instanceIds()].find((x) => isChangeBatch(c.replicas[1].instance(x)!.initCmd))!;
    assert.equal(c.replicas[1].instance(id)!.phase, 'COMMITTED');
    assert.equal(c.replicas[1].instance(id)!.cmd, NOP, 'the change was recovered as Nop');
    assert.ok(!c.replicas[1].isSealed());
    assert.deepEqual(c.replies[1].map((x) => x.clientId), [next.clientId], 'the queued command went through');
    assert.ok(c.closes.every((x) => x === null));
    assert.deepEqual(c.violations(), []);
  });

  it('a replica restarted after the close closes again from its log, at the same state', () => {
    const c = new Cluster(options);
    c.submit(2, put('k', 'v'));
    c.submit(0, change());
    run(c, 5);
    const before = c.closes[2]!;
    c.crash(2);
    c.closes[2] = null;
    c.restart(2);
    const after = c.closes[2] as EpochClose | null; // (restart sets it again)
    assert.ok(after !== null);
    assert.equal(after.change, before.change);
    assert.deepEqual(after.machine, before.machine);
    assert.ok(c.replicas[2].isSealed());
  });
});

// ---- random schedules ------------------------------------------------------------------------

type Action =
  | { t: 'put'; r: number; key: number }
  | { t: 'change'; r: number }
  | { t: 'deliver'; i: number }
  | { t: 'drop'; i: number }
  | { t: 'dup'; i: number }
  | { t: 'tick'; r: number; ms: number; entropy: number }
  | { t: 'crash'; r: number }
  | { t: 'crashMidTurn'; i: number }
  | { t: 'restart'; r: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('put' as const), r: fc.nat(2), key: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('change' as const), r: fc.nat(2) }) },
  { weight: 12, arbitrary: fc.record({ t: fc.constant('deliver' as const), i: fc.nat(50) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('drop' as const), i: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('dup' as const), i: fc.nat(50) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('tick' as const), r: fc.nat(2), ms: fc.integer({ min: 10, max: 400 }), entropy: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('crash' as const), r: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('crashMidTurn' as const), i: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restart' as const), r: fc.nat(2) }) },
);

interface Outcome { closed: boolean; effects: number }

/** Play a schedule, then let it settle, asserting the rules; says whether the epoch closed. */
function playReconfig(actions: Action[]): Outcome {
  const c = new Cluster(options);
  const check = (what: string): void => {
    const v = c.violations();
    assert.deepEqual(v, [], `after ${what}: ${v.join('; ')}`);
  };
  let key = 0;
  for (const a of actions) {
    const pick = (i: number): number => i % c.network.length;
    switch (a.t) {
      case 'put': if (c.up[a.r]) c.submit(a.r, put(`k${a.key}`, `v${key++}`)); break;
      case 'change': if (c.up[a.r]) c.submit(a.r, change()); break;
      case 'deliver': if (c.network.length > 0) c.deliver(pick(a.i)); break;
      case 'drop': if (c.network.length > 0) c.drop(pick(a.i)); break;
      case 'dup': if (c.network.length > 0) c.duplicate(pick(a.i)); break;
      case 'tick': if (c.up[a.r]) { c.nowMs += a.ms; c.tick(a.r, a.entropy); } break;
      case 'crash': if (c.up[a.r]) c.crash(a.r); break;
      case 'crashMidTurn': if (c.network.length > 0) c.deliverThenCrash(pick(a.i)); break;
      case 'restart': if (!c.up[a.r]) c.restart(a.r); break;
    }
    check(JSON.stringify(a));
  }
  for (let r = 0; r < 3; r++) if (!c.up[r]) c.restart(r);
  run(c, 80);
  check('settling');

  // Which changes committed with their value, anywhere. The first of them to execute closes the
  // epoch; the others are void (rule 8).
  const effective = new Set<InstanceId>();
  for (const rep of c.replicas) {
    for (const id of rep.instanceIds()) {
      const inst = rep.instance(id)!;
      if (inst.phase === 'COMMITTED' && isChangeBatch(inst.cmd)) effective.add(id);
    }
  }
  if (effective.size === 0) {
    for (const [r, close] of c.closes.entries()) assert.equal(close, null, `replica ${r} closed without a committed change`);
    for (const rep of c.replicas) assert.ok(!rep.isSealed(), `replica ${rep.self} stays sealed though no change can take effect`);
    return { closed: false, effects: 0 };
  }
  const closes: readonly (EpochClose | null)[] = c.closes;
  const C = closes[0]?.change;
  assert.ok(C !== undefined && effective.has(C), `replica 0 did not close at a committed change`);
  for (const [r, close] of closes.entries()) {
    assert.ok(close !== null, `replica ${r} never closed the epoch though ${formatId(C)} committed`);
    assert.equal(close.change, C);
    assert.deepEqual(close.machine, closes[0]!.machine, `replica ${r} closed at another state`);
  }
  // Rule 4's claim: every instance committed with an effect is in C's dependencies.
  const dep = c.replicas[0].instance(C)!.dep;
  let effects = 0;
  for (const rep of c.replicas) {
    for (const id of rep.instanceIds()) {
      const inst = rep.instance(id)!;
      if (id === C || inst.phase !== 'COMMITTED' || inst.cmd === NOP || isChangeBatch(inst.cmd)) continue;
      effects++;
      assert.ok(dep.ids.includes(id) || belowFloor(id, dep.floor), `${formatId(id)} committed with an effect outside the dependencies of ${formatId(C)}`);
    }
  }
  // Nothing after C in any replica's execution log.
  for (const [r, s] of c.storages.entries()) assert.equal(s.appliedLog().at(-1), C, `replica ${r} applied something after the change`);
  // Commands handed on to the next epoch never took effect in this one.
  const machine = closes[0]!.machine as MachineSnapshot;
  const applied = new Set(machine.clients.map(([id]) => id));
  for (const close of closes) for (const cmd of close!.requeue) assert.ok(!applied.has(cmd.clientId), `${cmd.clientId} is handed on but took effect`);
  return { closed: true, effects };
}

// Schedules the property once failed on, kept as regressions: regressions/reconfig/*.json, each
// naming what was wrong.
const regressionDir = new URL('./regressions/reconfig/', import.meta.url);
for (const file of readdirSync(regressionDir).filter((f) => f.endsWith('.json')).sort()) {
  const fx = JSON.parse(readFileSync(new URL(file, regressionDir), 'utf8')) as { bug: string; actions: Action[] };
  test(`regression reconfig/${file}: ${fx.bug}`, () => { playReconfig(fx.actions); });
}

const scale = Number(process.env.COVEY_PROPERTY_RUNS ?? 10);

test('random schedules with voters.change: at most one change closes the epoch, at one state everywhere, after every effect of the epoch', () => {
  let closed = 0, open = 0, effects = 0;
  fc.assert(fc.property(fc.array(action, { minLength: 20, maxLength: 200, size: 'max' }), (actions) => {
    const o = playReconfig(actions);
    if (o.closed) closed++; else open++;
    effects += o.effects;
  }), { numRuns: Math.ceil(20 * scale) });
  // The property must have been exercised both ways, with commands before the close.
  assert.ok(closed > 0 && open > 0 && effects > 0, `closed ${closed}, not closed ${open}, effects before a close ${effects}`);
});
