// The seed sweep of issue 3 inside npm test: 200 seeds, every fault on (crashes, partitions,
// loss, duplication), 3 and 5 voters. Every run must be linearizable with no invariant violation;
// a failure names each failing seed with the `covey sim` command that replays that very run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulation } from './simulation.ts';
import { faultsBuilt, replayCommand, simulationOptions, type SimArgs } from '../command.ts';

const seeds = 200;
const first = 1;

test(`${seeds} seeds with crashes, partitions, loss and duplication are linearizable and keep every invariant`, () => {
  const failing: string[] = [];
  let ops = 0;
  for (let seed = first; seed < first + seeds; seed++) {
    const args: SimArgs = {
      voters: seed % 2 === 0 ? 3 : 5, seeds: [seed], durationMs: 3000, faults: new Set(faultsBuilt), clients: 8, keys: 5, json: false,
    };
    const r = runSimulation(simulationOptions(args, seed));
    ops += r.ops;
    if (!r.linearizable || r.violations.length > 0) {
      failing.push(`seed ${seed}: ${r.violations.slice(0, 3).join('; ')}\n  replay: ${replayCommand(args, seed)}`);
    }
  }
  assert.deepEqual(failing, [], failing.join('\n'));
  assert.ok(ops > seeds * 50, `the clients did work (${ops} operations)`);
});
