// Validation of decoded membership messages at the edge of the pure core. What arrives from the
// network is attacker-shaped until proven otherwise, so `validateMessage`
//   - never throws: any input, proxies and accessors included, yields `{ ok: false, reason }`;
//   - reads fields as own data-property descriptors (a getter is refused without being called);
//   - is strict: unknown fields and types, holes in arrays, non-plain objects are refused;
//   - bounds everything: string bytes, list lengths, counters, incarnations (far below 2^53),
//     metadata size, signature size (config.ts);
//   - checks the shape of signed statements (a leave carries `sig`, a claim about another member
//     does not); whether a signature verifies is the core's check (it holds the `Signer`);
//   - returns a fresh copy holding only known fields, so the core never keeps the sender's object.
// A reason names the message type and the field: "pushPull.members[3].meta.battery: …".
//
// Pure: no clock, timer, randomness or I/O.

import {
  addrBytesMax, counterMax, gossipItemsPerMessageMax, idBytesMax, incarnationMax, membersMax, metaListMax, metaNameBytesMax, sigBytesMax,
} from './config.ts';
import { metaProblem, utf8Bytes } from './meta.ts';
import { array as arrayOf, describe, ownValue, plainObject, reject, Rejection } from '../../kit/validate-kit.ts';
import type { AliveItem, DeadItem, GossipItem, MemberId, MemberRecord, MemberState, Message, Meta } from './types.ts';

export type Validated = { ok: true; msg: Message } | { ok: false; reason: string };

/** Checks a decoded message; on success returns a fresh, bounded copy of it. */
export function validateMessage(raw: unknown): Validated {
  try {
    return { ok: true, msg: message(raw) };
  } catch (e) {
    return { ok: false, reason: Rejection.reasonOf(e) ?? 'message: unreadable input (a proxy trap threw)' };
  }
}

/** Checks a metadata record from outside (a config file, an API call). */
export function validateMeta(raw: unknown): { ok: true; meta: Meta } | { ok: false; reason: string } {
  try {
    return { ok: true, meta: meta(raw, 'meta') };
  } catch (e) {
    return { ok: false, reason: Rejection.reasonOf(e) ?? 'meta: unreadable input (a proxy trap threw)' };
  }
}

/** Checks a member id (the `from` a driver hands in). */
export function isMemberId(v: unknown): v is MemberId {
  if (typeof v !== 'string') return false;
  const b = utf8Bytes(v);
  return b > 0 && b <= idBytesMax;
}

// ---- structure (and kit/validate-kit.ts: Rejection, reject, describe, plainObject, ownValue) ---

/**
 * Reads exactly `keys` from `obj`, returned in the order of `keys`: each must be an own data
 * property, and no other own key may exist (strict: a misspelt or extra field is refused).
 */
function fields(obj: object, path: string, keys: readonly string[]): unknown[] {
  const own = Reflect.ownKeys(obj);
  for (const key of own) {
    if (typeof key !== 'string') reject(`${path}[symbol]`, 'unknown field');
    if (!keys.includes(key)) reject(`${path}.${key.slice(0, 40)}`, 'unknown field');
  }
  const out: unknown[] = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) out[i] = ownValue(obj, keys[i], `${path}.${keys[i]}`);
  return out;
}

/** A dense array of at most `max` entries, copied entry by entry. */
function array(raw: unknown, path: string, max: number): unknown[] {
  return arrayOf(raw, path, 0, max);
}

// ---- scalars --------------------------------------------------------------------------------

function counter(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > counterMax) reject(path, `expected a non-negative safe integer, got ${describe(v)}`);
  return v === 0 ? 0 : v;
}

/** An incarnation: bounded far below 2^53 (config.ts, incarnationMax), so a refutation above it stays valid. */
function incarnation(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > incarnationMax) reject(path, `expected an integer in 0..${incarnationMax}, got ${describe(v)}`);
  return v === 0 ? 0 : v;
}

