// The simulator with SWIM on its voters (membership 'swim'): a voter lost for good is declared
// dead by the simulated membership, and the survivors recover its unfinished instances through
// the agent's own wiring (agent/membership-recovery.ts), long before any recovery timeout would.
// The recovery timeout is set beyond the run, so only the membership path can finish them: the
// same run without membership ends with them still pending.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulationAsync, type SimHost, type SimulationOptions, type SimulationResult } from './simulation.ts';

/** Kills voter 0 for good at `atMs` (a drone lost), mid-workload. */
function killVoterAt(atMs: number): SimHost {
  return {
    attach(world) {
      world.deviceTimer(atMs * 1000, () => world.kill(0));
    },
    crashed() {},
    restarted() {},
    deliver() {},
    done: () => false,
    end() {},
  };
}

const base: Omit<SimulationOptions, 'host'> = {
  seed: 41, voters: 3, clients: 6, durationMs: 6000, drainMs: 4000, recoveryTimeoutMs: 60_000, keepTrace: true,
};

async function run(membership: 'none' | 'swim'): Promise<SimulationResult> {
  return runSimulationAsync({ ...base, membership, host: killVoterAt(1500) });
}

test('SWIM declares a lost voter dead and the others recover its instances through the agent\'s wiring', async () => {
  const withSwim = await run('swim');
  assert.ok(withSwim.membership !== null);
  assert.ok(withSwim.membership.events.dead >= 2, `both survivors see voter 0 dead: ${JSON.stringify(withSwim.membership)}`);
  assert.ok(withSwim.membership.recoveries > 0, `dead verdicts started recoveries: ${JSON.stringify(withSwim.membership)}`);
  const verdicts = withSwim.trace!.filter((l) => / dead [12] sees 0: recovers [1-9]/.test(l));
  assert.ok(verdicts.length > 0, 'a survivor recovered voter 0\'s instances on its dead verdict');
  assert.deepEqual(withSwim.pendingAtEnd, [null, 0, 0], 'the survivors finished every instance');
  assert.deepEqual(withSwim.violations, []);
  assert.equal(withSwim.linearizable, true);

  // Without membership the same loss leaves the dead voter's instances pending (the timeout is
  // beyond the run): what finished them above was the membership path.
  const without = await run('none');
  assert.equal(without.membership, null);
  assert.ok((without.pendingAtEnd[1] ?? 0) > 0 || (without.pendingAtEnd[2] ?? 0) > 0, `pending without membership: ${JSON.stringify(without.pendingAtEnd)}`);
});

test('with SWIM on, the same seed gives the same trace hash and history', async () => {
  const a = await run('swim');
  const b = await run('swim');
  assert.equal(a.traceHash, b.traceHash);
  assert.equal(a.history, b.history);
  assert.deepEqual(a.membership, b.membership);
  const c = await runSimulationAsync({ ...base, seed: 42, membership: 'swim', host: killVoterAt(1500) });
  assert.notEqual(c.traceHash, a.traceHash);
});

test('with the reachable hint, a suspected voter\'s instances are asked of the others before SWIM declares it dead', async () => {
  const hinted = await runSimulationAsync({ ...base, membership: 'swim', reachableHint: true, host: killVoterAt(1500) });
  assert.ok(hinted.membership !== null && hinted.membership.events.suspect >= 2, `both survivors suspect voter 0: ${JSON.stringify(hinted.membership)}`);
  // Suspicion comes seconds before the dead verdict; 150 ms after it the survivors asked each
  // other for voter 0's instances, so the verdict finds nothing left to recover.
  assert.equal(hinted.membership.recoveries, 0, `nothing was left for the dead verdict: ${JSON.stringify(hinted.membership)}`);
  assert.deepEqual(hinted.pendingAtEnd, [null, 0, 0], 'the survivors finished every instance');
  assert.deepEqual(hinted.violations, []);
  assert.equal(hinted.linearizable, true);
  const again = await runSimulationAsync({ ...base, membership: 'swim', reachableHint: true, host: killVoterAt(1500) });
  assert.equal(again.traceHash, hinted.traceHash);
});
