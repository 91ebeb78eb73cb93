import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ballotOwner, initCoord, instanceId, instanceSeq, replicasMax, seqMax } from './ids.ts';
import type { InstanceId } from './ids.ts';
import { NOP } from './types.ts';
import type { Batch, Deps, Message, MessageType, Phase } from './types.ts';
import { batchArbitrary, commandArbitrary, payloadArbitrary } from '../testing/index.ts';
import type { Command } from '../statemachine/commands.ts';
import {
  batchCommandsMax, depsIdsMax, keyBytesMax, leaseMsMax, stringFieldBytesMax, validateCommand,
  snapshotDepthMax, validateEntriesMax, validateMessage, validateSnapshotMessage, valueBytesMax,
} from './validate.ts';

// ---- fixtures (n = 3) -----------------------------------------------------------------------

const n = 3;
const ctx = { n };
/** The instance most examples are about: seq 5, coordinated by replica 1. */
const id = instanceId(5, 1);
/** A recovery ballot owned by replica 2 (5 % 3). */
const b = 5;

function put(): Command {
  return { clientId: 'client-a', requestId: 7, timestampMs: 1_700_000_000_000, op: 'put', key: 'k', value: 'v' };
}
function aBatch(): Batch {
  return { commands: [put(), { clientId: 'client-b', requestId: 0, timestampMs: 0, op: 'get', key: 'k' }] };
}
function aDeps(): Deps {
  // 3.0 and 4.2 are above floor [1, 2, 0]; ascending: 48 < 66.
  return { ids: [instanceId(3, 0), instanceId(4, 2)], floor: [1, 2, 0] };
}

/** One valid message of each type, with a sender allowed to send it. Fresh objects each call. */
function examples(): { from: number; msg: Message }[] {
  return [
    { from: 1, msg: { type: 'PreAccept', id, cmd: aBatch(), dep: aDeps() } },
    { from: 2, msg: { type: 'PreAcceptOK', id, dep: aDeps() } },
    { from: 1, msg: { type: 'Accept', b: 0, id, cmd: aBatch(), dep: aDeps() } },
    { from: 2, msg: { type: 'Accept', b, id, cmd: NOP, dep: { ids: [], floor: [0, 0, 0] } } },
    { from: 0, msg: { type: 'AcceptOK', b, id } },
    { from: 0, msg: { type: 'Commit', b, id, cmd: aBatch(), dep: aDeps() } },
    { from: 2, msg: { type: 'Recover', b, id } },
    {
      from: 0,
      msg: { type: 'RecoverOK', b, id, abal: 3, cmd: aBatch(), dep: aDeps(), initDep: aDeps(), phase: 'ACCEPTED' },
    },
    { from: 2, msg: { type: 'Validate', b, id, cmd: aBatch(), dep: aDeps() } },
    { from: 1, msg: { type: 'ValidateOK', b, id, I: [[instanceId(7, 0), 'PREACCEPTED'], [instanceId(2, 2), 'COMMITTED']] } },
    { from: 2, msg: { type: 'Waiting', id, k: 2 } },
    { from: 0, msg: { type: 'Watermark', executed: [4, 0, 9] } },
  ];
}

function example(type: MessageType): { from: number; msg: Record<string, unknown> } {
  const e = examples().find((x) => x.msg.type === type);
  assert.ok(e);
  return { from: e.from, msg: e.msg as unknown as Record<string, unknown> };
}

/** The example of `type` with `changes` applied (a key set to undefined is deleted). */
function variant(type: MessageType, changes: Record<string, unknown>): Record<string, unknown> {
  const msg = example(type).msg;
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete msg[k];
    else msg[k] = v;
  }
  return msg;
}

/** For assertion messages: never throws, even on hostile or huge values. */
function show(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 200 ? `${s.slice(0, 200)}…` : s;
  } catch {
    return '(unprintable)';
  }
}

/** Asserts rejection and that the reason contains every fragment (message type, field, problem). */
function assertRejected(raw: unknown, from: number, ...fragments: string[]): string {
  const r = validateMessage(raw, from, ctx);
  if (r.ok) assert.fail(`expected rejection of ${show(raw)}`);
  for (const f of fragments) assert.ok(r.reason.includes(f), `reason ${JSON.stringify(r.reason)} lacks ${JSON.stringify(f)}`);
  return r.reason;
}

function assertAccepted(raw: unknown, from: number, n_ = n): Message {
  const r = validateMessage(raw, from, { n: n_ });
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.msg;
}

/** No object or array reachable from `copy` is also reachable from `original`. */
function assertNothingShared(copy: unknown, original: unknown): void {
  const seen = new Set<object>();
  const walk = (v: unknown) => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    for (const child of Object.values(v)) walk(child);
  };
  walk(original);
  const check = (v: unknown, path: string) => {
    if (typeof v !== 'object' || v === null) return;
    assert.ok(!seen.has(v), `${path} is the caller's object`);
    for (const [k, child] of Object.entries(v)) check(child, `${path}.${k}`);
  };
  check(copy, 'msg');
}

// ---- valid messages -------------------------------------------------------------------------

