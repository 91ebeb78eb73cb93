// Positions: a simulated drone's fix becomes a message on the position topic and, heard back,
// a position event; an unopened autopilot or a malformed message makes none. And the consensus
// sampler's rates from cumulative counters.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../devices/clock.ts';
import { SimAutopilot } from '../../devices/sim/autopilot.ts';
import type { Device } from '../../devices/types.ts';
import { ConsensusSampler } from './consensus-sampler.ts';
import { localPositions, positionEventOf, positionTopic } from './positions.ts';

test('a simulated drone\'s fix is published and read back as a position event, moving as it flies', async () => {
  const clock = new ManualClock();
  const ap = new SimAutopilot({ id: 'ap', clock, home: { lat: 47.4, lon: 8.5 }, battery: { remaining: 0.8 } });
  const devices = new Map<string, Device>([['autopilot', ap]]);
  assert.deepEqual(await localPositions(devices), [], 'no fix before the device is open');
  await ap.open();
  const [first] = await localPositions(devices);
  assert.equal(first.device, 'autopilot');
  assert.ok(Math.abs(first.lat - 47.4) < 1e-9 && Math.abs(first.lon - 8.5) < 1e-9);
  assert.ok(Math.abs(first.battery! - 0.8) < 0.01);
  await ap.arm();
  await ap.takeoff(10);
  clock.advance(5000);
  await ap.goto({ lat: 47.401, lon: 8.5, alt: 10 });
  clock.advance(5000);
  const [later] = await localPositions(devices);
  assert.ok(later.lat > first.lat, `the drone flew north: ${later.lat} > ${first.lat}`);
  const e = positionEventOf({ topic: positionTopic, from: 'peer-a', value: later, atMs: 7 });
  assert.deepEqual(e, { kind: 'position', agent: 'peer-a', device: 'autopilot', lat: later.lat, lon: later.lon, alt: later.alt, battery: later.battery, atMs: 7 });
  assert.equal(positionEventOf({ topic: positionTopic, from: 'p', value: { device: 'x', lat: 200, lon: 0 }, atMs: 0 }), null);
  assert.equal(positionEventOf({ topic: 'other', from: 'p', value: later, atMs: 0 }), null);
  await ap.close();
});

test('consensus sampler: commit rate, mean latency and fast-path share over each sample', async () => {
  const r = { committed: 0, fastCommits: 0, slowCommits: 0, recoveries: 0 };
  const l = { count: 0, sumS: 0 };
  const sampler = new ConsensusSampler({ replica: () => ({ ...r }), latency: async () => ({ ...l }), reachableVoters: () => 3, voters: 3 });
  const first = await sampler.sample(1000);
  assert.equal(first.commitsPerS, null);
  assert.equal(first.latencyMs, null);
  Object.assign(r, { committed: 20, fastCommits: 15, slowCommits: 5, recoveries: 1 });
  Object.assign(l, { count: 10, sumS: 0.05 });
  const second = await sampler.sample(3000);
  assert.equal(second.commitsPerS, 10);
  assert.ok(Math.abs(second.latencyMs! - 5) < 1e-9);
  assert.equal(second.fastPathShare, 0.75);
  assert.equal(second.recoveries, 1);
  const worker = new ConsensusSampler({ replica: () => null, latency: async () => ({ count: 0, sumS: 0 }), reachableVoters: () => 2, voters: 3 });
  await worker.sample(0);
  const w = await worker.sample(1000);
  assert.equal(w.commitsPerS, null);
  assert.equal(w.recoveries, null);
});
