// 32-bit words of entropy for the replica's ticks, drawn from one random fill per `words` ticks.
//
// The core's tick takes an entropy word (recovery jitter: replicas that lost the same coordinator
// must not all recover at once). The driver ticks every 10 ms, and one `randomBytes(4)` a tick —
// a Buffer and a call into OpenSSL each — was 104 of an idle agent's 134 ms of tick time in a
// 35-s CPU profile (docs/benchmarks.md, "An idle agent's ticks"). Jitter needs unpredictability
// between replicas, not per-call secrecy, so one fill serves many ticks.

import { randomFillSync } from 'node:crypto';

export class EntropyPool {
  readonly #words: Uint32Array;
  #next: number;

  constructor(words = 256) {
    if (!Number.isInteger(words) || words < 1 || words > 65_536) throw new RangeError(`entropy pool: words must be a whole number from 1 to 65536, got ${words}`);
    this.#words = new Uint32Array(words);
    this.#next = words; // filled on first use
  }

  /** The next unused word, refilling the pool when it is spent. */
  next(): number {
    if (this.#next === this.#words.length) {
      randomFillSync(this.#words);
      this.#next = 0;
    }
    return this.#words[this.#next++];
  }
}
