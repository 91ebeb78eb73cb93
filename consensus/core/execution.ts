// Execution (PROTOCOL.md §7, Fig. 1 lines 1–7), incremental.
//
// Fig. 1 executes the largest dependency-closed set G of committed ids, component by component in
// dependency-first order, increasing id inside a component. Recomputing G from scratch on every
// commit would cost O(history); instead, when an id commits we run Tarjan's algorithm from it over
// committed-but-unapplied ids. A component is applied only if nothing it reaches is uncommitted:
// exactly the components of G reachable from the root, emitted in the order Tarjan finishes them,
// which is dependency-first.
//
// A component that cannot be applied is parked on one direct dependency that stops it (an
// uncommitted id, or a node itself parked) and retried only when that dependency is applied. So a
// chain that commits in reverse order costs O(length), not O(length²): each node is retried once
// per dependency that held it, never once per commit anywhere below it.

import { belowFloor } from './deps.ts';
import type { InstanceId } from './ids.ts';
import type { Instance } from './types.ts';

export interface ExecutionSource {
  /** The instance if this replica has it COMMITTED, else undefined. */
  committed(id: InstanceId): Instance | undefined;
}

interface Frame {
  readonly id: InstanceId;
  readonly deps: readonly InstanceId[];
  readonly floor: readonly number[];
  next: number;
}

export class Executor {
  private readonly applied = new Set<InstanceId>();
  /** Nodes found unable to run, each with the direct dependency it is parked on. */
  private readonly parkedOn = new Map<InstanceId, InstanceId>();
  /** dependency → nodes parked on it, retried once it is applied. */
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
    const out: InstanceId[] = [];
    for (const id of this.waiters.keys()) if (this.source.committed(id) === undefined) out.push(id);
    return out;
  }

  /**
   * `id` just committed: returns the ids now applicable, in execution order (each one is already
   * recorded as applied; the caller applies it to the state machine or skips it as a Nop).
   */
  onCommit(id: InstanceId): InstanceId[] {
    const order: InstanceId[] = [];
    const roots = [id];
    for (let i = 0; i < roots.length; i++) {
      const root = roots[i];
      if (this.applied.has(root) || this.source.committed(root) === undefined) continue;
      const before = order.length;
      this.run(root, order);
      for (let j = before; j < order.length; j++) {
        const woken = this.waiters.get(order[j]);
        if (woken === undefined) continue;
        this.waiters.delete(order[j]);
        for (const w of woken) if (this.parkedOn.get(w) === order[j]) roots.push(w);
      }
    }
    return order;
  }

  private park(node: InstanceId, on: InstanceId): void {
    if (this.parkedOn.get(node) === on) return;
    this.parkedOn.set(node, on);
    const list = this.waiters.get(on);
    if (list === undefined) this.waiters.set(on, [node]);
    else list.push(node);
  }

  // Iterative Tarjan: dependency chains under contention are long enough to overflow the stack.
  private run(root: InstanceId, order: InstanceId[]): void {
    const index = new Map<InstanceId, number>();
    const low = new Map<InstanceId, number>();
    const onStack = new Set<InstanceId>();
    /** Nodes of this run whose component cannot be applied. */
    const stuck = new Set<InstanceId>();
    /** node → the first direct dependency outside its component that stops it. */
    const stopper = new Map<InstanceId, InstanceId>();
    const stack: InstanceId[] = [];
    const frames: Frame[] = [];
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
    const stop = (v: InstanceId, w: InstanceId): void => {
      if (!stopper.has(v)) stopper.set(v, w);
    };
    push(root);

    while (frames.length > 0) {
      const frame = frames[frames.length - 1];
      const v = frame.id;
      if (frame.next < frame.deps.length) {
        const w = frame.deps[frame.next++];
        // Ids at or below the floor were applied by every voter before the set was made.
        if (belowFloor(w, frame.floor) || this.applied.has(w)) continue;
        if (this.source.committed(w) === undefined) { this.park(v, w); stop(v, w); continue; }
        if (!index.has(w)) {
          // Still parked and what holds it is still not applied: do not walk it again.
          const on = this.parkedOn.get(w);
          if (on !== undefined && !this.applied.has(on) && !index.has(on) && this.source.committed(on) === undefined) {
            stop(v, w);
            continue;
          }
          push(w);
        } else if (onStack.has(w)) {
          low.set(v, Math.min(low.get(v)!, index.get(w)!));
        } else if (stuck.has(w)) {
          stop(v, w); // w's component finished this run and cannot be applied
        }
        continue;
      }
      frames.pop();
      const parent = frames.length > 0 ? frames[frames.length - 1].id : undefined;
      if (parent !== undefined) low.set(parent, Math.min(low.get(parent)!, low.get(v)!));
      if (low.get(v) !== index.get(v)) continue; // v belongs to a component still open below
      // v is the root of a component: pop it.
      const component: InstanceId[] = [];
      for (;;) {
        const w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
        if (w === v) break;
      }
      let blocked = false;
      for (const w of component) if (stopper.has(w)) { blocked = true; break; }
      if (blocked) {
        for (const w of component) {
          stuck.add(w);
          const s = stopper.get(w);
          if (s !== undefined) this.park(w, s);
        }
        if (parent !== undefined) stop(parent, v); // the edge parent → v leads into a stuck component
        continue;
      }
      component.sort((a, b) => a - b); // §7 step 3: increasing identifier order
      for (const w of component) {
        this.applied.add(w);
        this.parkedOn.delete(w);
        order.push(w);
      }
    }
  }
}
