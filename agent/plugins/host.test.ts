import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { SimActuator } from '../../devices/sim/actuator.ts';
import { SimAutopilot } from '../../devices/sim/autopilot.ts';
import type { Device } from '../../devices/types.ts';
import { CapabilityError, definePlugin, type PluginContext, type TaskClaim } from './api.ts';
import { PluginHost, type LoadedPlugin } from './host.ts';
import { loadPlugin, PluginLoadError, validateOptions } from './loader.ts';
import { settle, testEnvironment, TestWorld } from './testing.ts';

// A plugin of any option and state types: with `unknown` a typed plugin would not fit (its start
// takes a context of its own types), and the host stores every plugin as <unknown, unknown> anyway.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const loaded = (definition: ReturnType<typeof definePlugin<any, any>>, options?: unknown): LoadedPlugin => ({ definition, options, source: 'test' });

test('lifecycle: configured, active, inactive; the stop hook runs and the run\'s timers are released', async () => {
  const world = new TestWorld();
  const seen: string[] = [];
  let ticks = 0;
  const p = definePlugin({
    name: 'ticker', version: '1.0.0', capabilities: {},
    configure: () => { seen.push('configure'); return { started: 0 }; },
    start: (ctx, state) => { seen.push('start'); state.started++; ctx.every(100, () => { ticks++; }); },
    stop: (_ctx, state) => { seen.push(`stop ${state.started}`); },
  });
  const host = new PluginHost(testEnvironment(world, 'a1'), [loaded(p)]);
  assert.equal(host.state('ticker'), 'inactive');
  await host.start();
  assert.equal(host.state('ticker'), 'active');
  await world.advance(1000);
  assert.equal(ticks, 10);
  await host.stop();
  assert.equal(host.state('ticker'), 'inactive');
  assert.deepEqual(seen, ['configure', 'start', 'stop 1']);
  await world.advance(1000);
  assert.equal(ticks, 10, 'no tick after stop');
  assert.equal(world.clock.pending, 0, 'every timer released');
});

test('supervision: a throwing start is retried with exponential backoff; the other plugin keeps running', async () => {
  const world = new TestWorld();
  let attempts = 0;
  const bad = definePlugin({ name: 'bad', version: '1', capabilities: {}, start: () => { attempts++; throw new Error('sensor bus on fire'); } });
  let goodTicks = 0;
  const good = definePlugin({ name: 'good', version: '1', capabilities: {}, start: (ctx) => { ctx.every(100, () => { goodTicks++; }); } });
  const host = new PluginHost(testEnvironment(world, 'a1'), [loaded(bad), loaded(good)], { restartInitialMs: 1000, restartMaxMs: 4000 });
  await host.start();
  const s = host.status().find((x) => x.name === 'bad')!;
  assert.equal(s.state, 'failed');
  assert.equal(s.lastError, 'sensor bus on fire');
  assert.equal(s.nextRestartInMs, 1000);
  assert.equal(host.state('good'), 'active');
  // Attempts at 0, 1 s, 1+2 s, 3+4 s, 7+4 s (capped).
  await world.advance(999); assert.equal(attempts, 1);
  await world.advance(2); assert.equal(attempts, 2);
  await world.advance(2000); assert.equal(attempts, 3);
  await world.advance(4000); assert.equal(attempts, 4);
  await world.advance(4000); assert.equal(attempts, 5);
  assert.equal(host.status().find((x) => x.name === 'bad')!.restarts, 4);
  assert.ok(goodTicks >= 110, `good kept ticking (${goodTicks})`);
  assert.ok(world.logs.some((l) => l.level === 'error' && l.plugin === 'bad' && l.msg.includes('sensor bus on fire')), 'the failure is logged');
  await host.stop();
});

test('supervision: a timer callback that throws or rejects fails the run; it restarts with a fresh context', async () => {
  const world = new TestWorld();
  let starts = 0;
  const p = definePlugin({
    name: 'flaky', version: '1', capabilities: {},
    start: (ctx) => {
      starts++;
      const mine = starts;
      ctx.after(500, async () => { if (mine === 1) throw new Error('first run breaks'); });
    },
  });
  const host = new PluginHost(testEnvironment(world, 'a1'), [loaded(p)], { restartInitialMs: 200 });
  await host.start();
  await world.advance(600);
  assert.equal(host.state('flaky'), 'failed');
  await world.advance(300);
  assert.equal(host.state('flaky'), 'active');
  assert.equal(starts, 2);
  await world.advance(1000);
  assert.equal(host.state('flaky'), 'active', 'the second run does not break');
  await host.stop();
});

