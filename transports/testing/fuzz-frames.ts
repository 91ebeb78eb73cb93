// The frames of the wire fuzzer (agent/fuzz), one fast-check arbitrary per decoder an agent runs on
// bytes from the network:
//
//   consensus    /covey/epaxos/1.0.0 frames (protobuf Frame, transports/wire/codec.ts decodeFrame)
//   submit       /covey/submit/1.0.0 requests (protobuf SubmitRequest, decodeSubmit)
//   snapshot     /covey/snapshot/1.0.0 transfers (UTF-8 JSON, validateSnapshotMessage)
//   membership   /covey/membership/2.0.0 frames (UTF-8 JSON { swarm, msg }, membership validate.ts)
//   gossip       the same envelope published on the gossipsub topic covey/<swarm>/membership
//   httpStream   frames of the HTTP submit stream /v1/stream (agent/stream/frames.ts)
//   join         /covey/join/1.0.0 offers (UTF-8 JSON { epoch, voters, change, machine }, validateJoinOffer)
//   votersTopic  voter-set announcements on the gossipsub topic covey/<swarm>/voters (UTF-8 JSON
//                { swarm, epoch, voters }, transports/voters-topic.ts parseVotersMessage)
//
// Each yields either a payload (`frame`: the sender wraps it in the protocol's own framing) or
// `raw` bytes written to the stream as they are — framing a correct peer never writes: a length
// prefix far over the bound, a varint that never ends, a frame cut short by the end of the stream.
//
// Payloads are random bytes, protobuf poison, and structure-aware mutations of valid encodings
// (valid messages with out-of-range fields, truncated, bit-flipped, spliced). `acceptedByDecoder`
// is the oracle the fuzzer uses to hold back the rare payload that is still *valid*: the fuzzer
// holds a voter's key, and a valid consensus message from a voter is a vote — consensus trusts its
// voters (crash faults, not Byzantine ones), so sending it would test a fault model Covey does not
// claim, and could rightly change what the other agents believe. The same holds for a valid join
// offer (the state at a change, which a new voter persists and then votes from) and a valid voters
// announcement (a worker follows it to a newer epoch): from a voter, both are trusted by design.

import fc from 'fast-check';
import { type Command, instanceId, type Message, replicasMax, validateSnapshotMessage } from '../../consensus/index.ts';
import { batchArbitrary, commandArbitrary, payloadArbitrary } from '../../consensus/testing/index.ts';
import { validateMessage as validateMembershipMessage } from '../membership/index.ts';
import { joinChangeCharsMax, joinOfferBytesMaxDefault, validateJoinOffer } from '../rpc/join-transfer.ts';
import { parseVotersMessage, votersMessageBytesMax } from '../voters-topic.ts';
import { decodeFrame, decodeSubmit, encodeFrame, encodeSubmit } from '../wire/codec.ts';
import { arbMutation, arbProtobufPoison, arbRandomBytes, concat, varint } from './fuzz-mutate.ts';

export const fuzzTargets = ['consensus', 'submit', 'snapshot', 'membership', 'gossip', 'httpStream', 'join', 'votersTopic'] as const;
export type FuzzTarget = (typeof fuzzTargets)[number];

/** `frame`: a payload for the protocol's framing; `raw`: bytes written verbatim (framing broken). */
export interface FuzzFrame {
  readonly kind: 'frame' | 'raw';
  readonly bytes: Uint8Array;
}

export interface FuzzContext {
  /** Voters in the swarm under test; the fuzzer is voter `from`. */
  readonly n: number;
  readonly from: number;
  /** The swarm's name (membership frames of another swarm are dropped before validation). */
  readonly swarm: string;
  /** Peer ids of the agents, for membership messages that name real members. */
  readonly peers: readonly string[];
}

