// The fuzzer's frame supply: for each target, frames drawn by fast-check in chunks, each chunk from
// its own seed (run seed, target, chunk number), so a chunk can be drawn again alone to reproduce a
// failure. A target's frames are bounded by its quota; the last frames sent to each agent are kept
// (a small ring) to be written out when that agent fails.

import fc from 'fast-check';
import {
  acceptedByDecoder, fuzzFrameArbitrary, fuzzTargets, type FuzzContext, type FuzzFrame, type FuzzTarget,
} from '../../transports/testing/fuzz-frames.ts';

/** Frames drawn at once (one fc.sample call). */
export const chunkFrames = 1000;
/** Frames remembered per agent for the failure report. */
export const recentFramesMax = 256;

/**
 * Share of the frames per target (sums to 1): every decoder sees thousands in a 1M run, and the
 * protocols that cost a stream per frame (submit, snapshot, join) get less, so the flood stays fast.
 */
export const targetShare: Readonly<Record<FuzzTarget, number>> = {
  consensus: 0.43, membership: 0.26, httpStream: 0.17, gossip: 0.06, votersTopic: 0.03, submit: 0.03, snapshot: 0.01, join: 0.01,
};

/** A frame as drawn, with where it came from (enough to draw it again). */
export interface DrawnFrame extends FuzzFrame {
  readonly target: FuzzTarget;
  readonly chunk: number;
  readonly index: number;
}

export interface SentRecord {
  readonly target: FuzzTarget;
  readonly chunk: number;
  readonly index: number;
  readonly kind: FuzzFrame['kind'];
  readonly hex: string;
}

export function chunkSeed(seed: number, target: FuzzTarget, chunk: number): number {
  return (seed ^ Math.imul(fuzzTargets.indexOf(target) + 1, 0x9e3779b1) ^ Math.imul(chunk + 1, 0x85ebca6b)) | 0;
}

class TargetFeed {
  readonly target: FuzzTarget;
  readonly quota: number;
  taken = 0;
  heldBack = 0;
  #arb: fc.Arbitrary<FuzzFrame>;
  #seed: number;
  #ctx: FuzzContext;
  #chunk = -1;
  #buf: FuzzFrame[] = [];
  #at = 0;

  constructor(target: FuzzTarget, quota: number, ctx: FuzzContext, seed: number, frameBytesMax: number) {
    this.target = target;
    this.quota = quota;
    this.#ctx = ctx;
    this.#seed = seed;
    this.#arb = fuzzFrameArbitrary(target, ctx, frameBytesMax, seed);
  }

  /** The next frame the agent's decoder would refuse, or null when the quota is spent. */
  next(): DrawnFrame | null {
    while (this.taken < this.quota) {
      if (this.#at >= this.#buf.length) {
        this.#chunk++;
        this.#buf = fc.sample(this.#arb, { seed: chunkSeed(this.#seed, this.target, this.#chunk), numRuns: chunkFrames });
        this.#at = 0;
      }
      const index = this.#at++;
      const f = this.#buf[index];
      if (f.kind === 'frame' && acceptedByDecoder(this.target, f.bytes, this.#ctx)) {
        this.heldBack++;
        continue;
      }
      this.taken++;
      return { ...f, target: this.target, chunk: this.#chunk, index };
    }
    return null;
  }
}

/** Every target's feed, and the ring of recent frames per agent. */
export class FrameFeed {
  readonly #feeds: Map<FuzzTarget, TargetFeed>;
  readonly #recent = new Map<number, SentRecord[]>();

  /** `targets`: the decoders to fuzz (default all); the frames are shared among them by targetShare. */
  constructor(totalFrames: number, ctx: FuzzContext, seed: number, frameBytesMax: number, targets: readonly FuzzTarget[] = fuzzTargets) {
    const shares = targets.reduce((s, t) => s + targetShare[t], 0);
    this.#feeds = new Map(fuzzTargets.map((t) => {
      const quota = targets.includes(t) ? Math.round(totalFrames * targetShare[t] / shares) : 0;
      return [t, new TargetFeed(t, quota, ctx, seed, frameBytesMax)];
    }));
  }

  /** Up to `max` frames of `target` (fewer when its quota runs out; empty when spent). */
  take(target: FuzzTarget, max: number): DrawnFrame[] {
    const feed = this.#feeds.get(target)!;
    const out: DrawnFrame[] = [];
    while (out.length < max) {
      const f = feed.next();
      if (f === null) break;
      out.push(f);
    }
    return out;
  }

  /** Remembers frames as sent to agent `agent`, or -1 for the topics (the ring keeps the last recentFramesMax). */
  sent(agent: number, frames: readonly DrawnFrame[]): void {
    let ring = this.#recent.get(agent);
    if (ring === undefined) this.#recent.set(agent, ring = []);
    for (const f of frames.slice(-recentFramesMax)) {
      ring.push({ target: f.target, chunk: f.chunk, index: f.index, kind: f.kind, hex: Buffer.from(f.bytes.subarray(0, 4096)).toString('hex') });
    }
    if (ring.length > recentFramesMax) ring.splice(0, ring.length - recentFramesMax);
  }

  recent(agent: number): readonly SentRecord[] {
    return this.#recent.get(agent) ?? [];
  }

  /** Frames taken (sent or being sent) and held back per target. */
  counts(): Record<FuzzTarget, { taken: number; heldBack: number; quota: number }> {
    const out = {} as Record<FuzzTarget, { taken: number; heldBack: number; quota: number }>;
    for (const [t, f] of this.#feeds) out[t] = { taken: f.taken, heldBack: f.heldBack, quota: f.quota };
    return out;
  }
}
