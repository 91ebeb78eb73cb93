// Which instances touch which key, so the dependencies of a new payload (lines 10 and 16) and the
// I_q of Validate (lines 81–87) are found without scanning every instance. The index may list an
// id under keys its current payload no longer has; callers re-check the real conflict.

import { belowFloor, floorAtLeast, maxFloor } from './deps.ts';
import { footprint } from './conflicts.ts';
import type { InstanceId } from './ids.ts';
import { NOP, type Batch, type Payload } from './types.ts';

export class ConflictIndex {
  private readonly byKey = new Map<string, InstanceId[]>();
  /** Ids whose payload is, or once was, Nop: Nop conflicts with everything (§2). */
  private readonly nops = new Set<InstanceId>();
  /** Ids at or below this floor have been removed; answers above it are complete. */
  private prunedFloor: readonly number[];

  constructor(n: number) {
    this.prunedFloor = new Array<number>(n).fill(0);
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
      const list = this.byKey.get(key);
      if (list === undefined) this.byKey.set(key, [id]);
      else if (list[list.length - 1] !== id) list.push(id);
    }
  }

  /** Candidate conflicting ids for `c` above `floor` (may repeat; may include non-conflicting). */
  candidates(c: Batch, floor: readonly number[], visit: (id: InstanceId) => void): void {
    for (const key of footprint(c).keys()) {
      const list = this.byKey.get(key);
      if (list === undefined) continue;
      for (let i = 0; i < list.length; i++) if (!belowFloor(list[i], floor)) visit(list[i]);
    }
    for (const id of this.nops) if (!belowFloor(id, floor)) visit(id);
  }

  /** Drop ids at or below `floor` (executed by every voter): they need never be named again. */
  prune(floor: readonly number[]): void {
    if (floorAtLeast(this.prunedFloor, floor)) return;
    floor = maxFloor(this.prunedFloor, floor);
    this.prunedFloor = floor;
    for (const [key, list] of this.byKey) {
      let w = 0;
      for (let r = 0; r < list.length; r++) if (!belowFloor(list[r], floor)) list[w++] = list[r];
      if (w === 0) this.byKey.delete(key);
      else list.length = w;
    }
    for (const id of this.nops) if (belowFloor(id, floor)) this.nops.delete(id);
  }
}