describe('validateMessage: valid messages', () => {
  for (const { from, msg } of examples()) {
    it(`accepts ${msg.type}${'b' in msg ? ` at ballot ${msg.b}` : ''}, returning a fresh equal copy`, () => {
      const copy = assertAccepted(msg, from);
      assert.deepEqual(copy, msg);
      assertNothingShared(copy, msg);
    });
  }

  it('accepts messages that went through JSON and null-prototype objects', () => {
    for (const { from, msg } of examples()) {
      assert.deepEqual(assertAccepted(JSON.parse(JSON.stringify(msg)), from), msg);
      const bare = Object.assign(Object.create(null) as object, msg);
      assert.deepEqual(assertAccepted(bare, from), msg);
    }
  });

  it('lets anyone send the replies, Waiting, Watermark and (relayed) Commit', () => {
    const anyone: MessageType[] = ['PreAcceptOK', 'AcceptOK', 'Commit', 'RecoverOK', 'ValidateOK', 'Waiting', 'Watermark'];
    for (const type of anyone) {
      for (let from = 0; from < n; from++) assertAccepted(example(type).msg, from);
    }
  });

  it('accepts the limits themselves', () => {
    assertAccepted(variant('Waiting', { k: 0 }), 2);
    assertAccepted(variant('Waiting', { k: n }), 2);
    const commands = Array.from({ length: batchCommandsMax }, put);
    assertAccepted(variant('Commit', { cmd: { commands } }), 0);
    const ids = Array.from({ length: depsIdsMax }, (_, i) => instanceId(i + 1, 0));
    assertAccepted(variant('PreAcceptOK', { dep: { ids, floor: [0, 0, 0] } }), 0);
    const I = Array.from({ length: validateEntriesMax }, (_, i) => [instanceId(i + 10, 0), 'INITIAL']);
    assertAccepted(variant('ValidateOK', { I }), 0);
    assertAccepted(variant('Accept', { id: instanceId(seqMax, 1) }), 1);
  });

  it('accepts RecoverOK in INITIAL with no payload, and an Accept at ballot 0 carrying NOP', () => {
    const initial = { abal: 0, cmd: null, phase: 'INITIAL', dep: { ids: [], floor: [0, 0, 0] }, initDep: { ids: [], floor: [0, 0, 0] } };
    assertAccepted(variant('RecoverOK', initial), 1);
    assertAccepted(variant('Accept', { cmd: NOP }), 1);
  });

  it('folds -0 to 0', () => {
    const copy = assertAccepted(variant('Accept', { b: -0 }), 1);
    assert.ok(copy.type === 'Accept' && Object.is(copy.b, 0));
  });
});

// ---- rejections: envelope -------------------------------------------------------------------