const utf8 = new TextEncoder();
const arbCount = fc.oneof(fc.nat({ max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER), fc.nat(), fc.constant(-1), fc.constant(2 ** 64));
const arbText = fc.oneof(
  { weight: 8, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constant('x'.repeat(2000)) },
);
/** Valid-shaped encodings sampled once per run; frames are mutations of them (sampling is the slow part). */
export const basesPerTarget = 512;

// ---- consensus -----------------------------------------------------------------------------------

function arbConsensusMessage(ctx: FuzzContext): fc.Arbitrary<Message> {
  const replica = fc.oneof(fc.nat({ max: ctx.n - 1 }), fc.integer({ min: ctx.n, max: replicasMax + 2 }));
  const id = fc.oneof(
    fc.tuple(fc.integer({ min: 1, max: 1_000_000 }), fc.nat({ max: ctx.n - 1 })).map(([s, c]) => instanceId(s, c)),
    arbCount,
  );
  const floor = fc.array(arbCount, { minLength: 0, maxLength: ctx.n + 2 });
  const dep = fc.record({ floor, ids: fc.array(id, { maxLength: 6 }) });
  const ballot = arbCount;
  const batch = batchArbitrary(commandArbitrary(arbText, arbCount));
  const payload = payloadArbitrary(batch);
  const phase = fc.constantFrom('INITIAL', 'PREACCEPTED', 'ACCEPTED', 'COMMITTED');
  const m = (x: unknown): Message => x as Message;
  return fc.oneof(
    fc.tuple(id, batch, dep).map(([i, cmd, d]) => m({ type: 'PreAccept', id: i, cmd, dep: d })),
    fc.tuple(id, dep).map(([i, d]) => m({ type: 'PreAcceptOK', id: i, dep: d })),
    fc.tuple(ballot, id, payload, dep).map(([b, i, cmd, d]) => m({ type: 'Accept', b, id: i, cmd, dep: d })),
    fc.tuple(ballot, id).map(([b, i]) => m({ type: 'AcceptOK', b, id: i })),
    fc.tuple(ballot, id, payload, dep).map(([b, i, cmd, d]) => m({ type: 'Commit', b, id: i, cmd, dep: d })),
    fc.tuple(ballot, id).map(([b, i]) => m({ type: 'Recover', b, id: i })),
    fc.tuple(ballot, id, ballot, fc.option(payload), dep, dep, phase).map(([b, i, abal, cmd, d, initDep, ph]) =>
      m({ type: 'RecoverOK', b, id: i, abal, cmd, dep: d, initDep, phase: ph })),
    fc.tuple(ballot, id, batch, dep).map(([b, i, cmd, d]) => m({ type: 'Validate', b, id: i, cmd, dep: d })),
    fc.tuple(ballot, id, fc.array(fc.tuple(id, phase), { maxLength: 4 })).map(([b, i, I]) => m({ type: 'ValidateOK', b, id: i, I })),
    fc.tuple(id, replica).map(([i, k]) => m({ type: 'Waiting', id: i, k })),
    floor.map((executed) => m({ type: 'Watermark', executed })),
  );
}

/** encodeFrame, or null where the encoder itself refuses the out-of-range values. */
function tryEncodeFrame(msgs: readonly Message[]): Uint8Array | null {
  try { return encodeFrame(msgs); } catch { return null; }
}

/**
 * A valid-shaped encoding, as it is (1 in 5) or mutated. The encodings are sampled once (`seed`)
 * into a pool of basesPerTarget: drawing a command tree per frame would cost more than sending it.
 */
function structured(encoded: fc.Arbitrary<Uint8Array | null>, seed: number): fc.Arbitrary<Uint8Array> {
  const pool = fc.sample(encoded, { seed, numRuns: basesPerTarget }).filter((b): b is Uint8Array => b !== null);
  if (pool.length === 0) return arbRandomBytes;
  return fc.constantFrom(...pool).chain((b) => fc.oneof({ weight: 1, arbitrary: fc.constant(b) }, { weight: 4, arbitrary: arbMutation(b) }));
}

function arbConsensusPayload(ctx: FuzzContext, seed: number): fc.Arbitrary<Uint8Array> {
  const frame = fc.array(arbConsensusMessage(ctx), { minLength: 1, maxLength: 4 }).map(tryEncodeFrame);
  return fc.oneof(
    { weight: 6, arbitrary: structured(frame, seed) },
    { weight: 2, arbitrary: arbRandomBytes },
    { weight: 1, arbitrary: arbProtobufPoison },
  );
}

// ---- submit (libp2p and the HTTP stream) ---------------------------------------------------------

function tryEncodeSubmit(c: Command): Uint8Array | null {
  try { return encodeSubmit(c); } catch { return null; }
}

function arbSubmitPayload(seed: number): fc.Arbitrary<Uint8Array> {
  const command = commandArbitrary(arbText, arbCount).map((c) => ({ ...c, key: 'key' in c ? `fuzz/${c.key}` : undefined }) as Command);
  return fc.oneof(
    { weight: 6, arbitrary: structured(command.map(tryEncodeSubmit), seed) },
    { weight: 2, arbitrary: arbRandomBytes },
    { weight: 1, arbitrary: arbProtobufPoison },
  );
}

// ---- JSON (snapshot, membership) -----------------------------------------------------------------

/** JSON text mutated as text: a wrong field type, an extra or missing field, invalid UTF-8, bytes. */
function arbJsonPayload(validShape: fc.Arbitrary<Record<string, unknown>>, seed: number): fc.Arbitrary<Uint8Array> {
  const valid = fc.constantFrom(...fc.sample(validShape, { seed, numRuns: basesPerTarget }));
  const json = fc.jsonValue({ maxDepth: 4 });
  const edited = fc.tuple(valid, fc.string({ maxLength: 12 }), json, fc.boolean()).map(([obj, key, value, replace]) => {
    const keys = Object.keys(obj);
    const out: Record<string, unknown> = { ...obj };
    if (replace && keys.length > 0) out[keys[key.length % keys.length]] = value; // a known field, wrong value
    else out[key] = value; // an unknown field
    return out;
  });
  const text = fc.oneof(valid, edited).map((o) => utf8.encode(JSON.stringify(o)));
  return fc.oneof(
    { weight: 4, arbitrary: text },
    { weight: 3, arbitrary: text.chain(arbMutation) },
    { weight: 1, arbitrary: json.map((v) => utf8.encode(JSON.stringify(v) ?? 'null')) },
    { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map((d) => utf8.encode('['.repeat(d) + ']'.repeat(d))) },
    { weight: 1, arbitrary: fc.constantFrom(Uint8Array.of(0xc3, 0x28), Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0xff, 0xfe, 0x7b, 0x7d)) },
    { weight: 1, arbitrary: arbRandomBytes },
  );
}

