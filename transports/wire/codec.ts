// The consensus wire codec: consensus.proto's messages to and from the core's JS shapes.
//
// Decoding is the network edge, so it is done in three checked steps and a failure at any step
// drops the whole frame (the sender retransmits; a half-applied frame would only confuse):
//   1. size: a frame longer than its bound is refused before a byte of it is parsed;
//   2. structure: the strict protobuf reader (protobuf.ts) and the enum / oneof mapping below;
//   3. meaning: every message through the core's own validateMessage (or validateCommand), with
//      the sender's ReplicaId given by the caller (the authenticated peer), never read from bytes.
// Encoding trusts its input: it comes from this process's core, which only makes valid messages.

import {
  type Batch, batchCommandsMax, type Command, type CommandResult, depsIdsMax, freezeResult, type Message,
  type MessageType, NOP, type Payload, type ReplicaId, replicasMax, type TaskStatus, type TaskView, timestampMsMax,
  validateCommand, validateEntriesMax, validateMessage, type ValidationContext,
} from '../../consensus/index.ts';
import { decodeMessage, encodeMessage, writer } from 'protons-runtime';
import { WireError, codecOf } from './protobuf.ts';
import type { FieldDesc, FieldKind, FieldLabel, MessageDesc, Raw } from './protobuf.ts';

// ---- limits -----------------------------------------------------------------------------------

/**
 * Bytes of one consensus frame (and of one submit request or reply). Big enough for a largest
 * single command (a cas with a 1 MiB expectation and a 1 MiB value) with room to spare; small
 * enough that a Raspberry Pi can hold a few per peer. Membership frames have their own, smaller
 * bound (membershipFrameBytesMaxDefault, membership/driver.ts).
 */
export const consensusFrameBytesMaxDefault = 4 * 1024 * 1024;
/** Messages in one frame. A frame is one turn's output for one peer; more is split. */
export const frameMessagesMax = 65_536;

// ---- schema (mirrors consensus.proto; codec.test.ts checks the two agree) -------------------

function field(no: number, name: string, kind: FieldKind, label: FieldLabel = 'implicit', extra: Partial<FieldDesc> = {}): FieldDesc {
  return { no, name, kind, label, ...extra };
}
function enumField(no: number, name: string, enumName: string, label: FieldLabel = 'implicit'): FieldDesc {
  return { no, name, kind: 'enum', label, enumName };
}
function messageField(no: number, name: string, desc: () => MessageDesc, label: FieldLabel = 'implicit', max?: number): FieldDesc {
  return max === undefined ? { no, name, kind: 'message', label, message: desc } : { no, name, kind: 'message', label, message: desc, max };
}

export const CommandDesc: MessageDesc = {
  name: 'Command',
  fields: [
    field(1, 'clientId', 'string'), field(2, 'requestId', 'uint64'), field(3, 'timestampMs', 'uint64'),
    enumField(4, 'op', 'Op'),
    field(5, 'key', 'string', 'optional'), field(6, 'value', 'string', 'optional'),
    field(7, 'expected', 'string', 'optional'), field(8, 'taskId', 'string', 'optional'),
    field(9, 'spec', 'string', 'optional'), field(10, 'worker', 'string', 'optional'),
    field(11, 'leaseMs', 'uint64', 'optional'), field(12, 'token', 'uint64', 'optional'),
    field(13, 'result', 'string', 'optional'), field(14, 'peerId', 'string', 'optional'),
    field(15, 'epoch', 'uint64', 'optional'), field(16, 'voters', 'string', 'optional'),
    field(17, 'reason', 'string', 'optional'),
  ],
};
export const BatchDesc: MessageDesc = {
  name: 'Batch',
  fields: [messageField(1, 'commands', () => CommandDesc, 'repeated', batchCommandsMax)],
};
export const PayloadDesc: MessageDesc = {
  name: 'Payload',
  fields: [messageField(1, 'batch', () => BatchDesc, 'oneof'), field(2, 'nop', 'bool', 'oneof')],
};
export const DepsDesc: MessageDesc = {
  name: 'Deps',
  fields: [field(1, 'ids', 'uint64', 'repeated', { max: depsIdsMax }), field(2, 'floor', 'uint64', 'repeated', { max: replicasMax })],
};
const dep = (no: number, name = 'dep') => messageField(no, name, () => DepsDesc);
const b = field(1, 'b', 'uint64');
const id2 = field(2, 'id', 'uint64');

