// The search's memory: the set of states already seen, the table of nodes (parent and action of
// each state found, to print a shortest trace) and a breadth-first level of states waiting to be
// expanded, all in typed arrays. A state held as a JS object or string costs about 0.5 kB on the
// V8 heap, so `--commands 2 --recoveries 1` (tens of millions of states) did not fit in 16 GB;
// here a seen state costs 23–46 bytes (its 128-bit hash, 16 bytes, in an open-addressing table
// between 35 and 70 % full), a node 8 bytes, and a state waiting in a level 4 bytes a number.
//
// Hash compaction (`HashedStates`) can only err one way: two different states with the same
// 128-bit hash are taken for one, so the second is never expanded. That can hide a violation (a
// false PASS), never invent one (a violation is always replayed from its trace on the real core
// before it is reported). README.md ("State hashing") gives the odds; `ExactStates` keeps the
// strings and is what `--exact-states` uses.

import type { GState } from './engine.ts';

/** The words that say what a global state is: locals, ghost, budgets and submitted, then the network. */
export function stateWords(s: GState, out: Int32Array): number {
  let i = 0;
  for (const l of s.locals) out[i++] = l;
  out[i++] = s.ghost;
  const u = s.used;
  out[i++] = u[0] | (u[1] << 2) | (u[2] << 4) | (u[3] << 6) | (u[4] << 9) | (s.submitted << 16);
  for (const m of s.net) out[i++] = m;
  return i;
}

const c1 = 0x239b961b, c2 = 0xab0e9789, c3 = 0x38b34ae5, c4 = 0xa1e38b93;

function fmix(h: number): number {
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));

/**
 * MurmurHash3 x86_128 (Austin Appleby, public domain) of `len` 32-bit words, into `out[0..3]`.
 * A 128-bit hash whose finalizer mixes every input bit into every output bit, the property the
 * collision estimate in README.md assumes.
 */
export function murmur128(words: Int32Array, len: number, out: Int32Array): void {
  let h1 = 0x9747b28c, h2 = h1, h3 = h1, h4 = h1;
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    let k1 = words[i], k2 = words[i + 1], k3 = words[i + 2], k4 = words[i + 3];
    k1 = Math.imul(rotl(Math.imul(k1, c1), 15), c2); h1 ^= k1;
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, c2), 16), c3); h2 ^= k2;
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, c3), 17), c4); h3 ^= k3;
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, c4), 18), c1); h4 ^= k4;
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  const rest = len - i;
  if (rest >= 3) h3 ^= Math.imul(rotl(Math.imul(words[i + 2], c3), 17), c4);
  if (rest >= 2) h2 ^= Math.imul(rotl(Math.imul(words[i + 1], c2), 16), c3);
  if (rest >= 1) h1 ^= Math.imul(rotl(Math.imul(words[i], c1), 15), c2);
  const bytes = len * 4;
  h1 ^= bytes; h2 ^= bytes; h3 ^= bytes; h4 ^= bytes;
  h1 = (h1 + h2 + h3 + h4) | 0; h2 = (h2 + h1) | 0; h3 = (h3 + h1) | 0; h4 = (h4 + h1) | 0;
  h1 = fmix(h1); h2 = fmix(h2); h3 = fmix(h3); h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0; h2 = (h2 + h1) | 0; h3 = (h3 + h1) | 0; h4 = (h4 + h1) | 0;
  out[0] = h1; out[1] = h2; out[2] = h3; out[3] = h4;
}

/**
 * A set of fixed-width tuples of 32-bit words, exact, in open-addressing tables (linear probing),
 * sharded so that no one table is large and growing one (by doubling, past 70 % full) copies
 * little at a time. A slot's first word is 1 when it is taken; `hashOf` chooses shard and slot.
 */
export class TupleSet {
  private static readonly shardsLog = 6;
  private readonly width: number;
  private readonly tables: Int32Array[] = [];
  private readonly counts: number[] = [];
  size = 0;

  constructor(width: number) {
    this.width = width;
    for (let i = 0; i < 1 << TupleSet.shardsLog; i++) { this.tables.push(new Int32Array(1024 * (width + 1))); this.counts.push(0); }
  }

  /** Bytes held by the tables. */
  get bytes(): number {
    let b = 0;
    for (const t of this.tables) b += t.byteLength;
    return b;
  }

  /** Whether `tuple[0..width-1]`, whose well-mixed hash is `hash`, is in the set. */
  has(tuple: Int32Array, hash: number): boolean {
    return this.probe(tuple, hash) >= 0;
  }

