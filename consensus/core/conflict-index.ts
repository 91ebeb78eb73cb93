// Which instances touch which key, so the dependencies of a new payload (lines 10 and 16) and the
// I_q of Validate (lines 81–87) are found without scanning every instance. The index may list an
// id under keys its current payload no longer has; callers re-check the real conflict.

import { belowFloor, floorAtLeast, maxFloor } from './deps.ts';
import { footprint } from './conflicts.ts';
import { initCoord, instanceSeq, type InstanceId } from './ids.ts';
import { NOP, type Batch, type Payload } from './types.ts';

export class ConflictIndex {
  /** key → the id touching it, or the ids once there are several (most keys have one). */
  private readonly byKey = new Map<string, InstanceId | InstanceId[]>();
  /** Ids whose payload is, or once was, Nop: Nop conflicts with everything (§2). */
  private readonly nops = new Set<InstanceId>();
  /** Ids at or below this floor have been removed; answers above it are complete. */
  private prunedFloor: readonly number[];
  /**
   * Per coordinator, the (id, key) entries in the order they were added. Seqs of one coordinator
   * arrive mostly in order, so pruning pops from the front and costs what it removes, instead of
   * a sweep of the whole index at every watermark exchange.
   */
  private readonly added: { ids: InstanceId[]; keys: string[]; head: number }[];

  constructor(n: number) {
    this.prunedFloor = new Array<number>(n).fill(0);
    this.added = Array.from({ length: n }, () => ({ ids: [], keys: [], head: 0 }));
  }

  /** Is the index complete for sets that name everything above `floor`? */
  completeAbove(floor: readonly number[]): boolean {
    return floorAtLeast(floor, this.prunedFloor);
  }

  get floor(): readonly number[] {
    return this.prunedFloor;
  }

  add(id: InstanceId, p: Payload | null, previous: Payload | null): void {
    if (p === null || p === previous) return;
    if (p === NOP) {
      this.nops.add(id);
      return;
    }
    const prevKeys = previous !== null && previous !== NOP ? footprint(previous) : undefined;
    for (const key of footprint(p).keys()) {
      if (prevKeys?.has(key)) continue;
      const entry = this.byKey.get(key);
      if (entry === undefined) this.byKey.set(key, id);
      else if (typeof entry === 'number') { if (entry === id) continue; this.byKey.set(key, [entry, id]); }
      else if (entry[entry.length - 1] !== id) entry.push(id);
      else continue;
      const log = this.added[initCoord(id)];
      log.ids.push(id);
      log.keys.push(key);
    }
  }

  /**
   * `candidates` and `add` in one pass over the keys of a payload new to this replica (the hot
   * path: every PreAccept does both). Candidates are visited before `id` is added under a key.
   */
  collectAndAdd(id: InstanceId, c: Batch, floor: readonly number[], visit: (id: InstanceId) => void): void {
    const log = this.added[initCoord(id)];
    for (const key of footprint(c).keys()) {
      const entry = this.byKey.get(key);
      if (entry === undefined) {
        this.byKey.set(key, id);
      } else if (typeof entry === 'number') {
        if (entry === id) continue;
        if (!belowFloor(entry, floor)) visit(entry);
        this.byKey.set(key, [entry, id]);
      } else {
        if (entry[entry.length - 1] === id) continue;
        for (let i = 0; i < entry.length; i++) if (!belowFloor(entry[i], floor)) visit(entry[i]);
        entry.push(id);
      }
      log.ids.push(id);
      log.keys.push(key);
    }
    for (const other of this.nops) if (!belowFloor(other, floor)) visit(other);
  }

  /** Candidate conflicting ids for `c` above `floor` (may repeat; may include non-conflicting). */
  candidates(c: Batch, floor: readonly number[], visit: (id: InstanceId) => void): void {
    for (const key of footprint(c).keys()) {
      const entry = this.byKey.get(key);
      if (entry === undefined) continue;
      if (typeof entry === 'number') { if (!belowFloor(entry, floor)) visit(entry); continue; }
      for (let i = 0; i < entry.length; i++) if (!belowFloor(entry[i], floor)) visit(entry[i]);
    }
    for (const id of this.nops) if (!belowFloor(id, floor)) visit(id);
  }

  /** Drop ids at or below `floor` (executed by every voter): they need never be named again. */
  prune(floor: readonly number[]): void {
    if (floorAtLeast(this.prunedFloor, floor)) return;
    floor = maxFloor(this.prunedFloor, floor);
    this.prunedFloor = floor;
    for (let c = 0; c < this.added.length; c++) {
      const log = this.added[c];
      // Stop at the first entry above the floor: a late, older id behind it waits for the next
      // prune that passes it, which only delays forgetting it.
      while (log.head < log.ids.length && instanceSeq(log.ids[log.head]) <= floor[c]) {
        this.forget(log.ids[log.head], log.keys[log.head]);
        log.head++;
      }
      if (log.head > 4096 && log.head * 2 > log.ids.length) {
        log.ids = log.ids.slice(log.head);
        log.keys = log.keys.slice(log.head);
        log.head = 0;
      }
    }
    for (const id of this.nops) if (belowFloor(id, floor)) this.nops.delete(id);
  }

  private forget(id: InstanceId, key: string): void {
    const entry = this.byKey.get(key);
    if (entry === undefined) return;
    if (typeof entry === 'number') { if (entry === id) this.byKey.delete(key); return; }
    const i = entry[0] === id ? 0 : entry.indexOf(id);
    if (i < 0) return;
    if (entry.length === 1) this.byKey.delete(key);
    else if (i === 0) entry.shift();
    else entry.splice(i, 1);
  }
}
