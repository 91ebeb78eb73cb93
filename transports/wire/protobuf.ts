// A table-driven protobuf (proto3) codec for the schema in consensus.proto.
//
// Why not protons' generated code: it is TypeScript with namespaces and enums, which Node's type
// stripping cannot run, and its reader is lenient where a network edge must be strict (it reads
// past the end of a short varint as zeros, replaces invalid UTF-8, and lets a non-minimal varint
// desynchronise the cursor). So encoding uses protons-runtime's writer, as generated code does,
// and decoding uses the strict cursor below, which rejects instead of guessing:
//   - every read is bounds-checked against the enclosing message's end;
//   - a varint above 2^53 - 1 is rejected (the core's integers are safe integers);
//   - strings must be well-formed UTF-8;
//   - a known field with the wrong wire type, a repeated scalar field given twice, two members of
//     one oneof, groups (wire types 3/4) and repeated fields longer than their limit are rejected;
//   - unknown fields of a valid wire type are skipped (forward compatibility, as protobuf says).
// The schema has no recursion, so nesting depth is bounded by the table itself.

import { message, type Codec, type Writer } from 'protons-runtime';

export type FieldKind = 'uint64' | 'bool' | 'string' | 'enum' | 'message';
/** proto3 labels: implicit presence (default when absent), `optional`, `repeated`, oneof member. */
export type FieldLabel = 'implicit' | 'optional' | 'repeated' | 'oneof';

export interface FieldDesc {
  /** Field number in consensus.proto. */
  readonly no: number;
  /** Key in the decoded JS object; its snake_case form is the .proto field name. */
  readonly name: string;
  readonly kind: FieldKind;
  readonly label: FieldLabel;
  /** kind 'enum': the enum's name in consensus.proto. */
  readonly enumName?: string;
  /** kind 'message': the nested message. A function so tables may refer to later ones. */
  readonly message?: () => MessageDesc;
  /** label 'repeated': most entries accepted. */
  readonly max?: number;
}

export interface MessageDesc {
  readonly name: string;
  readonly fields: readonly FieldDesc[];
}

export type Raw = Record<string, unknown>;

/** A decoding failure; `path` names the field ("Frame.messages[3].accept.dep.ids"). */
export class WireError extends Error {
  override readonly name = 'WireError';
}

// ---- wire types ------------------------------------------------------------------------------

const wireVarint = 0;
const wireFixed64 = 1;
const wireLengthDelimited = 2;
const wireFixed32 = 5;

function wireTypeOf(f: FieldDesc): number {
  return f.kind === 'string' || f.kind === 'message' ? wireLengthDelimited : wireVarint;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---- strict reader -----------------------------------------------------------------------------

class Cursor {
  readonly buf: Uint8Array;
  pos: number;
  constructor(buf: Uint8Array, pos: number) {
    this.buf = buf;
    this.pos = pos;
  }

  /** A varint as a safe integer, reading no byte at or past `end`. */
  varint(end: number, path: string): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) throw new WireError(`${path}: truncated varint`);
      const b = this.buf[this.pos++];
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) throw new WireError(`${path}: integer above 2^53 - 1`);
        return value;
      }
      // Below 2^53 the sum is exact; a nonzero group at a higher scale makes the value unsafe,
      // which is rejected when the varint ends.
      scale *= 128;
    }
    throw new WireError(`${path}: varint longer than 10 bytes or above 2^53 - 1`);
  }

  /** The end offset of a length-delimited field that starts here, checked against `end`. */
  lengthDelimited(end: number, path: string): number {
    const len = this.varint(end, path);
    if (len > end - this.pos) throw new WireError(`${path}: length ${len} runs past the end (${end - this.pos} bytes left)`);
    return this.pos + len;
  }

  skip(wireType: number, end: number, path: string): void {
    switch (wireType) {
      case wireVarint: this.varintRaw(end, path); return;
      case wireFixed64: this.advance(8, end, path); return;
      case wireLengthDelimited: this.pos = this.lengthDelimited(end, path); return;
      case wireFixed32: this.advance(4, end, path); return;
      default: throw new WireError(`${path}: unsupported wire type ${wireType}`);
    }
  }

  /** Skips a varint of any value (an unknown field may hold a full 64-bit one). */
  private varintRaw(end: number, path: string): void {
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) throw new WireError(`${path}: truncated varint`);
      if (this.buf[this.pos++] < 0x80) return;
    }
    throw new WireError(`${path}: varint longer than 10 bytes`);
  }

  private advance(bytes: number, end: number, path: string): void {
    if (end - this.pos < bytes) throw new WireError(`${path}: truncated fixed-width field`);
    this.pos += bytes;
  }
}

function defaultOf(f: FieldDesc): unknown {
  switch (f.kind) {
    case 'uint64': case 'enum': return 0;
    case 'bool': return false;
    case 'string': return '';
    case 'message': return undefined; // singular messages have explicit presence in proto3
  }
}