function boundedString(v: unknown, path: string, bytesMax: number): string {
  if (typeof v !== 'string') reject(path, `expected a string, got ${describe(v)}`);
  if (v.length > bytesMax) reject(path, `expected at most ${bytesMax} bytes, got ${v.length}+`);
  const b = utf8Bytes(v);
  if (b < 0) reject(path, 'not valid UTF-8 (lone surrogate)');
  if (b === 0) reject(path, 'must not be empty');
  if (b > bytesMax) reject(path, `expected at most ${bytesMax} bytes, got ${b}`);
  return v;
}

const id = (v: unknown, path: string): MemberId => boundedString(v, path, idBytesMax);
const addr = (v: unknown, path: string): string => boundedString(v, path, addrBytesMax);
/** Checked for shape and size only here; whether it verifies is the core's question (statement.ts). */
const sig = (v: unknown, path: string): string => boundedString(v, path, sigBytesMax);

function boolean(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') reject(path, `expected a boolean, got ${describe(v)}`);
  return v;
}

// ---- records --------------------------------------------------------------------------------

function meta(raw: unknown, path: string): Meta {
  const [role, devices, plugins, battery] = fields(plainObject(raw, path), path, ['role', 'devices', 'plugins', 'battery']);
  if (role !== 'voter' && role !== 'worker') reject(`${path}.role`, `expected "voter" or "worker", got ${describe(role)}`);
  const list = (v: unknown, k: string): string[] =>
    array(v, `${path}.${k}`, metaListMax).map((s, i) => boundedString(s, `${path}.${k}[${i}]`, metaNameBytesMax));
  if (battery !== null && (typeof battery !== 'number' || !(battery >= 0 && battery <= 1))) reject(`${path}.battery`, `expected null or a number in 0..1, got ${describe(battery)}`);
  const m: Meta = { role, devices: list(devices, 'devices'), plugins: list(plugins, 'plugins'), battery };
  const problem = metaProblem(m);
  if (problem !== null) reject(path, problem.replace(/^meta:?\s*/, ''));
  return m;
}

const memberStates: ReadonlySet<string> = new Set<MemberState>(['alive', 'suspect', 'dead', 'left']);

function aliveItem(obj: object, path: string): AliveItem {
  const [, i, a, inc, m, sg] = fields(obj, path, ['kind', 'id', 'addr', 'incarnation', 'meta', 'sig']);
  return {
    kind: 'alive', id: id(i, `${path}.id`), addr: addr(a, `${path}.addr`), incarnation: incarnation(inc, `${path}.incarnation`),
    meta: meta(m, `${path}.meta`), sig: sig(sg, `${path}.sig`),
  };
}

/** A dead claim, or a leave (`from === id`), which alone carries a signature. */
function deadItem(obj: object, path: string): DeadItem {
  const signed = Reflect.getOwnPropertyDescriptor(obj, 'sig') !== undefined;
  if (!signed) {
    const [, i, inc, from] = fields(obj, path, ['kind', 'id', 'incarnation', 'from']);
    const item: DeadItem = { kind: 'dead', id: id(i, `${path}.id`), incarnation: incarnation(inc, `${path}.incarnation`), from: id(from, `${path}.from`) };
    if (item.from === item.id) reject(`${path}.sig`, 'missing (a leave is signed by the member leaving)');
    return item;
  }
  const [, i, inc, from, sg] = fields(obj, path, ['kind', 'id', 'incarnation', 'from', 'sig']);
  const item: DeadItem = {
    kind: 'dead', id: id(i, `${path}.id`), incarnation: incarnation(inc, `${path}.incarnation`), from: id(from, `${path}.from`), sig: sig(sg, `${path}.sig`),
  };
  if (item.from !== item.id) reject(`${path}.sig`, 'only a leave (from === id) is signed; a claim about another member is not');
  return item;
}

function kindOf(obj: object, path: string): unknown {
  return ownValue(obj, 'kind', `${path}.kind`);
}

