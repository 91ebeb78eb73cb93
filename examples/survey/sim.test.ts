import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadPluginModule, runPluginSimulation } from '../../sim/plugins/run.ts';
import { taskIdOf } from './plugin.ts';

const module = await loadPluginModule('examples/survey');

test('survey in the simulator: 20 agents, 30% of the drones lost and a partition; every cell completed exactly once, every checker passes', async () => {
  const r = await runPluginSimulation({ module, seed: 3, voters: 3, agents: 20, crashes: true, partitions: true });
  const report = r.report as Record<string, number>;
  assert.equal(r.missionComplete, true, `mission not complete: ${JSON.stringify(report)}`);
  assert.equal(report.cellsTotal, 100);
  assert.equal(report.cellsCovered, 100);
  assert.equal(report.dronesLost, Math.round(0.3 * 17), 'the crash fault lost 30% of the drones');
  assert.ok(r.sim.faults.splits >= 1, 'a partition was injected');
  // Exactly once on the task board: one ok completion per cell in the history, the task checker's
  // fencing rules hold, and the board itself shows every cell done.
  assert.equal(r.completions.tasks, 100);
  assert.equal(r.completions.moreThanOnce, 0);
  assert.ok(r.sim.tasks !== null && r.sim.tasks.ok, `task checker: ${r.sim.tasks?.violations.join('; ')}`);
  assert.deepEqual(r.sim.violations, []);
  assert.equal(r.sim.settled, true);
  assert.ok(typeof report.completionTime === 'number' && report.completionTime > report.idealTime, 'completion is measured against the ideal');
});

test('survey in the simulator is deterministic: same seed, same trace hash, history and report', async () => {
  const a = await runPluginSimulation({ module, seed: 5, voters: 3, agents: 12, crashes: true, partitions: true });
  const b = await runPluginSimulation({ module, seed: 5, voters: 3, agents: 12, crashes: true, partitions: true });
  assert.equal(a.missionComplete, true);
  assert.equal(a.sim.traceHash, b.sim.traceHash);
  assert.equal(a.sim.history, b.sim.history);
  assert.deepEqual(a.report, b.report);
  assert.deepEqual(a.published, b.published);
  // The tasks on the board are the plugin's: survey/<mission>/<cell>.
  assert.ok(a.sim.history.includes(JSON.stringify(taskIdOf('sim', 'r0c0'))));
});
