// The pure case analysis of recovery (PROTOCOL.md §6, lines 50–87).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decideAfterValidate, decideRecovery, decideWhileWaiting, validateAnswer, type RecoveryParams } from './recovery.ts';
import { emptyDeps, makeDeps } from './deps.ts';
import { instanceId, type InstanceId, type ReplicaId } from './ids.ts';
import { NOP, type Batch, type Deps, type Instance, type Payload, type Phase, type RecoverOK } from './types.ts';
import type { Command } from '../statemachine/commands.ts';

const n = 5;
const P: RecoveryParams = { n: 5, f: 2, e: 2 }; // recovery quorum 3, |Q|−e = 1
const none = emptyDeps(n);
// Each command its own client: a client's commands conflict through its session (conflicts.ts).
let clients = 0;
const put = (key: string, value: string): Command => ({ clientId: `c${++clients}`, requestId: 1, timestampMs: 0, op: 'put', key, value });
const get = (key: string): Command => ({ clientId: `c${++clients}`, requestId: 2, timestampMs: 0, op: 'get', key });
const batch = (...commands: Command[]): Batch => ({ commands });

const id = instanceId(1, 0); // coordinator 0
const cmd = batch(put('x', 'v'));
const other1 = instanceId(1, 3), other2 = instanceId(2, 4);
const D0 = makeDeps([other1], new Array(n).fill(0));

function ok(phase: Phase, abal: number, c: Payload | null, dep: Deps = none, initDep: Deps = dep): RecoverOK {
  return { type: 'RecoverOK', b: 11, id, abal, cmd: c, dep, initDep, phase };
}
const answers = (...xs: [ReplicaId, RecoverOK][]): Map<ReplicaId, RecoverOK> => new Map(xs);

describe('decideRecovery (lines 50–80)', () => {
  test('line 54: a COMMITTED answer in U → Commit with its values', () => {
    const d = decideRecovery(id, answers([1, ok('COMMITTED', 3, cmd, D0)], [2, ok('ACCEPTED', 3, cmd, D0)], [3, ok('INITIAL', 0, null)]), P);
    assert.deepEqual(d, { kind: 'commit', cmd, dep: D0, line: 54 });
  });

  test('Covey: a COMMITTED answer anywhere in Q wins, even below bmax', () => {
    // the fast commit at ballot 0 is reported by 1; 2 accepted the same value at ballot 6 (U = {2})
    const d = decideRecovery(id, answers([1, ok('COMMITTED', 0, cmd, D0)], [2, ok('ACCEPTED', 6, NOP)], [3, ok('PREACCEPTED', 0, cmd, D0)]), P);
    assert.equal(d.kind, 'commit');
    assert.equal(d.line, 54);
    assert.deepEqual(d.cmd, cmd);
    assert.deepEqual(d.dep, D0);
  });

  test('line 55: an ACCEPTED member of U → Accept with its values', () => {
    const d = decideRecovery(id, answers([1, ok('ACCEPTED', 6, cmd, D0)], [2, ok('PREACCEPTED', 0, cmd, none, none)], [0, ok('PREACCEPTED', 0, cmd)]), P);
    assert.deepEqual(d, { kind: 'accept', cmd, dep: D0, line: 55 });
  });

  test('line 55 selects by abal: the value voted at the highest abal, not an older vote', () => {
    const d = decideRecovery(id, answers([1, ok('ACCEPTED', 1, cmd, D0)], [2, ok('ACCEPTED', 2, NOP, none)], [3, ok('INITIAL', 0, null)]), P);
    assert.equal(d.kind, 'accept');
    assert.equal(d.cmd, NOP);
    assert.equal(d.line, 55);
    const e = decideRecovery(id, answers([1, ok('ACCEPTED', 7, cmd, D0)], [2, ok('ACCEPTED', 2, NOP, none)], [3, ok('INITIAL', 0, null)]), P);
    assert.deepEqual(e.cmd, cmd);
  });

  test('line 56: initCoord(id) ∈ Q and nothing accepted → Accept(Nop, ∅)', () => {
    const d = decideRecovery(id, answers([0, ok('PREACCEPTED', 0, cmd, D0)], [1, ok('PREACCEPTED', 0, cmd, D0)], [2, ok('PREACCEPTED', 0, cmd, D0)]), P);
    assert.deepEqual(d, { kind: 'accept', cmd: NOP, dep: none, line: 56 });
  });

  test('line 58: |Rmax| ≥ |Q|−e → Validate with the original proposal and |Rmax|', () => {
    const all = decideRecovery(id, answers([1, ok('PREACCEPTED', 0, cmd, D0)], [2, ok('PREACCEPTED', 0, cmd, D0)], [3, ok('PREACCEPTED', 0, cmd, D0)]), P);
    assert.deepEqual(all, { kind: 'validate', cmd, dep: D0, rmax: 3, line: 58 });
    // exactly |Q|−e = 1: one matching PREACCEPTED answer, one whose dep grew, one INITIAL
    const grown = makeDeps([other1, other2], new Array(n).fill(0));
    const one = decideRecovery(id, answers([1, ok('PREACCEPTED', 0, cmd, grown, D0)], [2, ok('PREACCEPTED', 0, cmd, D0, D0)], [3, ok('INITIAL', 0, null)]), P);
    assert.deepEqual(one, { kind: 'validate', cmd, dep: D0, rmax: 1, line: 58 });
  });

  test('line 80: |Rmax| < |Q|−e → Accept(Nop, ∅)', () => {
    const grown = makeDeps([other1, other2], new Array(n).fill(0));
    const d = decideRecovery(id, answers([1, ok('PREACCEPTED', 0, cmd, grown, D0)], [2, ok('INITIAL', 0, null)], [3, ok('INITIAL', 0, null)]), P);
    assert.deepEqual(d, { kind: 'accept', cmd: NOP, dep: none, line: 80 });
    // n = 3 (f = e = 1): |Q| − e = 1, so a lone INITIAL pair gives Nop as well
    const d3 = decideRecovery(instanceId(1, 2), answers([0, ok('INITIAL', 0, null, emptyDeps(3))], [1, ok('INITIAL', 0, null, emptyDeps(3))]), { n: 3, f: 1, e: 1 });
    assert.equal(d3.kind, 'accept');
    assert.equal(d3.cmd, NOP);
    assert.equal(d3.line, 80);
  });

  test('with n=7 (f=3, e=2), |Q|=4: |Rmax|=2 validates, |Rmax|=1 does not', () => {
    const p7: RecoveryParams = { n: 7, f: 3, e: 2 };
    const d7 = emptyDeps(7);
    const pre = { ...ok('PREACCEPTED', 0, cmd, d7), initDep: d7 };
    const ini = ok('INITIAL', 0, null, d7);
    assert.equal(decideRecovery(id, answers([1, pre], [2, pre], [3, ini], [4, ini]), p7).kind, 'validate');
    assert.equal(decideRecovery(id, answers([1, pre], [2, ini], [3, ini], [4, ini]), p7).line, 80);
  });
});