test('supervision: a plugin that stops answering (hung hook or hung callback) is failed and restarted', async () => {
  const world = new TestWorld();
  const starts = { start: 0, tick: 0 };
  const hungStart = definePlugin({ name: 'hung-start', version: '1', capabilities: {}, start: () => { starts.start++; return new Promise<void>(() => {}); } });
  const hungTick = definePlugin({ name: 'hung-tick', version: '1', capabilities: {}, start: (ctx) => { starts.tick++; ctx.every(100, () => new Promise<void>(() => {})); } });
  const host = new PluginHost(testEnvironment(world, 'a1'), [loaded(hungStart), loaded(hungTick)], { hookTimeoutMs: 1000, callbackTimeoutMs: 2000, restartInitialMs: 5000 });
  const starting = host.start();
  await world.advance(1100);
  await starting;
  assert.equal(host.state('hung-start'), 'failed');
  assert.match(host.status()[0].lastError!, /start did not finish within 1000 ms/);
  await world.advance(1100);
  assert.equal(host.state('hung-tick'), 'failed');
  assert.match(host.status()[1].lastError!, /every\(100\) callback did not finish within 2000 ms/);
  assert.deepEqual(starts, { start: 1, tick: 1 });
  // The restart: 5 s after each failure, each plugin is started again.
  await world.advance(5000, 100);
  assert.deepEqual(starts, { start: 2, tick: 2 }, 'both were restarted');
  assert.equal(host.status()[0].restarts, 1);
  assert.equal(host.status()[1].restarts, 1);
  assert.equal(host.state('hung-tick'), 'active', 'the restarted plugin runs until its callback hangs again');
  const stopping = host.stop();
  await world.advance(2000, 100);
  await stopping;
});

test('supervision: a run that stayed up long enough resets the backoff', async () => {
  const world = new TestWorld();
  let run = 0;
  const p = definePlugin({
    name: 'p', version: '1', capabilities: {},
    start: (ctx) => { run++; const n = run; ctx.after(n === 3 ? 100_000 : 10, () => { throw new Error(`run ${n}`); }); },
  });
  const host = new PluginHost(testEnvironment(world, 'a1'), [loaded(p)], { restartInitialMs: 1000, restartResetMs: 60_000 });
  await host.start();
  await world.advance(20); // run 1 fails: next in 1 s
  await world.advance(1000); // run 2 starts, fails: next in 2 s
  assert.equal(host.status()[0].nextRestartInMs, 2000);
  await world.advance(2100, 50); // run 3: stays up 100 s
  await world.advance(100_000, 1000);
  assert.equal(run, 3);
  assert.equal(host.state('p'), 'failed');
  assert.ok(host.status()[0].nextRestartInMs! <= 1000, 'backoff back to the initial delay');
  await host.stop();
});

test('capabilities: kv, tasks, topics, devices and membership outside the declaration fail naming the capability', async () => {
  const world = new TestWorld();
  const clock = world.clock;
  const devices = new Map<string, Device>([
    ['drone', new SimAutopilot({ id: 'drone', clock, home: { lat: 0, lon: 0 } })],
    ['gripper', new SimActuator({ id: 'gripper', clock, initial: 0 })],
  ]);
  let ctx!: PluginContext;
  const p = definePlugin({
    name: 'narrow', version: '1',
    capabilities: { kv: ['narrow/'], tasks: ['cells/'], topics: ['coverage'], devices: ['kind:autopilot'] },
    start: (c) => { ctx = c as PluginContext; },
  });
  const host = new PluginHost(testEnvironment(world, 'a1', devices), [loaded(p)]);
  await host.start();
  await ctx.kv.put('narrow/x', '1');
  assert.equal(await ctx.kv.get('narrow/x'), '1');
  await assert.rejects(ctx.kv.put('other/x', '1'), (e: Error) => e instanceof CapabilityError && /lacks capability kv:other\/x/.test(e.message) && /capabilities\.kv/.test(e.message));
  await assert.rejects(ctx.kv.getStale('secret'), CapabilityError);
  await assert.rejects(ctx.tasks.create('jobs/1', ''), /lacks capability tasks:jobs\/1/);
  assert.throws(() => ctx.telemetry.topic('battery', z.number()), /lacks capability topic:battery.*capabilities\.topics/);
  assert.equal(ctx.devices.autopilot('drone').id, 'drone');
  assert.throws(() => ctx.devices.actuator('gripper'), /lacks capability device:gripper.*"kind:actuator"/);
  assert.throws(() => ctx.devices.autopilot('camera'), /no device named "camera" on this agent \(configured: drone, gripper\)/);
  assert.deepEqual(ctx.devices.list().map((d) => d.name), ['drone']);
  assert.throws(() => ctx.membership.members(), /lacks capability membership/);
  assert.equal(host.state('narrow'), 'active', 'a refused call is the plugin\'s error to handle, not a failure of the run');
  await host.stop();
});