function arbMembershipEnvelope(ctx: FuzzContext): fc.Arbitrary<Record<string, unknown>> {
  const member = fc.oneof(fc.constantFrom(...ctx.peers), arbText);
  const n = fc.oneof(fc.nat({ max: 1000 }), arbCount);
  const meta = fc.oneof(fc.record({ role: fc.constantFrom('voter', 'worker') }), fc.jsonValue({ maxDepth: 2 }));
  const item = fc.oneof(
    fc.record({ kind: fc.constant('alive'), id: member, addr: arbText, incarnation: n, meta }),
    fc.record({ kind: fc.constantFrom('suspect', 'dead'), id: member, incarnation: n, from: member }),
  );
  const gossip = fc.array(item, { maxLength: 6 });
  const msg = fc.oneof(
    fc.record({ type: fc.constant('ping'), seq: n, target: member, gossip }),
    fc.record({ type: fc.constant('ack'), seq: n, gossip }),
    fc.record({ type: fc.constant('pingReq'), seq: n, target: member, targetAddr: arbText, gossip }),
    fc.record({ type: fc.constant('nack'), seq: n }),
    fc.record({ type: fc.constant('gossip'), gossip }),
    fc.record({ type: fc.constant('pushPull'), reply: fc.boolean(), members: fc.array(fc.record({ id: member, addr: arbText, incarnation: n, state: fc.constantFrom('alive', 'suspect', 'dead', 'left'), meta }), { maxLength: 6 }) }),
  );
  const swarm = fc.oneof({ weight: 9, arbitrary: fc.constant(ctx.swarm) }, { weight: 1, arbitrary: arbText });
  return fc.record({ swarm, msg });
}

