// The frames of /covey/formation/1.0.0 (agent/formation/formation.ts): one request and one reply
// per stream, each one length-prefixed frame of UTF-8 JSON, at most frameBytesMax. Every frame is
// checked by the schemas below before the rule sees it; one that does not fit is dropped (and the
// stream closed), never acted on. Sets of ids travel sorted and without repeats, so "the same
// set" is a plain comparison, and a voter's addresses are bounded dial hints.

import { multiaddr } from '@multiformats/multiaddr';
import { z } from 'zod';
import { peerIdPattern } from '../../consensus/index.ts';

export const formationProtocol = '/covey/formation/1.0.0';
/** One frame's bytes at most: 16 voters with 8 addresses of 256 bytes each fit with room to spare. */
export const frameBytesMax = 64 * 1024;
export const votersMax = 16;
export const addrsMax = 8;
export const addrBytesMax = 256;

const peerId = z.string().regex(peerIdPattern);
const addr = z.string().max(addrBytesMax).refine((a) => {
  try {
    multiaddr(a);
    return a.startsWith('/');
  } catch {
    return false;
  }
}, 'not a multiaddr');
const addrs = z.array(addr).max(addrsMax);
const sortedUnique = (ids: readonly string[]): boolean => ids.every((id, i) => i === 0 || ids[i - 1] < id);
const set = z.array(peerId).min(1).max(votersMax).refine(sortedUnique, 'a set is sorted and without repeats');
const voters = z.array(z.strictObject({ id: peerId, addrs })).min(1).max(votersMax)
  .refine((v) => sortedUnique(v.map((x) => x.id)), 'voters are sorted by id and without repeats');
const header = { swarm: z.string().max(64), expectVoters: z.number().int().min(1).max(votersMax) };
const attempt = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const requestSchema = z.discriminatedUnion('type', [
  /** Who I am: sent to every connected peer now and then; the answer says who it is. */
  z.strictObject({ type: z.literal('hello'), ...header, addrs }),
  /** A coordinator's proposal to a member. */
  z.strictObject({ type: z.literal('propose'), ...header, set, attempt }),
  /** A coordinator's decision, told to the members (best effort: they also ask). */
  z.strictObject({ type: z.literal('decision'), ...header, set, attempt, outcome: z.enum(['formed', 'aborted']), voters: voters.nullable() }),
  /** A locked member asks the coordinator what became of the attempt. */
  z.strictObject({ type: z.literal('ask'), ...header, set, attempt }),
]);

export const replySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('hello'), ...header, addrs, formed: voters.nullable() }),
  z.strictObject({ type: z.literal('answer'), accept: z.boolean(), reason: z.string().max(1000), formed: voters.nullable() }),
  z.strictObject({ type: z.literal('status'), status: z.enum(['formed', 'aborted', 'pending']), formed: voters.nullable() }),
  z.strictObject({ type: z.literal('ok') }),
  /** Another swarm, another k, or a peer this agent does not admit. */
  z.strictObject({ type: z.literal('refused'), reason: z.string().max(1000) }),
]);

export type Request = z.output<typeof requestSchema>;
export type Reply = z.output<typeof replySchema>;

export function encodeFrame(frame: Request | Reply): Uint8Array {
  const bytes = new TextEncoder().encode(JSON.stringify(frame));
  if (bytes.length > frameBytesMax) throw new RangeError(`formation frame of ${bytes.length} bytes exceeds ${frameBytesMax}`);
  return bytes;
}

/** The frame, or why it was dropped. Never throws. */
export function decodeFrame<T>(bytes: Uint8Array, schema: z.ZodType<T>): { ok: true; frame: T } | { ok: false; reason: string } {
  if (bytes.length > frameBytesMax) return { ok: false, reason: `frame of ${bytes.length} bytes exceeds ${frameBytesMax}` };
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    return { ok: false, reason: `not UTF-8 JSON (${(err as Error).message})` };
  }
  const r = schema.safeParse(raw);
  if (!r.success) return { ok: false, reason: r.error.issues.map((i) => `${i.path.join('.') || '(frame)'}: ${i.message}`).join('; ').slice(0, 300) };
  return { ok: true, frame: r.data };
}
