// The framing of Covey's submit stream (docs/agent.md, "The submit stream"): after an HTTP/1.1
// upgrade to `covey-submit/1`, both sides exchange frames
//
//   u32 length (big-endian, of what follows) ‖ u32 request id ‖ protobuf body
//
// where the body is a SubmitRequest (client → agent) or a SubmitReply (agent → client) of
// transports/wire/consensus.proto — the same messages agents use to forward commands to voters.
// Requests are pipelined: many may be in flight on one connection, and replies come back in any
// order, matched by request id. A frame bigger than `frameBytesMax` ends the connection: its
// framing can no longer be trusted.

/** The Upgrade token; a later incompatible framing gets a new one. */
export const streamProtocol = 'covey-submit/1';
/** The path the upgrade request is made on. */
export const streamPath = '/v1/stream';
/** Largest frame, header excluded (a command is bounded far below: 1 MiB value, 1 KiB key). */
export const frameBytesMax = 4 * 1024 * 1024;
/** Requests one connection may have in flight; beyond it a request is answered with an error at once. */
export const inFlightMax = 8192;

const headerBytes = 8;

/** One frame, header included, ready to write. */
export function encodeStreamFrame(requestId: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(headerBytes + body.length);
  out.writeUInt32BE(4 + body.length, 0);
  out.writeUInt32BE(requestId >>> 0, 4);
  out.set(body, headerBytes);
  return out;
}

export interface StreamFrame {
  readonly requestId: number;
  readonly body: Uint8Array;
}

/**
 * Splits a byte stream into frames. `push` returns the complete frames so far; bytes of a partial
 * frame are kept for the next call. Throws on a frame over the bound (the caller closes the
 * connection).
 */
export class FrameReader {
  private pending: Buffer | null = null;

  push(chunk: Buffer): StreamFrame[] {
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: StreamFrame[] = [];
    let at = 0;
    while (buf.length - at >= 4) {
      const len = buf.readUInt32BE(at);
      if (len < 4 || len - 4 > frameBytesMax) throw new RangeError(`stream frame of ${len} bytes is outside 4..${frameBytesMax + 4}`);
      if (buf.length - at < 4 + len) break;
      frames.push({ requestId: buf.readUInt32BE(at + 4), body: buf.subarray(at + headerBytes, at + 4 + len) });
      at += 4 + len;
    }
    this.pending = at === buf.length ? null : buf.subarray(at);
    if (this.pending !== null && at > 0) this.pending = Buffer.from(this.pending); // do not pin the consumed bytes
    return frames;
  }

  /** Bytes of a partial frame waiting for the rest. */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }
}

/**
 * Coalesces the frames written in one burst into one socket write: the answers of one group commit
 * are resolved together, and their writes all come before the microtask queue drains, so they cost
 * one syscall, not one per command. A microtask, not setImmediate: the answer then leaves before
 * the same turn's Commits to the peers (their flush is an immediate): a turn's release to the
 * answer's socket write went 0.93 → 0.10 ms median in a trace under load (docs/benchmarks.md).
 */
export class FrameWriter {
  private readonly out: Buffer[] = [];
  private scheduled = false;
  private readonly write: (data: Buffer) => void;

  constructor(write: (data: Buffer) => void) {
    this.write = write;
  }

  send(frame: Buffer): void {
    this.out.push(frame);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => this.flush());
  }

  flush(): void {
    this.scheduled = false;
    if (this.out.length === 0) return;
    const data = this.out.length === 1 ? this.out[0] : Buffer.concat(this.out);
    this.out.length = 0;
    this.write(data);
  }
}