function arbSnapshot(ctx: FuzzContext): fc.Arbitrary<Record<string, unknown>> {
  const nums = fc.array(arbCount, { maxLength: ctx.n + 1 });
  return fc.record({ type: fc.constantFrom('Snapshot', 'snapshot'), machine: fc.jsonValue({ maxDepth: 3 }), applied: nums, appliedAbove: nums, truncated: nums });
}

// ---- voter sets (join, votersTopic) ---------------------------------------------------------------

const base58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
/** A peer id of the shape agents use (Ed25519, `12D3KooW` and 44 base58 characters), none of a real agent. */
const arbFakePeerId = fc.string({ unit: fc.constantFrom(...base58), minLength: 44, maxLength: 44 }).map((s) => `12D3KooW${s}`);

/**
 * Not a peer id: empty, too short or long, characters outside base58 (0 O I l) or outside the voter
 * name pattern (space, slash, non-ASCII), control characters, another type. Some are still valid
 * voter *names* (the voters topic takes those): the oracle holds such an announcement back.
 */
function arbMalformedPeerId(ctx: FuzzContext): fc.Arbitrary<unknown> {
  const real = fc.constantFrom(...ctx.peers);
  return fc.oneof(
    fc.constantFrom('', ' ', 'Qm', '12D3KooW', '/ip4/127.0.0.1/tcp/4001', 'peer id', 'pêer', 'a\u0000b', 'x'.repeat(129), 'x'.repeat(5000)),
    real.map((p) => p.slice(0, 20)), // cut short
    real.map((p) => `${p}${'A'.repeat(40)}`), // too long
    real.map((p) => `${p.slice(0, -1)}0`), // 0 is not base58
    real.map((p) => ` ${p}`), // a space before it
    real.map((p) => p.toLowerCase()),
    fc.constantFrom(null, 7, -1, true, [], {}),
    real.map((p) => ({ id: p })),
  );
}

/** A valid voter list: 3, 5 or 7 distinct peer ids, real agents' and made-up ones. */
function arbVoters(ctx: FuzzContext): fc.Arbitrary<string[]> {
  const id = fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...ctx.peers) }, { weight: 3, arbitrary: arbFakePeerId });
  return fc.constantFrom(3, 5, 7).chain((n) => fc.uniqueArray(id, { minLength: n, maxLength: n }));
}

/** A voter list broken one way: a count other than 3, 5 or 7, one listed twice, one malformed, not a list, missing. */
function arbBadVoters(ctx: FuzzContext): fc.Arbitrary<unknown> {
  const valid = arbVoters(ctx);
  const id = fc.oneof(fc.constantFrom(...ctx.peers), arbFakePeerId);
  return fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(0, 1, 2, 4, 6, 8, 9, 64).chain((n) => fc.uniqueArray(id, { minLength: n, maxLength: n })) },
    { weight: 2, arbitrary: fc.tuple(valid, fc.nat(), fc.nat()).map(([v, i, j]) => { // one voter twice
      const out = [...v];
      const a = i % out.length;
      out[(a + 1 + (j % (out.length - 1))) % out.length] = out[a];
      return out;
    }) },
    { weight: 3, arbitrary: fc.tuple(valid, fc.nat(), arbMalformedPeerId(ctx)).map(([v, i, bad]) => { // one malformed
      const out: unknown[] = [...v];
      out[i % out.length] = bad;
      return out;
    }) },
    { weight: 1, arbitrary: valid.map((v) => v.join(',')) }, // the config's text form, not a list
    { weight: 1, arbitrary: fc.constantFrom(null, 3, {}, 'voters', undefined) },
    { weight: 1, arbitrary: fc.constant(Array.from({ length: 2000 }, (_, i) => ctx.peers[i % ctx.peers.length])) }, // huge, repeating
  );
}

