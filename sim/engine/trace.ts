// The run's fingerprint: a 128-bit hash fed with the numbers that describe each processed event
// (time, kind, endpoints, message type, instance id, ballot). Numbers, not text, so hashing costs
// a few multiplications per event on a run of millions; the optional text trace (`keepTrace`)
// is for people and tests, and is built only when asked for.

export class TraceHash {
  private h1 = 0x243f6a88;
  private h2 = 0x85a308d3;
  private h3 = 0x13198a2e;
  private h4 = 0x03707344;

  /** Mixes in a non-negative or negative integer (or any finite number, by its integer part). */
  add(x: number): void {
    const lo = x >>> 0;
    const hi = Math.floor(x / 4294967296) >>> 0;
    this.h1 = mix(this.h1 ^ lo, 0xcc9e2d51);
    this.h2 = mix(this.h2 ^ hi, 0x1b873593);
    this.h3 = mix(this.h3 + this.h1, 0x85ebca6b);
    this.h4 = mix(this.h4 + (this.h2 ^ this.h3), 0xc2b2ae35);
  }

  hex(): string {
    let a = fmix(this.h1 ^ this.h4), b = fmix(this.h2 ^ this.h3);
    const c = fmix(this.h3 + a), d = fmix(this.h4 + b);
    a = fmix(a ^ d);
    b = fmix(b ^ c);
    return [a, b, c, d].map((x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
  }
}

function mix(h: number, k: number): number {
  h = Math.imul(h, k) >>> 0;
  h = ((h << 13) | (h >>> 19)) >>> 0;
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Small stable codes for strings that appear in events (message types, fault kinds). */
export function codeOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
