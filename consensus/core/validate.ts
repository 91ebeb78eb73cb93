// Validation of consensus messages at the edge of the pure core (PROTOCOL.md §2, §4, §12).
//
// A message from the network is attacker-shaped until proven otherwise: the core's handlers
// assume well-formed ids, owned ballots and canonical dependency sets, so everything is checked
// here, once, before a message becomes an Event. The validator
//   - never throws: any input, including proxies and accessors, yields `{ ok: false, reason }`;
//   - never runs attacker code it can avoid: fields are read as own data-property descriptors,
//     so getters are rejected without being called, and each field is read exactly once;
//   - is strict: unknown fields, holes in arrays and non-plain objects are rejected;
//   - returns a fresh copy holding only known fields, so the core never keeps the sender's object.
// A reason names the message type and the field, e.g. "Accept.dep.floor: expected 3 entries, got 2".
//
// Pure core: no clock, timer, randomness, logger or I/O, and no node: imports.

import { ballotOwner, formatId, initCoord, instanceSeq, isInstanceId, replicasMax } from './ids.ts';
import type { Ballot, InstanceId, ReplicaId } from './ids.ts';
import { NOP } from './types.ts';
import type { Batch, Deps, Message, MessageType, Payload, Phase, SnapshotMessage } from './types.ts';
import { votersListError, type Command } from '../statemachine/commands.ts';
import { array, describe, ownValue, plainObject, quote, reject, Rejection, utf8Bytes } from '../../kit/validate-kit.ts';

// ---- limits ---------------------------------------------------------------------------------

/** Commands in one batch (a payload, §12). */
export const batchCommandsMax = 1000;
/** Explicit ids in one dependency set; older ids are covered by the floor (§12). */
export const depsIdsMax = 100_000;
/** UTF-8 bytes of a key-value store key. */
export const keyBytesMax = 1024;
/** UTF-8 bytes of a value, a cas expectation, a task spec or a task result. */
export const valueBytesMax = 1_048_576;
/** Applied ids above the prefix in one Snapshot (the out-of-order execution window). */
export const snapshotAboveMax = 1_000_000;
/** Values (objects, arrays, strings, numbers…) in one Snapshot's machine state, and its nesting. */
export const snapshotValuesMax = 20_000_000;
export const snapshotDepthMax = 32;
/** (id, phase) pairs in one ValidateOK. */
export const validateEntriesMax = 100_000;
/** UTF-8 bytes of clientId, worker and taskId. */
export const stringFieldBytesMax = 4096;
/** Longest task lease a command may ask for: one day. */
export const leaseMsMax = 86_400_000;

// ---- API ------------------------------------------------------------------------------------

export interface ValidationContext {
  /** Number of voters; replica ids are 0..n-1. */
  readonly n: number;
  /**
   * The epoch of the consensus group the message is for (docs/reconfiguration.md; default 0): a
   * `voters.change` in its payload must have been made in this epoch.
   */
  readonly epoch?: number;
}

export type Validated = { ok: true; msg: Message } | { ok: false; reason: string };

/** Checks a decoded message that `from` sent; on success returns a fresh copy of it. */
export function validateMessage(raw: unknown, from: number, ctx: ValidationContext): Validated {
  try {
    return { ok: true, msg: message(raw, from, ctx) };
  } catch (e) {
    return { ok: false, reason: Rejection.reasonOf(e) ?? 'message: unreadable input (a proxy trap threw)' };
  }
}

/**
 * Checks a decoded state-transfer snapshot (types.ts SnapshotMessage) that `from` sent; on success
 * returns a fresh copy. The machine state is checked here only as plain JSON data within limits;
 * the state machine checks its meaning when it restores it (and refuses it, changing nothing).
 */
export function validateSnapshotMessage(
  raw: unknown, from: number, ctx: ValidationContext,
): { ok: true; msg: SnapshotMessage } | { ok: false; reason: string } {
  try {
    return { ok: true, msg: snapshotMessage(raw, from, ctx) };
  } catch (e) {
    return { ok: false, reason: Rejection.reasonOf(e) ?? 'Snapshot: unreadable input (a proxy trap threw)' };
  }
}

/** Checks one client command (a submission, or an element of a batch); returns a fresh copy. */
export function validateCommand(raw: unknown): { ok: true; command: Command } | { ok: false; reason: string } {
  try {
    return { ok: true, command: command(raw, 'command') };
  } catch (e) {
    return { ok: false, reason: Rejection.reasonOf(e) ?? 'command: unreadable input (a proxy trap threw)' };
  }
}

