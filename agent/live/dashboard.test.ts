// The dashboard in headless Chromium over a real local swarm: three voters (survey planners) and
// two simulated drones flying the survey example. It must list every member, show a task claimed
// by a named agent, a telemetry value changing and a drone marker moving — and log no script
// error. Screenshots go to a temporary directory whose path is printed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browserSkipReason, launchChromium, screenshotDir } from '../browser-testing.ts';
import { AgentClient } from '../client.ts';
import { createSwarm, startAgent, swarmDown, waitReady, type Swarm } from '../swarm.ts';

// The page functions below run in the browser; the project's types have no DOM, so name the little they use.
interface PageElement { getAttribute(name: string): string | null; readonly textContent: string | null; readonly children: ArrayLike<PageElement> }
declare const document: { querySelectorAll(selector: string): Iterable<PageElement> & ArrayLike<PageElement>; querySelector(selector: string): PageElement | null };

const surveyModule = new URL('../../examples/survey/index.ts', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'covey-dashboard-'));
let swarm: Swarm | null = null;
after(async () => {
  if (swarm !== null) await swarmDown(swarm.dir).catch(() => {});
  rmSync(root, { recursive: true, force: true });
});

const origin = { lat: 47.397, lon: 8.545 };
const rad = Math.PI / 180;
const at = (northM: number, eastM: number) => ({ lat: origin.lat + northM / 6_371_000 / rad, lon: origin.lon + eastM / (6_371_000 * Math.cos(origin.lat * rad)) / rad });

test('dashboard: every member, a task claimed by a named drone, telemetry changing, a drone marker moving', { skip: browserSkipReason(), timeout: 120_000 }, async () => {
  const s = await createSwarm(join(root, 'swarm'), {
    voters: 3,
    workers: 2,
    name: 'dashboard-test',
    requestTimeoutMs: 3000,
    // Big enough that the drones are still flying while the page is looked at (8 cells of 20 m).
    plugins: [{ module: surveyModule, options: { mission: 'dash', area: { origin, widthM: 80, heightM: 40 }, cellSizeM: 20, trackSpacingM: 10, altitudeM: 5, speedMps: 6, transitSpeedMps: 10, leaseMs: 5000 } }],
    devices: (_i, a) => a.voter ? [] : [{ driver: 'sim-autopilot', name: 'autopilot', home: at(-5, 10 + 20 * a.workerIndex!), maxSpeed: 12, maxAccel: 6, maxClimb: 5 }],
  });
  swarm = s;
  for (const a of s.agents) startAgent(s, a.index);
  await waitReady(s, 60_000);
  const t0 = Date.now();
  const mark = (what: string): void => { process.stderr.write(`# dashboard test: ${what} at +${Date.now() - t0} ms\n`); };
  mark('swarm ready');
  const drones = new Set(s.agents.filter((a) => !a.voter).map((a) => a.peerId));

  const shots = screenshotDir('dashboard');
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1300 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    // Network errors are not script errors: GET /kv?prefix= may be missing (the panel says so).
    page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
    await page.goto(`${s.agents[0].http}/ui`);

    // Every member, by peer id.
    await page.waitForFunction((n) => document.querySelectorAll('#members tr[data-peer]').length >= n, s.agents.length, { timeout: 20_000 });
    const listed = await page.$$eval('#members tr[data-peer]', (rows) => rows.map((r) => r.getAttribute('data-peer')));
    assert.deepEqual(new Set(listed), new Set(s.agents.map((a) => a.peerId)));

    // A survey task claimed by one of the drones, named in the holder column.
    const claimed = await page.waitForFunction((ids) => {
      for (const r of document.querySelectorAll('#tasks tr[data-task]')) {
        const owner = r.getAttribute('data-owner') ?? '';
        if (r.children[1].textContent === 'claimed' && ids.includes(owner)) return { task: r.getAttribute('data-task'), owner, holder: r.children[2].textContent };
      }
      return null;
    }, [...drones], { timeout: 30_000 });
    const c = await claimed.jsonValue() as { task: string; owner: string; holder: string };
    mark('task claimed');
    assert.match(c.task, /^survey\/dash\//);
    assert.equal(c.holder, `…${c.owner.slice(-8)}`);
    await page.screenshot({ path: join(shots, '1-task-claimed.png'), fullPage: true });

    // A key written through another agent shows up in the key browser, live.
    await new AgentClient(s.agents[1].http).put('dash/greeting', 'hello from agent 1');
    await page.waitForSelector('#keys tr[data-key="dash/greeting"]', { timeout: 20_000 });
    assert.equal(await page.$eval('#keys tr[data-key="dash/greeting"] td.value', (e) => e.textContent), 'hello from agent 1');

    // A telemetry value that changes: the drones' coverage reports.
    const lastOf = (): Promise<string> => page.$eval('[data-topic="survey/coverage"] [data-last]', (e) => e.textContent ?? '');
    await page.waitForSelector('[data-topic="survey/coverage"] [data-last]', { timeout: 20_000 });
    const first = await lastOf();
    await page.waitForFunction((before) => {
      const e = document.querySelector('[data-topic="survey/coverage"] [data-last]');
      return e !== null && e.textContent !== before && e.textContent !== '—';
    }, first, { timeout: 20_000 });
    assert.notEqual(await lastOf(), first);
    mark('telemetry changed');

    // A drone marker that moves on the map.
    await page.waitForSelector('#map g[data-marker]', { timeout: 20_000 });
    const marker = async (): Promise<Record<string, [number, number]>> => Object.fromEntries(await page.$$eval('#map g[data-marker]', (gs) =>
      gs.map((g) => [g.getAttribute('data-marker')!, [Number(g.getAttribute('data-lat')), Number(g.getAttribute('data-lon'))]])));
    const before = await marker();
    assert.ok(Object.keys(before).some((k) => drones.has(k.split(' ')[0])), `markers are the drones': ${Object.keys(before)}`);
    await page.waitForFunction((b) => [...document.querySelectorAll('#map g[data-marker]')].some((g) => {
      const was = b[g.getAttribute('data-marker')!];
      return was !== undefined && (Number(g.getAttribute('data-lat')) !== was[0] || Number(g.getAttribute('data-lon')) !== was[1]);
    }), before, { timeout: 20_000 });
    mark('marker moved');
    const moved = await marker();
    const movedM = Math.max(...Object.keys(before).filter((k) => k in moved).map((k) => Math.hypot((moved[k][0] - before[k][0]) * rad * 6_371_000, (moved[k][1] - before[k][1]) * rad * 6_371_000 * Math.cos(origin.lat * rad))));
    assert.ok(movedM > 0.5, `a drone moved ${movedM.toFixed(1)} m`);
    await page.screenshot({ path: join(shots, '2-drones-moved.png'), fullPage: true });

    assert.ok(await page.$('[data-topic="survey/coverage"] .uplot') !== null, 'uPlot drew the topic\'s chart');
    assert.deepEqual(errors, [], 'no script errors in the page');
    process.stderr.write(`# dashboard screenshots: ${join(shots, '1-task-claimed.png')} ${join(shots, '2-drones-moved.png')} (a drone moved ${movedM.toFixed(1)} m)\n`);
  } finally {
    await browser.close();
  }
});
