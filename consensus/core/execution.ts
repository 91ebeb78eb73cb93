// Execution (PROTOCOL.md §7, Fig. 1 lines 1–7), incremental.
//
// Fig. 1 executes the largest dependency-closed set G of committed ids, component by component in
// dependency-first order, increasing id inside a component. Recomputing G from scratch on every
// commit would cost O(history); instead, when an id commits we run Tarjan's algorithm from it over
// committed-but-unapplied ids. A component is applied only if nothing it reaches is uncommitted:
// exactly the components of G reachable from the root, emitted in the order Tarjan finishes them,
// which is dependency-first. Components that reach a missing id are remembered as blocked on it
// and retried when it commits.

import { belowFloor } from './deps.ts';
import type { InstanceId } from './ids.ts';
import type { Instance } from './types.ts';

export interface ExecutionSource {
  /** The instance if this replica has it COMMITTED, else undefined. */
  committed(id: InstanceId): Instance | undefined;
}

export class Executor {
  private readonly applied = new Set<InstanceId>();
  /** node → an uncommitted id it reaches; valid while that id stays uncommitted. */
  private readonly blockedOn = new Map<InstanceId, InstanceId>();
  /** missing id → nodes blocked on it, to retry when it commits. */
  private readonly waiters = new Map<InstanceId, InstanceId[]>();
  private readonly source: ExecutionSource;

  constructor(source: ExecutionSource) {
    this.source = source;
  }

  isApplied(id: InstanceId): boolean {
    return this.applied.has(id);
  }

  /** Record an id applied during restart replay (from the persisted execution log). */
  markApplied(id: InstanceId): void {
    this.applied.add(id);
  }

  /** Ids that block execution (dependencies not committed here), for the recovery trigger. */
  missing(): InstanceId[] {
    return [...this.waiters.keys()].filter((m) => this.source.committed(m) === undefined);
  }

  /**
   * `id` just committed: returns the ids now applicable, in execution order. The caller applies
   * each (state machine or Nop skip) and must call `markApplied` for each one.
   */
  onCommit(id: InstanceId): InstanceId[] {
    const order: InstanceId[] = [];
    const roots = [id];
    const woken = this.waiters.get(id);
    if (woken !== undefined) {
      this.waiters.delete(id);
      roots.push(...woken);
    }
    for (const root of roots) {
      if (!this.applied.has(root) && this.source.committed(root) !== undefined) this.run(root, order);
    }
    return order;
  }

  // Iterative Tarjan: dependency chains under contention are long enough to overflow the stack.
  private run(root: InstanceId, order: InstanceId[]): void {
    const index = new Map<InstanceId, number>();
    const low = new Map<InstanceId, number>();
    const onStack = new Set<InstanceId>();
    const bad = new Map<InstanceId, InstanceId>(); // node → a missing id it reaches
    const stack: InstanceId[] = [];
    const frames: { id: InstanceId; deps: readonly InstanceId[]; floor: readonly number[]; next: number }[] = [];
    let counter = 0;

    const push = (v: InstanceId): void => {
      const inst = this.source.committed(v)!;
      index.set(v, counter);
      low.set(v, counter);
      counter++;
      stack.push(v);
      onStack.add(v);
      frames.push({ id: v, deps: inst.dep.ids, floor: inst.dep.floor, next: 0 });
    };
    push(root);

    while (frames.length > 0) {
      const frame = frames[frames.length - 1];
      const v = frame.id;
      if (frame.next < frame.deps.length) {
        const w = frame.deps[frame.next++];
        // Ids at or below the floor were applied by every voter before the set was made.
        if (belowFloor(w, frame.floor) || this.applied.has(w)) continue;
        const known = this.blockedOn.get(w);
        if (known !== undefined && this.source.committed(known) === undefined) {
          if (!bad.has(v)) bad.set(v, known);
          continue;
        }
        if (this.source.committed(w) === undefined) {
          if (!bad.has(v)) bad.set(v, w);
          continue;
        }
        if (!index.has(w)) {
          push(w);
        } else if (onStack.has(w)) {
          low.set(v, Math.min(low.get(v)!, index.get(w)!));
        } else {
          const m = bad.get(w); // w's component is finished; inherit its verdict
          if (m !== undefined && !bad.has(v)) bad.set(v, m);
        }
        continue;
      }
      // All of v's edges explored.
      frames.pop();
      if (frames.length > 0) {
        const parent = frames[frames.length - 1].id;
        low.set(parent, Math.min(low.get(parent)!, low.get(v)!));
        const m = bad.get(v);
        if (m !== undefined && !bad.has(parent)) bad.set(parent, m);
      }
      if (low.get(v) !== index.get(v)) continue;
      // v is the root of a component: pop it.
      const component: InstanceId[] = [];
      let missing: InstanceId | undefined;
      for (;;) {
        const w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
        missing ??= bad.get(w);
        if (w === v) break;
      }
      if (missing !== undefined) {
        for (const w of component) {
          bad.set(w, missing);
          this.blockedOn.set(w, missing);
        }
        const list = this.waiters.get(missing);
        if (list === undefined) this.waiters.set(missing, component);
        else list.push(...component);
        continue;
      }
      component.sort((a, b) => a - b); // §7 step 3: increasing identifier order
      for (const w of component) {
        this.applied.add(w);
        this.blockedOn.delete(w);
        order.push(w);
      }
    }
  }
}
