// The plugin listings in the simulator, as on a device: an alarm whose announcement was lost is
// found by tasks.list and claimed later; kv.watch reports the acknowledgements; a worker is told
// that listings are served by voters.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { definePlugin, type KvChange, type PluginContext } from '../../agent/plugins/api.ts';
import { runPluginSimulation } from './run.ts';
import type { PluginScenario } from './scenario.ts';

const alarms = 6;
interface Options { readonly station: boolean; readonly sweepMs: number }
/** What the station's kv.watch saw, and what the workers were told (the simulation is in-process). */
const watched: KvChange[] = [];
const workerRefusals: string[] = [];

// The station (agent 0) raises an alarm task every 2 s and announces it, but every even-numbered
// announcement is lost (never sent). Responders claim what is announced, and, when sweepMs > 0,
// list the open alarms every sweepMs and claim those too.
const responder = definePlugin({
  name: 'alarms', version: '1', capabilities: { tasks: ['alarm/'], kv: ['ack/'], topics: ['alarms'] },
  options: z.strictObject({ station: z.boolean(), sweepMs: z.number().int().min(0) }),
  start(ctx: PluginContext<Options>) {
    const topic = ctx.telemetry.topic('alarms', z.strictObject({ taskId: z.string() }));
    if (ctx.options.station) {
      ctx.kv.watch('ack/', (c) => { watched.push(c); }, { intervalMs: 500 });
      let n = 0;
      ctx.every(2000, async () => {
        if (n >= alarms) return;
        const taskId = `alarm/${++n}`;
        await ctx.tasks.create(taskId, 'smoke seen');
        if (n % 2 === 1) await topic.publish({ taskId });
      });
      return;
    }
    if (ctx.agent.role === 'worker') {
      ctx.tasks.list({ status: 'open' }).catch((err: Error) => { workerRefusals.push(err.message); });
      return;
    }
    const handle = async (taskId: string, how: string): Promise<void> => {
      const claim = await ctx.tasks.claim(taskId, 10_000);
      if (!claim.ok) return; // another responder has it
      const done = await ctx.tasks.complete(claim.value, `${ctx.agent.id} via ${how}`);
      if (done.ok) await ctx.kv.put(`ack/${taskId}`, how);
    };
    topic.subscribe((v) => handle(v.taskId, 'announcement').catch(() => {}));
    if (ctx.options.sweepMs > 0) {
      ctx.every(ctx.options.sweepMs, async () => {
        const open = await ctx.tasks.list({ prefix: 'alarm/', status: 'open' });
        for (const t of open.value) await handle(t.taskId, 'sweep').catch(() => {});
      });
    }
  },
});

const scenario = (sweepMs: number): PluginScenario => {
  let allDoneAtMs: number | null = null;
  return {
    options: (agent) => ({ station: agent.index === 0, sweepMs }),
    idealTimeMs: () => 2000 * alarms + 3000,
    // Over 2 s after the last alarm is done: the last acknowledgement has been written and watched.
    done: (view) => {
      if (allDoneAtMs === null && view.tasks().filter((t) => t.status === 'done').length === alarms) allDoneAtMs = view.nowMs;
      return allDoneAtMs !== null && view.nowMs >= allDoneAtMs + 2000;
    },
    report: (view) => ({ results: Object.fromEntries(view.tasks().map((t) => [t.taskId, t.result])) }),
  };
};

const run = (sweepMs: number) => runPluginSimulation({
  module: { plugin: responder as never, scenario: scenario(sweepMs), source: 'alarms' },
  seed: 3, voters: 3, agents: 4, crashes: false, partitions: false, limitMs: 30_000,
});

test('tasks.list in the simulator: an alarm whose announcement was lost is claimed later by a sweep; kv.watch sees the acknowledgements', async () => {
  watched.length = 0;
  workerRefusals.length = 0;
  const r = await run(1500);
  assert.equal(r.missionComplete, true, JSON.stringify(r.report));
  const results = r.report.results as Record<string, string>;
  for (let n = 1; n <= alarms; n++) {
    assert.match(results[`alarm/${n}`], n % 2 === 1 ? /via (announcement|sweep)$/ : /via sweep$/, `alarm/${n}: ${results[`alarm/${n}`]}`);
  }
  assert.ok(Object.values(results).some((x) => x.endsWith('via announcement')), 'announced alarms are handled on announcement');
  // The station's watch reported each acknowledgement once, with its value, in the order of reads.
  assert.deepEqual(watched.map((c) => c.key).sort(), Array.from({ length: alarms }, (_, i) => `ack/alarm/${i + 1}`).sort());
  for (const c of watched) assert.equal(c.value, results[c.key.slice(4)].split(' via ')[1]);
  // The worker was told the listing is a voter's.
  assert.equal(workerRefusals.length >= 1, true);
  assert.match(workerRefusals[0], /tasks\.list is a local read .* this agent \(agent-3\) is a worker/);
  assert.equal(r.pluginFailures, 0);
  assert.deepEqual(r.sim.violations, []);
});

test('without the sweep the alarms whose announcement was lost are never handled (what tasks.list fixes)', async () => {
  const r = await run(0);
  assert.equal(r.missionComplete, false);
  const results = r.report.results as Record<string, string | null>;
  assert.deepEqual(Object.entries(results).filter(([, v]) => v === null).map(([k]) => k).sort(), ['alarm/2', 'alarm/4', 'alarm/6']);
});