export const PreAcceptDesc: MessageDesc = {
  name: 'PreAccept', fields: [field(1, 'id', 'uint64'), messageField(2, 'cmd', () => BatchDesc), dep(3)],
};
export const PreAcceptOKDesc: MessageDesc = { name: 'PreAcceptOK', fields: [field(1, 'id', 'uint64'), dep(2)] };
export const AcceptDesc: MessageDesc = { name: 'Accept', fields: [b, id2, messageField(3, 'cmd', () => PayloadDesc), dep(4)] };
export const AcceptOKDesc: MessageDesc = { name: 'AcceptOK', fields: [b, id2] };
export const CommitDesc: MessageDesc = { name: 'Commit', fields: [b, id2, messageField(3, 'cmd', () => PayloadDesc), dep(4)] };
export const RecoverDesc: MessageDesc = { name: 'Recover', fields: [b, id2] };
export const RecoverOKDesc: MessageDesc = {
  name: 'RecoverOK',
  fields: [
    b, id2, field(3, 'abal', 'uint64'), messageField(4, 'cmd', () => PayloadDesc, 'optional'),
    dep(5), dep(6, 'initDep'), enumField(7, 'phase', 'Phase'),
  ],
};
export const ValidateDesc: MessageDesc = { name: 'Validate', fields: [b, id2, messageField(3, 'cmd', () => BatchDesc), dep(4)] };
export const ValidateEntryDesc: MessageDesc = { name: 'ValidateEntry', fields: [field(1, 'id', 'uint64'), enumField(2, 'phase', 'Phase')] };
export const ValidateOKDesc: MessageDesc = {
  name: 'ValidateOK', fields: [b, id2, messageField(3, 'I', () => ValidateEntryDesc, 'repeated', validateEntriesMax)],
};
export const WaitingDesc: MessageDesc = { name: 'Waiting', fields: [field(1, 'id', 'uint64'), field(2, 'k', 'uint64')] };
export const WatermarkDesc: MessageDesc = {
  name: 'Watermark',
  fields: [field(1, 'executed', 'uint64', 'repeated', { max: replicasMax }), field(2, 'floor', 'uint64', 'repeated', { max: replicasMax })],
};

/** The oneof `body` of Message: field number, JS key, core type, body schema. */
const bodies: readonly (readonly [number, string, MessageType, MessageDesc])[] = [
  [1, 'preAccept', 'PreAccept', PreAcceptDesc],
  [2, 'preAcceptOk', 'PreAcceptOK', PreAcceptOKDesc],
  [3, 'accept', 'Accept', AcceptDesc],
  [4, 'acceptOk', 'AcceptOK', AcceptOKDesc],
  [5, 'commit', 'Commit', CommitDesc],
  [6, 'recover', 'Recover', RecoverDesc],
  [7, 'recoverOk', 'RecoverOK', RecoverOKDesc],
  [8, 'validate', 'Validate', ValidateDesc],
  [9, 'validateOk', 'ValidateOK', ValidateOKDesc],
  [10, 'waiting', 'Waiting', WaitingDesc],
  [11, 'watermark', 'Watermark', WatermarkDesc],
];
const bodyKeyOf = new Map<MessageType, string>(bodies.map(([, k, t]) => [t, k]));