  /** Adds `tuple[0..width-1]`, whose well-mixed hash is `hash`; false if it was there already. */
  add(tuple: Int32Array, hash: number): boolean {
    let at = this.probe(tuple, hash);
    if (at >= 0) return false;
    const shard = hash & ((1 << TupleSet.shardsLog) - 1), w = this.width;
    if ((this.counts[shard] + 1) * 10 > (this.tables[shard].length / (w + 1)) * 7) {
      this.grow(shard);
      at = this.probe(tuple, hash);
    }
    const t = this.tables[shard];
    at = -at - 1;
    t[at] = 1;
    for (let j = 0; j < w; j++) t[at + 1 + j] = tuple[j];
    this.counts[shard]++;
    this.size++;
    return true;
  }

  /** The word offset of the tuple's slot if it is there, else -(offset of the empty slot where it would go) - 1. */
  private probe(tuple: Int32Array, hash: number): number {
    const t = this.tables[hash & ((1 << TupleSet.shardsLog) - 1)];
    const w = this.width, stride = w + 1;
    const mask = t.length / stride - 1;
    for (let slot = (hash >>> TupleSet.shardsLog) & mask; ; slot = (slot + 1) & mask) {
      const at = slot * stride;
      if (t[at] === 0) return -at - 1;
      let same = true;
      for (let j = 0; j < w; j++) if (t[at + 1 + j] !== tuple[j]) { same = false; break; }
      if (same) return at;
    }
  }

  private grow(shard: number): void {
    const old = this.tables[shard], stride = this.width + 1;
    const slots = (old.length / stride) * 2;
    const t = new Int32Array(slots * stride);
    for (let at = 0; at < old.length; at += stride) {
      if (old[at] === 0) continue;
      let slot = (this.rehash(old, at) >>> TupleSet.shardsLog) & (slots - 1);
      while (t[slot * stride] !== 0) slot = (slot + 1) & (slots - 1);
      t.set(old.subarray(at, at + stride), slot * stride);
    }
    this.tables[shard] = t;
  }

  private rehash(t: Int32Array, at: number): number {
    const tuple = t.subarray(at + 1, at + 1 + this.width);
    return this.hashOf(tuple);
  }

  /** The hash `add` is called with; subclasses whose tuple is a hash use its first word. */
  hashOf(tuple: Int32Array): number {
    let h = 0x9747b28c;
    for (let j = 0; j < this.width; j++) h = Math.imul(rotl(h ^ tuple[j], 13), 5) + 0xe6546b64;
    return fmix(h ^ this.width);
  }
}

/** The visited states, as the search asks them: add a state, told whether it is new. */
export interface SeenStates {
  readonly size: number;
  add(s: GState): boolean;
  /** Bytes the store holds (approximately, for the report). */
  readonly bytes: number;
}

/** Hash compaction: each state is kept as a 128-bit MurmurHash3 of its words (see the head comment). */
export class HashedStates implements SeenStates {
  private readonly set = new HashSet128();
  private words = new Int32Array(64);
  private readonly hash = new Int32Array(4);
  get size(): number { return this.set.size; }
  get bytes(): number { return this.set.bytes; }
  add(s: GState): boolean {
    if (this.words.length < s.net.length + 16) this.words = new Int32Array(2 * (s.net.length + 16));
    murmur128(this.words, stateWords(s, this.words), this.hash);
    return this.set.add(this.hash);
  }
}

/**
 * A set of 128-bit hashes: four words a slot, no flag word (16 bytes a slot), sharded and doubling
 * like `TupleSet`. A slot is empty when its first word is 0, so a hash whose first word is 0 is
 * stored with 1 there: 2^-32 of the hashes share their first word with another value, which
 * leaves about 2^127.99 values, a change the collision estimate of README.md can ignore.
 */
class HashSet128 {
  private static readonly shardsLog = 6;
  private readonly tables: Int32Array[] = [];
  private readonly counts: number[] = [];
  size = 0;

  constructor() {
    for (let i = 0; i < 1 << HashSet128.shardsLog; i++) { this.tables.push(new Int32Array(4 * 1024)); this.counts.push(0); }
  }

  get bytes(): number {
    let b = 0;
    for (const t of this.tables) b += t.byteLength;
    return b;
  }