// ---- rejection and structure (and kit/validate-kit.ts: Rejection, plainObject, ownValue, array) ---

function fieldPath(path: string, key: string | symbol): string {
  if (typeof key === 'symbol') return `${path}[${String(key).slice(0, 50)}]`;
  return /^[A-Za-z_$][\w$]{0,39}$/.test(key) ? `${path}.${key}` : `${path}[${quote(key)}]`;
}

/**
 * Reads exactly `keys` from `obj`: each must be an own data property, and no other own key may
 * exist (strict, so "__proto__", "constructor" or a misspelt field is refused, not ignored).
 * Those in `optional` may be absent (undefined then).
 */
function fields<const K extends string>(obj: object, path: string, keys: readonly K[], optional: readonly K[] = []): Record<K, unknown> {
  for (const key of Reflect.ownKeys(obj)) {
    if (typeof key !== 'string' || !(keys as readonly string[]).includes(key)) reject(fieldPath(path, key), 'unknown field');
  }
  const out = Object.create(null) as Record<K, unknown>;
  for (const key of keys) {
    out[key] = optional.includes(key) && !Object.hasOwn(obj, key) ? undefined : ownValue(obj, key, `${path}.${key}`);
  }
  return out;
}

// ---- scalars --------------------------------------------------------------------------------

/** A non-negative safe integer, with -0 folded to 0 so copies compare equal under Object.is. */
function count(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) reject(path, `expected a non-negative safe integer, got ${describe(v)}`);
  return v === 0 ? 0 : v;
}

function ballot(v: unknown, path: string): Ballot {
  return count(v, path);
}

/** A ballot of recovery (Recover, RecoverOK, Validate, ValidateOK): never 0, which is initCoord's. */
function recoveryBallot(v: unknown, path: string): Ballot {
  const b = ballot(v, path);
  if (b === 0) reject(path, 'must be > 0 (ballot 0 belongs to the initial coordinator, never to a recovery)');
  return b;
}

function instance(v: unknown, path: string, n: number): InstanceId {
  if (!isInstanceId(v, n)) reject(path, `expected an instance id of one of ${n} replicas, got ${describe(v)}`);
  return v;
}

const phases: ReadonlySet<string> = new Set<Phase>(['INITIAL', 'PREACCEPTED', 'ACCEPTED', 'COMMITTED']);

function phase(v: unknown, path: string): Phase {
  if (typeof v !== 'string' || !phases.has(v)) reject(path, `expected a phase (${[...phases].join(', ')}), got ${describe(v)}`);
  return v as Phase;
}

/**
 * UTF-8 length of `s`, or -1 when `s` holds a lone surrogate. Such a string has no UTF-8 form:
 * an encoder would turn two different lone surrogates into the same U+FFFD bytes, so two keys
 * distinct in memory could merge after a restart reloads them from storage.
 */
function text(v: unknown, path: string, bytesMax: number, nonEmpty = false): string {
  if (typeof v !== 'string') reject(path, `expected a string, got ${describe(v)}`);
  if (nonEmpty && v.length === 0) reject(path, 'must not be empty');
  // Every UTF-16 code unit costs at least one UTF-8 byte, so a long string is refused unscanned.
  if (v.length > bytesMax) reject(path, `expected at most ${bytesMax} UTF-8 bytes, got more`);
  const bytes = utf8Bytes(v);
  if (bytes < 0) reject(path, 'not well-formed Unicode (lone surrogate)');
  if (bytes > bytesMax) reject(path, `expected at most ${bytesMax} UTF-8 bytes, got ${bytes}`);
  return v;
}

function textOrNull(v: unknown, path: string, bytesMax: number): string | null {
  return v === null ? null : text(v, path, bytesMax);
}

// ---- commands (consensus/statemachine/commands.ts) ------------------------------------------

const envelopeKeys = ['clientId', 'requestId', 'timestampMs', 'op'] as const;