export const MessageDesc_: MessageDesc = {
  name: 'Message', fields: bodies.map(([no, k, , d]) => messageField(no, k, () => d, 'oneof')),
};
export const FrameDesc: MessageDesc = {
  name: 'Frame', fields: [messageField(1, 'messages', () => MessageDesc_, 'repeated', frameMessagesMax)],
};
export const SubmitRequestDesc: MessageDesc = { name: 'SubmitRequest', fields: [messageField(1, 'command', () => CommandDesc)] };
export const TaskViewDesc: MessageDesc = {
  name: 'TaskView',
  fields: [
    field(1, 'taskId', 'string'), field(2, 'spec', 'string'), enumField(3, 'status', 'TaskStatus'),
    field(4, 'owner', 'string', 'optional'), field(5, 'token', 'uint64'), field(6, 'leaseExpiresMs', 'uint64'),
    field(7, 'result', 'string', 'optional'),
  ],
};
export const NullableStringDesc: MessageDesc = { name: 'NullableString', fields: [field(1, 'value', 'string', 'optional')] };
export const CommandResultDesc: MessageDesc = {
  name: 'CommandResult',
  fields: [
    field(1, 'ok', 'bool'), field(2, 'error', 'string', 'optional'),
    messageField(3, 'value', () => NullableStringDesc, 'optional'), field(4, 'swapped', 'bool', 'optional'),
    messageField(5, 'task', () => TaskViewDesc, 'optional'),
  ],
};
export const SubmitReplyDesc: MessageDesc = {
  name: 'SubmitReply',
  fields: [messageField(1, 'result', () => CommandResultDesc, 'oneof'), field(2, 'error', 'string', 'oneof')],
};

/** Every message of the schema, for the schema-agreement test. */
export const schemaMessages: readonly MessageDesc[] = [
  CommandDesc, BatchDesc, PayloadDesc, DepsDesc, PreAcceptDesc, PreAcceptOKDesc, AcceptDesc, AcceptOKDesc,
  CommitDesc, RecoverDesc, RecoverOKDesc, ValidateDesc, ValidateEntryDesc, ValidateOKDesc, WaitingDesc,
  WatermarkDesc, MessageDesc_, FrameDesc, SubmitRequestDesc, TaskViewDesc, NullableStringDesc,
  CommandResultDesc, SubmitReplyDesc,
];

/** Enum value names by number, index 0 (UNSPECIFIED) left empty so it never maps to a value. */
export const opNames = ['', 'get', 'put', 'delete', 'cas', 'task.create', 'task.claim', 'task.renew', 'task.complete', 'task.release', 'task.get', 'peer.admit', 'peer.revoke', 'voters.change'] as const;
export const phaseNames = ['', 'INITIAL', 'PREACCEPTED', 'ACCEPTED', 'COMMITTED'] as const;
export const taskStatusNames = ['', 'open', 'claimed', 'done'] as const;

const messageCodec = codecOf(MessageDesc_);
const frameCodec = codecOf(FrameDesc);
const submitRequestCodec = codecOf(SubmitRequestDesc);
const submitReplyCodec = codecOf(SubmitReplyDesc);

// ---- core shape -> protobuf shape ---------------------------------------------------------

function enumNumber(names: readonly string[], name: string, what: string): number {
  const i = names.indexOf(name);
  if (i < 1) throw new TypeError(`cannot encode ${what} ${JSON.stringify(name)}`);
  return i;
}

function commandToPb(c: Command): Raw {
  const out: Raw = {};
  for (const [k, v] of Object.entries(c)) if (v !== null) out[k] = v;
  out.op = enumNumber(opNames, c.op, 'operation');
  return out;
}

function batchToPb(batch: Batch): Raw {
  return { commands: batch.commands.map(commandToPb) };
}

function payloadToPb(p: Payload): Raw {
  return p === NOP ? { nop: true } : { batch: batchToPb(p) };
}