function decodeFields(c: Cursor, desc: MessageDesc, end: number, path: string): Raw {
  const out: Raw = {};
  const seen = new Set<number>();
  let oneofSeen: string | null = null;
  while (c.pos < end) {
    const key = c.varint(end, `${path}: field key`);
    const no = Math.floor(key / 8);
    const wireType = key % 8;
    if (no === 0) throw new WireError(`${path}: field number 0`);
    const f = desc.fields.find((x) => x.no === no);
    if (f === undefined) {
      c.skip(wireType, end, `${path}.#${no}`);
      continue;
    }
    const at = `${path}.${f.name}`;
    if (f.label === 'oneof') {
      if (oneofSeen !== null && oneofSeen !== f.name) throw new WireError(`${at}: ${oneofSeen} is already set (one of them only)`);
      oneofSeen = f.name;
    }
    if (f.label === 'repeated') {
      readRepeated(c, f, wireType, end, at, out);
      continue;
    }
    // proto3 says "last one wins" for a repeated singular field; no honest Covey encoder repeats
    // one, so a repeat is refused rather than silently merged.
    if (seen.has(no)) throw new WireError(`${at}: field given twice`);
    seen.add(no);
    if (wireType !== wireTypeOf(f)) throw new WireError(`${at}: wrong wire type ${wireType} for a ${f.kind} field`);
    out[f.name] = readSingle(c, f, end, at);
  }
  for (const f of desc.fields) {
    if (out[f.name] !== undefined) continue;
    if (f.label === 'repeated') out[f.name] = [];
    else if (f.label === 'implicit') {
      const d = defaultOf(f);
      if (d !== undefined) out[f.name] = d;
    }
  }
  return out;
}

function readSingle(c: Cursor, f: FieldDesc, end: number, path: string): unknown {
  switch (f.kind) {
    case 'uint64': case 'enum': return c.varint(end, path);
    case 'bool': {
      const v = c.varint(end, path);
      if (v > 1) throw new WireError(`${path}: bool out of range (${v})`);
      return v === 1;
    }
    case 'string': {
      const stop = c.lengthDelimited(end, path);
      let s: string;
      try {
        s = utf8.decode(c.buf.subarray(c.pos, stop));
      } catch {
        throw new WireError(`${path}: not well-formed UTF-8`);
      }
      c.pos = stop;
      return s;
    }
    case 'message': {
      const stop = c.lengthDelimited(end, path);
      const v = decodeFields(c, nested(f), stop, path);
      if (c.pos !== stop) throw new WireError(`${path}: nested message overran its length`);
      return v;
    }
  }
}

function readRepeated(c: Cursor, f: FieldDesc, wireType: number, end: number, path: string, out: Raw): void {
  let list = out[f.name] as unknown[] | undefined;
  if (list === undefined) out[f.name] = list = [];
  const max = f.max ?? Number.MAX_SAFE_INTEGER;
  const push = (v: unknown) => {
    if (list.length >= max) throw new WireError(`${path}: more than ${max} entries`);
    list.push(v);
  };
  if (f.kind === 'message' || f.kind === 'string') {
    if (wireType !== wireLengthDelimited) throw new WireError(`${path}: wrong wire type ${wireType} for a ${f.kind} field`);
    push(readSingle(c, f, end, `${path}[${list.length}]`));
    return;
  }
  // Scalars: packed (the proto3 default) or one entry per key; a parser must accept both.
  if (wireType === wireLengthDelimited) {
    const stop = c.lengthDelimited(end, path);
    while (c.pos < stop) push(readSingle(c, f, stop, `${path}[${list.length}]`));
    return;
  }
  if (wireType !== wireVarint) throw new WireError(`${path}: wrong wire type ${wireType} for a ${f.kind} field`);
  push(readSingle(c, f, end, `${path}[${list.length}]`));
}

function nested(f: FieldDesc): MessageDesc {
  if (f.message === undefined) throw new Error(`schema: ${f.name} has no message type`);
  return f.message();
}

// ---- encoder ---------------------------------------------------------------------------------

function key(no: number, wireType: number): number {
  return no * 8 + wireType;
}

function isDefault(v: unknown): boolean {
  return v === 0 || v === false || v === '';
}

function writeSingle(w: Writer, f: FieldDesc, v: unknown): void {
  w.uint32(key(f.no, wireTypeOf(f)));
  writeValue(w, f, v);
}

function writeValue(w: Writer, f: FieldDesc, v: unknown): void {
  switch (f.kind) {
    case 'uint64': case 'enum': w.uint64Number(v as number); return;
    case 'bool': w.bool(v as boolean); return;
    case 'string': w.string(v as string); return;
    case 'message':
      w.fork();
      encodeFields(w, nested(f), v as Raw);
      w.ldelim();
      return;
  }
}

function encodeFields(w: Writer, desc: MessageDesc, obj: Raw): void {
  for (const f of desc.fields) {
    const v = obj[f.name];
    if (v === undefined) continue;
    if (f.label === 'repeated') {
      const list = v as readonly unknown[];
      if (list.length === 0) continue;
      if (f.kind === 'message' || f.kind === 'string') {
        for (const item of list) writeSingle(w, f, item);
      } else {
        w.uint32(key(f.no, wireLengthDelimited));
        w.fork();
        for (const item of list) writeValue(w, f, item);
        w.ldelim();
      }
      continue;
    }
    if (f.label === 'implicit' && isDefault(v)) continue;
    writeSingle(w, f, v);
  }
}

// ---- codecs -----------------------------------------------------------------------------------

/**
 * A protons-runtime codec for `desc` (use with encodeMessage / decodeMessage). Decoding throws a
 * WireError on any input that is not a well-formed instance of the message.
 */
export function codecOf(desc: MessageDesc): Codec<Raw> {
  return message<Raw>(
    (obj, w, opts = {}) => {
      if (opts.lengthDelimited !== false) w.fork();
      encodeFields(w, desc, obj as Raw);
      if (opts.lengthDelimited !== false) w.ldelim();
    },
    (reader, length) => {
      const end = length === undefined ? reader.len : reader.pos + length;
      if (end > reader.len) throw new WireError(`${desc.name}: length runs past the end`);
      const c = new Cursor(reader.buf, reader.pos);
      const out = decodeFields(c, desc, end, desc.name);
      reader.pos = c.pos;
      return out;
    },
  );
}
