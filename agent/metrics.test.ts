import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { Agent } from './agent.ts';
import { parseConfig } from './config.ts';
import { createIdentity, saveIdentity } from './identity.ts';
import { countTasks, createMetrics } from './metrics.ts';
import { TelemetryStats } from './telemetry-stats.ts';
import { silentLogger } from './testing.ts';
import type { TaskView } from '../consensus/index.ts';
import { freePorts } from '../transports/ports.ts';

/** The value of one sample in Prometheus text, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const task = (taskId: string, status: TaskView['status'], leaseExpiresMs = 0): TaskView => ({ taskId, spec: '', status, owner: status === 'open' ? null : 'w', token: 1, leaseExpiresMs, result: null });

test('metric names: process and Node figures once prefixed; plugins, devices, tasks and telemetry from their sources', async () => {
  let now = 0;
  const telemetry = new TelemetryStats(() => now);
  const m = createMetrics({
    replica: () => null,
    plugins: () => [
      { name: 'survey', version: '1', source: 's', state: 'failed', restarts: 2, lastError: 'x', lastErrorAt: null, nextRestartInMs: 10, telemetryDropped: 3 },
      { name: 'beacon', version: '1', source: 'b', state: 'active', restarts: 0, lastError: null, lastErrorAt: null, nextRestartInMs: null, telemetryDropped: 0 },
    ],
    devices: () => [
      { name: 'led', kind: 'actuator', driver: 'gpio-out', status: { state: 'unavailable', reason: 'no /dev/gpiochip0' } },
      { name: 'autopilot', kind: 'autopilot', driver: 'sim-autopilot', status: { state: 'available' } },
    ],
    tasks: () => ({ tasks: [task('a', 'open'), task('b', 'claimed', 5000), task('c', 'claimed', 500), task('d', 'done'), task('e', 'open')], nowMs: 1000 }),
    telemetry,
  });
  for (let i = 0; i < 5; i++) telemetry.published('position');
  telemetry.received('position');
  telemetry.dropped('position');
  const text = await m.registry.metrics();
  assert.ok(sample(text, 'covey_process_cpu_seconds_total') !== undefined, 'process CPU under its one-prefix name');
  assert.ok(sample(text, 'covey_nodejs_heap_size_used_bytes') !== undefined);
  assert.doesNotMatch(text, /covey_process_process_|covey_process_nodejs_/, 'no doubled prefix');
  assert.equal(sample(text, 'covey_plugin_state{plugin="survey",state="failed"}'), 1);
  assert.equal(sample(text, 'covey_plugin_state{plugin="survey",state="active"}'), 0);
  assert.equal(sample(text, 'covey_plugin_state{plugin="beacon",state="active"}'), 1);
  assert.equal(sample(text, 'covey_plugin_restarts_total{plugin="survey"}'), 2);
  assert.equal(sample(text, 'covey_plugin_telemetry_dropped_total{plugin="survey"}'), 3);
  assert.equal(sample(text, 'covey_device_available{device="led",kind="actuator",driver="gpio-out"}'), 0);
  assert.equal(sample(text, 'covey_device_available{device="autopilot",kind="autopilot",driver="sim-autopilot"}'), 1);
  for (const [state, n] of [['open', 2], ['claimed', 1], ['expired', 1], ['done', 1]] as const) assert.equal(sample(text, `covey_tasks{state="${state}"}`), n, state);
  assert.equal(sample(text, 'covey_telemetry_published_total{topic="position"}'), 5);
  assert.equal(sample(text, 'covey_telemetry_received_total{topic="position"}'), 1);
  assert.equal(sample(text, 'covey_telemetry_dropped_total{topic="position"}'), 1);
  assert.equal(sample(text, 'covey_telemetry_rate_per_second{topic="position"}'), 0.6);
  // On a worker (no board) the task gauge has no samples rather than zeros that would lie.
  const worker = createMetrics({ replica: () => null, tasks: () => null });
  assert.doesNotMatch(await worker.registry.metrics(), /^covey_tasks\{/m);
  now = 0;
});

test('storage figures: group commits and the durable writes they shared', async () => {
  const replica = { committed: 9, applied: 9, pending: 0, queued: 0, fsyncs: 12, durableWrites: 7 as number | null, recoveries: 0 };
  const m = createMetrics({ replica: () => replica, tasks: () => null });
  let text = await m.registry.metrics();
  assert.equal(sample(text, 'covey_storage_syncs'), 12);
  assert.equal(sample(text, 'covey_storage_durable_writes'), 7);
  replica.durableWrites = 9;
  text = await m.registry.metrics();
  assert.equal(sample(text, 'covey_storage_durable_writes'), 9, 'read at each scrape');
});

test('telemetry rate: messages of the last 10 s per second; old seconds fall out of the window', () => {
  let now = 100_000;
  const s = new TelemetryStats(() => now);
  for (let i = 0; i < 20; i++) { s.published('t'); now += 250; } // 20 messages over 5 s: 4/s
  assert.equal(s.topics()[0].ratePerSecond, 2); // 20 in a 10 s window
  now += 6000;
  assert.ok(s.topics()[0].ratePerSecond < 2, 'the oldest seconds left the window');
  now += 20_000;
  assert.equal(s.topics()[0].ratePerSecond, 0);
  assert.equal(s.topics()[0].published, 20, 'the totals stay');
  assert.deepEqual(countTasks([task('x', 'claimed', 1000)], 1000), { open: 0, claimed: 0, expired: 1, done: 0 }, 'a lease ending now is expired (the board lets anyone claim it)');
});

// ---- a real swarm: /metrics of running agents ------------------------------------------------

const apiUrl = pathToFileURL(join(import.meta.dirname, 'plugins', 'api.ts')).href;
const zodUrl = import.meta.resolve('zod');
const meterSource = `
import { definePlugin } from '${apiUrl}';
import { z } from '${zodUrl}';
export default definePlugin({
  name: 'meter', version: '1.0.0',
  capabilities: { kv: ['meter/'], tasks: ['job/'], topics: ['temp'] },
  start(ctx) {
    const temp = ctx.telemetry.topic('temp', z.object({ c: z.number() }));
    temp.subscribe(() => {});
    ctx.every(100, () => temp.publish({ c: 20 + ctx.random() }));
    if (ctx.agent.role !== 'voter') return;
    ctx.after(0, async () => {
      await ctx.tasks.create('job/' + ctx.agent.id.slice(-6), '');
      await ctx.kv.put('meter/' + ctx.agent.id.slice(-6), 'up');
    });
    ctx.every(300, async () => {
      const keys = await ctx.kv.list('meter/');
      const open = await ctx.tasks.list({ status: 'open' });
      await ctx.kv.put('meter/seen/' + ctx.agent.id.slice(-6), keys.value.filter((e) => !e.key.startsWith('meter/seen/')).length + ' keys, ' + open.value.length + ' open');
    });
  },
});
`;
const brokenSource = `
import { definePlugin } from '${apiUrl}';
export default definePlugin({ name: 'broken', version: '0.1.0', capabilities: {}, start() { throw new Error('no'); } });
`;

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a real 3-voter swarm: /metrics shows plugin states and restarts, devices, the task board and telemetry; plugins list keys and tasks', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-metrics-'));
  writeFileSync(join(dir, 'meter.ts'), meterSource);
  writeFileSync(join(dir, 'broken.ts'), brokenSource);
  const ids = await Promise.all([0, 1, 2].map(() => createIdentity()));
  const ports = await freePorts(3);
  const config = (i: number) => {
    const adir = join(dir, `agent-${i}`);
    if (!existsSync(join(adir, 'identity.key'))) saveIdentity(join(adir, 'identity.key'), ids[i]);
    return parseConfig(stringify({
      swarm: { name: 'metrics-test' },
      listen: [`/ip4/127.0.0.1/tcp/${ports[i]}`],
      voters: ids.map((id, v) => ({ id: id.peerId, addrs: [`/ip4/127.0.0.1/tcp/${ports[v]}`] })),
      mdns: false,
      http: { listen: '127.0.0.1:0' },
      consensus: { requestTimeoutMs: 3000 },
      plugins: [{ module: '../meter.ts' }, ...(i === 0 ? [{ module: '../broken.ts' }] : [])],
      devices: i === 0 ? [{ driver: 'sim-sensor', name: 'thermo', mean: 20 }] : [],
    }), `agent-${i}/config.yaml`, adir);
  };
  const agents = await Promise.all([0, 1, 2].map((i) => Agent.start(config(i), { logger: silentLogger, supervision: { restartInitialMs: 50, restartMaxMs: 100 } })));
  try {
    const scrape = async () => (await fetch(`${agents[0].httpUrl}/metrics`)).text();
    const text = await until('telemetry received and the broken plugin restarted twice', async () => {
      const t = await scrape();
      return (sample(t, 'covey_telemetry_received_total{topic="temp"}') ?? 0) >= 5 && (sample(t, 'covey_plugin_restarts_total{plugin="broken"}') ?? 0) >= 2 ? t : undefined;
    });
    assert.equal(sample(text, 'covey_plugin_state{plugin="meter",state="active"}'), 1);
    assert.ok((sample(text, 'covey_plugin_state{plugin="broken",state="failed"}') ?? 0) + (sample(text, 'covey_plugin_state{plugin="broken",state="configured"}') ?? 0) === 1, 'broken is failed (or being restarted)');
    assert.equal(sample(text, 'covey_device_available{device="thermo",kind="sensor",driver="sim-sensor"}'), 1);
    assert.ok((sample(text, 'covey_telemetry_published_total{topic="temp"}') ?? 0) >= 5);
    assert.ok((sample(text, 'covey_telemetry_rate_per_second{topic="temp"}') ?? 0) > 0);
    assert.ok(sample(text, 'covey_process_resident_memory_bytes') !== undefined);
    assert.doesNotMatch(text, /covey_process_process_/);
    // Each voter's plugin created an open job and read the keys and open tasks back by listing.
    const seen = await until('every voter listed 3 keys and 3 open jobs', async () => {
      const r = await agents[1].submit({ op: 'get', key: `meter/seen/${agents[2].identity.peerId.slice(-6)}` }, {});
      return r.ok && r.value === '3 keys, 3 open' ? r.value : undefined;
    });
    assert.equal(seen, '3 keys, 3 open');
    assert.equal(sample(await scrape(), 'covey_tasks{state="open"}'), 3);
    // The task board gauge follows a claim, then its expiry (leases on the wall clock).
    await agents[0].submit({ op: 'task.claim', taskId: `job/${agents[0].identity.peerId.slice(-6)}`, worker: 'w', leaseMs: 300 }, {});
    const claimed = await until('a claim seen', async () => { const t = await scrape(); return sample(t, 'covey_tasks{state="claimed"}') === 1 ? t : undefined; });
    assert.equal(sample(claimed, 'covey_tasks{state="open"}'), 2);
    await until('the lease expired', async () => sample(await scrape(), 'covey_tasks{state="expired"}') === 1 ? true : undefined);
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
});