describe('decideAfterValidate (lines 63–67)', () => {
  const Q = new Set([1, 2, 3]);
  const I = (...xs: [InstanceId, Phase[]][]): Map<InstanceId, Set<Phase>> => new Map(xs.map(([i, ps]) => [i, new Set(ps)]));

  test('line 63: empty I → accept the original', () => {
    assert.equal(decideAfterValidate(I(), Q, 1, P), 'accept-original');
    assert.equal(decideAfterValidate(I(), Q, 3, P), 'accept-original');
  });

  test('line 65, first condition: some pair COMMITTED → Nop', () => {
    assert.equal(decideAfterValidate(I([instanceId(1, 1), ['PREACCEPTED', 'COMMITTED']]), Q, 3, P), 'accept-nop');
  });

  test('line 65, second condition: |Rmax| = |Q|−e and some initCoord(id\') ∉ Q → Nop', () => {
    // other2's coordinator 4 ∉ Q; |Q|−e = 1
    assert.equal(decideAfterValidate(I([other2, ['PREACCEPTED']]), Q, 1, P), 'accept-nop');
  });

  test('otherwise wait (null)', () => {
    assert.equal(decideAfterValidate(I([other2, ['PREACCEPTED']]), Q, 2, P), null, '|Rmax| ≠ |Q|−e');
    assert.equal(decideAfterValidate(I([other1, ['PREACCEPTED', 'ACCEPTED']]), Q, 1, P), null, 'initCoord(other1) = 3 ∈ Q');
  });
});

describe('decideWhileWaiting (lines 69–75)', () => {
  const a = instanceId(5, 1), b = instanceId(5, 2);
  const inst = (i: InstanceId, phase: Phase, c: Payload | null, dep: Deps = none): Instance =>
    ({ id: i, bal: 0, abal: 0, phase, cmd: c, dep, initCmd: c === NOP ? null : c, initDep: dep });
  const withId = makeDeps([id], new Array(n).fill(0));
  const local = (...xs: Instance[]) => (o: InstanceId): Instance | undefined => xs.find((x) => x.id === o);
  const noWaiting = (): number => -1;

  test('lines 70–71: some id\' COMMITTED, not Nop, without id in its dep → Nop', () => {
    const v = decideWhileWaiting(id, [a, b], local(inst(a, 'PREACCEPTED', cmd), inst(b, 'COMMITTED', cmd, none)), noWaiting, P);
    assert.equal(v, 'accept-nop');
  });

  test('lines 72–73: every id\' COMMITTED, each Nop or seeing id → accept the original', () => {
    assert.equal(decideWhileWaiting(id, [a, b], local(inst(a, 'COMMITTED', NOP), inst(b, 'COMMITTED', cmd, withId)), noWaiting, P), 'accept-original');
    // seeing id through the dependency floor counts as well (id has seq 1 of replica 0)
    const viaFloor = makeDeps([], [1, 0, 0, 0, 0]);
    assert.equal(decideWhileWaiting(id, [a], local(inst(a, 'COMMITTED', cmd, viaFloor)), noWaiting, P), 'accept-original');
  });

  test('lines 74–75: a Waiting(id\', k\') with k\' > n−f−e → Nop; k\' = n−f−e is not enough', () => {
    const l = local(inst(a, 'PREACCEPTED', cmd), inst(b, 'ACCEPTED', cmd));
    // n−f−e = 1
    assert.equal(decideWhileWaiting(id, [a, b], l, (o) => (o === b ? 2 : -1), P), 'accept-nop');
    assert.equal(decideWhileWaiting(id, [a, b], l, (o) => (o === b ? 1 : -1), P), null);
  });

  test('otherwise keep waiting (null)', () => {
    assert.equal(decideWhileWaiting(id, [a, b], local(inst(a, 'COMMITTED', cmd, withId)), noWaiting, P), null, 'b unknown locally');
    assert.equal(decideWhileWaiting(id, [a], local(inst(a, 'ACCEPTED', cmd)), noWaiting, P), null);
  });
});