function command(raw: unknown, path: string): Command {
  const obj = plainObject(raw, path);
  const op = ownValue(obj, 'op', `${path}.op`, 'missing operation');
  const read = <const K extends string>(keys: readonly K[]) => {
    const f = fields(obj, path, [...envelopeKeys, ...keys]);
    const envelope = {
      clientId: text(f.clientId, `${path}.clientId`, stringFieldBytesMax, true),
      requestId: count(f.requestId, `${path}.requestId`),
      timestampMs: count(f.timestampMs, `${path}.timestampMs`),
    };
    return { f, envelope };
  };
  const key = (v: unknown) => text(v, `${path}.key`, keyBytesMax);
  const taskId = (v: unknown) => text(v, `${path}.taskId`, stringFieldBytesMax);
  const worker = (v: unknown) => text(v, `${path}.worker`, stringFieldBytesMax);
  const token = (v: unknown) => count(v, `${path}.token`);
  switch (op) {
    case 'get': {
      const { f, envelope } = read(['key']);
      return { ...envelope, op, key: key(f.key) };
    }
    case 'put': {
      const { f, envelope } = read(['key', 'value']);
      return { ...envelope, op, key: key(f.key), value: text(f.value, `${path}.value`, valueBytesMax) };
    }
    case 'delete': {
      const { f, envelope } = read(['key']);
      return { ...envelope, op, key: key(f.key) };
    }
    case 'cas': {
      const { f, envelope } = read(['key', 'expected', 'value']);
      return {
        ...envelope, op, key: key(f.key),
        expected: textOrNull(f.expected, `${path}.expected`, valueBytesMax),
        value: textOrNull(f.value, `${path}.value`, valueBytesMax),
      };
    }
    case 'task.create': {
      const { f, envelope } = read(['taskId', 'spec']);
      return { ...envelope, op, taskId: taskId(f.taskId), spec: text(f.spec, `${path}.spec`, valueBytesMax) };
    }
    case 'task.claim': {
      const { f, envelope } = read(['taskId', 'worker', 'leaseMs']);
      return { ...envelope, op, taskId: taskId(f.taskId), worker: worker(f.worker), leaseMs: leaseMs(f.leaseMs, `${path}.leaseMs`) };
    }
    case 'task.renew': {
      const { f, envelope } = read(['taskId', 'worker', 'token', 'leaseMs']);
      return {
        ...envelope, op, taskId: taskId(f.taskId), worker: worker(f.worker), token: token(f.token),
        leaseMs: leaseMs(f.leaseMs, `${path}.leaseMs`),
      };
    }
    case 'task.complete': {
      const { f, envelope } = read(['taskId', 'worker', 'token', 'result']);
      return {
        ...envelope, op, taskId: taskId(f.taskId), worker: worker(f.worker), token: token(f.token),
        result: text(f.result, `${path}.result`, valueBytesMax),
      };
    }
    case 'task.release': {
      const { f, envelope } = read(['taskId', 'worker', 'token']);
      return { ...envelope, op, taskId: taskId(f.taskId), worker: worker(f.worker), token: token(f.token) };
    }
    case 'task.get': {
      const { f, envelope } = read(['taskId']);
      return { ...envelope, op, taskId: taskId(f.taskId) };
    }
    case 'peer.admit': case 'peer.revoke': {
      // Shape only (the machine refuses a string that is not a peer id, deterministically).
      const { f, envelope } = read(['peerId']);
      return { ...envelope, op, peerId: text(f.peerId, `${path}.peerId`, stringFieldBytesMax) };
    }
    case 'voters.change': {
      const { f, envelope } = read(['epoch', 'voters', 'reason']);
      const voters = text(f.voters, `${path}.voters`, stringFieldBytesMax, true);
      const invalid = votersListError(voters);
      if (invalid !== null) reject(`${path}.voters`, invalid);
      return { ...envelope, op, epoch: count(f.epoch, `${path}.epoch`), voters, reason: text(f.reason, `${path}.reason`, stringFieldBytesMax) };
    }
    default:
      return reject(`${path}.op`, `unknown operation ${describe(op)}`);
  }
}

function leaseMs(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > leaseMsMax) {
    reject(path, `expected an integer of 1..${leaseMsMax} ms, got ${describe(v)}`);
  }
  return v;
}

// ---- payloads and dependency sets (types.ts) ------------------------------------------------

function batch(raw: unknown, path: string, epoch: number): Batch {
  if (raw === NOP) reject(path, 'expected a batch, got NOP (only recovery proposes NOP, through Accept)');
  const f = fields(plainObject(raw, path), path, ['commands']);
  const commands = array(f.commands, `${path}.commands`, 1, batchCommandsMax).map((c, i) => command(c, `${path}.commands[${i}]`));
  // docs/reconfiguration.md rule 1: a change travels alone, and only in the group of its epoch.
  for (let i = 0; i < commands.length; i++) {
    const c = commands[i];
    if (c.op !== 'voters.change') continue;
    if (commands.length !== 1) reject(`${path}.commands[${i}]`, `a voters.change travels alone in its batch, this one has ${commands.length} commands`);
    if (c.epoch !== epoch) reject(`${path}.commands[${i}].epoch`, `a voters.change of epoch ${c.epoch} in the consensus group of epoch ${epoch}`);
  }
  return { commands };
}