const arbEpoch = fc.integer({ min: 1, max: 1000 });
const arbBadEpoch = fc.constantFrom(0, -1, 1.5, 2 ** 53, 1e308, '1', null, true, [1], { epoch: 1 }, undefined);

/**
 * Structure-aware mutations of a valid object: 1 in 9 as it is (the oracle holds those back), else
 * one field (mostly) or several replaced by a wrong value of theirs; `undefined` leaves it out.
 */
function withFaults(valid: fc.Arbitrary<Record<string, unknown>>, faults: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  const field = fc.constantFrom(...Object.keys(faults));
  const which = fc.oneof(
    { weight: 1, arbitrary: fc.constant([]) },
    { weight: 6, arbitrary: fc.uniqueArray(field, { minLength: 1, maxLength: 1 }) },
    { weight: 2, arbitrary: fc.uniqueArray(field, { minLength: 2 }) },
  );
  return fc.tuple(valid, which, fc.record(faults)).map(([v, broken, bad]) => {
    const out: Record<string, unknown> = { ...v };
    for (const k of broken) out[k] = bad[k];
    return out;
  });
}

/** Join offers { epoch, voters, change, machine }: wrong types, voter counts, duplicates, malformed ids, huge changes, no machine. */
function arbJoinOffer(ctx: FuzzContext): fc.Arbitrary<Record<string, unknown>> {
  const change = fc.tuple(fc.integer({ min: 1, max: 1_000_000 }), fc.nat({ max: ctx.n - 1 })).map(([s, c]) => `${s}.${c}`);
  const machine = fc.oneof(
    { weight: 9, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.constant(Array.from({ length: 20_000 }, (_, i) => i)) }, // a big state (still far under the bound)
  );
  return withFaults(fc.record({ epoch: arbEpoch, voters: arbVoters(ctx), change, machine }), {
    epoch: arbBadEpoch,
    voters: arbBadVoters(ctx),
    // Empty, one over the bound, huge; not text.
    change: fc.constantFrom('', 'x'.repeat(joinChangeCharsMax + 1), 'x'.repeat(100_000), '1.0'.repeat(1000), null, 12, ['1.0'], { seq: 1 }, undefined),
    machine: fc.constant(undefined), // missing (null is a state)
  });
}

/** Voters announcements { swarm, epoch, voters }: the same faults, and another swarm's name. */
function arbVotersAnnouncement(ctx: FuzzContext): fc.Arbitrary<Record<string, unknown>> {
  return withFaults(fc.record({ swarm: fc.constant(ctx.swarm), epoch: arbEpoch, voters: arbVoters(ctx) }), {
    swarm: fc.oneof(arbText, fc.constantFrom(ctx.swarm.toUpperCase(), `${ctx.swarm} `, 'x'.repeat(votersMessageBytesMax), null, 1, undefined)),
    epoch: arbBadEpoch,
    voters: arbBadVoters(ctx),
  });
}

// ---- framing breakers ----------------------------------------------------------------------------

/** it-length-prefixed framing a correct peer never writes (each ends the stream's framing). */
function arbLpBreaker(frameBytesMax: number): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    // Declared length over the bound (the body is never sent: the decoder must refuse on the prefix).
    fc.constantFrom(frameBytesMax + 1, 2 ** 31, 2 ** 53 - 1).map((n) => concat(varint(n), Uint8Array.of(1, 2, 3))),
    // A length varint that never ends.
    fc.integer({ min: 9, max: 20 }).map((n) => new Uint8Array(n).fill(0x80)),
    // A frame cut short by the end of the stream.
    fc.tuple(fc.integer({ min: 2, max: 4096 }), fc.uint8Array({ maxLength: 1 })).map(([n, b]) => concat(varint(n), b)),
  );
}

