import assert from 'node:assert/strict';
import {
  ballotOwner, type Command, type CommandResult, type Deps, initCoord, type InstanceId, instanceId, instanceSeq,
  type Message, type Phase, replicasMax, seqMax, type TaskView, timestampMsMax, validateCommand, validateMessage,
} from '../../consensus/index.ts';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { writer } from 'protons-runtime';
import { batchArbitrary, commandArbitrary, payloadArbitrary } from '../../consensus/testing/index.ts';
import {
  decodeFrame, decodeSubmit, decodeSubmitReply, encodeFrame, encodeFrames, encodeSubmit, encodeSubmitReply,
  FrameDesc, SubmitRequestDesc, consensusFrameBytesMaxDefault, schemaMessages,
} from './codec.ts';
import type { FieldDesc, MessageDesc } from './protobuf.ts';

// ---- arbitraries (valid messages, after consensus/core/validate.test.ts) ----------------------

const phaseNames: Phase[] = ['INITIAL', 'PREACCEPTED', 'ACCEPTED', 'COMMITTED'];
const arbN = fc.integer({ min: 1, max: replicasMax });
const arbSeq = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constant(seqMax));
const arbId = (n: number) => fc.tuple(arbSeq, fc.nat({ max: n - 1 })).map(([seq, c]) => instanceId(seq, c));
const arbCount = fc.oneof(fc.nat({ max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER), fc.nat());
// Well-formed Unicode only: a lone surrogate has no UTF-8 form and the core refuses it anyway.
const arbText = fc.oneof(fc.string({ unit: 'grapheme' }), fc.string(), fc.constant('\uFEFFbom'), fc.constant(''));
const arbCommand = commandArbitrary(arbText, arbCount);
const arbBatch = batchArbitrary(arbCommand);
const arbPayload = payloadArbitrary(arbBatch);

function arbDeps(n: number, self: InstanceId): fc.Arbitrary<Deps> {
  return fc
    .tuple(fc.array(arbCount, { minLength: n, maxLength: n }), fc.uniqueArray(arbId(n), { maxLength: 6 }))
    .map(([floor, ids]) => ({
      floor,
      ids: ids.filter((x) => x !== self && instanceSeq(x) > floor[initCoord(x)]).sort((x, y) => x - y),
    }));
}

interface Sent { readonly n: number; readonly from: number; readonly msg: Message }

const arbSent: fc.Arbitrary<Sent> = arbN.chain((n) => arbId(n).chain((id) => {
  const anyone = fc.nat({ max: n - 1 });
  const recoveryBallot = fc.oneof(fc.integer({ min: 1, max: 1_000_000 }), fc.constant(Number.MAX_SAFE_INTEGER));
  const sent = (from: number, msg: Message): Sent => ({ n, from, msg });
  const dep = arbDeps(n, id);
  return fc.oneof(
    fc.tuple(arbBatch, dep).map(([cmd, d]) => sent(initCoord(id), { type: 'PreAccept', id, cmd, dep: d })),
    fc.tuple(anyone, dep).map(([from, d]) => sent(from, { type: 'PreAcceptOK', id, dep: d })),
    fc.tuple(fc.nat({ max: 1000 }), arbPayload, dep).map(([b, cmd, d]) => sent(ballotOwner(b, n, id), { type: 'Accept', b, id, cmd, dep: d })),
    fc.tuple(anyone, arbCount).map(([from, b]) => sent(from, { type: 'AcceptOK', b, id })),
    fc.tuple(anyone, arbCount, arbPayload, dep).map(([from, b, cmd, d]) => sent(from, { type: 'Commit', b, id, cmd, dep: d })),
    recoveryBallot.map((b) => sent(b % n, { type: 'Recover', b, id })),
    fc.tuple(anyone, recoveryBallot, fc.constantFrom(...phaseNames), fc.nat(), arbPayload, fc.boolean(), dep, dep)
      .map(([from, b, phase, a, payload, none, d, initDep]) => {
        const early = phase === 'INITIAL' || phase === 'PREACCEPTED';
        const abal = early ? 0 : a % (b + 1);
        const cmd = early && none ? null : payload;
        return sent(from, { type: 'RecoverOK', b, id, abal, cmd, dep: d, initDep, phase });
      }),
    fc.tuple(recoveryBallot, arbBatch, dep).map(([b, cmd, d]) => sent(b % n, { type: 'Validate', b, id, cmd, dep: d })),
    fc.tuple(anyone, recoveryBallot, fc.array(fc.tuple(arbId(n), fc.constantFrom(...phaseNames)), { maxLength: 4 }))
      .map(([from, b, I]) => sent(from, { type: 'ValidateOK', b, id, I: I.filter(([x]) => x !== id) })),
    fc.tuple(anyone, fc.nat({ max: n })).map(([from, k]) => sent(from, { type: 'Waiting', id, k })),
    fc.tuple(anyone, fc.array(arbCount, { minLength: n, maxLength: n })).map(([from, executed]) => sent(from, { type: 'Watermark', executed })),
    // With the floor the sender's proposals carry: at most its own executed prefix.
    fc.tuple(anyone, fc.array(fc.tuple(arbCount, arbCount), { minLength: n, maxLength: n }))
      .map(([from, pairs]) => sent(from, { type: 'Watermark', executed: pairs.map(([a, b]) => Math.max(a, b)), floor: pairs.map(([a, b]) => Math.min(a, b)) })),
  );
}));

const arbTask: fc.Arbitrary<TaskView> = fc.record({
  taskId: arbText, spec: arbText, status: fc.constantFrom('open' as const, 'claimed' as const, 'done' as const),
  owner: fc.option(arbText), token: arbCount, leaseExpiresMs: arbCount, result: fc.option(arbText),
});
const arbResult: fc.Arbitrary<CommandResult> = fc.oneof(
  fc.record({ ok: fc.constant(true as const), value: fc.option(arbText), swapped: fc.boolean(), task: arbTask }, { requiredKeys: ['ok'] }),
  fc.record({ ok: fc.constant(false as const), error: arbText, task: arbTask }, { requiredKeys: ['ok', 'error'] }),
).map((r) => (r.task === undefined ? { ...r } : { ...r, task: { ...r.task } })); // fc.record may make null-prototype objects

/**
 * Bytes shaped like the schema: every field of `desc` with its own wire type and an arbitrary
 * value (ids, ballots, enums and lengths that mostly mean nothing), nested `depth` messages deep.
 * Most of it parses and much of it is then invalid, which is what a decoder must never let
 * through; uniformly random bytes almost never parse (none in 20,000 tries), so alone they would
 * leave "never yields an invalid message" unchecked.
 */
type Put = (w: ReturnType<typeof writer>) => void;
const arbUint = fc.oneof(
  { arbitrary: fc.nat({ max: 8 }), weight: 3 },
  { arbitrary: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.nat({ max: 2 })).map(([seq, c]) => instanceId(seq, c)), weight: 3 },
  { arbitrary: fc.nat({ max: 1 << 20 }), weight: 1 },
  { arbitrary: fc.maxSafeNat(), weight: 1 },
);
function arbShaped(desc: MessageDesc, depth: number): fc.Arbitrary<Put> {
  const one = (f: FieldDesc): fc.Arbitrary<Put> => {
    const key = (wireType: number) => f.no * 8 + wireType;
    switch (f.kind) {
      case 'uint64': return arbUint.map((v): Put => (w) => { w.uint32(key(0)); w.uint64(BigInt(v)); });
      case 'bool': return fc.boolean().map((v): Put => (w) => { w.uint32(key(0)); w.bool(v); });
      case 'enum': return fc.oneof({ arbitrary: fc.integer({ min: 1, max: 4 }), weight: 3 }, { arbitrary: fc.nat({ max: 15 }), weight: 1 }).map((v): Put => (w) => { w.uint32(key(0)); w.uint32(v); });
      case 'string': return fc.oneof(fc.constantFrom('', 'k', 'c'), fc.string()).map((v): Put => (w) => { w.uint32(key(2)); w.string(v); });
      case 'message': return arbShaped((f.message as () => MessageDesc)(), depth - 1)
        .map((inner): Put => (w) => { w.uint32(key(2)); w.fork(); inner(w); w.ldelim(); });
    }
  };
  const usable = desc.fields.filter((f) => f.kind !== 'message' || depth > 0);
  const parts: fc.Arbitrary<Put>[] = [];
  for (const f of usable) {
    if (f.label === 'oneof') continue;
    if (f.label === 'repeated' && f.kind === 'uint64') {
      // Three entries often: a floor or a watermark has one per voter of ctx3.
      parts.push(fc.oneof(fc.array(arbUint, { minLength: 3, maxLength: 3 }), fc.array(arbUint, { maxLength: 4 })).map((vs): Put => (w) => {
        w.uint32(f.no * 8 + 2); w.fork(); for (const v of vs) w.uint64(BigInt(v)); w.ldelim();
      }));
    } else if (f.label === 'repeated') {
      parts.push(fc.array(one(f), { maxLength: 3 }).map((ps): Put => (w) => { for (const p of ps) p(w); }));
    } else {
      // Optional fields mostly absent: a command with every field set is refused for its op.
      const absent: Put = () => {};
      parts.push(f.label === 'optional' ? fc.oneof({ arbitrary: fc.constant(absent), weight: 4 }, { arbitrary: one(f), weight: 1 }) : one(f));
    }
  }
  const oneofs = usable.filter((f) => f.label === 'oneof');
  if (oneofs.length > 0) parts.push(fc.oneof(...oneofs.map(one)));
  return fc.tuple(...parts).map((ps): Put => (w) => { for (const p of ps) p(w); });
}
const bytesOf = (put: Put): Uint8Array => { const w = writer(); put(w); return w.finish(); };
/** Frames and submit requests shaped like the schema (Frame > Message > body > Payload > Batch > Command). */
const arbShapedFrame = arbShaped(FrameDesc, 6).map(bytesOf);
const arbShapedSubmit = arbShaped(SubmitRequestDesc, 2).map(bytesOf);