describe('validateMessage: envelope', () => {
  it('rejects non-objects and unknown types', () => {
    for (const raw of [null, undefined, 0, 42n, 'PreAccept', true, [], [example('Recover').msg], () => 1, Symbol('x')]) {
      assertRejected(raw, 0, 'message');
    }
    assertRejected({ type: 'Prepare', b, id }, 0, 'message.type', 'unknown message type', 'Prepare');
    assertRejected({ type: '__proto__' }, 0, 'message.type');
    assertRejected({ type: 'toString' }, 0, 'message.type');
    assertRejected({ type: 3 }, 0, 'message.type');
    assertRejected({ b, id }, 0, 'message.type', 'missing');
  });

  it('rejects an unknown sender', () => {
    for (const from of [-1, n, 1.5, NaN, Infinity, '0' as unknown as number, null as unknown as number]) {
      assertRejected(example('Watermark').msg, from, 'Watermark.from', 'unknown sender');
    }
  });

  it('rejects an unknown or missing field (strict)', () => {
    assertRejected(variant('Accept', { extra: 1 }), 1, 'Accept.extra', 'unknown field');
    assertRejected(variant('Accept', { dep: undefined }), 1, 'Accept.dep', 'missing');
    assertRejected(variant('Waiting', { b: 0 }), 2, 'Waiting.b', 'unknown field');
    assertRejected(JSON.parse('{"type":"Recover","b":5,"id":81,"__proto__":{"polluted":1}}'), 2, 'Recover.__proto__', 'unknown field');
    assertRejected({ ...example('Recover').msg, constructor: Object }, 2, 'Recover.constructor', 'unknown field');
    assertRejected({ ...example('Recover').msg, [Symbol('s')]: 1 }, 2, 'Recover[Symbol(s)]', 'unknown field');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('rejects non-plain objects', () => {
    class Impostor { type = 'Watermark'; executed = [0, 0, 0]; }
    assertRejected(new Impostor(), 0, 'message', 'plain object');
    assertRejected(variant('Recover', { id: new Number(id) }), 2, 'Recover.id');
    assertRejected(variant('Commit', { dep: new Map() }), 0, 'Commit.dep', 'plain object');
  });

  it('rejects accessor properties without calling them', () => {
    let calls = 0;
    const msg = example('AcceptOK').msg;
    Object.defineProperty(msg, 'b', { enumerable: true, get: () => { calls++; throw new Error('boom'); } });
    assertRejected(msg, 0, 'AcceptOK.b', 'accessor');
    const floor = [0, 0];
    Object.defineProperty(floor, 2, { enumerable: true, get: () => { calls++; return 0; } });
    assertRejected(variant('PreAcceptOK', { dep: { ids: [], floor } }), 0, 'PreAcceptOK.dep.floor[2]', 'accessor');
    assert.equal(calls, 0);
  });

  it('rejects a context with an impossible number of voters', () => {
    for (const bad of [0, -1, 1.5, replicasMax + 1, NaN]) {
      const r = validateMessage(example('Watermark').msg, 0, { n: bad });
      assert.ok(!r.ok && r.reason.startsWith('ValidationContext.n'));
    }
  });
});

// ---- rejections: ids and ballots ------------------------------------------------------------

describe('validateMessage: instance ids and ballots', () => {
  it('rejects anything but an instance id of one of the n replicas', () => {
    const bad = [0, 1, 15, instanceId(1, n), -16, 16.5, '81', 2 ** 53, Infinity, NaN, null, [81], { id }];
    for (const x of bad) assertRejected(variant('AcceptOK', { id: x }), 0, 'AcceptOK.id', 'instance id');
    assertRejected(variant('ValidateOK', { I: [[17.5, 'INITIAL']] }), 0, 'ValidateOK.I[0][0]', 'instance id');
  });

  it('rejects a ballot that is not a non-negative safe integer', () => {
    for (const x of [-1, 0.5, 2 ** 53, '5', null, Infinity]) {
      assertRejected(variant('AcceptOK', { b: x }), 0, 'AcceptOK.b', 'non-negative safe integer');
    }
  });

  it('accepts PreAccept only from initCoord(id)', () => {
    assertRejected(example('PreAccept').msg, 0, 'PreAccept.id', 'initial coordinator');
    assertRejected(example('PreAccept').msg, 2, 'PreAccept.id', 'initial coordinator');
  });

  it('accepts Accept only from the ballot owner (ballot 0 is initCoord(id)\'s)', () => {
    assertRejected(variant('Accept', { b: 0 }), 0, 'Accept.b', 'unknown ballot owner');
    assertRejected(variant('Accept', { b: 0 }), 2, 'Accept.b', 'unknown ballot owner');
    assertRejected(variant('Accept', { b }), 1, 'Accept.b', 'unknown ballot owner');
    assertAccepted(variant('Accept', { b }), 2);
  });

  it('accepts Recover and Validate only at an owned ballot above 0', () => {
    for (const type of ['Recover', 'Validate'] as const) {
      assertRejected(variant(type, { b: 0 }), 1, `${type}.b`, '> 0');
      assertRejected(variant(type, { b }), 0, `${type}.b`, 'unknown ballot owner');
      assertRejected(variant(type, { b: 6 }), 2, `${type}.b`, 'unknown ballot owner');
      assertAccepted(variant(type, { b: 6 }), 0);
    }
  });

  it('rejects the replies to recovery at ballot 0', () => {
    assertRejected(variant('RecoverOK', { b: 0, abal: 0 }), 0, 'RecoverOK.b', '> 0');
    assertRejected(variant('ValidateOK', { b: 0 }), 0, 'ValidateOK.b', '> 0');
  });
});

// ---- rejections: dependency sets ------------------------------------------------------------

describe('validateMessage: dependency sets', () => {
  const withDep = (dep: unknown) => variant('PreAcceptOK', { dep });

  it('names the floor length exactly', () => {
    const reason = assertRejected(variant('Accept', { dep: { ids: [], floor: [0, 0] } }), 1);
    assert.equal(reason, 'Accept.dep.floor: expected 3 entries, got 2');
    assertRejected(withDep({ ids: [], floor: [0, 0, 0, 0] }), 0, 'PreAcceptOK.dep.floor', 'expected 3 entries, got 4');
  });

  it('rejects floor entries that are not non-negative safe integers', () => {
    for (const x of [-1, 0.5, '1', null, 2 ** 53]) {
      assertRejected(withDep({ ids: [], floor: [0, x, 0] }), 0, 'PreAcceptOK.dep.floor[1]');
    }
  });

  it('rejects ids that are not canonical', () => {
    const a = instanceId(3, 0);
    const c = instanceId(4, 2);
    const floor = [1, 2, 0];
    assertRejected(withDep({ ids: [c, a], floor }), 0, 'PreAcceptOK.dep.ids[1]', 'strictly ascending');
    assertRejected(withDep({ ids: [a, a], floor }), 0, 'PreAcceptOK.dep.ids[1]', 'strictly ascending');
    assertRejected(withDep({ ids: [instanceId(1, 0), c], floor }), 0, 'PreAcceptOK.dep.ids[0]', 'at or below the floor');
    assertRejected(withDep({ ids: [instanceId(1, 2), instanceId(2, 1)], floor }), 0, 'PreAcceptOK.dep.ids[1]', 'at or below the floor');
    assertRejected(withDep({ ids: [a, id], floor }), 0, 'PreAcceptOK.dep.ids[1]', 'itself');
    assertRejected(withDep({ ids: [a, instanceId(9, 5)], floor }), 0, 'PreAcceptOK.dep.ids[1]', 'instance id');
  });

  it('rejects malformed dependency sets', () => {
    assertRejected(withDep(null), 0, 'PreAcceptOK.dep', 'expected an object');
    assertRejected(withDep([]), 0, 'PreAcceptOK.dep', 'expected an object');
    assertRejected(withDep({ ids: [] }), 0, 'PreAcceptOK.dep.floor', 'missing');
    assertRejected(withDep({ ids: {}, floor: [0, 0, 0] }), 0, 'PreAcceptOK.dep.ids', 'expected an array');
    assertRejected(withDep({ ids: [], floor: [0, 0, 0], seq: 1 }), 0, 'PreAcceptOK.dep.seq', 'unknown field');
    // eslint-disable-next-line no-sparse-arrays
    assertRejected(withDep({ ids: [], floor: [0, , 0] }), 0, 'PreAcceptOK.dep.floor[1]', 'sparse');
  });

  it(`rejects more than ${depsIdsMax} ids, without reading a huge sparse array`, () => {
    const ids = Array.from({ length: depsIdsMax + 1 }, (_, i) => instanceId(i + 1, 0));
    assertRejected(withDep({ ids, floor: [0, 0, 0] }), 0, 'PreAcceptOK.dep.ids', `at most ${depsIdsMax}`);
    assertRejected(withDep({ ids: new Array(2 ** 32 - 1), floor: [0, 0, 0] }), 0, 'PreAcceptOK.dep.ids', 'at most');
  });

  it('checks RecoverOK.dep and RecoverOK.initDep alike', () => {
    assertRejected(variant('RecoverOK', { initDep: { ids: [], floor: [] } }), 0, 'RecoverOK.initDep.floor', 'expected 3 entries, got 0');
    assertRejected(variant('RecoverOK', { dep: { ids: [], floor: [] } }), 0, 'RecoverOK.dep.floor');
  });
});

// ---- rejections: payloads, phases, recovery replies -----------------------------------------

describe('validateMessage: payloads', () => {
  it('requires a batch, not NOP, in PreAccept and Validate', () => {
    assertRejected(variant('PreAccept', { cmd: NOP }), 1, 'PreAccept.cmd', 'NOP');
    assertRejected(variant('Validate', { cmd: NOP }), 2, 'Validate.cmd', 'NOP');
  });

  it('takes "NOP" or a batch of 1..batchCommandsMax commands, nothing else', () => {
    for (const cmd of ['nop', 'Nop', '', null, 0, [], [put()], { commands: put() }]) {
      assertRejected(variant('Accept', { cmd }), 1, 'Accept.cmd');
    }
    assertRejected(variant('Commit', { cmd: { commands: [] } }), 0, 'Commit.cmd.commands', 'at least 1');
    const tooMany = Array.from({ length: batchCommandsMax + 1 }, put);
    assertRejected(variant('Commit', { cmd: { commands: tooMany } }), 0, 'Commit.cmd.commands', `at most ${batchCommandsMax}`);
    assertRejected(variant('Commit', { cmd: { commands: [put()], id: 1 } }), 0, 'Commit.cmd.id', 'unknown field');
  });

  it('names the bad command inside a batch', () => {
    const bad = { ...put(), key: 7 };
    assertRejected(variant('Accept', { cmd: { commands: [put(), bad] } }), 1, 'Accept.cmd.commands[1].key');
    assertRejected(variant('PreAccept', { cmd: { commands: [{ ...put(), op: 'drop' }] } }), 1, 'PreAccept.cmd.commands[0].op', 'unknown operation');
  });

  it('allows RecoverOK.cmd to be null only before ACCEPTED (INV4)', () => {
    assertRejected(variant('RecoverOK', { cmd: null }), 0, 'RecoverOK.cmd', 'null');
    assertRejected(variant('RecoverOK', { cmd: null, phase: 'COMMITTED' }), 0, 'RecoverOK.cmd', 'null');
    assertAccepted(variant('RecoverOK', { cmd: null, phase: 'PREACCEPTED', abal: 0 }), 0);
    assertAccepted(variant('RecoverOK', { cmd: NOP, phase: 'COMMITTED' }), 0);
  });
});

describe('validateMessage: phases and recovery replies', () => {
  it('rejects an unknown phase', () => {
    for (const phase of ['committed', 'EXECUTED', '', 3, null]) {
      assertRejected(variant('RecoverOK', { phase }), 0, 'RecoverOK.phase');
    }
    assertRejected(variant('ValidateOK', { I: [[instanceId(7, 0), 'DONE']] }), 0, 'ValidateOK.I[0][1]', 'phase');
  });

  it('requires abal ≤ b, and abal = 0 in INITIAL and PREACCEPTED (INV3)', () => {
    assertRejected(variant('RecoverOK', { abal: b + 1 }), 0, 'RecoverOK.abal', 'exceeds');
    assertAccepted(variant('RecoverOK', { abal: b }), 0);
    assertRejected(variant('RecoverOK', { phase: 'INITIAL', abal: 1 }), 0, 'RecoverOK.abal', 'INITIAL');
    assertRejected(variant('RecoverOK', { phase: 'PREACCEPTED', abal: 2 }), 0, 'RecoverOK.abal', 'PREACCEPTED');
  });

  it('rejects malformed ValidateOK.I', () => {
    assertRejected(variant('ValidateOK', { I: {} }), 0, 'ValidateOK.I', 'expected an array');
    assertRejected(variant('ValidateOK', { I: [[instanceId(7, 0)]] }), 0, 'ValidateOK.I[0]', 'expected 2 entries, got 1');
    assertRejected(variant('ValidateOK', { I: [[instanceId(7, 0), 'INITIAL', 1]] }), 0, 'ValidateOK.I[0]', 'expected 2 entries, got 3');
    assertRejected(variant('ValidateOK', { I: [{ 0: instanceId(7, 0), 1: 'INITIAL' }] }), 0, 'ValidateOK.I[0]', 'expected an array');
    assertRejected(variant('ValidateOK', { I: [[id, 'INITIAL']] }), 0, 'ValidateOK.I[0][0]', 'itself');
    const tooMany = Array.from({ length: validateEntriesMax + 1 }, (_, i) => [instanceId(i + 10, 0), 'INITIAL']);
    assertRejected(variant('ValidateOK', { I: tooMany }), 0, 'ValidateOK.I', `at most ${validateEntriesMax}`);
  });

  it('requires Waiting.k to be an integer of 0..n', () => {
    for (const k of [-1, n + 1, 1.5, '2', null, NaN]) assertRejected(variant('Waiting', { k }), 0, 'Waiting.k');
  });

  it('requires Watermark.executed to hold n non-negative safe integers', () => {
    assertRejected({ type: 'Watermark', executed: [0, 0] }, 0, 'Watermark.executed', 'expected 3 entries, got 2');
    assertRejected({ type: 'Watermark', executed: [0, -1, 0] }, 0, 'Watermark.executed[1]');
    assertRejected({ type: 'Watermark', executed: [0, 0, 0.5] }, 0, 'Watermark.executed[2]');
    assertRejected({ type: 'Watermark', executed: '0,0,0' }, 0, 'Watermark.executed', 'expected an array');
  });

  it('takes a Watermark with or without the floor, which must not pass the sender\'s own prefix', () => {
    const ok = (msg: unknown): Message => assertAccepted(msg, 0, 3);
    assert.deepEqual(ok({ type: 'Watermark', executed: [4, 0, 9], floor: [4, 0, 2] }), { type: 'Watermark', executed: [4, 0, 9], floor: [4, 0, 2] });
    // From an agent before the floor was relayed: the wire decodes the missing field as empty.
    assert.deepEqual(ok({ type: 'Watermark', executed: [4, 0, 9], floor: [] }), { type: 'Watermark', executed: [4, 0, 9] });
    assertRejected({ type: 'Watermark', executed: [4, 0, 9], floor: [4, 1, 2] }, 0, 'Watermark.floor[1]', 'above the sender\'s own executed prefix');
    assertRejected({ type: 'Watermark', executed: [4, 0, 9], floor: [4, 0] }, 0, 'Watermark.floor', 'expected 3 entries, got 2');
    assertRejected({ type: 'Watermark', executed: [4, 0, 9], floor: [4, 0, -1] }, 0, 'Watermark.floor[2]');
  });
});

// ---- commands -------------------------------------------------------------------------------

const envelope = { clientId: 'c', requestId: 1, timestampMs: 1000 };
const commandExamples: Command[] = [
  { ...envelope, op: 'get', key: 'k' },
  { ...envelope, op: 'put', key: 'k', value: 'v' },
  { ...envelope, op: 'delete', key: 'k' },
  { ...envelope, op: 'cas', key: 'k', expected: null, value: 'v' },
  { ...envelope, op: 'cas', key: 'k', expected: 'v', value: null },
  { ...envelope, op: 'task.create', taskId: 't', spec: '{}' },
  { ...envelope, op: 'task.claim', taskId: 't', worker: 'w', leaseMs: 30_000 },
  { ...envelope, op: 'task.renew', taskId: 't', worker: 'w', token: 3, leaseMs: leaseMsMax },
  { ...envelope, op: 'task.complete', taskId: 't', worker: 'w', token: 3, result: 'done' },
  { ...envelope, op: 'task.release', taskId: 't', worker: 'w', token: 0 },
  { ...envelope, op: 'task.get', taskId: 't' },
];

function assertCommandRejected(raw: unknown, ...fragments: string[]): void {
  const r = validateCommand(raw);
  if (r.ok) assert.fail(`expected rejection of ${show(raw)}`);
  for (const f of fragments) assert.ok(r.reason.includes(f), `reason ${JSON.stringify(r.reason)} lacks ${JSON.stringify(f)}`);
}

describe('validateCommand', () => {
  for (const c of commandExamples) {
    it(`accepts ${c.op}, returning a fresh equal copy`, () => {
      const r = validateCommand(c);
      assert.ok(r.ok, r.ok ? '' : r.reason);
      assert.deepEqual(r.command, c);
      assert.notEqual(r.command, c);
    });
  }

  it('checks the envelope', () => {
    const get = { ...envelope, op: 'get', key: 'k' };
    assertCommandRejected({ ...get, clientId: '' }, 'command.clientId', 'empty');
    assertCommandRejected({ ...get, clientId: 5 }, 'command.clientId');
    assertCommandRejected({ ...get, clientId: undefined }, 'command.clientId');
    for (const x of [-1, 1.5, 2 ** 53, '1', null]) assertCommandRejected({ ...get, requestId: x }, 'command.requestId');
    for (const x of [-1, 0.5, Infinity, NaN, 2 ** 53]) assertCommandRejected({ ...get, timestampMs: x }, 'command.timestampMs');
    const { clientId: _, ...noClient } = get;
    assertCommandRejected(noClient, 'command.clientId', 'missing');
  });

  it('accepts exactly the shapes of commands.ts', () => {
    assertCommandRejected({ ...envelope, op: 'increment', key: 'k' }, 'command.op', 'unknown operation');
    assertCommandRejected({ ...envelope, key: 'k' }, 'command.op', 'missing');
    assertCommandRejected({ ...envelope, op: 'get', key: 'k', value: 'v' }, 'command.value', 'unknown field');
    assertCommandRejected({ ...envelope, op: 'put', key: 'k' }, 'command.value', 'missing');
    assertCommandRejected({ ...envelope, op: 'cas', key: 'k', value: 'v' }, 'command.expected', 'missing');
    assertCommandRejected({ ...envelope, op: 'cas', key: 'k', expected: 1, value: 'v' }, 'command.expected');
    assertCommandRejected({ ...envelope, op: 'put', key: 'k', value: null }, 'command.value');
    assertCommandRejected({ ...envelope, op: 'task.claim', taskId: 't', worker: 'w' }, 'command.leaseMs', 'missing');
    assertCommandRejected({ ...envelope, op: 'task.get', taskId: 't', ['__proto__']: null }, 'command.__proto__', 'unknown field');
  });

  it('bounds leases and tokens', () => {
    const claim = { ...envelope, op: 'task.claim', taskId: 't', worker: 'w' };
    for (const leaseMs of [0, -1, 1.5, leaseMsMax + 1, '1000']) assertCommandRejected({ ...claim, leaseMs }, 'command.leaseMs');
    assert.ok(validateCommand({ ...claim, leaseMs: 1 }).ok);
    const release = { ...envelope, op: 'task.release', taskId: 't', worker: 'w' };
    for (const token of [-1, 0.5, '1', null]) assertCommandRejected({ ...release, token }, 'command.token');
  });

  it('measures strings in UTF-8 bytes, not UTF-16 code units', () => {
    const get = (key: string) => validateCommand({ ...envelope, op: 'get', key });
    assert.ok(get('é'.repeat(keyBytesMax / 2)).ok); // 2 bytes each: exactly the limit
    assertCommandRejected({ ...envelope, op: 'get', key: 'é'.repeat(keyBytesMax / 2) + 'x' }, 'command.key', `${keyBytesMax} UTF-8 bytes`);
    assertCommandRejected({ ...envelope, op: 'get', key: '😀'.repeat(keyBytesMax / 4 + 1) }, 'command.key');
    assert.ok(get('😀'.repeat(keyBytesMax / 4)).ok);
    assertCommandRejected({ ...envelope, op: 'get', key: 'x'.repeat(keyBytesMax + 1) }, 'command.key');
    const value = 'v'.repeat(valueBytesMax);
    assert.ok(validateCommand({ ...envelope, op: 'put', key: 'k', value }).ok);
    assertCommandRejected({ ...envelope, op: 'put', key: 'k', value: value + 'v' }, 'command.value');
    const long = 'w'.repeat(stringFieldBytesMax + 1);
    assertCommandRejected({ ...envelope, clientId: long, op: 'get', key: 'k' }, 'command.clientId');
    assertCommandRejected({ ...envelope, op: 'task.get', taskId: long }, 'command.taskId');
    assertCommandRejected({ ...envelope, op: 'task.release', taskId: 't', worker: long, token: 0 }, 'command.worker');
  });

  it('rejects strings with a lone surrogate (they have no UTF-8 form)', () => {
    for (const key of ['\ud800', 'a\udc00', '\ude00\ud83d']) {
      assertCommandRejected({ ...envelope, op: 'get', key }, 'command.key', 'lone surrogate');
    }
  });
});

// ---- hostile inputs -------------------------------------------------------------------------

describe('validateMessage: hostile inputs never throw', () => {
  const trapsThatThrow: ProxyHandler<object> = {
    get() { throw new Error('get'); },
    getOwnPropertyDescriptor() { throw new Error('gopd'); },
    ownKeys() { throw new Error('ownKeys'); },
    getPrototypeOf() { throw new Error('proto'); },
    has() { throw new Error('has'); },
  };

  it('survives proxies whose traps throw, even when they throw proxies', () => {
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    const throwsProxy = new Proxy({}, { getPrototypeOf() { throw new Proxy({}, trapsThatThrow); } });
    const inputs: unknown[] = [
      new Proxy({}, trapsThatThrow),
      new Proxy([], trapsThatThrow),
      revocable.proxy,
      throwsProxy,
      variant('Commit', { dep: revocable.proxy }),
      variant('Commit', { cmd: { commands: [new Proxy({}, trapsThatThrow)] } }),
    ];
    for (const raw of inputs) {
      const r = validateMessage(raw, 0, ctx);
      assert.equal(r.ok, false);
      assert.ok(!r.ok && typeof r.reason === 'string' && r.reason.length > 0);
      assert.equal(validateCommand(raw).ok, false);
    }
  });

  it('never calls toString, valueOf or toJSON of what it received', () => {
    const poisoned = {
      toString() { throw new Error('toString'); },
      valueOf() { throw new Error('valueOf'); },
      toJSON() { throw new Error('toJSON'); },
      [Symbol.toPrimitive]() { throw new Error('toPrimitive'); },
    };
    for (const key of ['b', 'id', 'cmd', 'dep', 'type']) {
      assert.equal(validateMessage(variant('Accept', { [key]: poisoned }), 1, ctx).ok, false);
    }
    assert.equal(validateMessage(example('Watermark').msg, poisoned as unknown as number, ctx).ok, false);
  });

  it('rejects deeply nested junk without recursing into it', () => {
    let deep: unknown = {};
    for (let i = 0; i < 100_000; i++) deep = { commands: [deep] };
    assertRejected(variant('Commit', { cmd: deep }), 0, 'Commit.cmd.commands[0]');
    assertRejected(deep, 0, 'message.type');
  });
});

// ---- properties -----------------------------------------------------------------------------

const messageTypes: MessageType[] = [
  'PreAccept', 'PreAcceptOK', 'Accept', 'AcceptOK', 'Commit', 'Recover', 'RecoverOK', 'Validate', 'ValidateOK', 'Waiting', 'Watermark',
];
const phaseNames: Phase[] = ['INITIAL', 'PREACCEPTED', 'ACCEPTED', 'COMMITTED'];

const arbN = fc.integer({ min: 1, max: replicasMax });
const arbSeq = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constant(seqMax));
const arbId = (n_: number) => fc.tuple(arbSeq, fc.nat({ max: n_ - 1 })).map(([seq, c]) => instanceId(seq, c));
const arbCount = fc.oneof(fc.nat({ max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER));
const arbText = fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 8 }));
const arbCommand = commandArbitrary(arbText, arbCount);
const arbBatch = batchArbitrary(arbCommand);
const arbPayload = payloadArbitrary(arbBatch);

