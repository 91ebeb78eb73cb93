// Execution (PROTOCOL.md §7, Fig. 1 lines 1–7), incremental and batched.
//
// Fig. 1 executes the largest dependency-closed set G of committed ids, component by component in
// dependency-first order, increasing id inside a component. Recomputing G on every commit would
// cost O(history), so:
//
// - A committed id whose dependencies are all applied is a component of its own in G (nothing
//   unapplied reaches it... it reaches nothing unapplied), so it is applied at once. Applying it
//   wakes the ids parked on it, which are tried the same way. This is the common case.
// - Any other id is deferred. `flush()` (called once per tick: TigerBeetle's "batch work per
//   turn") runs Tarjan's algorithm from all deferred ids together over committed-but-unapplied
//   ids and applies each component that reaches nothing uncommitted, in the order Tarjan finishes
//   them, which is dependency-first. Under contention, where commits arrive out of order and
//   dependency sets are large, a stuck region is walked once per tick, not once per commit.
// - A component that still cannot run is parked on a direct dependency that stops it and is tried
//   again when that dependency is applied; one parked behind an id that is still uncommitted is
//   not walked again until then.

import { belowFloor } from './deps.ts';
import { initCoord, instanceId, instanceSeq, type InstanceId } from './ids.ts';
import type { Instance } from './types.ts';

export interface ExecutionSource {
  /** The instance if this replica has it COMMITTED, else undefined. */
  committed(id: InstanceId): Instance | undefined;
}

/** How far `heldBehind` follows a chain of parkings before it gives up and walks. */
const parkChainHopsMax = 64;

interface Frame {
  readonly id: InstanceId;
  readonly deps: readonly InstanceId[];
  readonly floor: readonly number[];
  next: number;
}

export class Executor {
  /**
   * What is applied: per coordinator, the contiguous prefix of seqs (Covey §12 watermark), plus the
   * ids applied above it. Memory is bounded by the out-of-order window, not by history, and ids
   * forgotten by truncation (all within the prefix) still count as applied.
   */
  private readonly applied: AppliedSet;
  /** Committed ids that could not be applied on sight; `flush` resolves them. */
  private deferred = new Set<InstanceId>();
  /** Nodes found unable to run, each with the direct dependency it is parked on. */
  private readonly parkedOn = new Map<InstanceId, InstanceId>();
  /** dependency → nodes parked on it, tried again once it is applied. */
  private readonly waiters = new Map<InstanceId, InstanceId[]>();
  private readonly source: ExecutionSource;

  constructor(source: ExecutionSource, n: number) {
    this.source = source;
    this.applied = new AppliedSet(n);
  }

  isApplied(id: InstanceId): boolean {
    return this.applied.has(id);
  }

  /** Record an id applied during restart replay (from the persisted execution log). */
  markApplied(id: InstanceId): void {
    this.applied.add(id);
  }

  /** Per coordinator, the contiguous prefix of applied seqs (read-only view, kept current). */
  get prefix(): readonly number[] {
    return this.applied.prefix;
  }

  /** Applied ids above the prefix, ascending. */
  appliedAbove(): InstanceId[] {
    return [...this.applied.above].sort((a, b) => a - b);
  }

  /**
   * Replace what is applied by what a snapshot covers (restore, state transfer). Parked and
   * deferred work is dropped: the caller offers every committed, unapplied id again.
   */
  install(prefix: readonly number[], above: readonly InstanceId[]): void {
    this.applied.reset(prefix, above);
    this.deferred = new Set();
    this.parkedOn.clear();
    this.waiters.clear();
  }

  /** Is there deferred work for `flush`? */
  get hasDeferred(): boolean {
    return this.deferred.size > 0;
  }

  /** Ids that block execution (dependencies not committed here), for the recovery trigger. */
  missing(): InstanceId[] {
    const out: InstanceId[] = [];
    for (const id of this.waiters.keys()) if (this.source.committed(id) === undefined) out.push(id);
    return out;
  }