/** The HTTP submit stream's framing (u32 length ‖ u32 id ‖ body) broken. */
function arbHttpBreaker(): fc.Arbitrary<Uint8Array> {
  const header = (len: number, extra: Uint8Array): Uint8Array => {
    const h = new Uint8Array(4);
    new DataView(h.buffer).setUint32(0, len >>> 0);
    return concat(h, extra);
  };
  return fc.oneof(
    fc.integer({ min: 0, max: 3 }).map((len) => header(len, new Uint8Array(8))), // shorter than the id
    fc.constantFrom(4 * 1024 * 1024 + 5, 2 ** 32 - 1).map((len) => header(len, Uint8Array.of(0, 0, 0, 1))), // over the bound
    fc.integer({ min: 5, max: 4096 }).map((len) => header(len, Uint8Array.of(0, 0, 0, 1))), // cut short
  );
}

// ---- per target ----------------------------------------------------------------------------------

/** Frames for one target (3 in 100 break the framing, on stream targets); the valid-shaped bases are sampled from `seed`. */
export function fuzzFrameArbitrary(target: FuzzTarget, ctx: FuzzContext, frameBytesMax: number, seed: number): fc.Arbitrary<FuzzFrame> {
  const frame = (a: fc.Arbitrary<Uint8Array>) => a.map((bytes): FuzzFrame => ({ kind: 'frame', bytes }));
  const raw = (a: fc.Arbitrary<Uint8Array>) => a.map((bytes): FuzzFrame => ({ kind: 'raw', bytes }));
  const withBreakers = (payload: fc.Arbitrary<Uint8Array>, breaker: fc.Arbitrary<Uint8Array>) =>
    fc.oneof({ weight: 97, arbitrary: frame(payload) }, { weight: 3, arbitrary: raw(breaker) });
  switch (target) {
    case 'consensus': return withBreakers(arbConsensusPayload(ctx, seed), arbLpBreaker(frameBytesMax));
    case 'submit': return withBreakers(arbSubmitPayload(seed), arbLpBreaker(frameBytesMax));
    case 'snapshot': return withBreakers(arbJsonPayload(arbSnapshot(ctx), seed), arbLpBreaker(frameBytesMax));
    case 'membership': return withBreakers(arbJsonPayload(arbMembershipEnvelope(ctx), seed), arbLpBreaker(frameBytesMax));
    case 'gossip': return frame(arbJsonPayload(arbMembershipEnvelope(ctx), seed));
    case 'httpStream': return withBreakers(arbSubmitPayload(seed), arbHttpBreaker());
    // The offer's bound is the snapshot's (256 MiB), not the consensus frame's: a prefix just over it must be refused unread.
    case 'join': return withBreakers(arbJsonPayload(arbJoinOffer(ctx), seed), arbLpBreaker(joinOfferBytesMaxDefault));
    case 'votersTopic': return frame(arbJsonPayload(arbVotersAnnouncement(ctx), seed));
  }
}

// ---- the oracle ----------------------------------------------------------------------------------

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function parseJson(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(strictUtf8.decode(bytes)) };
  } catch {
    return { ok: false };
  }
}

/**
 * True when the agent's own decoder and validator would accept `bytes` as a payload of `target`:
 * the fuzzer holds such a payload back (the file comment says why) and counts it.
 */
export function acceptedByDecoder(target: FuzzTarget, bytes: Uint8Array, ctx: FuzzContext): boolean {
  switch (target) {
    case 'consensus': return decodeFrame(bytes, ctx.from, { n: ctx.n }).ok;
    case 'submit':
    case 'httpStream': return decodeSubmit(bytes).ok;
    case 'snapshot': {
      const j = parseJson(bytes);
      return j.ok && validateSnapshotMessage(j.value, ctx.from, { n: ctx.n }).ok;
    }
    case 'membership':
    case 'gossip': {
      const j = parseJson(bytes);
      if (!j.ok || typeof j.value !== 'object' || j.value === null) return false;
      const env = j.value as { swarm?: unknown; msg?: unknown };
      return env.swarm === ctx.swarm && validateMembershipMessage(env.msg).ok;
    }
    case 'join': {
      const j = parseJson(bytes);
      return j.ok && validateJoinOffer(j.value).ok;
    }
    case 'votersTopic': return typeof parseVotersMessage(bytes, ctx.swarm) !== 'string';
  }
}
