// Property tests (fast-check): 3- and 5-replica groups driven through random message orders,
// losses, duplicates and restarts (persisted state kept, unpersisted lost: a replica can crash
// between a step and its group commit, losing what the step changed and produced). INV1–INV8 of
// PROTOCOL.md §8 are asserted after every step; once the faults stop, every proposed id must
// commit and apply everywhere, every client must get its answer, and all replicas must agree.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Action, runSchedule } from '../testing/index.ts';

const action = (n: number, keys: number): fc.Arbitrary<Action> => fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('submit' as const), r: fc.nat(n - 1), key: fc.nat(keys - 1), op: fc.constantFrom('put' as const, 'get' as const, 'cas' as const, 'delete' as const) }) },
  { weight: 12, arbitrary: fc.record({ t: fc.constant('deliver' as const), i: fc.nat(50) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('drop' as const), i: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('dup' as const), i: fc.nat(50) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('tick' as const), r: fc.nat(n - 1), ms: fc.integer({ min: 10, max: 400 }), entropy: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('crash' as const), r: fc.nat(n - 1) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('crashMidTurn' as const), i: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restart' as const), r: fc.nat(n - 1) }) },
);

// COVEY_PROPERTY_RUNS scales the number of runs for a long hunt (e.g. 100); npm test uses 10.
const scale = Number(process.env.COVEY_PROPERTY_RUNS ?? 10);

const configs = [
  { n: 3, f: 1, e: 1 },
  { n: 5, f: 2, e: 2 },
  { n: 5, f: 2, e: 1 },
];

for (const { n, f, e } of configs) {
  for (const batch of [1, 4]) {
    test(`n=${n} f=${f} e=${e} batch=${batch}: invariants hold under loss, duplication, reordering and restarts; everything commits after`, () => {
      fc.assert(fc.property(fc.array(action(n, 3), { minLength: 20, maxLength: 200, size: 'max' }), (actions) => { runSchedule(n, f, e, batch, actions); }), {
        numRuns: Math.ceil((n === 3 ? 150 : 60) * scale),
      });
    });
  }
}

// Covey truncation: snapshots every 2 applied instances, so instances are forgotten (and restarts
// begin from a snapshot) all through the schedule. The views the invariants check keep the last
// record of what was forgotten, so INV1–INV8 are as strong as above.
for (const { n, f, e } of [configs[0], configs[1]]) {
  test(`n=${n} f=${f} e=${e} snapshot every 2 applied: invariants hold while instances are truncated; everything commits after`, () => {
    let truncated = 0, restartsFromSnapshot = 0;
    fc.assert(fc.property(fc.array(action(n, 3), { minLength: 20, maxLength: 200, size: 'max' }), (actions) => {
      const c = runSchedule(n, f, e, 1, actions, 2);
      for (const r of c.replicas) truncated += r.stats.truncatedInstances;
      restartsFromSnapshot += c.storages.filter((s) => s.loadSync().snapshot !== undefined).length;
    }), {
      numRuns: Math.ceil((n === 3 ? 100 : 40) * scale),
    });
    // The property must have been exercised: instances were forgotten and snapshots stored.
    assert.ok(truncated > 0 && restartsFromSnapshot > 0, `no truncation happened (truncated ${truncated}, stores with a snapshot ${restartsFromSnapshot})`);
  });
}
