// Validation of decoded membership messages at the edge of the pure core. What arrives from the
// network is attacker-shaped until proven otherwise, so `validateMessage`
//   - never throws: any input, proxies and accessors included, yields `{ ok: false, reason }`;
//   - reads fields as own data-property descriptors (a getter is refused without being called);
//   - is strict: unknown fields and types, holes in arrays, non-plain objects are refused;
//   - bounds everything: string bytes, list lengths, counters, metadata size (config.ts);
//   - returns a fresh copy holding only known fields, so the core never keeps the sender's object.
// A reason names the message type and the field: "pushPull.members[3].meta.battery: …".
//
// Pure: no clock, timer, randomness or I/O.

import {
  addrBytesMax, counterMax, gossipItemsPerMessageMax, idBytesMax, membersMax, metaListMax, metaNameBytesMax,
} from './config.ts';
import { metaProblem, utf8Bytes } from './meta.ts';
import type { GossipItem, MemberId, MemberState, MemberView, Message, Meta } from './types.ts';

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

// ---- rejection (recognised by a private field: a thrown proxy's traps never run) --------------

class Rejection {
  readonly #reason: string;
  constructor(reason: string) {
    this.#reason = reason;
  }
  static reasonOf(e: unknown): string | null {
    return typeof e === 'object' && e !== null && #reason in e ? (e as Rejection).#reason : null;
  }
}

function reject(path: string, problem: string): never {
  throw new Rejection(`${path}: ${problem}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'number': case 'boolean': return String(v);
    case 'string': return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
    case 'undefined': return 'undefined';
    case 'object':
      try {
        return Array.isArray(v) ? 'an array' : 'an object';
      } catch {
        return 'an object';
      }
    default: return `a ${typeof v}`;
  }
}

// ---- structure ------------------------------------------------------------------------------

function plainObject(raw: unknown, path: string): object {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) reject(path, `expected an object, got ${describe(raw)}`);
  const proto: unknown = Object.getPrototypeOf(raw);
  if (proto !== Object.prototype && proto !== null) reject(path, 'expected a plain object');
  return raw;
}

function ownValue(obj: object, key: string | number, path: string, missing = 'missing'): unknown {
  const d = Reflect.getOwnPropertyDescriptor(obj, key);
  if (d === undefined) reject(path, missing);
  if (!('value' in d)) reject(path, 'accessor properties are not allowed');
  return d.value;
}

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

function array(raw: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(raw)) reject(path, `expected an array, got ${describe(raw)}`);
  const length: unknown = (raw as unknown[]).length;
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) reject(path, 'invalid array length');
  if (length > max) reject(path, `expected at most ${max} entries, got ${length}`);
  const out: unknown[] = new Array(length);
  for (let i = 0; i < length; i++) out[i] = ownValue(raw as object, i, `${path}[${i}]`, 'missing entry (sparse array)');
  return out;
}

// ---- scalars --------------------------------------------------------------------------------

function counter(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > counterMax) reject(path, `expected a non-negative safe integer, got ${describe(v)}`);
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

function memberView(raw: unknown, path: string): MemberView {
  const [i, a, inc, state, m] = fields(plainObject(raw, path), path, ['id', 'addr', 'incarnation', 'state', 'meta']);
  if (typeof state !== 'string' || !memberStates.has(state)) reject(`${path}.state`, `expected one of ${[...memberStates].join(', ')}, got ${describe(state)}`);
  return {
    id: id(i, `${path}.id`), addr: addr(a, `${path}.addr`), incarnation: counter(inc, `${path}.incarnation`),
    state: state as MemberState, meta: meta(m, `${path}.meta`),
  };
}

function gossipItem(raw: unknown, path: string): GossipItem {
  const obj = plainObject(raw, path);
  const kind = ownValue(obj, 'kind', `${path}.kind`);
  switch (kind) {
    case 'alive': {
      const [, i, a, inc, m] = fields(obj, path, ['kind', 'id', 'addr', 'incarnation', 'meta']);
      return { kind, id: id(i, `${path}.id`), addr: addr(a, `${path}.addr`), incarnation: counter(inc, `${path}.incarnation`), meta: meta(m, `${path}.meta`) };
    }
    case 'suspect': case 'dead': {
      const [, i, inc, from] = fields(obj, path, ['kind', 'id', 'incarnation', 'from']);
      return { kind, id: id(i, `${path}.id`), incarnation: counter(inc, `${path}.incarnation`), from: id(from, `${path}.from`) };
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
      const members = array(raw, 'pushPull.members', membersMax).map((m, i) => memberView(m, `pushPull.members[${i}]`));
      const seen = new Set<string>();
      for (let i = 0; i < members.length; i++) {
        if (seen.has(members[i].id)) reject(`pushPull.members[${i}].id`, `duplicate member ${JSON.stringify(members[i].id.slice(0, 40))}`);
        seen.add(members[i].id);
      }
      return { type, reply: boolean(reply, 'pushPull.reply'), members };
    }
    default: return reject('message.type', `expected ping, ack, pingReq, nack, gossip or pushPull, got ${describe(type)}`);
  }
}