function payload(raw: unknown, path: string, epoch: number): Payload {
  if (raw === NOP) return NOP;
  if (typeof raw === 'string') reject(path, `expected "NOP" or a batch, got ${describe(raw)}`);
  return batch(raw, path, epoch);
}

/**
 * A dependency set in canonical form: `floor` has one entry per voter, `ids` ascend strictly and
 * none is at or below its coordinator's floor (the floor already covers it). Canonical form
 * matters: INV1 compares dependency sets of different processes for equality. `self` is the
 * instance the set belongs to; a command never depends on itself (§2).
 */
function deps(raw: unknown, path: string, n: number, self: InstanceId): Deps {
  const f = fields(plainObject(raw, path), path, ['ids', 'floor']);
  const floor = array(f.floor, `${path}.floor`, n, n).map((v, c) => count(v, `${path}.floor[${c}]`));
  const rawIds = array(f.ids, `${path}.ids`, 0, depsIdsMax);
  const ids: InstanceId[] = new Array(rawIds.length);
  for (let i = 0; i < rawIds.length; i++) {
    const p = `${path}.ids[${i}]`;
    const id = instance(rawIds[i], p, n);
    if (i > 0 && id <= ids[i - 1]) reject(p, `not strictly ascending (${formatId(id)} after ${formatId(ids[i - 1])})`);
    const c = initCoord(id);
    if (instanceSeq(id) <= floor[c]) reject(p, `${formatId(id)} is at or below the floor (floor[${c}] = ${floor[c]})`);
    if (id === self) reject(p, `the instance ${formatId(id)} depends on itself`);
    ids[i] = id;
  }
  return { ids, floor };
}

// ---- messages (§4) --------------------------------------------------------------------------

const messageTypes: ReadonlySet<string> = new Set<MessageType>([
  'PreAccept', 'PreAcceptOK', 'Accept', 'AcceptOK', 'Commit',
  'Recover', 'RecoverOK', 'Validate', 'ValidateOK', 'Waiting', 'Watermark',
]);

function voters(ctx: ValidationContext): number {
  const n = ctx.n;
  if (!Number.isInteger(n) || n < 1 || n > replicasMax) reject('ValidationContext.n', `expected an integer of 1..${replicasMax}, got ${describe(n)}`);
  return n;
}

/** INV6: a message at ballot b comes from b's owner; ballot 0 is initCoord(id)'s (§2). */
function requireBallotOwner(type: MessageType, b: Ballot, id: InstanceId, from: ReplicaId, n: number): void {
  const owner = ballotOwner(b, n, id);
  if (from !== owner) reject(`${type}.b`, `unknown ballot owner: sender ${from} does not own ballot ${b} of ${formatId(id)} (replica ${owner} does)`);
}

