// The simulator's event queue: a binary min-heap ordered by virtual time, then by insertion
// sequence, so events due at the same instant run in the order they were scheduled. That tie
// break is what makes a run deterministic: nothing depends on heap layout or object identity.
//
// Time unit: integer MICROSECONDS of virtual time. Integers keep the ordering exact (no float
// drift from summing fractional latencies); the history's nanoseconds are time × 1000.

interface Entry<T> {
  readonly timeUs: number;
  readonly seq: number;
  readonly item: T;
}

export class EventQueue<T> {
  private heap: Entry<T>[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Schedules `item` at virtual time `timeUs` (an integer number of microseconds). */
  push(timeUs: number, item: T): void {
    if (!Number.isSafeInteger(timeUs) || timeUs < 0) throw new RangeError(`queue: time must be a non-negative integer µs, got ${timeUs}`);
    const h = this.heap;
    const e: Entry<T> = { timeUs, seq: this.nextSeq++, item };
    // Sift up with a hole: parents move down until e's place is found.
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p];
      if (!before(e, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = e;
  }

  /**
   * The earliest entry, removed; undefined when empty. (The entry itself is returned, not a copy:
   * one allocation less per event. Keys are unique, so any heap pops in the same order.)
   */
  pop(): { readonly timeUs: number; readonly item: T } | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    const size = h.length;
    if (size > 0) {
      // Sift `last` down from the root with a hole.
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= size) break;
        const r = l + 1;
        const m = r < size && before(h[r], h[l]) ? r : l;
        if (!before(h[m], last)) break;
        h[i] = h[m];
        i = m;
      }
      h[i] = last;
    }
    return top;
  }

  peekTimeUs(): number | undefined {
    return this.heap[0]?.timeUs;
  }
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.timeUs < b.timeUs || (a.timeUs === b.timeUs && a.seq < b.seq);
}
