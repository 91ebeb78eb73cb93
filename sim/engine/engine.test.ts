// Unit tests of the simulator's parts: seeded randomness, the event queue, the simulated disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Random } from './random.ts';
import { EventQueue } from './queue.ts';
import { SimDisk } from './disk.ts';
import type { InstanceRecord, PersistRecord } from '../../consensus/index.ts';

test('Random: same seed, same stream; different seeds differ; ranges hold', () => {
  const a = new Random(42), b = new Random(42), c = new Random(43);
  const sa = Array.from({ length: 100 }, () => a.nextU32());
  assert.deepEqual(sa, Array.from({ length: 100 }, () => b.nextU32()));
  assert.notDeepEqual(sa, Array.from({ length: 100 }, () => c.nextU32()));
  const r = new Random(1);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const x = r.int(3, 7);
    assert.ok(Number.isInteger(x) && x >= 3 && x <= 7);
    seen.add(x);
    const f = r.float();
    assert.ok(f >= 0 && f < 1);
  }
  assert.equal(seen.size, 5);
  assert.equal(r.chance(0), false);
  assert.equal(r.chance(1), true);
});

test('EventQueue: ordered by time, then by insertion', () => {
  const q = new EventQueue<string>();
  q.push(5, 'e'); q.push(1, 'a'); q.push(5, 'f'); q.push(3, 'c'); q.push(1, 'b'); q.push(3, 'd');
  const out: string[] = [];
  for (let x = q.pop(); x !== undefined; x = q.pop()) out.push(x.item);
  assert.deepEqual(out, ['a', 'b', 'c', 'd', 'e', 'f']);
  assert.throws(() => q.push(1.5, 'x'));
});

const inst = (id: number, bal: number): PersistRecord => ({
  kind: 'instance',
  instance: { id, bal, abal: 0, phase: 'PREACCEPTED', cmd: null, dep: { ids: [], floor: [0, 0, 0] }, initCmd: null, initDep: { ids: [], floor: [0, 0, 0] } } as InstanceRecord,
});

test('SimDisk: a crash loses exactly the unsynced records', () => {
  const d = new SimDisk();
  d.append([inst(1, 0), { kind: 'applied', id: 1 }]);
  d.sync();
  d.append([inst(1, 7), inst(2, 0), { kind: 'applied', id: 2 }]);
  assert.equal(d.unsyncedCount, 3);
  d.crash();
  const s = d.load();
  assert.deepEqual(s.instances.map((i) => [i.id, i.bal]), [[1, 0]]);
  assert.deepEqual(s.applied, [1]);
  assert.equal(d.lostOnCrash, 3);
});

test('SimDisk: sync(upTo) makes earlier appends durable but not later; last write wins', () => {
  const d = new SimDisk();
  const p1 = d.append([inst(1, 0)]);
  d.append([inst(1, 9)]);
  d.sync(p1);
  d.crash();
  assert.deepEqual(d.load().instances.map((i) => [i.id, i.bal]), [[1, 0]]);
  // Positions stay consistent after a crash: a new append then sync covers it.
  const p2 = d.append([inst(1, 5), inst(3, 0)]);
  d.sync(p2);
  assert.deepEqual(d.load().instances.map((i) => [i.id, i.bal]), [[1, 5], [3, 0]]);
  assert.equal(d.unsyncedCount, 0);
});