describe('validateAnswer (lines 81–87)', () => {
  const c = batch(put('x', 'v'));
  const D = makeDeps([instanceId(1, 1)], [0, 0, 2, 0, 0]); // names 1.1 explicitly, covers seq ≤ 2 of replica 2
  const inst = (i: InstanceId, phase: Phase, p: Payload | null, dep: Deps, initCmd: Payload | null, initDep: Deps): Instance =>
    ({ id: i, bal: 0, abal: 0, phase, cmd: p, dep, initCmd, initDep });
  const w = batch(put('x', 'w'));
  const r = batch(get('x'));
  const y = batch(put('y', '1'));
  const withId = makeDeps([id], new Array(n).fill(0));

  test('committed branch: conflicting, not Nop, id ∉ dep[id\'] → listed with its phase', () => {
    const x1 = instanceId(3, 1);
    assert.deepEqual(validateAnswer(id, c, D, [inst(x1, 'COMMITTED', w, none, w, none)]), [[x1, 'COMMITTED']]);
    assert.deepEqual(validateAnswer(id, c, D, [inst(x1, 'COMMITTED', r, none, r, none)]), [[x1, 'COMMITTED']], 'a read of x conflicts with a write');
  });

  test('committed branch exclusions: Nop, no conflict, id ∈ dep[id\'] (explicit or via floor)', () => {
    const x1 = instanceId(3, 1);
    assert.deepEqual(validateAnswer(id, c, D, [inst(x1, 'COMMITTED', NOP, none, w, none)]), [], 'Nop');
    assert.deepEqual(validateAnswer(id, c, D, [inst(x1, 'COMMITTED', y, none, y, none)]), [], 'other key');
    assert.deepEqual(validateAnswer(id, c, D, [inst(x1, 'COMMITTED', w, withId, w, none)]), [], 'id ∈ dep');
    assert.deepEqual(validateAnswer(id, c, D, [inst(x1, 'COMMITTED', w, makeDeps([], [1, 0, 0, 0, 0]), w, none)]), [], 'id under dep floor');
  });

  test('non-committed branch uses initCmd and initDep, whatever cmd and dep say', () => {
    const x1 = instanceId(3, 1), x2 = instanceId(4, 3), x3 = instanceId(4, 4);
    const out = validateAnswer(id, c, D, [
      inst(x2, 'ACCEPTED', NOP, none, w, none), // accepted as Nop but its initCmd conflicts: listed
      inst(x1, 'PREACCEPTED', w, withId, w, none), // dep names id, initDep does not: listed
      inst(x3, 'PREACCEPTED', w, none, w, withId), // initDep names id: excluded
    ]);
    assert.deepEqual(out, [[x1, 'PREACCEPTED'], [x2, 'ACCEPTED']], 'sorted by id');
    assert.deepEqual(validateAnswer(id, c, D, [inst(x1, 'INITIAL', null, none, null, none)]), [], 'initCmd ⊥');
    assert.deepEqual(validateAnswer(id, c, D, [inst(x1, 'PREACCEPTED', y, none, y, none)]), [], 'no conflict');
  });

  test('ids in D are excluded, explicitly or through its floor; id itself is excluded', () => {
    const named = instanceId(1, 1), underFloor = instanceId(2, 2), aboveFloor = instanceId(3, 2);
    const out = validateAnswer(id, c, D, [
      inst(named, 'PREACCEPTED', w, none, w, none),
      inst(underFloor, 'COMMITTED', w, none, w, none),
      inst(aboveFloor, 'COMMITTED', w, none, w, none),
      inst(id, 'PREACCEPTED', c, none, c, none),
    ]);
    assert.deepEqual(out, [[aboveFloor, 'COMMITTED']]);
  });
});