function messageToPb(m: Message): Raw {
  const { type, ...rest } = m;
  const body: Raw = { ...rest };
  switch (m.type) {
    case 'PreAccept': case 'Validate': body.cmd = batchToPb(m.cmd); break;
    case 'Accept': case 'Commit': body.cmd = payloadToPb(m.cmd); break;
    case 'RecoverOK':
      body.cmd = m.cmd === null ? undefined : payloadToPb(m.cmd);
      body.phase = enumNumber(phaseNames, m.phase, 'phase');
      break;
    case 'ValidateOK':
      body.I = m.I.map(([id, phase]) => ({ id, phase: enumNumber(phaseNames, phase, 'phase') }));
      break;
    default: break;
  }
  return { [bodyKeyOf.get(type) as string]: body };
}

function resultToPb(r: CommandResult): Raw {
  const out: Raw = { ok: r.ok };
  if (!r.ok) out.error = r.error;
  if (r.ok && r.value !== undefined) out.value = r.value === null ? {} : { value: r.value };
  if (r.ok && r.swapped !== undefined) out.swapped = r.swapped;
  if (r.task !== undefined) {
    const t = r.task;
    out.task = {
      taskId: t.taskId, spec: t.spec, status: enumNumber(taskStatusNames, t.status, 'task status'),
      owner: t.owner ?? undefined, token: t.token, leaseExpiresMs: t.leaseExpiresMs, result: t.result ?? undefined,
    };
  }
  return out;
}

// ---- protobuf shape -> core shape (structure only; meaning is validate.ts's job) ----------

function enumName<T extends string>(names: readonly T[], v: unknown, path: string): T {
  const name = typeof v === 'number' ? names[v] : undefined;
  if (name === undefined || name === '') throw new WireError(`${path}: unknown or unspecified enum value ${String(v)}`);
  return name;
}

function commandFromPb(raw: Raw, path: string): Raw {
  const op = enumName(opNames, raw.op, `${path}.op`);
  const out: Raw = { ...raw, op };
  if (op === 'cas') {
    out.expected ??= null;
    out.value ??= null;
  }
  return out;
}

function batchFromPb(raw: Raw, path: string): Raw {
  return { commands: (raw.commands as Raw[]).map((c, i) => commandFromPb(c, `${path}.commands[${i}]`)) };
}

function payloadFromPb(raw: Raw, path: string): unknown {
  if (raw.nop !== undefined) {
    if (raw.nop !== true) throw new WireError(`${path}.nop: must be true when set`);
    return NOP;
  }
  if (raw.batch === undefined) throw new WireError(`${path}: neither batch nor nop is set`);
  return batchFromPb(raw.batch as Raw, `${path}.batch`);
}

function messageFromPb(raw: Raw, path: string): Raw {
  const found = bodies.find(([, k]) => raw[k] !== undefined);
  if (found === undefined) throw new WireError(`${path}: no message body is set`);
  const [, key, type] = found;
  const body = raw[key] as Raw;
  const at = `${path}.${key}`;
  const out: Raw = { type, ...body };
  switch (type) {
    case 'PreAccept': case 'Validate':
      if (body.cmd !== undefined) out.cmd = batchFromPb(body.cmd as Raw, `${at}.cmd`);
      break;
    case 'Accept': case 'Commit':
      if (body.cmd !== undefined) out.cmd = payloadFromPb(body.cmd as Raw, `${at}.cmd`);
      break;
    case 'RecoverOK':
      out.cmd = body.cmd === undefined ? null : payloadFromPb(body.cmd as Raw, `${at}.cmd`);
      out.phase = enumName(phaseNames, body.phase, `${at}.phase`);
      break;
    case 'ValidateOK':
      out.I = (body.I as Raw[]).map((e, i) => [e.id, enumName(phaseNames, e.phase, `${at}.I[${i}].phase`)]);
      break;
    default: break;
  }
  return out;
}

