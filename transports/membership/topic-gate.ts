// The gate of the membership topic, run as gossipsub's topic validator: what it refuses is
// neither delivered nor forwarded to other agents (before, every message was verified and passed
// on before the driver dropped it, so one peer's flood reached the whole mesh).
//   - reject: not signed, from a peer off the roster, or over the frame bound (gossipsub also
//     lowers the sender's score);
//   - ignore: over the signer's rate — news about oneself is rare (an incarnation change, a
//     metadata update, a leave), so a few a second is already a flood;
//   - accept: everything else, checked in full by the driver (signatures, the self-statement rule).
// Time is passed in, so it is tested without a clock.

export type TopicVerdict = 'accept' | 'ignore' | 'reject';
/** Why a message was not accepted (the driver counts it with its other frame drops). */
export type TopicRefusal = 'malformed' | 'not_admitted' | 'oversized' | 'rate_limited';

export interface TopicGateOptions {
  readonly isAdmitted: (peerId: string) => boolean;
  readonly frameBytesMax: number;
  /** Sustained messages per second per signer. */
  readonly perSecond?: number;
  /** Messages a signer may send at once before the rate applies. */
  readonly burst?: number;
  /** Signers tracked at most; the least recently seen is forgotten first. */
  readonly signersMax?: number;
}

export const topicPerSecondDefault = 2;
export const topicBurstDefault = 10;
export const topicSignersMaxDefault = 4096;

interface Bucket { tokens: number; atMs: number }

export class TopicGate {
  readonly #o: TopicGateOptions;
  readonly #buckets = new Map<string, Bucket>();
  /** What the gate refused or ignored, by reason. */
  readonly refused = { unsigned: 0, notAdmitted: 0, oversized: 0, rate: 0 };

  constructor(o: TopicGateOptions) {
    this.#o = o;
  }

  /** The verdict, and why when it is not 'accept'. */
  check(signer: string | null, bytes: number, nowMs: number): { verdict: TopicVerdict; why: TopicRefusal | null } {
    if (signer === null) { this.refused.unsigned++; return { verdict: 'reject', why: 'malformed' }; }
    if (!this.#o.isAdmitted(signer)) { this.refused.notAdmitted++; return { verdict: 'reject', why: 'not_admitted' }; }
    if (bytes > this.#o.frameBytesMax) { this.refused.oversized++; return { verdict: 'reject', why: 'oversized' }; }
    const perSecond = this.#o.perSecond ?? topicPerSecondDefault;
    const burst = this.#o.burst ?? topicBurstDefault;
    let b = this.#buckets.get(signer);
    if (b === undefined) {
      b = { tokens: burst, atMs: nowMs };
      if (this.#buckets.size >= (this.#o.signersMax ?? topicSignersMaxDefault)) this.#buckets.delete(this.#buckets.keys().next().value as string);
    } else {
      this.#buckets.delete(signer); // re-inserted below: the map's order is least recently seen first
      b.tokens = Math.min(burst, b.tokens + (Math.max(0, nowMs - b.atMs) * perSecond) / 1000);
      b.atMs = nowMs;
    }
    this.#buckets.set(signer, b);
    if (b.tokens < 1) { this.refused.rate++; return { verdict: 'ignore', why: 'rate_limited' }; }
    b.tokens -= 1;
    return { verdict: 'accept', why: null };
  }

  /** Signers tracked now (bounded by signersMax). */
  get signers(): number {
    return this.#buckets.size;
  }
}