/** A canonical dependency set for instance `self`. */
function arbDeps(n_: number, self: InstanceId): fc.Arbitrary<Deps> {
  return fc
    .tuple(fc.array(fc.nat({ max: 20 }), { minLength: n_, maxLength: n_ }), fc.uniqueArray(arbId(n_), { maxLength: 6 }))
    .map(([floor, ids]) => ({
      floor,
      ids: ids.filter((x) => x !== self && instanceSeq(x) > floor[initCoord(x)]).sort((x, y) => x - y),
    }));
}

interface Sent { readonly n: number; readonly from: number; readonly msg: Message }

/** A valid message for some n, with a sender allowed to send it. */
const arbSent: fc.Arbitrary<Sent> = arbN.chain((n_) => arbId(n_).chain((id_) => {
  const anyone = fc.nat({ max: n_ - 1 });
  const recoveryBallot = fc.integer({ min: 1, max: 1_000_000 });
  const sent = (from: number, msg: Message): Sent => ({ n: n_, from, msg });
  const dep = arbDeps(n_, id_);
  return fc.oneof(
    fc.tuple(arbBatch, dep).map(([cmd, d]) => sent(initCoord(id_), { type: 'PreAccept', id: id_, cmd, dep: d })),
    fc.tuple(anyone, dep).map(([from, d]) => sent(from, { type: 'PreAcceptOK', id: id_, dep: d })),
    fc.tuple(fc.nat({ max: 1000 }), arbPayload, dep)
      .map(([b_, cmd, d]) => sent(ballotOwner(b_, n_, id_), { type: 'Accept', b: b_, id: id_, cmd, dep: d })),
    fc.tuple(anyone, arbCount).map(([from, b_]) => sent(from, { type: 'AcceptOK', b: b_, id: id_ })),
    fc.tuple(anyone, arbCount, arbPayload, dep).map(([from, b_, cmd, d]) => sent(from, { type: 'Commit', b: b_, id: id_, cmd, dep: d })),
    recoveryBallot.map((b_) => sent(b_ % n_, { type: 'Recover', b: b_, id: id_ })),
    fc.tuple(anyone, recoveryBallot, fc.constantFrom(...phaseNames), fc.nat(), arbPayload, fc.boolean(), dep, dep)
      .map(([from, b_, phase, a, payload, none, d, initDep]) => {
        const early = phase === 'INITIAL' || phase === 'PREACCEPTED';
        const abal = early ? 0 : a % (b_ + 1);
        const cmd = early && none ? null : payload;
        return sent(from, { type: 'RecoverOK', b: b_, id: id_, abal, cmd, dep: d, initDep, phase });
      }),
    fc.tuple(recoveryBallot, arbBatch, dep).map(([b_, cmd, d]) => sent(b_ % n_, { type: 'Validate', b: b_, id: id_, cmd, dep: d })),
    fc.tuple(anyone, recoveryBallot, fc.array(fc.tuple(arbId(n_), fc.constantFrom(...phaseNames)), { maxLength: 4 }))
      .map(([from, b_, I]) => sent(from, { type: 'ValidateOK', b: b_, id: id_, I: I.filter(([x]) => x !== id_) })),
    fc.tuple(anyone, fc.nat({ max: n_ })).map(([from, k]) => sent(from, { type: 'Waiting', id: id_, k })),
    fc.tuple(anyone, fc.array(arbCount, { minLength: n_, maxLength: n_ }))
      .map(([from, executed]) => sent(from, { type: 'Watermark', executed })),
  );
}));

