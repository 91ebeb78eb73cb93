// The seed sweep's mapping from a seed to a run: every fault on, 3, 5 and 7 voters, the register
// and task-board workloads, with and without agents beyond the voters, some runs with most
// operations on private keys, and every fourth with SWIM membership on the voters (dead verdicts
// start recoveries, as on an agent). Shared by the 200-seed sweep inside npm test
// (sim/engine/sweep.test.ts) and the long sweep script (bench/sweep.ts), so a seed means the same
// run in both and its printed replay command reproduces it.

import { defaultSimArgs, faults, reconfigModes, type SimArgs } from './command.ts';

export function sweepArgs(seed: number, durationMs = 3000): SimArgs {
  // Every seventh seed has 7 voters (f = 3; issue 15). 7 is prime to the other moduli below, so
  // those runs get every mix of the other options; every other seed maps to the run it always did.
  const voters = seed % 7 === 6 ? 7 : seed % 2 === 0 ? 3 : 5;
  return {
    ...defaultSimArgs, voters, agents: seed % 3 === 0 ? voters + 4 : voters, seeds: [seed], durationMs, faults: new Set(faults),
    workload: seed % 4 === 1 ? 'tasks' : 'kv', conflict: seed % 5 === 0 ? 0.3 : 1, membership: seed % 4 === 3 ? 'swim' : 'none', reachableHint: seed % 8 === 7,
    // A third of the runs catch lagging voters up by state transfer at a small lag, so that it runs
    // under every fault (at the default 128 a 3 s run rarely lags that far).
    catchUpSnapshotIds: seed % 3 === 2 ? 8 : null,
  };
}

/**
 * The reconfiguration sweep (issue 15): the same run as sweepArgs(seed) with four agents beyond
 * the voters to move the voter set to, and one of the reconfig modes by seed (replace, resize,
 * lose); SWIM on every agent where sweepArgs has it, with the reachable hint where it has that.
 */
export function reconfigSweepArgs(seed: number, durationMs = 3000): SimArgs {
  const a = sweepArgs(seed, durationMs);
  const modes = reconfigModes.filter((m) => m !== 'none');
  return { ...a, agents: a.voters + 4, reconfig: modes[seed % modes.length] };
}