function message(raw: unknown, from: number, ctx: ValidationContext): Message {
  const n = voters(ctx);
  const epoch = ctx.epoch ?? 0;
  const obj = plainObject(raw, 'message');
  const type = ownValue(obj, 'type', 'message.type', 'missing message type');
  if (typeof type !== 'string' || !messageTypes.has(type)) reject('message.type', `unknown message type ${describe(type)}`);
  const t = type as MessageType;
  if (typeof from !== 'number' || !Number.isInteger(from) || from < 0 || from >= n) {
    reject(`${t}.from`, `unknown sender ${describe(from)} (replica ids are 0..${n - 1})`);
  }
  const at = (key: string) => `${t}.${key}`;
  switch (t) {
    case 'PreAccept': {
      const f = fields(obj, t, ['type', 'id', 'cmd', 'dep']);
      const id = instance(f.id, at('id'), n);
      if (from !== initCoord(id)) reject(at('id'), `sender ${from} is not the initial coordinator of ${formatId(id)} (replica ${initCoord(id)} is)`);
      return { type: t, id, cmd: batch(f.cmd, at('cmd'), epoch), dep: deps(f.dep, at('dep'), n, id) };
    }
    case 'PreAcceptOK': {
      const f = fields(obj, t, ['type', 'id', 'dep']);
      const id = instance(f.id, at('id'), n);
      return { type: t, id, dep: deps(f.dep, at('dep'), n, id) };
    }
    case 'Accept': {
      const f = fields(obj, t, ['type', 'b', 'id', 'cmd', 'dep']);
      const b = ballot(f.b, at('b'));
      const id = instance(f.id, at('id'), n);
      requireBallotOwner(t, b, id, from, n);
      return { type: t, b, id, cmd: payload(f.cmd, at('cmd'), epoch), dep: deps(f.dep, at('dep'), n, id) };
    }
    case 'AcceptOK': {
      const f = fields(obj, t, ['type', 'b', 'id']);
      return { type: t, b: ballot(f.b, at('b')), id: instance(f.id, at('id'), n) };
    }
    case 'Commit': {
      // No ownership check: any process holding the committed value may relay it (§12).
      const f = fields(obj, t, ['type', 'b', 'id', 'cmd', 'dep']);
      const b = ballot(f.b, at('b'));
      const id = instance(f.id, at('id'), n);
      return { type: t, b, id, cmd: payload(f.cmd, at('cmd'), epoch), dep: deps(f.dep, at('dep'), n, id) };
    }
    case 'Recover': {
      const f = fields(obj, t, ['type', 'b', 'id']);
      const b = recoveryBallot(f.b, at('b'));
      const id = instance(f.id, at('id'), n);
      requireBallotOwner(t, b, id, from, n);
      return { type: t, b, id };
    }
    case 'RecoverOK':
      return recoverOK(obj, n, epoch);
    case 'Validate': {
      const f = fields(obj, t, ['type', 'b', 'id', 'cmd', 'dep']);
      const b = recoveryBallot(f.b, at('b'));
      const id = instance(f.id, at('id'), n);
      requireBallotOwner(t, b, id, from, n);
      return { type: t, b, id, cmd: batch(f.cmd, at('cmd'), epoch), dep: deps(f.dep, at('dep'), n, id) };
    }
    case 'ValidateOK':
      return validateOK(obj, n);
    case 'Waiting': {
      const f = fields(obj, t, ['type', 'id', 'k']);
      const id = instance(f.id, at('id'), n);
      const k = f.k;
      if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k > n) reject(at('k'), `expected an integer of 0..${n}, got ${describe(k)}`);
      return { type: t, id, k: k === 0 ? 0 : k };
    }
    case 'Watermark': {
      const f = fields(obj, t, ['type', 'executed', 'floor'], ['floor']);
      const executed = array(f.executed, at('executed'), n, n).map((v, c) => count(v, `${at('executed')}[${c}]`));
      // Absent from agents before the floor was relayed (the wire decodes it as empty).
      if (f.floor === undefined || (Array.isArray(f.floor) && f.floor.length === 0)) return { type: t, executed };
      const floor = array(f.floor, at('floor'), n, n).map((v, c) => {
        const x = count(v, `${at('floor')}[${c}]`);
        // Every voter applied everything at or below a floor, the sender included.
        if (x > executed[c]) reject(`${at('floor')}[${c}]`, `a floor of ${x} above the sender's own executed prefix ${executed[c]}`);
        return x;
      });
      return { type: t, executed, floor };
    }
  }
}

/** RecoverOK is a process's whole §3 state for id, so its fields must obey INV3 and INV4. */
function recoverOK(obj: object, n: number, epoch: number): Message {
  const f = fields(obj, 'RecoverOK', ['type', 'b', 'id', 'abal', 'cmd', 'dep', 'initDep', 'phase']);
  const b = recoveryBallot(f.b, 'RecoverOK.b');
  const id = instance(f.id, 'RecoverOK.id', n);
  const abal = ballot(f.abal, 'RecoverOK.abal');
  const ph = phase(f.phase, 'RecoverOK.phase');
  if (abal > b) reject('RecoverOK.abal', `${abal} exceeds b ${b} (INV3: abal ≤ bal)`);
  if ((ph === 'INITIAL' || ph === 'PREACCEPTED') && abal !== 0) reject('RecoverOK.abal', `must be 0 in phase ${ph}, got ${abal} (INV3)`);
  const cmd = f.cmd === null ? null : payload(f.cmd, 'RecoverOK.cmd', epoch);
  if ((ph === 'ACCEPTED' || ph === 'COMMITTED') && cmd === null) reject('RecoverOK.cmd', `must not be null in phase ${ph} (INV4)`);
  return {
    type: 'RecoverOK', b, id, abal, cmd,
    dep: deps(f.dep, 'RecoverOK.dep', n, id),
    initDep: deps(f.initDep, 'RecoverOK.initDep', n, id),
    phase: ph,
  };
}

