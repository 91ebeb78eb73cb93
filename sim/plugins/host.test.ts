import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { definePlugin, type PluginContext } from '../../agent/plugins/api.ts';
import { SimSensor } from '../../devices/sim/sensor.ts';
import { runPluginSimulation } from './run.ts';
import type { PluginScenario } from './scenario.ts';

// A counter plugin: every second it bumps a count in its private store, writes it to the
// replicated kv store and publishes it; it records what it hears. The scenario runs it on every
// agent with the crash fault on, so agents crash and restart under it.
const heard = new Map<string, number>();
const counter = definePlugin({
  name: 'counter', version: '1', capabilities: { kv: ['count/'], topics: ['counts'], devices: ['kind:sensor'] },
  options: z.strictObject({ every: z.number().int().positive() }),
  async start(ctx: PluginContext<{ every: number }>) {
    // Which start this is on this agent: the store keeps it, so a restart after a crash counts on.
    const boot = (((await ctx.store.get('boot')) as number | undefined) ?? 0) + 1;
    await ctx.store.put('boot', boot);
    const topic = ctx.telemetry.topic('counts', z.strictObject({ n: z.number(), t: z.number(), boot: z.number() }));
    topic.subscribe((v, from) => { heard.set(from, Math.max(heard.get(from) ?? 0, v.n)); });
    ctx.every(ctx.options.every, async () => {
      const n = (((await ctx.store.get('n')) as number | undefined) ?? 0) + 1;
      await ctx.store.put('n', n);
      const probe = ctx.devices.find('sensor');
      const t = probe === undefined ? -1 : (await ctx.devices.sensor<number>('probe').read());
      await topic.publish({ n, t, boot });
      try {
        await ctx.kv.put(`count/${ctx.agent.id}`, String(n));
      } catch {
        // no majority this time: the next tick tries again
      }
    });
  },
});

const scenario = (doneAfterMs: number): PluginScenario => ({
  options: () => ({ every: 1000 }),
  devices: (agent, _s, hw) => agent.role === 'worker' ? [new SimSensor<number>({ id: 'probe', clock: hw.clock, random: hw.random, truth: (t: number) => t / 1000 })] : [],
  idealTimeMs: () => doneAfterMs,
  done: (view) => view.nowMs >= doneAfterMs,
  report: (view) => ({ published: view.published.length, killed: view.killed.map((k) => ({ ...k })) }),
});

/**
 * One run, every claim of the test below checked; returns how many agents restarted after
 * publishing with their count carried on (the store survived a crash *with something in it*).
 */
async function runCounters(seed: number): Promise<number> {
  heard.clear();
  const r = await runPluginSimulation({ module: { plugin: counter, scenario: scenario(30_000), source: 'counter' }, seed, voters: 3, agents: 6, crashes: true, partitions: false, killShare: 0.34 });
  assert.equal(r.missionComplete, true);
  assert.ok(r.sim.faults.crashes >= 1, 'agents crashed');
  const killed = r.report.killed as { agent: number; atMs: number }[];
  assert.equal(killed.length, 1, 'one of the three workers was lost for good');
  assert.ok(killed[0].agent >= 3);
  assert.ok(!r.published.some((p) => p.agent === killed[0].agent && p.atMs > killed[0].atMs), 'nothing from a killed agent after its death');
  // Every agent counted; the private store survives a crash, so counts keep rising across restarts.
  const last = new Map<number, number>();
  for (const p of r.published) {
    const v = p.value as { n: number; t: number };
    assert.ok(v.n > (last.get(p.agent) ?? 0), `agent ${p.agent}'s count went backwards (${v.n} after ${last.get(p.agent)})`);
    last.set(p.agent, v.n);
    if (p.agent >= 3) assert.ok(v.t >= 0, 'workers read their simulated sensor');
  }
  assert.equal(last.size, 6);
  // The store survived a crash *with something in it*: some agent published in one boot, crashed,
  // and its first count after the restart carried on above the last one before (a wiped store
  // would start again at 1, and a crash before the first publish would prove nothing).
  const carriedOver = [...last.keys()].filter((agent) => {
    const mine = r.published.filter((p) => p.agent === agent).map((p) => p.value as { n: number; boot: number });
    return mine.some((v, i) => i > 0 && v.boot > mine[i - 1].boot && v.n === mine[i - 1].n + 1);
  });
  for (const [a, n] of last) if (a !== killed[0].agent) assert.ok(n >= 10, `every agent counted (${[...last.values()]})`);
  assert.ok(heard.size >= 5, 'telemetry reached other agents');
  assert.deepEqual(r.sim.violations, []);
  return carriedOver.length;
}

test('plugins in the simulator: they run on every agent, survive crashes with their store, hear each other, and a killed agent stays silent', async () => {
  // Where the crashes fall depends on every message of the run, so a seed that crashed an agent
  // after it published can stop doing so when the core's traffic changes (busy watermarks moved
  // seed 1's only crash before the first publish). Seeds are tried in order until one does;
  // every run must hold every other claim.
  const seedsMax = 8;
  let seed = 1;
  for (; seed <= seedsMax; seed++) if (await runCounters(seed) >= 1) break;
  assert.ok(seed <= seedsMax, `an agent restarted after publishing and its count carried on, in one of seeds 1..${seedsMax}`);
});

test('plugins in the simulator are deterministic', async () => {
  const run = () => runPluginSimulation({ module: { plugin: counter, scenario: scenario(10_000), source: 'counter' }, seed: 9, voters: 3, agents: 5, crashes: true, partitions: true, loss: 0.05 });
  const a = await run();
  const b = await run();
  assert.equal(a.sim.traceHash, b.sim.traceHash);
  assert.deepEqual(a.published, b.published);
});
