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
import { conflictsWithEverything, footprint } from './conflicts.ts';
import type { InstanceId } from './ids.ts';
import { NOP, type Batch, type Payload } from './types.ts';

/** Keys the index holds before the first sweep is considered (a default; tests use fewer). */
const sweepSizeMinDefault = 4096;

export class ConflictIndex {
  /**
   * key → the ids touching it. A cell is updated in place, so an id on a key already seen costs
   * one hash lookup, and a key reused by the workload keeps its cell.
   */
  private readonly byKey = new Map<string, KeyCell>();
  /**
   * Ids whose payload is, or once was, Nop or a voters.change: they conflict with everything (§2,
   * docs/reconfiguration.md). Callers find the candidates of such a payload by a full scan.
   */
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
    if (p === NOP || conflictsWithEverything(p)) {
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
    if (conflictsWithEverything(c)) throw new Error('assertion: a batch that conflicts with everything has no candidates by key (scan instead)');
    for (const key of footprint(c).keys()) {
      const cell = this.byKey.get(key);
      if (cell === undefined) { this.byKey.set(key, { one: id, many: null }); continue; }
      if (cell.many === null) {
        const other = cell.one;
        if (other === id) continue;
        if (belowFloor(other, this.prunedFloor)) { cell.one = id; continue; } // stale: replace
        if (!belowFloor(other, floor)) visit(other);
        cell.many = [other, id];
        continue;
      }
      const many = cell.many;
      for (let i = 0; i < many.length; i++) if (many[i] !== id && !belowFloor(many[i], floor)) visit(many[i]);
      if (many[many.length - 1] !== id) this.push(cell, id);
    }
    for (const other of this.nops) if (!belowFloor(other, floor)) visit(other);
  }

  /** Candidate conflicting ids for `c` above `floor` (may repeat; may include non-conflicting). */
  candidates(c: Batch, floor: readonly number[], visit: (id: InstanceId) => void): void {
    if (conflictsWithEverything(c)) throw new Error('assertion: a batch that conflicts with everything has no candidates by key (scan instead)');
    for (const key of footprint(c).keys()) {
      const cell = this.byKey.get(key);
      if (cell === undefined) continue;
      if (cell.many === null) { if (!belowFloor(cell.one, floor)) visit(cell.one); continue; }
      for (const other of cell.many) if (!belowFloor(other, floor)) visit(other);
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
    const cell = this.byKey.get(key);
    if (cell === undefined) this.byKey.set(key, { one: id, many: null });
    else if (cell.many === null) {
      if (cell.one === id) return;
      if (belowFloor(cell.one, this.prunedFloor)) cell.one = id;
      else cell.many = [cell.one, id];
    } else if (cell.many[cell.many.length - 1] !== id) this.push(cell, id);
  }

  /** Append to a key's ids, dropping its stale ids first once the list has grown. */
  private push(cell: KeyCell, id: InstanceId): void {
    const many = cell.many!;
    if (many.length >= 8 && belowFloor(many[0], this.prunedFloor)) {
      let w = 0;
      for (let r = 0; r < many.length; r++) if (!belowFloor(many[r], this.prunedFloor)) many[w++] = many[r];
      many.length = w;
    }
    many.push(id);
  }

  /** Keys held now (for tests and status). */
  get keys(): number {
    return this.byKey.size;
  }

  /** Forget every stale entry: keeps memory bounded by the ids in flight, not by every key ever used. */
  private sweep(): void {
    for (const [key, cell] of this.byKey) {
      if (cell.many === null) {
        if (belowFloor(cell.one, this.prunedFloor)) this.byKey.delete(key);
        continue;
      }
      const live = cell.many.filter((x) => !belowFloor(x, this.prunedFloor));
      if (live.length === 0) this.byKey.delete(key);
      else if (live.length === 1) { cell.one = live[0]; cell.many = null; }
      else cell.many = live;
    }
    this.sweptSize = Math.max(this.sweepSizeMin, this.byKey.size);
  }
}

/** The ids on one key: `one` while there is a single id, `many` (all of them) once there are more. */
interface KeyCell {
  one: InstanceId;
  many: InstanceId[] | null;
}