function validateOK(obj: object, n: number): Message {
  const f = fields(obj, 'ValidateOK', ['type', 'b', 'id', 'I']);
  const b = recoveryBallot(f.b, 'ValidateOK.b');
  const id = instance(f.id, 'ValidateOK.id', n);
  const I = array(f.I, 'ValidateOK.I', 0, validateEntriesMax).map((entry, i): readonly [InstanceId, Phase] => {
    const p = `ValidateOK.I[${i}]`;
    const [rawOther, ph] = array(entry, p, 2, 2);
    const other = instance(rawOther, `${p}[0]`, n);
    if (other === id) reject(`${p}[0]`, `lists the instance ${formatId(id)} itself (I holds only other ids)`);
    return [other, phase(ph, `${p}[1]`)];
  });
  return { type: 'ValidateOK', b, id, I };
}

// ---- state transfer (Covey) ------------------------------------------------------------------

function snapshotMessage(raw: unknown, from: number, ctx: ValidationContext): SnapshotMessage {
  const n = voters(ctx);
  const obj = plainObject(raw, 'Snapshot');
  const f = fields(obj, 'Snapshot', ['type', 'machine', 'applied', 'appliedAbove', 'truncated']);
  if (f.type !== 'Snapshot') reject('Snapshot.type', `expected "Snapshot", got ${describe(f.type)}`);
  if (typeof from !== 'number' || !Number.isInteger(from) || from < 0 || from >= n) {
    reject('Snapshot.from', `unknown sender ${describe(from)} (replica ids are 0..${n - 1})`);
  }
  const applied = array(f.applied, 'Snapshot.applied', n, n).map((v, c) => count(v, `Snapshot.applied[${c}]`));
  const truncated = array(f.truncated, 'Snapshot.truncated', n, n).map((v, c) => {
    const t = count(v, `Snapshot.truncated[${c}]`);
    if (t > applied[c]) reject(`Snapshot.truncated[${c}]`, `${t} is above applied[${c}] = ${applied[c]} (only applied ids are forgotten)`);
    return t;
  });
  const rawAbove = array(f.appliedAbove, 'Snapshot.appliedAbove', 0, snapshotAboveMax);
  const appliedAbove: InstanceId[] = new Array(rawAbove.length);
  for (let i = 0; i < rawAbove.length; i++) {
    const p = `Snapshot.appliedAbove[${i}]`;
    const id = instance(rawAbove[i], p, n);
    if (i > 0 && id <= appliedAbove[i - 1]) reject(p, `not strictly ascending (${formatId(id)} after ${formatId(appliedAbove[i - 1])})`);
    if (instanceSeq(id) <= applied[initCoord(id)]) reject(p, `${formatId(id)} is within the applied prefix`);
    appliedAbove[i] = id;
  }
  const budget = { values: snapshotValuesMax };
  return { type: 'Snapshot', machine: jsonData(f.machine, 'Snapshot.machine', 0, budget), applied, appliedAbove, truncated };
}

/** A deep copy of plain JSON data (null, booleans, finite numbers, strings, arrays, plain objects). */
function jsonData(v: unknown, path: string, depth: number, budget: { values: number }): unknown {
  if (--budget.values < 0) reject(path, `more than ${snapshotValuesMax} values`);
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) reject(path, `expected a finite number, got ${describe(v)}`);
    return v === 0 ? 0 : v;
  }
  if (typeof v === 'string') return text(v, path, valueBytesMax);
  if (depth >= snapshotDepthMax) reject(path, `nested deeper than ${snapshotDepthMax}`);
  if (Array.isArray(v)) return array(v, path, 0, snapshotValuesMax).map((x, i) => jsonData(x, `${path}[${i}]`, depth + 1, budget));
  const obj = plainObject(v, path);
  const out: Record<string, unknown> = {};
  for (const key of Reflect.ownKeys(obj)) {
    if (typeof key !== 'string') reject(fieldPath(path, key), 'symbol keys are not allowed');
    if (key === '__proto__') reject(fieldPath(path, key), 'not allowed as a key');
    const p = fieldPath(path, key);
    out[text(key, p, stringFieldBytesMax)] = jsonData(ownValue(obj, key, p), p, depth + 1, budget);
  }
  return out;
}
