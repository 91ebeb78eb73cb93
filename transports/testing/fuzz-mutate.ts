// Byte-level mutations for the wire fuzzer (agent/fuzz): fast-check arbitraries that take a valid
// encoding and break it the ways a faulty or hostile peer would — flipped bits, truncation,
// spliced garbage, and protobuf fields with lengths, wire types and varints no encoder writes.
// Every size is bounded: a mutation never makes a frame larger than `grownBytesMax` over its base.

import fc from 'fast-check';

/** A mutation adds at most this many bytes to its base (huge *declared* lengths cost nothing). */
export const grownBytesMax = 4096;
/** Random frames are at most this long, except the rare big one (bigBytesMax). */
export const smallBytesMax = 512;
/** A big frame: just over the membership frame bound (64 KiB), to reach the size checks. */
export const bigBytesMax = 70 * 1024;

/** Random bytes: mostly short, sometimes empty, rarely (1 in 211) big. */
export const arbRandomBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 200, arbitrary: fc.uint8Array({ maxLength: smallBytesMax }) },
  { weight: 10, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 1, arbitrary: fc.integer({ min: 60 * 1024, max: bigBytesMax }).map((n) => filled(n)) },
);

function filled(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 131 + 7) & 0xff;
  return out;
}

/** An unsigned LEB128 varint of `v` (up to 2^53), as protobuf and it-length-prefixed write it. */
export function varint(v: number): Uint8Array {
  const out: number[] = [];
  let x = v;
  while (x >= 0x80) {
    out.push((x % 0x80) | 0x80);
    x = Math.floor(x / 0x80);
  }
  out.push(x);
  return Uint8Array.from(out);
}

export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Protobuf pieces that no encoder writes: each is prepended, appended or spliced into a frame. */
export const arbProtobufPoison: fc.Arbitrary<Uint8Array> = fc.oneof(
  // A length-delimited field whose declared length runs far past the end.
  fc.tuple(fc.integer({ min: 1, max: 20 }), fc.constantFrom(2 ** 31, 2 ** 32 - 1, 2 ** 53 - 1, 70_000, 5 * 1024 * 1024))
    .map(([field, len]) => concat(varint(field * 8 + 2), varint(len))),
  // A varint of 10 continuation bytes and more (over 64 bits).
  fc.integer({ min: 10, max: 16 }).map((n) => concat(Uint8Array.of(0x08), new Uint8Array(n).fill(0xff), Uint8Array.of(0x01))),
  // Field number 0, and the deprecated group wire types 3 and 4, and the unused 6 and 7.
  fc.constantFrom(Uint8Array.of(0x00, 0x01), Uint8Array.of(0x0b), Uint8Array.of(0x0c), Uint8Array.of(0x0e), Uint8Array.of(0x0f)),
  // A known field with the wrong wire type (field 1 as fixed32/fixed64/varint instead of bytes).
  fc.constantFrom(Uint8Array.of(0x0d, 1, 2, 3, 4), Uint8Array.of(0x09, 1, 2, 3, 4, 5, 6, 7, 8), Uint8Array.of(0x08, 0x96, 0x01)),
  // Deep nesting: field 1 holding field 1 holding … (a recursive decoder's stack).
  fc.integer({ min: 50, max: 400 }).map(nested),
  // Negative int64 as a ten-byte varint, and the largest field number.
  fc.constantFrom(Uint8Array.of(0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), concat(varint((2 ** 29 - 1) * 8), Uint8Array.of(1))),
);

function nested(depth: number): Uint8Array {
  let inner: Uint8Array = Uint8Array.of(0x08, 0x01);
  for (let i = 0; i < depth; i++) inner = concat(Uint8Array.of(0x0a), varint(inner.length), inner);
  return inner;
}

/** A mutation of `base`: the result differs from it in at least one way that matters to a decoder. */
export function arbMutation(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  const at = fc.nat({ max: Math.max(0, base.length) });
  return fc.oneof(
    // Truncated anywhere.
    at.map((n) => base.slice(0, Math.min(n, Math.max(0, base.length - 1)))),
    // 1–8 bytes overwritten.
    fc.array(fc.tuple(at, fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((edits) => {
      const out = base.slice();
      for (const [i, v] of edits) if (i < out.length) out[i] = v;
      return out;
    }),
    // 1–4 bits flipped.
    fc.array(fc.tuple(at, fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 4 }).map((flips) => {
      const out = base.slice();
      for (const [i, bit] of flips) if (i < out.length) out[i] ^= 1 << bit;
      return out;
    }),
    // Poison spliced in at a random point.
    fc.tuple(at, arbProtobufPoison).map(([i, p]) => concat(base.subarray(0, i), p, base.subarray(i))),
    // Random bytes inserted, or a range deleted.
    fc.tuple(at, fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([i, junk]) => concat(base.subarray(0, i), junk, base.subarray(i))),
    fc.tuple(at, at).map(([a, b]) => concat(base.subarray(0, Math.min(a, b)), base.subarray(Math.max(a, b) + 1))),
    // The frame twice (a repeated non-repeated field, or twice the messages).
    fc.constant(base.length <= grownBytesMax ? concat(base, base) : base.slice(1)),
  );
}
