// Dead messages (engine.ts `isDead`, README.md "Dead messages"): leaving them out of the states
// merges states that differ only in messages that can never change anything, so the search finds
// fewer states and exactly the same violations, with shortest traces of the same length.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, defaultModel, replayTrace, type ModelConfig } from './model.ts';

const model = (o: Partial<ModelConfig>): ModelConfig => ({
  ...defaultModel, commands: 1, crashes: 0, duplicates: 0, drops: 0, recoveries: 0, ticks: 0, unsynced: 0, ...o,
});

test('leaving dead messages out: fewer states, the same depth-bounded verdict (1 command, 1 crash, 1 recovery, 13 steps)', () => {
  const cfg = model({ crashes: 1, recoveries: 1 });
  const kept = check(cfg, { maxStates: 2_000_000, maxDepth: 13 });
  const dropped = check(cfg, { maxStates: 2_000_000, maxDepth: 13, dropDead: true });
  assert.equal(kept.verdict, 'depth-bounded');
  assert.equal(dropped.verdict, 'depth-bounded');
  assert.equal(dropped.droppedDead, true);
  assert.equal(kept.droppedDead, false);
  // Some states differed only in dead messages: the rule fires (it is not vacuous).
  assert.ok(dropped.states < kept.states * 0.9, `${dropped.states} states with dead messages left out, ${kept.states} with them`);
});

test('leaving dead messages out: the real core still passes exhaustively with a crash and a recovery', () => {
  const r = check(model({ crashes: 1, recoveries: 1 }), { maxStates: 1_000_000, dropDead: true });
  assert.equal(r.verdict, 'pass', JSON.stringify(r.violation));
  assert.ok(r.states > 100_000, `${r.states} states`);
});

for (const [variant, o, steps] of [
  ['delayed-self-delivery', { recoveries: 1 }, 8],
  ['vote-before-durable', { crashes: 1, recoveries: 1, unsynced: 2 }, 12],
  ['single-ballot', { recoveries: 3 }, 12],
] as const) {
  test(`leaving dead messages out: ${variant} is still found, with a shortest trace of ${steps} steps that replays`, () => {
    const cfg = model({ ...o, variant });
    const kept = check(cfg, { maxStates: 1_000_000 });
    const dropped = check(cfg, { maxStates: 1_000_000, dropDead: true });
    assert.equal(kept.verdict, 'violation');
    assert.equal(dropped.verdict, 'violation');
    assert.equal(dropped.violation!.trace.length, steps, dropped.violation!.steps.join('\n'));
    assert.equal(kept.violation!.trace.length, steps);
    assert.deepEqual(dropped.violation!.invariants, kept.violation!.invariants);
    assert.ok(replayTrace(cfg, dropped.violation!.trace).violations.length > 0);
  });
}
