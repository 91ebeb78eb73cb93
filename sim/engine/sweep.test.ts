// The seed sweep of issue 3 inside npm test: 200 seeds with every fault on (crashes, partitions of
// every kind, pauses, loss, duplication, reordering, clock skew), 3 and 5 voters, register and
// task-board workloads, with and without agents beyond the voters. Every run must pass every
// checker; a failure names each failing seed with the `covey sim` command that replays that very run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulation } from './simulation.ts';
import { passed, replayCommand, simulationOptions } from '../command.ts';
import { sweepArgs } from '../sweep.ts';

const seeds = 200;
const first = 1;

test(`${seeds} seeds with every fault on pass every checker`, () => {
  const failing: string[] = [];
  let ops = 0;
  let claims = 0;
  let crashesInFlush = 0;
  let membershipRecoveries = 0;
  for (let seed = first; seed < first + seeds; seed++) {
    const args = sweepArgs(seed);
    const r = runSimulation(simulationOptions(args, seed));
    ops += r.ops;
    claims += r.tasks?.stats.claims ?? 0;
    crashesInFlush += r.faults.crashesInFlush;
    membershipRecoveries += r.membership?.recoveries ?? 0;
    if (!passed(r)) failing.push(`seed ${seed}: ${r.violations.slice(0, 3).join('; ')}\n  replay: ${replayCommand(args, seed)}`);
  }
  assert.deepEqual(failing, [], failing.join('\n'));
  assert.ok(ops > seeds * 50, `the clients did work (${ops} operations)`);
  assert.ok(claims > 100, `workers claimed tasks (${claims} claims)`);
  // Crashes that land while a voter's early effects are out and its records are not yet durable.
  assert.ok(crashesInFlush > seeds / 2, `voters crashed inside a flush window (${crashesInFlush} times)`);
  // A quarter of the runs have SWIM on the voters: its dead verdicts started recoveries.
  assert.ok(membershipRecoveries > 0, `SWIM's dead verdicts started recoveries (${membershipRecoveries})`);
});
