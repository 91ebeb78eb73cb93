import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CapabilityError, definePlugin, type KvChange, type PluginContext } from './api.ts';
import { PluginHost, type LoadedPlugin } from './host.ts';
import { settle, testEnvironment, TestWorld } from './testing.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const loaded = (definition: ReturnType<typeof definePlugin<any, any>>): LoadedPlugin => ({ definition, options: undefined, source: 'test' });

async function started(world: TestWorld, role: 'voter' | 'worker', capabilities = { kv: ['fleet/', 'alarm/x'], tasks: ['alarm/', 'cell/'] }) {
  let ctx!: PluginContext;
  const p = definePlugin({ name: 'lister', version: '1', capabilities, start: (c) => { ctx = c as PluginContext; } });
  const host = new PluginHost(testEnvironment(world, `${role}-1`, new Map(), role), [loaded(p)]);
  await host.start();
  return { ctx, host };
}

test('kv.list: the keys under a prefix with their values, sorted, within the capabilities, with a limit', async () => {
  const world = new TestWorld();
  for (const k of ['fleet/b', 'fleet/a', 'fleet/c/1', 'fleetwood', 'secret/x']) world.apply('setup', { op: 'put', key: k, value: `v:${k}` });
  const { ctx, host } = await started(world, 'voter');
  const all = await ctx.kv.list('fleet/');
  assert.deepEqual(all.value, [{ key: 'fleet/a', value: 'v:fleet/a' }, { key: 'fleet/b', value: 'v:fleet/b' }, { key: 'fleet/c/1', value: 'v:fleet/c/1' }]);
  assert.equal(all.truncated, false);
  assert.equal(all.stale, true);
  const two = await ctx.kv.list('fleet/', { limit: 2 });
  assert.deepEqual(two.value.map((e) => e.key), ['fleet/a', 'fleet/b']);
  assert.equal(two.truncated, true);
  // A prefix inside a declared one is fine; one wider than every declared prefix is refused.
  assert.deepEqual((await ctx.kv.list('fleet/c')).value.map((e) => e.key), ['fleet/c/1']);
  await assert.rejects(ctx.kv.list('fleet'), (e: Error) => e instanceof CapabilityError && /kv:fleet\b/.test(e.message) && /capabilities\.kv/.test(e.message));
  await assert.rejects(ctx.kv.list(''), CapabilityError);
  await assert.rejects(ctx.kv.list('secret/'), CapabilityError);
  await assert.rejects(ctx.kv.list('fleet/', { limit: 0 }), /limit must be a whole number from 1 to 10000, got 0/);
  await host.stop();
});

test('kv.watch: every key first, then each change and deletion, merged per read; only within the capabilities', async () => {
  const world = new TestWorld();
  world.apply('setup', { op: 'put', key: 'fleet/a', value: '1' });
  const { ctx, host } = await started(world, 'voter');
  const seen: KvChange[] = [];
  ctx.kv.watch('fleet/', (c) => { seen.push(c); }, { intervalMs: 100 });
  await settle();
  assert.deepEqual(seen, [{ key: 'fleet/a', value: '1' }]);
  world.apply('setup', { op: 'put', key: 'fleet/b', value: '2' });
  world.apply('setup', { op: 'put', key: 'fleet/a', value: '3' });
  world.apply('setup', { op: 'put', key: 'fleet/a', value: '4' }); // merged with the write before: 4 is reported
  world.apply('setup', { op: 'put', key: 'other', value: 'x' });
  await world.advance(100, 50);
  assert.deepEqual(seen.slice(1), [{ key: 'fleet/a', value: '4' }, { key: 'fleet/b', value: '2' }]);
  world.apply('setup', { op: 'delete', key: 'fleet/b' });
  await world.advance(100, 50);
  assert.deepEqual(seen.slice(3), [{ key: 'fleet/b', value: null }]);
  await world.advance(300, 50);
  assert.equal(seen.length, 4, 'no change, no call');
  assert.throws(() => ctx.kv.watch('secret/', () => {}), CapabilityError);
  await host.stop();
});

test('a throwing kv.watch callback fails the run like any callback', async () => {
  const world = new TestWorld();
  world.apply('setup', { op: 'put', key: 'fleet/a', value: '1' });
  const { ctx, host } = await started(world, 'voter');
  ctx.kv.watch('fleet/', () => { throw new Error('watcher broke'); });
  await settle();
  assert.equal(host.state('lister'), 'failed');
  assert.match(String(host.status()[0].lastError), /watcher broke/);
  await host.stop();
});

test('tasks.list: filters by prefix, status and owner, lists only tasks the capabilities cover', async () => {
  const world = new TestWorld();
  for (const id of ['alarm/2', 'alarm/1', 'cell/1', 'secret/1']) world.apply('setup', { op: 'task.create', taskId: id, spec: '' });
  world.apply('drone-3', { op: 'task.claim', taskId: 'alarm/2', worker: 'drone-3', leaseMs: 10_000 });
  const { ctx, host } = await started(world, 'voter');
  assert.deepEqual((await ctx.tasks.list()).value.map((t) => t.taskId), ['alarm/1', 'alarm/2', 'cell/1'], 'secret/1 is outside capabilities.tasks');
  assert.deepEqual((await ctx.tasks.list({ prefix: 'alarm/', status: 'open' })).value.map((t) => t.taskId), ['alarm/1']);
  assert.deepEqual((await ctx.tasks.list({ status: ['claimed', 'done'] })).value.map((t) => t.taskId), ['alarm/2']);
  assert.deepEqual((await ctx.tasks.list({ owner: 'drone-3' })).value.map((t) => [t.taskId, t.token]), [['alarm/2', 1]]);
  assert.deepEqual((await ctx.tasks.list({ owner: null })).value.map((t) => t.taskId), ['alarm/1', 'cell/1']);
  const one = await ctx.tasks.list({ limit: 1 });
  assert.deepEqual([one.value.length, one.truncated], [1, true]);
  await assert.rejects(ctx.tasks.list({ prefix: 'secret/' }), /lacks capability tasks:secret\//);
  await host.stop();

  const none = await started(world, 'voter', { kv: [], tasks: [] });
  await assert.rejects(none.ctx.tasks.list(), /declared no task id prefixes/);
  await none.host.stop();
});

test('on a worker the listings are refused with the reason and what to do instead', async () => {
  const world = new TestWorld();
  const { ctx, host } = await started(world, 'worker');
  await assert.rejects(ctx.kv.list('fleet/'), /kv\.list is a local read of the replicated state, which voters hold; this agent \(worker-1\) is a worker/);
  await assert.rejects(ctx.tasks.list({ status: 'open' }), /tasks\.list .*run the listing in the plugin on a voter/);
  assert.throws(() => ctx.kv.watch('fleet/', () => {}), /kv\.watch .*voters hold/);
  assert.equal(host.state('lister'), 'active');
  await host.stop();
});