function resultFromPb(raw: Raw, path: string): CommandResult {
  const ok = raw.ok as boolean;
  let result: CommandResult;
  if (ok) {
    if (raw.error !== undefined) throw new WireError(`${path}.error: set on a successful result`);
    const out: { ok: true; value?: string | null; swapped?: boolean; task?: TaskView } = { ok: true };
    if (raw.value !== undefined) out.value = ((raw.value as Raw).value as string | undefined) ?? null;
    if (raw.swapped !== undefined) out.swapped = raw.swapped as boolean;
    if (raw.task !== undefined) out.task = taskFromPb(raw.task as Raw, `${path}.task`);
    result = out;
  } else {
    if (raw.error === undefined) throw new WireError(`${path}.error: missing on a failed result`);
    if (raw.value !== undefined || raw.swapped !== undefined) throw new WireError(`${path}: value or swapped set on a failed result`);
    const out: { ok: false; error: string; task?: TaskView } = { ok: false, error: raw.error as string };
    if (raw.task !== undefined) out.task = taskFromPb(raw.task as Raw, `${path}.task`);
    result = out;
  }
  return freezeResult(result);
}

function taskFromPb(raw: Raw, path: string): TaskView {
  return {
    taskId: raw.taskId as string,
    spec: raw.spec as string,
    status: enumName<TaskStatus | ''>(taskStatusNames, raw.status, `${path}.status`) as TaskStatus,
    owner: (raw.owner as string | undefined) ?? null,
    token: raw.token as number,
    leaseExpiresMs: raw.leaseExpiresMs as number,
    result: (raw.result as string | undefined) ?? null,
  };
}

// ---- API ----------------------------------------------------------------------------------

/** Why a received frame was refused: the label of `covey_rpc_frames_dropped_total{reason}`. */
export type RejectKind = 'oversized' | 'malformed' | 'invalid';
export type Rejected = { ok: false; kind: RejectKind; reason: string };

export type FrameDecoded = { ok: true; messages: Message[] } | Rejected;
export type SubmitDecoded = { ok: true; command: Command } | Rejected;
/** What a voter answers a forwarded command: its result, or why it did not run it. */
export type SubmitReply = { readonly result: CommandResult } | { readonly error: string };
export type SubmitReplyDecoded = { ok: true; reply: SubmitReply } | Rejected;

export interface EncodedFrame {
  readonly bytes: Uint8Array;
  /** Messages in the frame. */
  readonly messages: number;
}

/** One frame holding `msgs`, whatever its size (see encodeFrames for a bounded split). */
export function encodeFrame(msgs: readonly Message[]): Uint8Array {
  return encodeMessage<Raw>({ messages: msgs.map(messageToPb) }, frameCodec);
}

/**
 * `msgs` in order, split into as few frames as keep each within `frameBytesMax` bytes and
 * frameMessagesMax messages. A message that alone exceeds the bound cannot be sent: it is
 * returned in `tooLarge` (the caller counts and logs it; consensus will time out and recover).
 */
export function encodeFrames(msgs: readonly Message[], frameBytesMax = consensusFrameBytesMaxDefault): { frames: EncodedFrame[]; tooLarge: Message[] } {
  const frames: EncodedFrame[] = [];
  const tooLarge: Message[] = [];
  let w = writer();
  let count = 0;
  const flush = () => {
    if (count > 0) frames.push({ bytes: w.finish(), messages: count });
    w = writer();
    count = 0;
  };
  for (const m of msgs) {
    const body = encodeMessage<Raw>(messageToPb(m), messageCodec);
    const entryBytes = 1 + varintBytes(body.length) + body.length; // key 0x0a, length, body
    if (entryBytes > frameBytesMax) {
      tooLarge.push(m);
      continue;
    }
    if (w.len + entryBytes > frameBytesMax || count === frameMessagesMax) flush();
    w.uint32(0x0a); // field 1 (messages), wire type 2
    w.bytes(body);
    count++;
  }
  flush();
  return { frames, tooLarge };
}

/**
 * Decodes one frame that the voter `from` sent (its ReplicaId comes from the authenticated
 * connection, never from the bytes) and validates every message for a group of `ctx.n` voters.
 */