test('tasks: claims carry fencing tokens; a stale claim cannot complete; watch reports changes', async () => {
  const world = new TestWorld();
  const ctxs: PluginContext[] = [];
  const p = definePlugin({ name: 'w', version: '1', capabilities: { tasks: ['t/'] }, start: (c) => { ctxs.push(c as PluginContext); } });
  const hosts = ['a1', 'a2'].map((id) => new PluginHost(testEnvironment(world, id), [loaded(p)]));
  for (const h of hosts) await h.start();
  const [a, b] = ctxs;
  assert.equal((await a.tasks.create('t/1', 'cell 1')).ok, true);
  const seen: (string | undefined)[] = [];
  a.tasks.watch('t/1', (t) => { seen.push(t === null ? undefined : `${t.status}:${t.owner}:${t.token}`); }, { intervalMs: 100 });
  const c1 = await a.tasks.claim('t/1', 1000);
  assert.ok(c1.ok);
  const first: TaskClaim = c1.value;
  assert.equal(first.token, 1);
  const busy = await b.tasks.claim('t/1', 1000);
  assert.equal(busy.ok, false);
  await world.advance(1500, 100); // a's lease runs out
  const c2 = await b.tasks.claim('t/1', 1000);
  assert.ok(c2.ok);
  assert.equal(c2.value.token, 2);
  await world.advance(200, 100);
  const late = await a.tasks.complete(first, 'done by a');
  assert.equal(late.ok, false, 'the fencing token refuses the late report');
  assert.ok((await b.tasks.complete(c2.value, 'done by b')).ok);
  await world.advance(200, 100);
  assert.deepEqual(seen, ['open:null:0', 'claimed:a1:1', 'claimed:a2:2', 'done:a2:2']);
  for (const h of hosts) await h.stop();
});

test('telemetry: values are checked against the topic schema on both ends; bad messages are dropped and counted', async () => {
  const world = new TestWorld();
  const got: unknown[] = [];
  const schema = z.object({ cell: z.string(), pct: z.number().min(0).max(100) });
  let pub!: PluginContext;
  const p = definePlugin({
    name: 'tele', version: '1', capabilities: { topics: ['coverage'] },
    start: (ctx) => {
      const topic = ctx.telemetry.topic('coverage', schema);
      if (ctx.agent.id === 'rx') topic.subscribe((v, from) => { got.push([from, v]); });
      else pub = ctx as PluginContext;
    },
  });
  const rx = new PluginHost(testEnvironment(world, 'rx'), [loaded(p)]);
  const tx = new PluginHost(testEnvironment(world, 'tx'), [loaded(p)]);
  await rx.start();
  await tx.start();
  const topic = pub.telemetry.topic('coverage', schema);
  await topic.publish({ cell: 'c1', pct: 50 });
  await assert.rejects(topic.publish({ cell: 'c1', pct: 150 } as never), /does not match the topic's schema: pct/);
  world.publish('coverage', new TextEncoder().encode('{"cell":7}'), 'evil');
  world.publish('coverage', new TextEncoder().encode('not json'), 'evil');
  await settle();
  assert.deepEqual(got, [['tx', { cell: 'c1', pct: 50 }]]);
  assert.equal(rx.status()[0].telemetryDropped, 2);
  await rx.stop();
  await tx.stop();
});

test('the private store survives a restart of the plugin; ctx APIs refuse work after stop', async () => {
  const world = new TestWorld();
  const env = testEnvironment(world, 'a1');
  let runs = 0;
  let last!: PluginContext;
  const p = definePlugin({
    name: 'keeper', version: '1', capabilities: { kv: ['k/'] },
    start: async (ctx) => {
      runs++;
      last = ctx as PluginContext;
      const n = ((await ctx.store.get('boots')) as number | undefined) ?? 0;
      await ctx.store.put('boots', n + 1);
      if (runs === 1) ctx.after(10, () => { throw new Error('boom'); });
    },
  });
  const host = new PluginHost(env, [loaded(p)], { restartInitialMs: 100 });
  await host.start();
  await world.advance(200);
  assert.equal(runs, 2);
  assert.equal(await env.store('keeper').get('boots'), 2);
  await host.stop();
  await assert.rejects(last.kv.put('k/1', 'x'), /plugin "keeper" stopped/);
  assert.throws(() => last.every(10, () => {}), /stopped/);
});

test('options: validated against the plugin\'s schema, every problem named with its field', () => {
  const p = definePlugin({
    name: 'survey', version: '1', capabilities: {},
    options: z.strictObject({ cells: z.number().int().positive(), altitude: z.number().max(120).default(30) }),
    start: () => {},
  });
  assert.deepEqual(validateOptions(p, { cells: 4 }, 'plugins[0]'), { cells: 4, altitude: 30 });
  assert.throws(() => validateOptions(p, { cells: -1, altitude: 500, extra: 1 }, 'plugins[0]'), (e: Error) =>
    e instanceof PluginLoadError && /3 problems/.test(e.message) && /plugins\[0\]\.options\.cells/.test(e.message) && /plugins\[0\]\.options\.altitude/.test(e.message) && /extra/.test(e.message));
  const none = definePlugin({ name: 'none', version: '1', capabilities: {}, start: () => {} });
  assert.throws(() => validateOptions(none, { x: 1 }, 'plugins[1]'), /takes no options/);
  assert.throws(() => definePlugin({ name: 'Bad Name', version: '1', capabilities: {}, start: () => {} }), /lowercase/);
  assert.throws(() => definePlugin({ name: 'x', version: '1', capabilities: {} } as never), /start\(ctx, state\) is required/);
});

test('loading: a module path relative to the config, and clear errors for a missing module or a module without a plugin', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-plugin-'));
  const api = pathToFileURL(join(import.meta.dirname, 'api.ts')).href;
  writeFileSync(join(dir, 'hello.ts'), `import { definePlugin } from '${api}';\nexport default definePlugin({ name: 'hello', version: '0.1.0', capabilities: {}, start() {} });\n`);
  writeFileSync(join(dir, 'nothing.ts'), 'export const x = 1;\n');
  const ok = await loadPlugin({ module: './hello.ts' }, dir, 'plugins[0]');
  assert.equal(ok.definition.name, 'hello');
  await assert.rejects(loadPlugin({ module: './missing.ts' }, dir, 'plugins[1]'), /plugins\[1\]: cannot load plugin module "\.\/missing\.ts".*check the path/);
  await assert.rejects(loadPlugin({ module: './nothing.ts' }, dir, 'plugins[2]'), /does not export a plugin/);
  await assert.rejects(loadPlugin({ module: 'no-such-covey-plugin' }, dir, 'plugins[3]'), /install the package/);
});

