// End-to-end simulator runs: determinism by seed, faults visible, histories linearizable and
// protocol invariants holding, and the checker catching a tampered history.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulation, type SimulationOptions } from './simulation.ts';
import { parseHistory } from '../history.ts';
import { checkLinearizable } from '../check/linearizability.ts';

const lossy: SimulationOptions = { seed: 11, voters: 3, durationMs: 3000, loss: 0.05, duplicate: 0.05 };
const faulty: SimulationOptions = { seed: 12, voters: 5, durationMs: 4000, crashes: true, partitions: true, loss: 0.01, duplicate: 0.01 };

test('same seed twice: identical trace hash and history', () => {
  const opts: SimulationOptions = { seed: 5, voters: 5, durationMs: 1500, loss: 0.03, duplicate: 0.03, crashes: true, partitions: true };
  const a = runSimulation(opts);
  const b = runSimulation(opts);
  assert.equal(a.traceHash, b.traceHash);
  assert.equal(a.history, b.history);
  assert.equal(a.events, b.events);
  assert.ok(a.ops > 0);
});

test('different seeds: different trace hashes', () => {
  const hashes = [1, 2, 3].map((seed) => runSimulation({ seed, voters: 3, durationMs: 500, loss: 0.02 }).traceHash);
  assert.equal(new Set(hashes).size, 3);
});

test('3 voters with loss and duplication: linearizable, invariants hold', () => {
  const r = runSimulation(lossy);
  assert.deepEqual(r.violations, []);
  assert.equal(r.linearizable, true);
  assert.ok(r.ops > 50, `ops ${r.ops}`);
  assert.ok(r.faults.dropped > 0 && r.faults.duplicated > 0, JSON.stringify(r.faults));
});

test('5 voters with crashes and partitions: linearizable, invariants hold', () => {
  const r = runSimulation(faulty);
  assert.deepEqual(r.violations, []);
  assert.equal(r.linearizable, true);
  assert.ok(r.ops > 50, `ops ${r.ops}`);
  assert.ok(r.faults.crashes > 0 && r.faults.partitions > 0 && r.faults.dropped > 0 && r.faults.duplicated > 0, JSON.stringify(r.faults));
  // Crashes were felt by clients: some operations ended with unknown outcome or were refused.
  assert.match(r.history, /"type":"(info|fail)"/);
});

test('a tampered history from a real run is caught', () => {
  const r = runSimulation({ seed: 21, voters: 3, durationMs: 1000 });
  assert.equal(r.linearizable, true);
  const lines = r.history.trim().split('\n');
  const events = lines.map((l) => JSON.parse(l) as { process: number; type: string; f: string; key: string; value?: unknown; time: number });

  // 1. A read that returns a value nobody wrote.
  const i = events.findIndex((e) => e.f === 'read' && e.type === 'ok' && e.value !== null);
  assert.ok(i >= 0);
  const bogus = lines.slice();
  bogus[i] = JSON.stringify({ ...events[i], value: 'v-never-written' });
  assert.equal(checkLinearizable(parseHistory(bogus.join('\n') + '\n')).linearizable, false);

  // 2. A stale read: absent after a write to the key had completed (nothing ever deletes).
  const firstWriteDone = new Map<string, number>();
  let j = -1;
  const invokeTime = new Map<number, number>();
  for (let k = 0; k < events.length; k++) {
    const e = events[k];
    if (e.type === 'invoke') { invokeTime.set(e.process, e.time); continue; }
    if (e.f === 'write' && e.type === 'ok' && !firstWriteDone.has(e.key)) firstWriteDone.set(e.key, e.time);
    if (e.f === 'read' && e.type === 'ok' && (firstWriteDone.get(e.key) ?? Infinity) < invokeTime.get(e.process)!) { j = k; break; }
  }
  assert.ok(j >= 0);
  const stale = lines.slice();
  stale[j] = JSON.stringify({ ...events[j], value: null });
  assert.equal(checkLinearizable(parseHistory(stale.join('\n') + '\n')).linearizable, false);
});

test('snapshots and truncation under faults, and a voter that lost its disk catching up by state transfer', () => {
  for (const seed of [31, 32]) {
    const r = runSimulation({
      seed, voters: seed === 31 ? 3 : 5, durationMs: 4000, crashes: true, partitions: true, loss: 0.02, duplicate: 0.02,
      snapshotEveryApplied: 16, wipe: true,
    });
    assert.deepEqual(r.violations, []);
    assert.equal(r.linearizable, true);
    assert.equal(r.settled, true);
    assert.ok(r.snapshots.taken > 0 && r.snapshots.truncated > 0, JSON.stringify(r.snapshots));
    assert.ok(r.snapshots.installed > 0, `the wiped voter installed a snapshot: ${JSON.stringify(r.snapshots)}`);
  }
});