  /** Adds hash `h` (modified in place if its first word is 0); false if it was there already. */
  add(h: Int32Array): boolean {
    if (h[0] === 0) h[0] = 1;
    const shard = h[1] & ((1 << HashSet128.shardsLog) - 1);
    let t = this.tables[shard];
    if ((this.counts[shard] + 1) * 10 > (t.length >> 2) * 7) t = this.grow(shard);
    const mask = (t.length >> 2) - 1;
    const h0 = h[0], h1 = h[1], h2 = h[2], h3 = h[3];
    let slot = h2 & mask;
    for (;; slot = (slot + 1) & mask) {
      const at = slot << 2;
      if (t[at] === 0) break;
      if (t[at] === h0 && t[at + 1] === h1 && t[at + 2] === h2 && t[at + 3] === h3) return false;
    }
    const at = slot << 2;
    t[at] = h0; t[at + 1] = h1; t[at + 2] = h2; t[at + 3] = h3;
    this.counts[shard]++;
    this.size++;
    return true;
  }

  private grow(shard: number): Int32Array {
    const old = this.tables[shard];
    const t = new Int32Array(old.length * 2);
    const mask = (t.length >> 2) - 1;
    for (let at = 0; at < old.length; at += 4) {
      if (old[at] === 0) continue;
      let slot = old[at + 2] & mask;
      while (t[slot << 2] !== 0) slot = (slot + 1) & mask;
      t.set(old.subarray(at, at + 4), slot << 2);
    }
    this.tables[shard] = t;
    return t;
  }
}

/** A set of strings with no size limit (one JS Set holds at most 2^24 entries). */
export class BigSet {
  private readonly shards: Set<string>[] = Array.from({ length: 64 }, () => new Set<string>());
  size = 0;
  private shard(k: string): Set<string> {
    let h = 0;
    for (let i = 0; i < k.length; i++) h = (h * 31 + k.charCodeAt(i)) | 0;
    return this.shards[h & 63];
  }
  has(k: string): boolean {
    return this.shard(k).has(k);
  }
  /** Adds `k`; false if it was there already. */
  add(k: string): boolean {
    const s = this.shard(k);
    if (s.has(k)) return false;
    s.add(k);
    this.size++;
    return true;
  }
}

/** The exact store (`--exact-states`): every state's key string (`keyOf`), about 0.1–0.2 kB a state. */
export class ExactStates implements SeenStates {
  private readonly set = new BigSet();
  private readonly keyOf: (s: GState) => string;
  private chars = 0;
  constructor(keyOf: (s: GState) => string) { this.keyOf = keyOf; }
  get size(): number { return this.set.size; }
  get bytes(): number { return this.chars * 2; }
  add(s: GState): boolean {
    const k = this.keyOf(s);
    if (!this.set.add(k)) return false;
    this.chars += k.length;
    return true;
  }
}

/** A growable array of 32-bit integers. */
export class IntList {
  data: Int32Array;
  length = 0;
  constructor(capacity = 1024) { this.data = new Int32Array(capacity); }
  push(x: number): void {
    if (this.length === this.data.length) {
      const d = new Int32Array(this.data.length * 2);
      d.set(this.data);
      this.data = d;
    }
    this.data[this.length++] = x;
  }
  get(i: number): number { return this.data[i]; }
}

/**
 * One breadth-first level of states waiting to be expanded, packed: per state its node, then its
 * words (`stateWords`) with the network's length before the network.
 */
export class Level {
  readonly list = new IntList(4096);
  count = 0;
  private readonly replicas: number;
  constructor(replicas: number) { this.replicas = replicas; }

  push(node: number, s: GState): void {
    const l = this.list;
    l.push(node);
    for (const x of s.locals) l.push(x);
    l.push(s.ghost);
    for (const x of s.used) l.push(x);
    l.push(s.submitted);
    l.push(s.net.length);
    for (const m of s.net) l.push(m);
    this.count++;
  }

  /** Reads the state at word offset `at`; returns the offset of the next one. */
  read(at: number, into: { node: number; s: GState }): number {
    const d = this.list.data, n = this.replicas;
    into.node = d[at++];
    const locals: number[] = new Array<number>(n);
    for (let i = 0; i < n; i++) locals[i] = d[at++];
    const ghost = d[at++];
    const used = [d[at], d[at + 1], d[at + 2], d[at + 3], d[at + 4]];
    at += 5;
    const submitted = d[at++];
    const netLen = d[at++];
    const net: number[] = new Array<number>(netLen);
    for (let i = 0; i < netLen; i++) net[i] = d[at++];
    into.s = { locals, ghost, used, submitted, net };
    return at;
  }
}
