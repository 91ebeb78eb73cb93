// The core's own generator. The core never draws from the platform: every random choice (the
// probe order, relays, gossip targets, push-pull partners, timer phases) comes from this state,
// seeded from the options and stirred with the entropy of every tick the driver delivers, so a
// run replays exactly from its inputs. splitmix32: small, fast, and good enough for choosing
// peers (nothing here is cryptographic).

export class Prng {
  private s: number;

  constructor(seed: number) {
    this.s = (seed >>> 0) ^ 0x9e3779b9;
  }

  /** Mixes a driver-supplied 32-bit number into the state. */
  stir(entropy: number): void {
    this.s = (Math.imul(this.s ^ (entropy >>> 0), 0x85ebca6b) + 0x6b43a9b5) >>> 0;
  }

  nextU32(): number {
    this.s = (this.s + 0x9e3779b9) >>> 0;
    let z = this.s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** A uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor((this.nextU32() / 4294967296) * n);
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(items: T[]): void {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
  }

  /** Up to `count` distinct elements of `items`, chosen uniformly (partial shuffle of a copy). */
  sample<T>(items: readonly T[], count: number): T[] {
    const pool = items.slice();
    const m = Math.min(count, pool.length);
    for (let i = 0; i < m; i++) {
      const j = i + this.below(pool.length - i);
      const t = pool[i];
      pool[i] = pool[j];
      pool[j] = t;
    }
    pool.length = m;
    return pool;
  }
}
