import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SimBattery } from '../../devices/sim/battery.ts';
import type { Device } from '../../devices/types.ts';
import { PluginHost } from './host.ts';
import { loadPlugin } from './loader.ts';
import { testEnvironment, TestWorld } from './testing.ts';

const fixture = join(import.meta.dirname, 'fixtures', 'heartbeat.ts');

test('docs/plugins.md quotes the heartbeat example verbatim', () => {
  const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'plugins.md'), 'utf8');
  const m = /<!-- heartbeat: agent\/plugins\/fixtures\/heartbeat\.ts -->\n```ts\n([\s\S]*?)```/.exec(doc);
  assert.ok(m !== null, 'docs/plugins.md has the marked heartbeat block');
  assert.equal(m[1], readFileSync(fixture, 'utf8'));
});

test('the heartbeat example works: beats on its topic, keeps a kv key, hears others, survives a lost majority, counts boots', async () => {
  const world = new TestWorld();
  const battery = new SimBattery({ id: 'main-cell', clock: world.clock, remaining: 0.8 });
  await battery.open();
  const devices = new Map<string, Device>([['main-cell', battery]]);
  // Loaded the way the agent loads it: a module path relative to a config directory, options checked.
  const loaded = await loadPlugin({ module: './fixtures/heartbeat.ts', options: { everyMs: 1000 } }, import.meta.dirname, 'plugins[0]');
  assert.deepEqual(loaded.options, { everyMs: 1000 });
  await assert.rejects(loadPlugin({ module: './fixtures/heartbeat.ts', options: { everyMs: 10 } }, import.meta.dirname, 'plugins[0]'), /plugins\[0\]\.options\.everyMs/);

  const env1 = testEnvironment(world, 'a1', devices);
  const h1 = new PluginHost(env1, [loaded]);
  const h2 = new PluginHost(testEnvironment(world, 'a2'), [loaded]);
  await h1.start();
  await h2.start();
  assert.equal(h1.state('heartbeat'), 'active');
  await world.advance(1000);
  const heard = world.logs.filter((l) => l.msg === 'heard a1');
  assert.equal(heard.length, 1, 'a2 heard a1 once');
  assert.deepEqual(heard[0].fields, { from: 'a1', beat: 1, battery: 0.8 });
  assert.deepEqual(world.logs.find((l) => l.msg === 'heard a2')?.fields, { from: 'a2', beat: 1, battery: null });
  assert.deepEqual(JSON.parse(world.machine.get('heartbeat/a1')!), { beat: 1, boots: 1, at: 1_700_000_001_000 });

  // No majority: the beat is not recorded, a warning says so, and the plugin keeps running.
  world.unavailable = true;
  await world.advance(1000);
  assert.ok(world.logs.some((l) => l.level === 'warn' && l.msg.startsWith('beat 2 not recorded')));
  assert.equal(h1.state('heartbeat'), 'active');
  world.unavailable = false;
  await world.advance(1000);
  assert.equal(JSON.parse(world.machine.get('heartbeat/a1')!).beat, 3);

  world.memberChange({ type: 'dead', member: { id: 'a3', state: 'dead', role: 'worker', self: false } });
  assert.ok(world.logs.some((l) => l.msg === 'member dead' && (l.fields as { member?: string }).member === 'a3'));

  // Stop keeps the last beat in the private store; the next start counts a second boot.
  await h1.stop();
  assert.equal(await env1.store('heartbeat').get('lastBeat'), 3);
  const again = new PluginHost(env1, [loaded]);
  await again.start();
  await world.advance(1000);
  assert.equal(JSON.parse(world.machine.get('heartbeat/a1')!).boots, 2);
  assert.equal(world.logs.filter((l) => l.level === 'error').length, 0, 'no failure');
  await again.stop();
  await h2.stop();
  assert.equal(world.clock.pending, 0, 'every timer released');
  await battery.close();
});