type Kind = 'null' | 'array' | 'object' | 'string' | 'number' | 'boolean' | 'undefined' | 'bigint';
function kindOf(v: unknown): Kind {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v as Kind;
}

/** Every path to a field or entry of `v`, as the validator names them ("dep.ids[0]"). */
function paths(v: unknown, prefix = ''): string[] {
  if (typeof v !== 'object' || v === null) return [];
  const out: string[] = [];
  for (const [k, child] of Object.entries(v)) {
    const p = Array.isArray(v) ? `${prefix}[${k}]` : prefix === '' ? k : `${prefix}.${k}`;
    out.push(p, ...paths(child, p));
  }
  return out;
}

function getAt(root: unknown, path: string): unknown {
  return path.split(/\.|(?=\[)/).reduce<unknown>((v, step) => (v as Record<string, unknown>)[step.replace(/^\[|\]$/g, '')], root);
}

function setAt(root: unknown, path: string, value: unknown): void {
  const steps = path.split(/\.|(?=\[)/).map((s) => s.replace(/^\[|\]$/g, ''));
  const last = steps.pop() as string;
  const parent = steps.reduce<unknown>((v, step) => (v as Record<string, unknown>)[step], root);
  (parent as Record<string, unknown>)[last] = value;
}

describe('properties', () => {
  it('arbitrary values never throw, and are rejected with a reason (none is a valid message)', () => {
    const keys = fc.oneof(fc.string(), fc.constantFrom('type', 'b', 'id', 'cmd', 'dep', 'ids', 'floor', 'commands', '__proto__', 'constructor'));
    const raws = fc.oneof(
      fc.anything({ key: keys, withNullPrototype: true, withBigInt: true, withMap: true, withTypedArray: true, withSparseArray: true }),
      fc.jsonValue(),
      fc.record({ type: fc.constantFrom(...messageTypes) }).chain((head) =>
        fc.dictionary(keys, fc.anything({ key: keys }), { maxKeys: 6 }).map((rest) => ({ ...rest, ...head }))),
    );
    // None of these generators aims at the schema: a valid message needs every field of its type,
    // with the right kinds and ranges, and nothing else, which random values practically never
    // are. So every value must be refused with a reason: a validator that let anything through
    // fails here (an acceptance is printed as the counterexample, for a human to judge).
    // "Never throw" and "with a reason" mean the validator's own: the API catches whatever is
    // thrown inside and answers "unreadable input (a proxy trap threw)", which is right for an
    // attacker's proxy but, with no proxies here, would be the validator crashing on its input.
    // So each reason must name the field at fault ("Accept.dep.floor: …", "command.op: …").
    const ownReason = new RegExp(`^(message|command|${messageTypes.join('|')})([.[].*)?: \\S`, 's');
    const assertOwnReason = (r: { ok: boolean; reason?: string }, raw: unknown): void => {
      assert.equal(r.ok, false, `accepted ${fc.stringify(raw).slice(0, 200)}`);
      assert.match(r.reason ?? '', ownReason);
      assert.doesNotMatch(r.reason ?? '', /unreadable input/, `the validator threw on ${fc.stringify(raw).slice(0, 200)}`);
    };
    fc.assert(fc.property(raws, fc.integer({ min: -1, max: 17 }), arbN, (raw, from, n_) => {
      assertOwnReason(validateMessage(raw, from, { n: n_ }), raw);
      assertOwnReason(validateCommand(raw), raw);
    }), { numRuns: 1000 });
  });

  it('valid messages are accepted, copied, and survive a JSON round trip', () => {
    fc.assert(fc.property(arbSent, ({ n: n_, from, msg }) => {
      const copy = assertAccepted(msg, from, n_);
      assert.deepEqual(copy, msg);
      assertNothingShared(copy, msg);
      assert.deepEqual(assertAccepted(JSON.parse(JSON.stringify(msg)), from, n_), msg);
    }), { numRuns: 500 });
  });

  it('changing one field or entry of a valid message to a value of another kind gets it rejected, naming that field', () => {
    const wrong = fc.oneof(
      fc.constant(null), fc.constant(undefined), fc.boolean(), fc.double(), fc.integer(), fc.string(), fc.constant('NOP'),
      fc.bigInt(), fc.array(fc.anything(), { maxLength: 3 }), fc.dictionary(fc.string(), fc.anything(), { maxKeys: 3 }),
    );
    fc.assert(fc.property(arbSent, fc.nat(), wrong, ({ n: n_, from, msg }, pick, value) => {
      const all = paths(msg);
      const path = all[pick % all.length];
      const before = getAt(msg, path);
      fc.pre(kindOf(value) !== kindOf(before));
      // These fields legitimately take more than one kind.
      fc.pre(!(path === 'cmd' && (value === NOP || value === null)));
      fc.pre(!(/\.(expected|value)$/.test(path) && (typeof value === 'string' || value === null)));
      const mutated = structuredClone(msg) as unknown;
      setAt(mutated, path, value);
      const r = validateMessage(mutated, from, { n: n_ });
      if (r.ok) assert.fail(`accepted ${path} = ${show(value)}`);
      const expected = path === 'type' ? 'message.type' : `${msg.type}.${path}`;
      assert.ok(r.reason.startsWith(expected), `reason ${JSON.stringify(r.reason)} does not name ${expected}`);
    }), { numRuns: 1000 });
  });

  it('Accept, Recover and Validate are accepted exactly from the ballot owner', () => {
    fc.assert(fc.property(arbN, fc.nat({ max: 100 }), fc.nat({ max: 15 }), fc.nat({ max: 15 }), (n_, b_, c, from) => {
      fc.pre(c < n_ && from < n_);
      const id_ = instanceId(9, c);
      const dep = { ids: [], floor: new Array<number>(n_).fill(0) };
      const owner = from === ballotOwner(b_, n_, id_);
      assert.equal(validateMessage({ type: 'Accept', b: b_, id: id_, cmd: NOP, dep }, from, { n: n_ }).ok, owner);
      assert.equal(validateMessage({ type: 'Recover', b: b_, id: id_ }, from, { n: n_ }).ok, owner && b_ > 0);
      assert.equal(validateMessage({ type: 'Validate', b: b_, id: id_, cmd: aBatch(), dep }, from, { n: n_ }).ok, owner && b_ > 0);
      assert.equal(validateMessage({ type: 'PreAccept', id: id_, cmd: aBatch(), dep }, from, { n: n_ }).ok, from === c);
    }));
  });

  it('a dependency set is accepted exactly when it is canonical', () => {
    fc.assert(fc.property(arbN.chain((n_) => fc.tuple(
      fc.constant(n_),
      fc.array(fc.tuple(fc.integer({ min: 1, max: 8 }), fc.nat({ max: n_ - 1 })).map(([s, c]) => instanceId(s, c)), { maxLength: 6 }),
      fc.array(fc.nat({ max: 6 }), { minLength: n_, maxLength: n_ }),
    )), ([n_, ids, floor]) => {
      const self = instanceId(4, 0);
      const canonical = ids.every((x, i) => (i === 0 || x > ids[i - 1]) && instanceSeq(x) > floor[initCoord(x)] && x !== self);
      const r = validateMessage({ type: 'PreAcceptOK', id: self, dep: { ids, floor } }, 0, { n: n_ });
      assert.equal(r.ok, canonical, r.ok ? 'accepted' : r.reason);
    }), { numRuns: 500 });
  });

  it('a key is accepted exactly when it is well-formed and fits keyBytesMax UTF-8 bytes', () => {
    const unit = fc.oneof(
      fc.constantFrom('a', 'é', '€', '😀'),
      fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)), // lone surrogates included
    );
    const arbKey = fc.tuple(fc.string({ unit, minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 1100 }))
      .map(([base, length]) => base.repeat(Math.ceil(length / base.length)).slice(0, length));
    fc.assert(fc.property(arbKey, (key) => {
      const wellFormed = !/\p{Cs}/u.test(key);
      const fits = new TextEncoder().encode(key).length <= keyBytesMax;
      assert.equal(validateCommand({ ...envelope, op: 'get', key }).ok, wellFormed && fits);
    }), { numRuns: 500 });
  });
});

