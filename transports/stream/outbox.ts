// The sending side towards one peer, shared by the consensus RPC (rpc/consensus-rpc.ts) and the
// membership driver (membership/driver.ts), which each wrote it once (issue 14): a queue of frames
// bounded in count and bytes that drops the OLDEST when full (both protocols retransmit or go
// stale, so dropping is safe; growing without bound is not), the writer loop's wake-up, and the
// handle that ends a write when libp2p reports the peer disconnected.

import * as lp from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import { Uint8ArrayList } from 'uint8arraylist';
import type { Stream } from '@libp2p/interface';

export interface QueuedFrame {
  readonly bytes: Uint8Array;
}

export class FrameOutbox<F extends QueuedFrame> {
  readonly framesMax: number;
  readonly bytesMax: number;
  readonly frames: F[] = [];
  /** Bytes of the frames waiting. */
  bytes = 0;
  /** Resolves the writer's current wait (for frames, or for a delay). */
  wake: (() => void) | null = null;
  /** Ends the current `writeFrames` when the link breaks (`breakLink`). */
  broken: (() => void) | null = null;

  constructor(framesMax: number, bytesMax: number) {
    this.framesMax = framesMax;
    this.bytesMax = bytesMax;
  }

  get length(): number {
    return this.frames.length;
  }

  /** Queues a frame; when a bound is passed, drops the oldest (never the one just queued). Returns how many were dropped. */
  push(frame: F): number {
    this.frames.push(frame);
    this.bytes += frame.bytes.length;
    let dropped = 0;
    while (this.frames.length > 1 && (this.frames.length > this.framesMax || this.bytes > this.bytesMax)) {
      this.bytes -= this.frames.shift()!.bytes.length;
      dropped++;
    }
    return dropped;
  }

  /** The oldest frame, taken off the queue. */
  shift(): F | undefined {
    const f = this.frames.shift();
    if (f !== undefined) this.bytes -= f.bytes.length;
    return f;
  }

  /** Empties the queue; returns how many frames it held. */
  clear(): number {
    const n = this.frames.length;
    this.frames.length = 0;
    this.bytes = 0;
    return n;
  }

  /** Wakes the writer if it waits. */
  notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /**
   * Waits until `notify` (true) or, with `ms`, until that long has passed (false). `unref`: the
   * timer does not keep the process alive.
   */
  wait(ms: number | null = null, unref = false): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      if (ms === null) {
        this.wake = () => resolve(true);
        return;
      }
      const t = setTimeout(() => { this.wake = null; resolve(false); }, ms);
      if (unref) t.unref();
      this.wake = () => { clearTimeout(t); resolve(true); };
    });
  }

  /** The peer disconnected: the write in progress, if any, ends now. */
  breakLink(): void {
    const broken = this.broken;
    if (broken === null) return;
    this.broken = null;
    broken();
  }
}

/**
 * Writes `source` to the stream length-prefixed (it-length-prefixed's framing: unsigned varint
 * length, then the frame) until it ends, `stopped` settles, or the link breaks (`box.breakLink`):
 * raced, because a yamux sink aborted while idle may never settle and a writer must not wait
 * forever on a dead stream. True when the link broke.
 *
 * Each item of `source` — one frame, or the frames a writer took off its queue together — goes to
 * the stream as one chunk: one yamux frame, one noise frame, one socket write. it-length-prefixed's
 * `encode` yields a frame's length and its bytes as two chunks, and each chunk cost its own yamux
 * header, encryption and write(2): two of each per consensus frame (strace of a loaded agent).
 */
export async function writeFrames(box: FrameOutbox<QueuedFrame>, source: AsyncIterable<Uint8Array | readonly Uint8Array[]>, stream: Pick<Stream, 'sink'>, stopped: Promise<void>): Promise<boolean> {
  const broken = new Promise<void>((r) => { box.broken = r; });
  await Promise.race([pipe(source, lengthPrefixedChunks, stream.sink), stopped, broken]);
  return box.broken === null;
}

/** One chunk per item: the item's frames, each behind its varint length. */
async function* lengthPrefixedChunks(source: AsyncIterable<Uint8Array | readonly Uint8Array[]>): AsyncGenerator<Uint8ArrayList> {
  for await (const item of source) {
    if (item instanceof Uint8Array) { yield lp.encode.single(item); continue; }
    const chunk = new Uint8ArrayList();
    for (const frame of item) chunk.append(lp.encode.single(frame));
    if (chunk.byteLength > 0) yield chunk;
  }
}

/**
 * Why reading length-prefixed frames failed, when the framing itself is lost: a length over the
 * bound (oversized) or a stream that ended inside a frame (truncated). Null for anything else.
 */
export function frameReadError(err: unknown): 'oversized' | 'truncated' | null {
  const name = (err as Error | null)?.name;
  if (name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError') return 'oversized';
  if (name === 'UnexpectedEOFError') return 'truncated';
  return null;
}
