// The Executor (PROTOCOL.md §7, Fig. 1) on hand-built committed graphs.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Executor, type ExecutionSource } from './execution.ts';
import { makeDeps } from './deps.ts';
import { instanceId, type InstanceId } from './ids.ts';
import type { Instance } from './types.ts';

const zero = [0, 0, 0];

/** A committed graph the test edits: id → dep ids (and optional floor). */
class FakeSource implements ExecutionSource {
  readonly insts = new Map<InstanceId, Instance>();
  commit(id: InstanceId, deps: InstanceId[], floor: number[] = zero): void {
    const dep = makeDeps(deps, floor);
    this.insts.set(id, { id, bal: 0, abal: 0, phase: 'COMMITTED', cmd: { commands: [] }, dep, initCmd: null, initDep: dep });
  }
  committed(id: InstanceId): Instance | undefined {
    return this.insts.get(id);
  }
}

/** What the replica does over one commit and the next tick: onCommit, then flush. */
function step(ex: Executor, id: InstanceId): InstanceId[] {
  return [...ex.onCommit(id), ...ex.flush()];
}

/** Commit in the source, tell the executor, mark what it returns applied (as the replica does). */
function commit(src: FakeSource, ex: Executor, id: InstanceId, deps: InstanceId[], floor?: number[]): InstanceId[] {
  src.commit(id, deps, floor);
  const out = step(ex, id);
  for (const x of out) ex.markApplied(x);
  return out;
}

const a = instanceId(1, 0), b = instanceId(1, 1), c = instanceId(1, 2), d = instanceId(2, 0), e = instanceId(2, 1);

