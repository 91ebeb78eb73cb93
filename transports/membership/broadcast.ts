// The dissemination queue (memberlist's TransmitLimitedQueue): at most one pending item per
// member (a newer fact about a member replaces the older one and starts its count again), items
// handed out fewest-transmissions-first and, among equals, newest first (memberlist: a fresh
// refutation must not wait behind a backlog of older news, or the suspicion it answers expires
// first), each dropped after `limit` transmissions.
//
// Layout, for O(batch) takes: one stack per transmit count. Taking pops from the lowest non-empty
// stack and pushes what it took onto the next one; a replaced item stays where it is, marked
// stale, and is dropped when popped (or when a stack is compacted).

import type { GossipItem, MemberId } from './types.ts';

interface Entry {
  readonly item: GossipItem;
  transmits: number;
  stale: boolean;
}


export class BroadcastQueue {
  private readonly pending = new Map<MemberId, Entry>();
  /** stacks[t]: entries sent t times, newest last. */
  private readonly stacks: Entry[][] = [];
  /** Entries in all stacks, stale ones included (for compaction). */
  private stacked = 0;

  get size(): number {
    return this.pending.size;
  }

  /**
   * Queues `item`, replacing any pending item about the same member. A confirmation (a suspect
   * item replacing a suspect item of the same incarnation) continues the count of the one it
   * replaces: it adds a name to a suspicion already on its way, not a new fact to spread from
   * scratch, and restarting the count for every confirmation multiplies the gossip of a mass
   * failure (a partition) exactly when the links are busiest.
   */
  push(item: GossipItem): void {
    const old = this.pending.get(item.id);
    let transmits = 0;
    if (old !== undefined) {
      old.stale = true;
      if (item.kind === 'suspect' && old.item.kind === 'suspect' && old.item.incarnation === item.incarnation) transmits = old.transmits;
    }
    const e: Entry = { item, transmits, stale: false };
    this.pending.set(item.id, e);
    this.stack(transmits).push(e);
    this.stacked++;
    if (this.stacked > 64 && this.stacked > 4 * this.pending.size) this.compact();
  }

  /** Whether an item about `id` is pending. */
  has(id: MemberId): boolean {
    return this.pending.has(id);
  }

  /**
   * Up to `max` items, least-sent first, counting one transmission each; an item that reaches
   * `limit` transmissions leaves the queue.
   */
  take(max: number, limit: number): GossipItem[] {
    const out: GossipItem[] = [];
    if (max <= 0 || this.pending.size === 0) return out;
    const taken: Entry[] = [];
    for (let t = 0; t < this.stacks.length && out.length < max; t++) {
      const st = this.stacks[t];
      while (st.length > 0 && out.length < max) {
        const e = st.pop()!;
        this.stacked--;
        if (e.stale) continue;
        taken.push(e);
        out.push(e.item);
      }
    }
    for (const e of taken) {
      e.transmits++;
      if (e.transmits >= limit) {
        e.stale = true;
        this.pending.delete(e.item.id);
      } else {
        this.stack(e.transmits).push(e);
        this.stacked++;
      }
    }
    return out;
  }

  /** Drops stale entries buried under live ones (amortised: runs when most entries are stale). */
  private compact(): void {
    this.stacked = 0;
    for (let t = 0; t < this.stacks.length; t++) {
      this.stacks[t] = this.stacks[t].filter((e) => !e.stale);
      this.stacked += this.stacks[t].length;
    }
  }

  private stack(t: number): Entry[] {
    while (this.stacks.length <= t) this.stacks.push([]);
    return this.stacks[t];
  }
}