  /**
   * `id` just committed: returns the ids now applied, in execution order (each is recorded as
   * applied; the caller applies it to the state machine, or skips it as a Nop).
   */
  onCommit(id: InstanceId): InstanceId[] {
    const order: InstanceId[] = [];
    this.tryApply([id], order);
    return order;
  }

  /** Resolve everything deferred (components, and ids behind them): once per tick. */
  flush(): InstanceId[] {
    const order: InstanceId[] = [];
    if (this.deferred.size === 0) return order;
    const roots = [...this.deferred];
    this.deferred = new Set();
    const walk = new Walk();
    for (const root of roots) {
      if (this.applied.has(root) || walk.index.has(root) || this.source.committed(root) === undefined) continue;
      const before = order.length;
      this.run(root, walk, order);
      this.wake(order, before);
    }
    return order;
  }

  /** Apply each id whose dependencies are all applied; defer the others. Cascades through wakes. */
  private tryApply(queue: InstanceId[], order: InstanceId[]): void {
    for (let i = 0; i < queue.length; i++) {
      const id = queue[i];
      if (this.applied.has(id)) continue;
      const inst = this.source.committed(id);
      if (inst === undefined) continue;
      const blocker = this.firstUnapplied(inst);
      if (blocker !== undefined) {
        this.park(id, blocker);
        this.deferred.add(id);
        continue;
      }
      this.applied.add(id);
      this.parkedOn.delete(id);
      this.deferred.delete(id);
      order.push(id);
      const woken = this.waiters.get(id);
      if (woken === undefined) continue;
      this.waiters.delete(id);
      for (const w of woken) if (this.parkedOn.get(w) === id) queue.push(w);
    }
  }

  private firstUnapplied(inst: Instance): InstanceId | undefined {
    const deps = inst.dep.ids, floor = inst.dep.floor;
    const below = this.applied.floorBlocker(floor);
    if (below !== undefined) return below;
    for (let i = 0; i < deps.length; i++) {
      const d = deps[i];
      // Ids at or below the floor were applied by every voter before the set was made.
      if (!this.applied.has(d) && !belowFloor(d, floor)) return d;
    }
    return undefined;
  }

  /** After a run applied order[from..]: try the ids parked on what was applied. */
  private wake(order: InstanceId[], from: number): void {
    const queue: InstanceId[] = [];
    for (let j = from; j < order.length; j++) {
      const woken = this.waiters.get(order[j]);
      if (woken === undefined) continue;
      this.waiters.delete(order[j]);
      for (const w of woken) if (this.parkedOn.get(w) === order[j]) queue.push(w);
    }
    if (queue.length > 0) this.tryApply(queue, order);
  }

  private park(node: InstanceId, on: InstanceId): void {
    if (this.parkedOn.get(node) === on) return;
    this.parkedOn.set(node, on);
    const list = this.waiters.get(on);
    if (list === undefined) this.waiters.set(on, [node]);
    else list.push(node);
  }

  /**
   * The uncommitted id `w` is parked behind, if its chain of parkings ends at one that this walk
   * does not reach; else undefined. Parkings follow dependency edges, so `w` reaches that id and
   * cannot be applied before it is; nothing this walk applies can free `w`, and its stuck
   * subgraph is not walked again. A chain that reaches this walk, an applied id, or runs too long
   * proves nothing, and `w` is walked.
   *
   * The caller must park on the returned id, never on `w`: `w` was not walked, so it may lie in
   * the caller's own component, and two members parked on each other would never be woken.
   */
  private heldBehind(w: InstanceId, walk: Walk): InstanceId | undefined {
    const chain: InstanceId[] = [w];
    let at = this.parkedOn.get(w);
    for (let hops = 0; at !== undefined && hops < parkChainHopsMax; hops++) {
      if (this.applied.has(at) || walk.index.has(at)) return undefined;
      if (this.source.committed(at) === undefined) {
        for (const node of chain) this.park(node, at); // path compression: valid along the chain
        return at;
      }
      chain.push(at);
      at = this.parkedOn.get(at);
    }
    return undefined;
  }