export function decodeFrame(bytes: Uint8Array, from: ReplicaId, ctx: ValidationContext, frameBytesMax = consensusFrameBytesMaxDefault): FrameDecoded {
  if (bytes.length > frameBytesMax) return oversized('frame', bytes.length, frameBytesMax);
  let raws: Raw[];
  try {
    const frame = decodeMessage<Raw>(bytes, frameCodec);
    raws = (frame.messages as Raw[]).map((m, i) => messageFromPb(m, `Frame.messages[${i}]`));
  } catch (e) {
    return malformed(e);
  }
  if (raws.length === 0) return { ok: false, kind: 'malformed', reason: 'Frame: holds no message' };
  const messages: Message[] = new Array(raws.length);
  for (let i = 0; i < raws.length; i++) {
    const v = validateMessage(raws[i], from, ctx);
    if (!v.ok) return { ok: false, kind: 'invalid', reason: `Frame.messages[${i}]: ${v.reason}` };
    messages[i] = v.msg;
  }
  return { ok: true, messages };
}

export function encodeSubmit(command: Command): Uint8Array {
  return encodeMessage<Raw>({ command: commandToPb(command) }, submitRequestCodec);
}

export function decodeSubmit(bytes: Uint8Array, bytesMax = consensusFrameBytesMaxDefault): SubmitDecoded {
  if (bytes.length > bytesMax) return oversized('SubmitRequest', bytes.length, bytesMax);
  let raw: Raw;
  try {
    const req = decodeMessage<Raw>(bytes, submitRequestCodec);
    if (req.command === undefined) throw new WireError('SubmitRequest.command: missing');
    raw = commandFromPb(req.command as Raw, 'SubmitRequest.command');
  } catch (e) {
    return malformed(e);
  }
  const v = validateCommand(raw);
  if (!v.ok) return { ok: false, kind: 'invalid', reason: `SubmitRequest.${v.reason}` };
  // A new submission is held to what the HTTP API checks, before it costs a consensus round (the
  // state machine would refuse these only when applying them). Not in validateCommand: commands
  // already committed may carry them, and recovery must still be able to move them.
  const c = v.command;
  if ('key' in c && c.key === '') return { ok: false, kind: 'invalid', reason: 'SubmitRequest.command.key: empty (a key has at least one character)' };
  if (c.timestampMs > timestampMsMax) return { ok: false, kind: 'invalid', reason: `SubmitRequest.command.timestampMs: ${c.timestampMs} is over ${timestampMsMax}` };
  return { ok: true, command: c };
}

export function encodeSubmitReply(reply: SubmitReply): Uint8Array {
  const raw: Raw = 'result' in reply ? { result: resultToPb(reply.result) } : { error: reply.error };
  return encodeMessage<Raw>(raw, submitReplyCodec);
}

export function decodeSubmitReply(bytes: Uint8Array, bytesMax = consensusFrameBytesMaxDefault): SubmitReplyDecoded {
  if (bytes.length > bytesMax) return oversized('SubmitReply', bytes.length, bytesMax);
  try {
    const raw = decodeMessage<Raw>(bytes, submitReplyCodec);
    if (raw.result !== undefined) return { ok: true, reply: { result: resultFromPb(raw.result as Raw, 'SubmitReply.result') } };
    if (raw.error !== undefined) return { ok: true, reply: { error: raw.error as string } };
    throw new WireError('SubmitReply: neither result nor error is set');
  } catch (e) {
    return malformed(e);
  }
}

function oversized(what: string, bytes: number, max: number): Rejected {
  return { ok: false, kind: 'oversized', reason: `${what}: ${bytes} bytes exceeds the bound of ${max}` };
}

function malformed(e: unknown): Rejected {
  // Anything but a WireError is a bug in this codec, still reported as a refusal: a frame must
  // never take the process down.
  const reason = e instanceof WireError ? e.message : `undecodable (${e instanceof Error ? e.message : String(e)})`;
  return { ok: false, kind: 'malformed', reason };
}

function varintBytes(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