// ---- helpers --------------------------------------------------------------------------------

function rejected(r: { ok: boolean; kind?: string; reason?: string }, kind: string, reason?: RegExp): void {
  assert.equal(r.ok, false, 'expected a refusal');
  assert.equal(r.kind, kind, `kind (reason: ${r.reason})`);
  if (reason !== undefined) assert.match(r.reason ?? '', reason);
}

const ctx3 = { n: 3 };
const cmd1: Command = { clientId: 'c', requestId: 1, timestampMs: 2, op: 'put', key: 'k', value: 'v' };

// ---- tests ----------------------------------------------------------------------------------

describe('wire codec: round trips', () => {
  it('every message type survives encode → decode unchanged (one per frame)', () => {
    fc.assert(fc.property(arbSent, ({ n, from, msg }) => {
      const r = decodeFrame(encodeFrame([msg]), from, { n });
      assert.ok(r.ok, r.ok ? '' : r.reason);
      assert.deepStrictEqual(r.messages, [msg]);
    }), { numRuns: 600 });
  });

  it('a frame of many messages keeps their order', () => {
    fc.assert(fc.property(arbN.chain((n) => fc.tuple(fc.constant(n), fc.nat({ max: n - 1 }),
      fc.array(fc.nat({ max: 50 }).map((k) => ({ type: 'Watermark', executed: new Array(n).fill(k) }) as Message), { minLength: 1, maxLength: 40 }))),
    ([n, from, msgs]) => {
      const r = decodeFrame(encodeFrame(msgs), from, { n });
      assert.ok(r.ok);
      assert.deepStrictEqual(r.messages, msgs);
    }), { numRuns: 100 });
  });

  it('encodeFrames splits at the byte bound, keeps order, and sets apart a message too large alone', () => {
    const big: Message = { type: 'PreAccept', id: instanceId(1, 0), cmd: { commands: [{ ...cmd1, value: 'x'.repeat(5000) }] }, dep: { ids: [], floor: [0, 0, 0] } };
    const small = (k: number): Message => ({ type: 'Watermark', executed: [k, 0, 0] });
    const msgs = [small(1), small(2), big, ...Array.from({ length: 300 }, (_, i) => small(i + 3))];
    const { frames, tooLarge } = encodeFrames(msgs, 1000);
    assert.deepEqual(tooLarge, [big]);
    assert.ok(frames.length > 1);
    const out: Message[] = [];
    for (const f of frames) {
      assert.ok(f.bytes.length <= 1000);
      const r = decodeFrame(f.bytes, 0, ctx3, 1000);
      assert.ok(r.ok);
      assert.equal(r.messages.length, f.messages);
      out.push(...r.messages);
    }
    assert.deepStrictEqual(out, msgs.filter((m) => m !== big));
  });

  it('submit requests and replies round-trip', () => {
    // Submissions as the submit path accepts them (an empty key or a late timestamp: see below).
    const submittable = arbCommand.filter((c) => !('key' in c && c.key === '') && c.timestampMs <= timestampMsMax);
    fc.assert(fc.property(submittable, (c) => {
      const r = decodeSubmit(encodeSubmit(c));
      assert.ok(r.ok, r.ok ? '' : r.reason);
      assert.deepStrictEqual(r.command, c);
    }), { numRuns: 300 });
    fc.assert(fc.property(arbResult, (result) => {
      const r = decodeSubmitReply(encodeSubmitReply({ result }));
      assert.ok(r.ok, r.ok ? '' : r.reason);
      assert.deepStrictEqual(r.reply, { result });
    }), { numRuns: 300 });
    const e = decodeSubmitReply(encodeSubmitReply({ error: 'not a voter' }));
    assert.deepStrictEqual(e, { ok: true, reply: { error: 'not a voter' } });
  });
});