  // Iterative Tarjan: dependency chains under contention are long enough to overflow the stack.
  private run(root: InstanceId, walk: Walk, order: InstanceId[]): void {
    const { index, low, onStack, stuck, stopper, stack } = walk;
    const frames: Frame[] = [];
    const push = (v: InstanceId): void => {
      const inst = this.source.committed(v)!;
      index.set(v, walk.counter);
      low.set(v, walk.counter);
      walk.counter++;
      stack.push(v);
      onStack.add(v);
      frames.push({ id: v, deps: inst.dep.ids, floor: inst.dep.floor, next: 0 });
      // Covey: the floor's ids must be applied here too (they are, unless this replica lost its
      // disk and has not installed a snapshot yet); wait for the next id of the prefix.
      const below = this.applied.floorBlocker(inst.dep.floor);
      if (below !== undefined) stop(v, below);
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
        if (belowFloor(w, frame.floor) || this.applied.has(w)) continue;
        if (this.source.committed(w) === undefined) { this.park(v, w); stop(v, w); continue; }
        if (!index.has(w)) {
          const behind = this.heldBehind(w, walk);
          if (behind !== undefined) { stop(v, behind); continue; }
          push(w);
        } else if (onStack.has(w)) {
          low.set(v, Math.min(low.get(v)!, index.get(w)!));
        } else if (stuck.has(w)) {
          stop(v, w); // w's component finished in this walk and cannot be applied
        }
        continue;
      }
      frames.pop();
      const parent = frames.length > 0 ? frames[frames.length - 1].id : undefined;
      if (parent !== undefined) low.set(parent, Math.min(low.get(parent)!, low.get(v)!));
      if (low.get(v) !== index.get(v)) continue; // v belongs to a component still open below
      const component: InstanceId[] = [];
      for (;;) {
        const w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
        if (w === v) break;
      }
      let held: InstanceId | undefined;
      for (const w of component) if ((held = stopper.get(w)) !== undefined) break;
      if (held !== undefined) {
        // Members reach each other, so each waits for what holds any of them: park every one, on
        // its own blocker where it has one, else on the component's.
        for (const w of component) {
          stuck.add(w);
          this.park(w, stopper.get(w) ?? held);
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

/** Applied ids as a per-coordinator contiguous prefix plus the ids applied above it. */
class AppliedSet {
  readonly prefix: number[];
  readonly above = new Set<InstanceId>();

  constructor(n: number) {
    this.prefix = new Array<number>(n).fill(0);
  }

  has(id: InstanceId): boolean {
    return instanceSeq(id) <= this.prefix[initCoord(id)] || this.above.has(id);
  }

  add(id: InstanceId): void {
    const c = initCoord(id), s = instanceSeq(id);
    if (s <= this.prefix[c]) return;
    if (s !== this.prefix[c] + 1) { this.above.add(id); return; }
    let p = s;
    while (this.above.delete(instanceId(p + 1, c))) p++;
    this.prefix[c] = p;
  }

  reset(prefix: readonly number[], above: readonly InstanceId[]): void {
    for (let c = 0; c < this.prefix.length; c++) this.prefix[c] = prefix[c];
    this.above.clear();
    for (const id of above) this.add(id);
  }

  /** The next id of the prefix, if `floor` reaches past what is applied here; else undefined. */
  floorBlocker(floor: readonly number[]): InstanceId | undefined {
    const p = this.prefix;
    for (let c = 0; c < p.length; c++) if (floor[c] > p[c]) return instanceId(p[c] + 1, c);
    return undefined;
  }
}

/** Tarjan's bookkeeping, shared by all roots of one flush so no node is walked twice in it. */
class Walk {
  readonly index = new Map<InstanceId, number>();
  readonly low = new Map<InstanceId, number>();
  readonly onStack = new Set<InstanceId>();
  /** Nodes whose component cannot be applied in this walk. */
  readonly stuck = new Set<InstanceId>();
  /** node → the first direct dependency outside its component that stops it. */
  readonly stopper = new Map<InstanceId, InstanceId>();
  readonly stack: InstanceId[] = [];
  counter = 0;
}