test('loading by package name: an installed plain-JavaScript package loads; one that ships TypeScript is refused with the fix', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-plugin-pkg-'));
  const api = pathToFileURL(join(import.meta.dirname, 'api.ts')).href;
  const pkg = (name: string, main: string, text: string) => {
    mkdirSync(join(dir, 'node_modules', name), { recursive: true });
    writeFileSync(join(dir, 'node_modules', name, 'package.json'), JSON.stringify({ name, version: '1.0.0', type: 'module', exports: { '.': `./${main}` } }));
    writeFileSync(join(dir, 'node_modules', name, main), text);
  };
  pkg('covey-plugin-js', 'index.js', `import { definePlugin } from '${api}';\nexport default definePlugin({ name: 'js', version: '1.0.0', capabilities: {}, start() {} });\n`);
  pkg('covey-plugin-ts', 'index.ts', `import { definePlugin } from '${api}';\nexport default definePlugin({ name: 'ts', version: '1.0.0' as string, capabilities: {}, start() {} });\n`);
  try {
    const js = await loadPlugin({ module: 'covey-plugin-js' }, dir, 'plugins[0]');
    assert.deepEqual([js.definition.name, js.source], ['js', 'covey-plugin-js']);
    await assert.rejects(loadPlugin({ module: 'covey-plugin-ts' }, dir, 'plugins[1]'),
      (e: Error) => e instanceof PluginLoadError && /plugins\[1\]: cannot load plugin module "covey-plugin-ts"/.test(e.message) && /must ship JavaScript: compile it \(tsc\)/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('spawn: a long task runs without a hang limit; its failure fails the run; stopping ends it quietly', async () => {
  const world = new TestWorld();
  let laps = 0;
  let runs = 0;
  const p = definePlugin({
    name: 'looper', version: '1', capabilities: {},
    start: (ctx) => {
      runs++;
      const mine = runs;
      ctx.spawn('mission loop', async () => {
        for (;;) {
          await ctx.sleep(1000);
          laps++;
          if (mine === 1 && laps === 45) throw new Error('autopilot lost');
        }
      });
    },
  });
  const host = new PluginHost(testEnvironment(world, 'a1'), [loaded(p)], { callbackTimeoutMs: 5000, restartInitialMs: 1000 });
  await host.start();
  await world.advance(44_500, 500);
  assert.equal(host.state('looper'), 'active', 'a loop running 44 s is not hung');
  await world.advance(1000, 500);
  assert.equal(host.state('looper'), 'failed');
  assert.equal(host.status()[0].lastError, 'mission loop: autopilot lost');
  await world.advance(1500, 500);
  assert.equal(host.state('looper'), 'active');
  await host.stop();
  assert.equal(host.state('looper'), 'inactive', 'the loop ends with the run, not as a failure');
  assert.equal(world.clock.pending, 0);
});