describe('wire codec: a new submission is held to what HTTP checks (issue 13)', () => {
  it('an empty key and a timestamp past the state machine\'s bound are refused before any consensus round', () => {
    const base = { clientId: 'c', requestId: 1, timestampMs: 5 };
    const empty = decodeSubmit(encodeSubmit({ ...base, op: 'put', key: '', value: 'v' } as Command));
    assert.ok(!empty.ok && empty.kind === 'invalid' && /key: empty/.test(empty.reason), JSON.stringify(empty));
    const late = decodeSubmit(encodeSubmit({ ...base, timestampMs: Number.MAX_SAFE_INTEGER, op: 'get', key: 'k' } as Command));
    assert.ok(!late.ok && late.kind === 'invalid' && /timestampMs: \d+ is over \d+/.test(late.reason), JSON.stringify(late));
    const fine = decodeSubmit(encodeSubmit({ ...base, timestampMs: timestampMsMax, op: 'get', key: 'k' } as Command));
    assert.ok(fine.ok, JSON.stringify(fine));
  });
});

/**
 * What "never yields an invalid message" means: every message a decode accepted passes the core's
 * validator on its own, and survives a round trip through the codec unchanged (so nothing was
 * read that the encoder cannot write, such as an out-of-range number or a half-set oneof).
 */