describe('Executor', () => {
  test('a chain executes dependency-first', () => {
    const src = new FakeSource();
    const ex = new Executor(src, 3);
    // c → b → a, all committed before the executor hears of c
    src.commit(a, []);
    src.commit(b, [a]);
    src.commit(c, [b]);
    assert.deepEqual(step(ex, c), [a, b, c]);
    assert.equal(ex.isApplied(a), true);
    assert.equal(ex.isApplied(c), true);
    assert.deepEqual(step(ex, c), [], 'nothing twice');
  });

  test('commits in dependency order execute one by one', () => {
    const src = new FakeSource();
    const ex = new Executor(src, 3);
    assert.deepEqual(commit(src, ex, a, []), [a]);
    assert.deepEqual(commit(src, ex, b, [a]), [b]);
    assert.deepEqual(commit(src, ex, c, [a, b]), [c]);
  });

  test('a cycle executes in increasing id order, whichever id commits last', () => {
    for (const last of [a, b, c, d]) {
      const src = new FakeSource();
      const ex = new Executor(src, 3);
      const graph = new Map<InstanceId, InstanceId[]>([[d, [a]], [a, [c]], [c, [b]], [b, [d]]]); // d→a→c→b→d
      const results: InstanceId[] = [];
      for (const [id, deps] of graph) if (id !== last) results.push(...commit(src, ex, id, deps));
      assert.deepEqual(results, [], 'nothing runs before the cycle is closed');
      assert.deepEqual(commit(src, ex, last, graph.get(last)!), [a, b, c, d], `last = ${last}`);
    }
  });

  test('components run dependency-first, ids sorted only inside a component', () => {
    const src = new FakeSource();
    const ex = new Executor(src, 3);
    // {e, d} is a cycle depending on the cycle {b, c}; a depends on d. Ids: a < b < c < d < e.
    src.commit(b, [c]);
    src.commit(c, [b]);
    src.commit(d, [e, c]);
    src.commit(e, [d]);
    src.commit(a, [d]);
    assert.deepEqual(step(ex, a), [b, c, d, e, a]);
  });

  test('a component blocked on an uncommitted dependency waits, and runs once it commits', () => {
    const src = new FakeSource();
    const ex = new Executor(src, 3);
    // b → a (missing); c → b; d independent
    assert.deepEqual(commit(src, ex, b, [a]), []);
    assert.deepEqual(commit(src, ex, c, [b]), []);
    assert.deepEqual(commit(src, ex, d, []), [d], 'an unrelated id is not held up');
    assert.equal(ex.isApplied(b), false);
    assert.deepEqual(ex.missing(), [a]);
    assert.deepEqual(commit(src, ex, a, []), [a, b, c]);
    assert.deepEqual(ex.missing(), []);
  });

  test('a cycle blocked through one member waits for that member\'s dependency', () => {
    const src = new FakeSource();
    const ex = new Executor(src, 3);
    // b ⇄ c, c → e (missing)
    assert.deepEqual(commit(src, ex, b, [c]), []);
    assert.deepEqual(commit(src, ex, c, [b, e]), []);
    assert.deepEqual(ex.missing(), [e]);
    assert.deepEqual(commit(src, ex, e, [a]), [], 'e itself now waits on a');
    assert.deepEqual(ex.missing(), [a]);
    assert.deepEqual(commit(src, ex, a, []), [a, e, b, c]);
    assert.deepEqual(ex.missing(), []);
  });

  test('ids under a dependency floor count as applied once this replica applied them', () => {
    const src = new FakeSource();
    const ex = new Executor(src, 3);
    // b names a (seq 1 of replica 0) explicitly, but its floor [1,0,0] covers a
    src.commit(b, [], [1, 0, 0]);
    // makeDeps drops a; build the instance by hand so a stays in ids with the covering floor
    src.insts.set(b, { ...src.insts.get(b)!, dep: { ids: [a], floor: [1, 0, 0] } });
    ex.markApplied(a);
    assert.deepEqual(step(ex, b), [b]);
    assert.deepEqual(ex.missing(), []);
    // same with the floor one lower: a blocks
    const src2 = new FakeSource();
    const ex2 = new Executor(src2, 3);
    src2.commit(b, [a]);
    assert.deepEqual(ex2.onCommit(b), []);
    assert.deepEqual(ex2.missing(), [a]);
  });

  test('Covey: a floor reaching past what this replica applied (it lost its disk) waits for the prefix', () => {
    const src = new FakeSource();
    const ex = new Executor(src, 3);
    src.commit(b, [], [2, 0, 0]); // every voter had applied 1.0 and 2.0 when b was proposed
    assert.deepEqual(step(ex, b), []);
    assert.deepEqual(ex.missing(), [a], 'the next id of the prefix is what it needs');
    src.commit(a, []);
    assert.deepEqual(step(ex, a), [a]);
    assert.deepEqual(ex.flush(), []);
    src.commit(d, [a]);
    assert.deepEqual(step(ex, d), [d, b], 'applying 2.0 completes the prefix the floor asks for, and wakes b');
    // A snapshot install makes everything it covers applied, and drops parked work.
    const ex3 = new Executor(src, 3);
    src.commit(e, [], [5, 0, 0]);
    assert.deepEqual(step(ex3, e), []);
    ex3.install([5, 0, 0], [instanceId(3, 1)]);
    assert.equal(ex3.isApplied(instanceId(4, 0)), true);
    assert.equal(ex3.isApplied(instanceId(3, 1)), true);
    assert.equal(ex3.isApplied(instanceId(2, 1)), false);
    assert.deepEqual(ex3.prefix, [5, 0, 0]);
    assert.deepEqual(ex3.appliedAbove(), [instanceId(3, 1)]);
    assert.deepEqual(step(ex3, e), [e]);
  });

  test('markApplied (restart replay) counts as applied for dependents', () => {
    const src = new FakeSource();
    const ex = new Executor(src, 3);
    ex.markApplied(a); // replayed from the execution log; not committed in the source
    assert.deepEqual(commit(src, ex, b, [a]), [b]);
  });

  test('missing() lists every blocker and drops those that committed', () => {
    const src = new FakeSource();
    const ex = new Executor(src, 3);
    commit(src, ex, c, [a]);
    commit(src, ex, d, [b]);
    assert.deepEqual(ex.missing().sort((x, y) => x - y), [a, b]);
    src.commit(b, [e]); // committed but the executor has not been told yet
    assert.deepEqual(ex.missing(), [a]);
  });

  test('a 50,000-long chain does not overflow the stack', () => {
    const len = 50_000;
    const src = new FakeSource();
    const ids = Array.from({ length: len }, (_, i) => instanceId(i + 1, i % 3));
    for (let i = 0; i < len; i++) src.commit(ids[i], i === 0 ? [] : [ids[i - 1]]);
    const order = step(new Executor(src, 3), ids[len - 1]);
    assert.equal(order.length, len);
    assert.deepEqual(order, ids);
  });

  test('a 50,000-long cycle runs as one component in id order', () => {
    const len = 50_000;
    const src = new FakeSource();
    const ids = Array.from({ length: len }, (_, i) => instanceId(i + 1, 0));
    for (let i = 0; i < len; i++) src.commit(ids[i], [ids[(i + len - 1) % len]]);
    const order = step(new Executor(src, 3), ids[12_345]);
    assert.equal(order.length, len);
    assert.deepEqual(order, ids);
  });

  test('a chain learned in reverse order costs work linear in its length', () => {
    const len = 8000;
    let lookups = 0;
    const src = new FakeSource();
    const counting: ExecutionSource = { committed: (x) => { lookups++; return src.committed(x); } };
    const ex = new Executor(counting, 3);
    const ids = Array.from({ length: len }, (_, i) => instanceId(i + 1, 0));
    const order: InstanceId[] = [];
    for (let i = len - 1; i >= 0; i--) {
      src.commit(ids[i], i === 0 ? [] : [ids[i - 1]]);
      for (const x of step(ex, ids[i])) { ex.markApplied(x); order.push(x); }
    }
    assert.deepEqual(order, ids, 'correct order all the same');
    assert.ok(lookups <= 50 * len, `${lookups} committed() lookups for a chain of ${len}`);
  });
});
