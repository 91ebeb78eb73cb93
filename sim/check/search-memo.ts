// The set of search states already explored: (set of linearized operations, register value).
//
// One flat pool of 32-bit words and an open-addressing table of indices into it, instead of a
// Map of strings to arrays: a state then costs (2 + bitset words) × 4 bytes in the pool plus two
// table slots, about a third of what the Map cost, and nothing for the garbage collector to trace.
// The caller keeps a hash of the bitset up to date as it toggles bits; the memo mixes in the value
// and compares whole bitsets on a hash match, so a collision costs time, never a wrong answer.

// Most segments hold one or two operations and explore a handful of states, and a run checks
// tens of thousands of them: a fixed 4,096-slot start (40 KB per segment) made allocating and
// collecting memos most of the checker's time. The table now starts at the caller's estimate.
const tableSlotsMin = 8;

export class SearchMemo {
  /** Words of one entry: its hash, its value, then the bitset. */
  private readonly stride: number;
  private pool: Uint32Array;
  /** Entry index + 1, or 0 for an empty slot; at most half full. */
  private table: Int32Array;
  private mask: number;
  private count = 0;
  private readonly words: number;

  /** `words`: bitset words per state; `expected`: states the caller expects to hold (grows past it). */
  constructor(words: number, expected = 2048) {
    this.words = words;
    this.stride = words + 2;
    let slots = tableSlotsMin;
    while (slots < expected * 2) slots *= 2;
    this.pool = new Uint32Array(this.stride * (slots >> 1));
    this.table = new Int32Array(slots);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Bytes the memo holds now (pool and table). */
  get bytes(): number {
    return this.pool.byteLength + this.table.byteLength;
  }

  /** Records (bits, value) as explored; false if it already was. `bitsHash` is a hash of `bits`. */
  add(bitsHash: number, value: number, bits: Uint32Array): boolean {
    const hash = mix(bitsHash, value);
    let slot = hash & this.mask;
    for (let e = this.table[slot]; e !== 0; e = this.table[slot]) {
      if (this.matches(e - 1, hash, value, bits)) return false;
      slot = (slot + 1) & this.mask;
    }
    if ((this.count + 1) * 2 > this.table.length) {
      this.grow();
      slot = hash & this.mask;
      while (this.table[slot] !== 0) slot = (slot + 1) & this.mask;
    }
    const base = this.count * this.stride;
    if (base + this.stride > this.pool.length) {
      const bigger = new Uint32Array(this.pool.length * 2);
      bigger.set(this.pool);
      this.pool = bigger;
    }
    this.pool[base] = hash;
    this.pool[base + 1] = value;
    this.pool.set(bits, base + 2);
    this.table[slot] = ++this.count;
    return true;
  }

  private matches(entry: number, hash: number, value: number, bits: Uint32Array): boolean {
    const base = entry * this.stride;
    if (this.pool[base] !== hash || this.pool[base + 1] !== value) return false;
    for (let i = 0; i < this.words; i++) if (this.pool[base + 2 + i] !== bits[i]) return false;
    return true;
  }

  private grow(): void {
    this.table = new Int32Array(this.table.length * 2);
    this.mask = this.table.length - 1;
    for (let e = 0; e < this.count; e++) {
      let slot = this.pool[e * this.stride] & this.mask;
      while (this.table[slot] !== 0) slot = (slot + 1) & this.mask;
      this.table[slot] = e + 1;
    }
  }
}

/** A 32-bit hash of (bitset hash, value), unsigned. */
function mix(bitsHash: number, value: number): number {
  let h = Math.imul(bitsHash ^ Math.imul(value + 1, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