function assertValidFrame(messages: readonly Message[], from: number, ctx: { n: number }): void {
  assert.ok(messages.length > 0);
  for (const m of messages) {
    const v = validateMessage(m, from, ctx);
    assert.ok(v.ok, v.ok ? '' : `decoded but invalid: ${v.reason}`);
  }
  const again = decodeFrame(encodeFrame([...messages]), from, ctx);
  assert.ok(again.ok, again.ok ? '' : again.reason);
  assert.deepStrictEqual(again.messages, messages);
}

function assertValidCommand(c: Command): void {
  const v = validateCommand(c);
  assert.ok(v.ok, v.ok ? '' : `decoded but invalid: ${v.reason}`);
  const again = decodeSubmit(encodeSubmit(c));
  assert.ok(again.ok, again.ok ? '' : again.reason);
  assert.deepStrictEqual(again.command, c);
}

describe('wire codec: rejections', () => {
  it('arbitrary bytes never throw and never yield an invalid message', () => {
    const arbBytes = fc.oneof(fc.uint8Array({ maxLength: 200 }), arbShapedFrame, arbShapedSubmit);
    const accepted = { frames: 0, submits: 0 };
    fc.assert(fc.property(arbBytes, fc.integer({ min: 0, max: 2 }), (bytes, from) => {
      const r = decodeFrame(bytes, from, ctx3);
      if (!r.ok) assert.ok(['malformed', 'invalid'].includes(r.kind));
      else { assertValidFrame(r.messages, from, ctx3); accepted.frames++; }
      const s = decodeSubmit(bytes);
      if (!s.ok) assert.ok(['malformed', 'invalid'].includes(s.kind));
      else { assertValidCommand(s.command); accepted.submits++; }
      decodeSubmitReply(bytes);
    }), { numRuns: 3000 });
    // Not vacuous: some of these bytes were accepted (about 40 frames and 16 submissions a run),
    // so the validity checks above did run.
    assert.ok(accepted.frames > 0 && accepted.submits > 0, `too few accepted to check anything: ${JSON.stringify(accepted)}`);
  });

  it('mutated valid frames are refused or decode to a valid message, never throw', () => {
    fc.assert(fc.property(arbSent, fc.nat(), fc.integer({ min: 0, max: 255 }), ({ n, from, msg }, at, byte) => {
      const bytes = encodeFrame([msg]);
      bytes[at % bytes.length] = byte;
      const r = decodeFrame(bytes, from, { n });
      if (r.ok) assertValidFrame(r.messages, from, { n });
      else assert.ok(['malformed', 'invalid'].includes(r.kind));
    }), { numRuns: 500 });
  });

  it('refuses garbage, truncated and empty frames as malformed', () => {
    rejected(decodeFrame(new Uint8Array([0xff, 0xff, 0xff]), 0, ctx3), 'malformed');
    const good = encodeFrame([{ type: 'Watermark', executed: [1, 2, 3] }]);
    for (let cut = 1; cut < good.length; cut++) rejected(decodeFrame(good.subarray(0, cut), 0, ctx3), 'malformed');
    rejected(decodeFrame(new Uint8Array(0), 0, ctx3), 'malformed', /no message/);
    const sub = encodeSubmit(cmd1);
    rejected(decodeSubmit(sub.subarray(0, sub.length - 1)), 'malformed');
    rejected(decodeSubmit(new Uint8Array(0)), 'malformed', /command: missing/);
    rejected(decodeSubmitReply(new Uint8Array(0)), 'malformed', /neither/);
  });

  it('refuses oversized frames before parsing them', () => {
    const msg: Message = { type: 'Watermark', executed: [1, 2, 3] };
    const bytes = encodeFrame(new Array(100).fill(msg));
    rejected(decodeFrame(bytes, 0, ctx3, bytes.length - 1), 'oversized');
    assert.ok(decodeFrame(bytes, 0, ctx3, bytes.length).ok);
    rejected(decodeFrame(new Uint8Array(consensusFrameBytesMaxDefault + 1), 0, ctx3), 'oversized');
    rejected(decodeSubmit(new Uint8Array(consensusFrameBytesMaxDefault + 1)), 'oversized');
    rejected(decodeSubmitReply(new Uint8Array(consensusFrameBytesMaxDefault + 1)), 'oversized');
  });

  it('refuses wrong wire types, duplicate fields, two oneof members, and unsafe integers', () => {
    const frameOf = (body: (w: ReturnType<typeof writer>) => void): Uint8Array => {
      const w = writer();
      w.uint32(0x0a); // Frame.messages
      w.fork();
      body(w);
      w.ldelim();
      return w.finish();
    };
    const watermark = (w: ReturnType<typeof writer>, values: (number | bigint)[]) => {
      w.uint32(11 * 8 + 2); // Message.watermark
      w.fork();
      w.uint32(0x0a);
      w.fork();
      for (const v of values) w.uint64(BigInt(v));
      w.ldelim();
      w.ldelim();
    };
    assert.ok(decodeFrame(frameOf((w) => watermark(w, [1, 2, 3])), 0, ctx3).ok, 'control: the hand-built frame is valid');
    // Frame.messages sent as a varint
    rejected(decodeFrame(new Uint8Array([0x08, 0x01]), 0, ctx3), 'malformed', /wrong wire type/);
    // Message.watermark as a varint
    rejected(decodeFrame(frameOf((w) => { w.uint32(11 * 8); w.uint32(1); }), 0, ctx3), 'malformed', /wrong wire type/);
    // AcceptOK.b given as a string
    rejected(decodeFrame(frameOf((w) => { w.uint32(4 * 8 + 2); w.fork(); w.uint32(1 * 8 + 2); w.string('7'); w.ldelim(); }), 0, ctx3), 'malformed', /wrong wire type/);
    // AcceptOK.b given twice
    rejected(decodeFrame(frameOf((w) => { w.uint32(4 * 8 + 2); w.fork(); w.uint32(8); w.uint32(1); w.uint32(8); w.uint32(2); w.ldelim(); }), 0, ctx3), 'malformed', /twice/);
    // two bodies in one Message
    rejected(decodeFrame(frameOf((w) => { watermark(w, [1, 2, 3]); watermark(w, [1, 2, 3]); }), 0, ctx3), 'malformed');
    rejected(decodeFrame(frameOf((w) => { watermark(w, [1, 2, 3]); w.uint32(6 * 8 + 2); w.fork(); w.ldelim(); }), 0, ctx3), 'malformed', /already set/);
    // 2^53 is not a safe integer
    rejected(decodeFrame(frameOf((w) => watermark(w, [1, 2n ** 53n, 3])), 0, ctx3), 'malformed', /2\^53/);
    // a group (wire type 3) where an unknown field would be
    rejected(decodeFrame(new Uint8Array([0x0a, 0x02, 0x63, 0x64]), 0, ctx3), 'malformed');
    // an unknown field of a valid wire type is skipped
    assert.ok(decodeFrame(frameOf((w) => { w.uint32(99 * 8); w.uint64(2n ** 63n); watermark(w, [1, 2, 3]); }), 0, ctx3).ok);
    // invalid UTF-8 in a string
    const badUtf8 = encodeSubmit({ ...cmd1, key: 'ab' });
    const at = badUtf8.indexOf(0x61);
    badUtf8[at] = 0xc3; badUtf8[at + 1] = 0x28;
    rejected(decodeSubmit(badUtf8), 'malformed', /UTF-8/);
    // unknown enum values and a missing op
    const w = writer();
    w.uint32(0x0a); w.fork(); w.uint32(1 * 8 + 2); w.string('c'); w.uint32(4 * 8); w.uint32(77); w.ldelim();
    rejected(decodeSubmit(w.finish()), 'malformed', /op: unknown/);
  });

  it('refuses valid protobuf that validateMessage refuses, naming the field', () => {
    const n = 3;
    // PreAccept from a replica that is not the instance's initial coordinator.
    const pre: Message = { type: 'PreAccept', id: instanceId(4, 0), cmd: { commands: [cmd1] }, dep: { ids: [], floor: [0, 0, 0] } };
    assert.ok(decodeFrame(encodeFrame([pre]), 0, { n }).ok);
    rejected(decodeFrame(encodeFrame([pre]), 1, { n }), 'invalid', /PreAccept\.id: sender 1/);
    // A floor of the wrong length, a NOP PreAccept, ids not ascending, an instance id of an unknown replica.
    rejected(decodeFrame(encodeFrame([{ ...pre, dep: { ids: [], floor: [0, 0] } }]), 0, { n }), 'invalid', /dep\.floor/);
    // (A NOP PreAccept cannot even be expressed: PreAccept.cmd is a Batch in the schema.)
    // A PreAccept without its batch.
    const w = writer();
    w.uint32(0x0a); w.fork(); w.uint32(1 * 8 + 2); w.fork(); w.uint32(8); w.uint64Number(pre.id); w.ldelim(); w.ldelim();
    rejected(decodeFrame(w.finish(), 0, { n }), 'invalid', /PreAccept\.cmd: missing/);
    rejected(decodeFrame(encodeFrame([{ ...pre, dep: { ids: [instanceId(3, 1), instanceId(2, 1)], floor: [0, 0, 0] } }]), 0, { n }), 'invalid', /ascending/);
    rejected(decodeFrame(encodeFrame([{ type: 'AcceptOK', b: 1, id: instanceId(1, 5) }]), 0, { n }), 'invalid', /AcceptOK\.id/);
    // One bad message spoils the whole frame.
    rejected(decodeFrame(encodeFrame([{ type: 'Watermark', executed: [0, 0, 0] }, { type: 'Watermark', executed: [0] }]), 0, { n }), 'invalid', /messages\[1\]/);
    // A sender that is not a voter index.
    rejected(decodeFrame(encodeFrame([{ type: 'Watermark', executed: [0, 0, 0] }]), 3, { n }), 'invalid', /unknown sender/);
    // Commands: an empty client id, a field the operation does not have.
    rejected(decodeSubmit(encodeSubmit({ ...cmd1, clientId: '' })), 'invalid', /clientId/);
    rejected(decodeSubmit(encodeSubmit({ ...cmd1, op: 'get' } as Command)), 'invalid', /value: unknown field/);
    rejected(decodeSubmit(encodeSubmit({ ...cmd1, op: 'task.claim', taskId: 't', worker: 'w', leaseMs: 0 } as unknown as Command)), 'invalid');
  });

  it('refuses a result that contradicts itself', () => {
    const w = writer();
    w.uint32(0x0a); w.fork(); w.uint32(8); w.uint32(1); w.uint32(2 * 8 + 2); w.string('oops'); w.ldelim();
    rejected(decodeSubmitReply(w.finish()), 'malformed', /error: set on a successful result/);
    const w2 = writer();
    w2.uint32(0x0a); w2.fork(); w2.ldelim(); // ok = false and no error
    rejected(decodeSubmitReply(w2.finish()), 'malformed', /missing on a failed result/);
  });
});