describe('validateSnapshotMessage (Covey state transfer)', () => {
  const machine = { version: 1, kv: [['a', '1']], tasks: [], clients: [['c', [[1, { ok: true }]]]] };
  const good = () => ({ type: 'Snapshot', machine, applied: [5, 2, 0], appliedAbove: [instanceId(2, 2), instanceId(4, 1)], truncated: [4, 2, 0] });

  it('accepts a well-formed snapshot and returns a fresh deep copy', () => {
    const raw = good();
    const v = validateSnapshotMessage(raw, 0, ctx);
    assert.ok(v.ok, v.ok ? '' : v.reason);
    assert.deepEqual(v.msg, raw);
    assert.notEqual(v.msg.machine, raw.machine);
    assert.notEqual((v.msg.machine as { kv: unknown[] }).kv[0], machine.kv[0]);
  });

  const bad: [string, (m: Record<string, unknown>) => void, RegExp][] = [
    ['wrong type', (m) => { m.type = 'Watermark'; }, /Snapshot.type: expected "Snapshot"/],
    ['unknown field', (m) => { m.extra = 1; }, /Snapshot.extra: unknown field/],
    ['applied of the wrong length', (m) => { m.applied = [1, 2]; }, /Snapshot.applied: expected 3 entries, got 2/],
    ['negative applied', (m) => { m.applied = [1, -2, 0]; }, /Snapshot.applied\[1\]/],
    ['truncated above applied', (m) => { m.truncated = [6, 0, 0]; }, /Snapshot.truncated\[0\]: 6 is above applied\[0\] = 5/],
    ['an above id within the prefix', (m) => { m.appliedAbove = [instanceId(2, 0)]; }, /within the applied prefix/],
    ['above ids not ascending', (m) => { m.appliedAbove = [instanceId(4, 1), instanceId(2, 2)]; }, /not strictly ascending/],
    ['an above id of an unknown replica', (m) => { m.appliedAbove = [instanceId(9, 7)]; }, /expected an instance id of one of 3 replicas/],
    ['a non-finite number in the machine', (m) => { m.machine = { x: Infinity }; }, /Snapshot.machine.x: expected a finite number/],
    ['a function in the machine', (m) => { m.machine = { x: () => 1 }; }, /Snapshot.machine.x/],
    ['an accessor in the machine', (m) => { m.machine = Object.defineProperty({}, 'x', { get: () => 1, enumerable: true }); }, /accessor properties are not allowed/],
    ['a __proto__ key in the machine', (m) => { m.machine = JSON.parse('{"__proto__": {"polluted": 1}}'); }, /not allowed as a key/],
    ['a lone surrogate in the machine', (m) => { m.machine = ['\ud800']; }, /lone surrogate/],
  ];
  for (const [what, edit, reason] of bad) {
    it(`refuses ${what}`, () => {
      const m = good() as Record<string, unknown>;
      edit(m);
      const v = validateSnapshotMessage(m, 0, ctx);
      assert.equal(v.ok, false);
      if (!v.ok) assert.match(v.reason, reason);
    });
  }

  it('refuses nesting deeper than the limit and never throws on hostile input', () => {
    let deep: unknown = 1;
    for (let i = 0; i < snapshotDepthMax + 2; i++) deep = [deep];
    const v = validateSnapshotMessage({ ...good(), machine: deep }, 0, ctx);
    assert.equal(v.ok, false);
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    for (const raw of [null, 1, 'x', [], revoked.proxy, { ...good(), machine: revoked.proxy }]) {
      assert.equal(validateSnapshotMessage(raw, 0, ctx).ok, false);
    }
    assert.equal(validateSnapshotMessage(good(), 3, ctx).ok, false, 'unknown sender');
  });
});
