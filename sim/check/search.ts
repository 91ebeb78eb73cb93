// The linearization search for one register (or one segment of its history).
//
// Wing & Gong's search ("Testing and verifying concurrent objects", JPDC 1993): repeatedly pick
// a *minimal* operation (one no remaining operation precedes in real time), apply it to a
// sequential register, and backtrack when it disagrees with what the client saw. With Lowe's
// improvements ("Testing for linearizability", CCPE 2017): states (set of linearized operations,
// register value) already explored are memoized and never re-explored, and operations are only
// linearized "just in time", because the search walks a time-ordered list of invoke/return
// entries and must linearize an operation before it may pass that operation's return. This is
// the same structure as porcupine's (github.com/anishathalye/porcupine) checker.
//
// Two things beyond that, for segments (segments.ts): the register may start in any of several
// values, and the search can collect every value the register may hold once all operations are
// linearized, instead of stopping at the first linearization, so the next segment starts from
// exactly those.

import type { Operation } from '../history.ts';
import { SearchMemo } from './search-memo.ts';

/** An operation reduced to interned values, with its register semantics. */
export interface Step {
  op: Operation;
  ok: boolean;
  /** The register value after applying the operation to `state`, or -1 if it cannot apply. */
  apply: (state: number) => number;
  /**
   * Never changes the register wherever it applies (an ok read, an ok cas that found another
   * value). Such an operation, once it may be linearized, is linearized at once without trying
   * the alternative of doing it later: moving it earlier changes no other operation's state and
   * breaks no real-time order, so a linearization exists with it now if one exists at all (and
   * ends in the same value). That removes the 2^k subsets of k concurrent reads and failed cas.
   */
  pure: boolean;
}

export interface SearchOptions {
  /** Values the register may hold before the first operation. */
  starts: readonly number[];
  /**
   * Collect every value the register may end in (all operations linearized) rather than stop at
   * the first linearization. Only for steps that are all `ok`: an info operation may take effect
   * after the end, so the end value would not be the value at the end.
   */
  collectEnds: boolean;
  /** Every value an end can have: collecting stops once all were found. */
  endCandidates?: ReadonlySet<number>;
  /** Explored states after which the search stops with outcome `budget`. */
  statesMax: number;
}

export interface SearchResult {
  /** `budget`: stopped at statesMax before deciding. */
  outcome: 'linearizable' | 'refuted' | 'budget';
  /** Values the register may hold at the end (with collectEnds; else the one end found). */
  ends: Set<number>;
  states: number;
  memoBytes: number;
  /** Most operations linearized on one path, and the operation whose return stopped it. */
  deepest: number;
  blocked: Operation | null;
}

/** One invoke or return in the time-ordered, doubly linked list the search walks. */
interface Entry {
  step: number;
  call: boolean;
  time: number;
  /** For a call: its return entry. */
  ret: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

export function search(steps: readonly Step[], options: SearchOptions): SearchResult {
  if (options.collectEnds && steps.some((s) => !s.ok)) {
    throw new Error('search: collecting end values needs a segment without operations of unknown outcome');
  }
  const head = entryList(steps);
  // Linearized set as a bitset, with an incremental XOR hash of it for the memo.
  const words = new Uint32Array((steps.length + 31) >>> 5);
  const salt = saltsFor(steps.length);
  let hash = 0;
  const toggle = (i: number): void => {
    words[i >>> 5] ^= 1 << (i & 31);
    hash ^= salt[i];
  };
  // A search with n operations and k starts explores at least k × (n + 1) states; usually a few times that.
  const memo = new SearchMemo(words.length, 4 * options.starts.length * (steps.length + 1));
  const okTotal = steps.filter((s) => s.ok).length;
  const ends = new Set<number>();
  const covered = (): boolean => options.endCandidates !== undefined && [...options.endCandidates].every((v) => ends.has(v));
  let deepest = -1;
  let blocked: Entry | null = null;
  const result = (outcome: SearchResult['outcome']): SearchResult => ({
    outcome, ends, states: memo.size, memoBytes: memo.bytes, deepest: Math.max(deepest, 0),
    blocked: blocked !== null ? steps[blocked.step].op : null,
  });

  for (const start of options.starts) {
    let state = start;
    let okLeft = okTotal;
    const stack: { entry: Entry; before: number; forced: boolean }[] = [];
    if (!memo.add(hash, state, words)) continue;
    let entry = head.next;
    for (;;) {
      if (memo.size > options.statesMax) return result('budget');
      if (okLeft === 0) {
        ends.add(state);
        if (!options.collectEnds || covered()) return result('linearizable');
        // Collecting: this end is recorded; backtrack for the others.
      } else if (entry !== null && entry.call) {
        const s = steps[entry.step];
        const after = s.apply(state);
        if (after >= 0) {
          toggle(entry.step);
          if (memo.add(hash, after, words)) {
            stack.push({ entry, before: state, forced: s.pure });
            state = after;
            if (s.ok) okLeft--;
            lift(entry);
            entry = head.next;
            continue;
          }
          toggle(entry.step);
          // A pure operation leading to an explored state: that state is done, so this one is too.
          entry = s.pure ? null : entry.next;
          continue;
        } else {
          entry = entry.next;
          continue;
        }
      } else if (stack.length > deepest) {
        // A return (or the end): its operation must be linearized before we may pass it.
        deepest = stack.length;
        blocked = entry;
      }
      // Backtrack. A forced (pure) choice had no alternative, so undo the one before it too.
      let top = stack.pop();
      while (top !== undefined) {
        state = top.before;
        toggle(top.entry.step);
        if (steps[top.entry.step].ok) okLeft++;
        unlift(top.entry);
        if (!top.forced) break;
        top = stack.pop();
      }
      if (top === undefined) break;
      entry = top.entry.next;
    }
  }
  return result(ends.size > 0 ? 'linearizable' : 'refuted');
}

/**
 * The invoke and return entries ordered by time; at equal times calls come first, because A
 * precedes B only when A completes strictly before B is invoked. Info operations return at
 * +Infinity. Returns the list's head (a sentinel).
 */
function entryList(steps: readonly Step[]): Entry {
  const all: Entry[] = [];
  steps.forEach((s, i) => {
    const ret: Entry = { step: i, call: false, time: s.op.completeNs, ret: null, prev: null, next: null };
    all.push({ step: i, call: true, time: s.op.invokeNs, ret, prev: null, next: null }, ret);
  });
  all.sort((a, b) => a.time - b.time || Number(b.call) - Number(a.call));
  const head: Entry = { step: -1, call: false, time: -Infinity, ret: null, prev: null, next: null };
  let last = head;
  for (const e of all) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

function lift(e: Entry): void {
  for (const x of [e, e.ret!]) {
    x.prev!.next = x.next;
    if (x.next) x.next.prev = x.prev;
  }
}

function unlift(e: Entry): void {
  for (const x of [e.ret!, e]) {
    x.prev!.next = x;
    if (x.next) x.next.prev = x;
  }
}

/** Deterministic random words (xorshift32), one per operation, XORed into the bitset's hash. */
function saltsFor(n: number): Uint32Array {
  const salt = new Uint32Array(n);
  let seed = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
    salt[i] = seed >>> 0;
  }
  return salt;
}