describe('wire codec: schema', () => {
  it('the codec tables agree with consensus.proto, field by field', () => {
    const proto = readFileSync(new URL('./consensus.proto', import.meta.url), 'utf8').replace(/\/\/[^\n]*/g, '');
    const messages = new Map<string, Map<number, string>>();
    for (const m of proto.matchAll(/message (\w+) \{([\s\S]*?)\n\}/g)) {
      const fields = new Map<number, string>();
      let inOneof = false;
      for (const line of m[2].split('\n')) {
        if (/oneof \w+ \{/.test(line)) inOneof = true;
        else if (/^\s*\}/.test(line)) inOneof = false;
        const f = /^\s*(optional |repeated )?(\w+) (\w+) = (\d+);/.exec(line);
        if (f !== null) fields.set(Number(f[4]), `${inOneof ? 'oneof' : (f[1]?.trim() ?? 'implicit')} ${f[2]} ${f[3]}`);
      }
      messages.set(m[1], fields);
    }
    const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/^_/, '');
    assert.equal(messages.size, schemaMessages.length, `messages in the .proto: ${[...messages.keys()].join(', ')}`);
    for (const desc of schemaMessages) {
      const fields = messages.get(desc.name);
      assert.ok(fields, `${desc.name} is in consensus.proto`);
      assert.equal(fields.size, desc.fields.length, `${desc.name}: number of fields`);
      for (const f of desc.fields) {
        const type = f.kind === 'message' ? f.message!().name : f.kind === 'enum' ? f.enumName : f.kind;
        assert.equal(fields.get(f.no), `${f.label} ${type} ${snake(f.name)}`, `${desc.name}.${f.name}`);
      }
    }
  });
});