function memberRecord(raw: unknown, path: string): MemberRecord {
  const [state, a, l] = fields(plainObject(raw, path), path, ['state', 'alive', 'leave']);
  if (typeof state !== 'string' || !memberStates.has(state)) reject(`${path}.state`, `expected one of ${[...memberStates].join(', ')}, got ${describe(state)}`);
  const aliveObj = plainObject(a, `${path}.alive`);
  if (kindOf(aliveObj, `${path}.alive`) !== 'alive') reject(`${path}.alive.kind`, 'expected alive');
  const alive = aliveItem(aliveObj, `${path}.alive`);
  let leave: DeadItem | null = null;
  if (l !== null) {
    const leaveObj = plainObject(l, `${path}.leave`);
    if (kindOf(leaveObj, `${path}.leave`) !== 'dead') reject(`${path}.leave.kind`, 'expected dead');
    leave = deadItem(leaveObj, `${path}.leave`);
    if (leave.id !== alive.id || leave.from !== alive.id) reject(`${path}.leave`, 'must be the member\'s own leave (id and from equal to alive.id)');
    if (leave.incarnation < alive.incarnation) reject(`${path}.leave.incarnation`, 'below the alive record\'s');
  }
  if ((state === 'left') !== (leave !== null)) reject(`${path}.leave`, state === 'left' ? 'missing: a left member is carried with its signed leave' : 'only a left member carries a leave');
  return { state: state as MemberState, alive, leave };
}

function gossipItem(raw: unknown, path: string): GossipItem {
  const obj = plainObject(raw, path);
  const kind = ownValue(obj, 'kind', `${path}.kind`);
  switch (kind) {
    case 'alive': return aliveItem(obj, path);
    case 'dead': return deadItem(obj, path);
    case 'suspect': {
      const [, i, inc, from] = fields(obj, path, ['kind', 'id', 'incarnation', 'from']);
      return { kind, id: id(i, `${path}.id`), incarnation: incarnation(inc, `${path}.incarnation`), from: id(from, `${path}.from`) };
    }
    default: return reject(`${path}.kind`, `expected alive, suspect or dead, got ${describe(kind)}`);
  }
}

function gossipList(raw: unknown, path: string): GossipItem[] {
  return array(raw, path, gossipItemsPerMessageMax).map((g, i) => gossipItem(g, `${path}[${i}]`));
}

function message(raw: unknown): Message {
  const obj = plainObject(raw, 'message');
  const type = ownValue(obj, 'type', 'message.type');
  switch (type) {
    case 'ping': {
      const [, seq, target, gossip] = fields(obj, type, ['type', 'seq', 'target', 'gossip']);
      return { type, seq: counter(seq, 'ping.seq'), target: id(target, 'ping.target'), gossip: gossipList(gossip, 'ping.gossip') };
    }
    case 'ack': {
      const [, seq, gossip] = fields(obj, type, ['type', 'seq', 'gossip']);
      return { type, seq: counter(seq, 'ack.seq'), gossip: gossipList(gossip, 'ack.gossip') };
    }
    case 'pingReq': {
      const [, seq, target, targetAddr, gossip] = fields(obj, type, ['type', 'seq', 'target', 'targetAddr', 'gossip']);
      return {
        type, seq: counter(seq, 'pingReq.seq'), target: id(target, 'pingReq.target'),
        targetAddr: addr(targetAddr, 'pingReq.targetAddr'), gossip: gossipList(gossip, 'pingReq.gossip'),
      };
    }
    case 'nack': {
      const [, seq] = fields(obj, type, ['type', 'seq']);
      return { type, seq: counter(seq, 'nack.seq') };
    }
    case 'gossip': {
      const [, gossip] = fields(obj, type, ['type', 'gossip']);
      return { type, gossip: gossipList(gossip, 'gossip.gossip') };
    }
    case 'pushPull': {
      const [, reply, raw] = fields(obj, type, ['type', 'reply', 'members']);
      const members = array(raw, 'pushPull.members', membersMax).map((m, i) => memberRecord(m, `pushPull.members[${i}]`));
      const seen = new Set<string>();
      for (let i = 0; i < members.length; i++) {
        const mid = members[i].alive.id;
        if (seen.has(mid)) reject(`pushPull.members[${i}].alive.id`, `duplicate member ${JSON.stringify(mid.slice(0, 40))}`);
        seen.add(mid);
      }
      return { type, reply: boolean(reply, 'pushPull.reply'), members };
    }
    default: return reject('message.type', `expected ping, ack, pingReq, nack, gossip or pushPull, got ${describe(type)}`);
  }
}
