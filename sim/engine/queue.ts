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
    h.push({ timeUs, seq: this.nextSeq++, item });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  /** The earliest entry, removed; undefined when empty. */
  pop(): { timeUs: number; item: T } | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l], h[m])) m = l;
        if (r < h.length && before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return { timeUs: top.timeUs, item: top.item };
  }

  peekTimeUs(): number | undefined {
    return this.heap[0]?.timeUs;
  }
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.timeUs < b.timeUs || (a.timeUs === b.timeUs && a.seq < b.seq);
}
