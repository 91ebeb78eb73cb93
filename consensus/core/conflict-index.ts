// Which instances touch which key, so the dependencies of a new payload (lines 10 and 16) and the
// I_q of Validate (lines 81–87) are found without scanning every instance. The index may list an
// id under keys its current payload no longer has; callers re-check the real conflict.
//
// Ids at or below the pruned floor were applied by every voter and need never be named again.
// They are forgotten lazily: every caller asks with a floor at or above the pruned floor and skips
// what lies below it, so a stale entry is harmless. A key's lone stale id is overwritten by the
// next id on that key, and the whole map is swept only once it has doubled since the last sweep.
// Deleting each entry as the floor passed it cost more than the lookups themselves (bench:core).

import { belowFloor, floorAtLeast, maxFloor } from './deps.ts';
import { footprint } from './conflicts.ts';
import type { InstanceId } from './ids.ts';
import { NOP, type Batch, type Payload } from './types.ts';

/** Keys the index holds before the first sweep is considered (a default; tests use fewer). */
const sweepSizeMinDefault = 4096;

export class ConflictIndex {
  /** key → the id touching it, or the ids once there are several (most keys have one). */
  private readonly byKey = new Map<string, InstanceId | InstanceId[]>();
  /** Ids whose payload is, or once was, Nop: Nop conflicts with everything (§2). */
  private readonly nops = new Set<InstanceId>();
  /** Ids at or below this floor may be forgotten; answers above it are complete. */
  private prunedFloor: readonly number[];
  /** Size of the map after the last sweep: the next sweep waits until it has doubled. */
  private sweptSize: number;
  private readonly sweepSizeMin: number;

  constructor(n: number, sweepSizeMin = sweepSizeMinDefault) {
    this.prunedFloor = new Array<number>(n).fill(0);
    this.sweepSizeMin = sweepSizeMin;
    this.sweptSize = sweepSizeMin;
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
      this.insert(key, id);
    }
  }

  /**
   * `candidates` and `add` in one pass over the keys of a payload new to this replica (the hot
   * path: every PreAccept does both). Candidates are visited before `id` is added under a key.
   */
  collectAndAdd(id: InstanceId, c: Batch, floor: readonly number[], visit: (id: InstanceId) => void): void {
    for (const key of footprint(c).keys()) {
      const entry = this.byKey.get(key);
      if (entry === undefined) {
        this.byKey.set(key, id);
      } else if (typeof entry === 'number') {
        if (entry === id) continue;
        if (belowFloor(entry, this.prunedFloor)) { this.byKey.set(key, id); continue; } // stale: replace
        if (!belowFloor(entry, floor)) visit(entry);
        this.byKey.set(key, [entry, id]);
      } else {
        for (let i = 0; i < entry.length; i++) if (entry[i] !== id && !belowFloor(entry[i], floor)) visit(entry[i]);
        if (entry[entry.length - 1] !== id) this.push(entry, id);
      }
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

  /** Ids at or below `floor` (applied by every voter) need never be named again. */
  prune(floor: readonly number[]): void {
    if (floorAtLeast(this.prunedFloor, floor)) return;
    this.prunedFloor = maxFloor(this.prunedFloor, floor);
    for (const id of this.nops) if (belowFloor(id, this.prunedFloor)) this.nops.delete(id);
    if (this.byKey.size >= 2 * this.sweptSize) this.sweep();
  }

  private insert(key: string, id: InstanceId): void {
    const entry = this.byKey.get(key);
    if (entry === undefined || (typeof entry === 'number' && belowFloor(entry, this.prunedFloor))) this.byKey.set(key, id);
    else if (typeof entry === 'number') { if (entry !== id) this.byKey.set(key, [entry, id]); }
    else if (entry[entry.length - 1] !== id) this.push(entry, id);
  }

  /** Append to a key's list, dropping its stale ids first once the list has grown. */
  private push(list: InstanceId[], id: InstanceId): void {
    if (list.length >= 8 && belowFloor(list[0], this.prunedFloor)) {
      let w = 0;
      for (let r = 0; r < list.length; r++) if (!belowFloor(list[r], this.prunedFloor)) list[w++] = list[r];
      list.length = w;
    }
    list.push(id);
  }

  /** Keys held now (for tests and status). */
  get keys(): number {
    return this.byKey.size;
  }

  /** Forget every stale entry: keeps memory bounded by the ids in flight, not by every key ever used. */
  private sweep(): void {
    for (const [key, entry] of this.byKey) {
      if (typeof entry === 'number') {
        if (belowFloor(entry, this.prunedFloor)) this.byKey.delete(key);
        continue;
      }
      let w = 0;
      for (let r = 0; r < entry.length; r++) if (!belowFloor(entry[r], this.prunedFloor)) entry[w++] = entry[r];
      if (w === 0) this.byKey.delete(key);
      else if (w === 1) this.byKey.set(key, entry[0]);
      else entry.length = w;
    }
    this.sweptSize = Math.max(this.sweepSizeMin, this.byKey.size);
  }
}
