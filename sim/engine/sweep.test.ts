// The seed sweep of issue 3 inside npm test: 200 seeds, every fault on (crashes, partitions,
// loss, duplication), 3 and 5 voters. Every run must be linearizable with no invariant violation;
// a failure names each failing seed with the command that replays it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulation } from './simulation.ts';

const seeds = 200;
const first = 1;

test(`${seeds} seeds with crashes, partitions, loss and duplication are linearizable and keep every invariant`, () => {
  const failing: string[] = [];
  let ops = 0;
  for (let seed = first; seed < first + seeds; seed++) {
    const voters = seed % 2 === 0 ? 3 : 5;
    const r = runSimulation({ seed, voters, durationMs: 3000, crashes: true, partitions: true, loss: 0.05, duplicate: 0.05 });
    ops += r.ops;
    if (!r.linearizable || r.violations.length > 0) {
      failing.push(`seed ${seed}: ${r.violations.slice(0, 3).join('; ')}\n  replay: npm run covey -- sim --voters ${voters} --seed ${seed} --duration 3s --faults crash,partition,loss,dup`);
    }
  }
  assert.deepEqual(failing, [], failing.join('\n'));
  assert.ok(ops > seeds * 50, `the clients did work (${ops} operations)`);
});
