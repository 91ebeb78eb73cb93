// `covey sim --report`: the report file is self-contained, its embedded data agrees with the run's
// own summary, a report does not change the run (same trace hash), and in headless Chromium a
// survey run's report shows the mission map, the drones lost and a crash on the fault timeline.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browserSkipReason, launchChromium, screenshotDir } from '../../agent/browser-testing.ts';
import { opSeries } from './data.ts';
import { reportDataOf } from './html.ts';

const cli = new URL('../../agent/cli/covey.ts', import.meta.url).pathname;
const covey = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'covey-report-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

// One survey run with crashes (drones lost for good, agents crashing and restarting) serves the
// data test and the browser test.
const surveyArgs = ['sim', '--plugin', 'examples/survey', '--agents', '12', '--seed', '1', '--faults', 'crash', '--json'];
const surveyFile = join(dir, 'survey.html');
const survey = covey(...surveyArgs, '--report', surveyFile);
// A workload run with every fault, for the data test and the browser test.
const kvArgs = ['sim', '--agents', '6', '--seed', '3', '--duration', '3s', '--faults', 'all', '--json'];
const kvFile = join(dir, 'kv.html');
const kv = covey(...kvArgs, '--report', kvFile);

test('opSeries: completions per bucket as rates per second, latencies of the ok ones, unknown outcomes apart', () => {
  const ms = 1e6; // ns per ms
  const history = [
    { process: 0, type: 'invoke', time: 10 * ms }, { process: 0, type: 'ok', time: 30 * ms },
    { process: 1, type: 'invoke', time: 20 * ms }, { process: 1, type: 'ok', time: 80 * ms },
    { process: 0, type: 'invoke', time: 90 * ms }, { process: 0, type: 'fail', time: 150 * ms },
    { process: 1, type: 'invoke', time: 100 * ms }, { process: 1, type: 'info', time: 190 * ms },
  ].map((e) => JSON.stringify({ ...e, f: 'write', key: 'k' })).join('\n') + '\n';
  const s = opSeries(history, 200);
  assert.equal(s.bucketMs, 100);
  assert.deepEqual(s.atS, [0, 0.1]);
  assert.deepEqual(s.okPerS, [20, 0]); // two ok in 100 ms
  assert.deepEqual(s.failPerS, [0, 10]);
  assert.deepEqual(s.infoPerS, [0, 10]);
  assert.deepEqual(s.p50Ms, [60, null]); // latencies 20 and 60 ms: the upper median
  assert.deepEqual(s.p99Ms, [60, null]);
});

test('a workload report: self-contained, and its data is the run\'s (trace hash, faults per agent, operations)', () => {
  const r = kv;
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`report: ${kvFile}`));
  const summary = JSON.parse(r.stdout);
  const html = readFileSync(kvFile, 'utf8');
  // Nothing fetched from elsewhere: no external scripts, styles or links; uPlot is inline.
  const external = /<script[^>]+src=|<link[^>]+href=|<img[^>]+src=|url\(\s*['"]?https?:|import\s*\(\s*['"]https?:/.exec(html);
  assert.equal(external, null, `the report loads something from elsewhere: ${external?.[0]}`);
  assert.ok(html.includes('var uPlot='), 'uPlot is inlined');
  const data = reportDataOf(html);
  assert.equal(data.mode, 'workload');
  assert.equal(data.traceHash, summary.traceHash);
  assert.equal(data.passed, true);
  assert.ok(data.verdicts.every((v) => v.ok), JSON.stringify(data.verdicts));
  assert.deepEqual(data.summary, summary);
  const kinds = (k: string) => data.faults.log.filter((e) => e.kind === k).length;
  assert.equal(kinds('crash'), summary.injected.crashes);
  assert.equal(kinds('skew'), summary.injected.skews);
  assert.ok(kinds('cut') + kinds('stall') >= summary.injected.partitions, 'every partition and pause is on the timeline');
  for (const e of data.faults.log) if (e.kind === 'cut') assert.ok(e.endMs !== null && e.endMs > e.startMs, 'every cut healed by the end');
  // Every completed operation is in one bucket of the charts, as ok, fail or unknown outcome.
  const total = (xs: number[]) => xs.reduce((x, y) => x + y, 0) * (data.ops.bucketMs / 1000);
  assert.equal(Math.round(total(data.ops.okPerS) + total(data.ops.failPerS) + total(data.ops.infoPerS)), summary.ops);
  assert.ok(total(data.ops.okPerS) > 0);
  assert.ok(data.ops.p50Ms.some((x) => x !== null && x > 0));
  // The report changes nothing in the run: the same seed without it has the same trace hash.
  assert.equal(JSON.parse(covey(...kvArgs).stdout).traceHash, summary.traceHash);
});

test('a survey report: the map (every cell, who completed it, flight paths, drones lost) and the crashes, as the run reported them', () => {
  assert.equal(survey.status, 0, survey.stderr);
  const summary = JSON.parse(survey.stdout);
  const data = reportDataOf(readFileSync(surveyFile, 'utf8'));
  assert.equal(data.mode, 'plugin');
  assert.equal(data.traceHash, summary.traceHash);
  const p = data.plugin!;
  assert.equal(p.missionComplete, true);
  assert.equal(p.map!.cells.length, summary.cellsTotal);
  assert.equal(p.map!.cells.filter((c) => c.status === 'done').length, summary.cellsCovered);
  const perDrone = new Map<string, number>();
  for (const c of p.map!.cells) if (c.doneBy !== null) perDrone.set(c.doneBy, (perDrone.get(c.doneBy) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries([...perDrone].map(([a, n]) => [a.replace('agent-', ''), n])), Object.fromEntries(Object.entries(summary.cellsPerDrone)));
  assert.equal(p.killed.length, summary.dronesLost);
  assert.ok(summary.dronesLost > 0);
  assert.equal(p.tracks.length, summary.drones, 'a flight path per drone');
  for (const t of p.tracks) assert.ok(t.points.length > 10, `agent-${t.agent} flew`);
  assert.equal(data.faults.log.filter((e) => e.kind === 'crash').length, summary.injected.crashes);
  assert.equal(data.faults.log.filter((e) => e.kind === 'kill').length, summary.dronesLost);
  // Same seed without the report (so no flight paths sampled): same run.
  assert.equal(JSON.parse(covey(...surveyArgs).stdout).traceHash, summary.traceHash);
});

test('a plugin that fails: --plugin-logs prints each failure with its error and stack, the report lists them, --json stays one object', () => {
  const file = join(dir, 'flaky.html');
  const r = covey('sim', '--plugin', 'sim/report/fixtures/flaky-plugin.ts', '--agents', '5', '--seed', '1', '--plugin-logs', '--json', '--report', file);
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.pluginFailures, 2);
  assert.deepEqual(summary.firstPluginFailures.map((f: { agent: number }) => f.agent), [3, 4]);
  assert.match(r.stderr, /plugin logs, seed 1: \d+ lines, 2 failures/);
  assert.match(r.stderr, /agent-3 {2}error {2}flaky: plugin failed: compass not calibrated on agent-3/);
  assert.match(r.stderr, /Error: compass not calibrated on agent-4\n\s+at .*flaky-plugin\.ts/);
  assert.match(r.stderr, /agent-4 {2}info {3}flaky: calibrated; creating my task/);
  const p = reportDataOf(readFileSync(file, 'utf8')).plugin!;
  assert.deepEqual(p.failures.map((f) => f.error), ['plugin failed: compass not calibrated on agent-3', 'plugin failed: compass not calibrated on agent-4']);
  assert.match(p.failures[0].stack ?? '', /flaky-plugin\.ts/);
  assert.ok(p.logs.some((l) => l.msg === 'flaky: calibrated; creating my task'));
  assert.equal(p.map, null, 'no map without a scenario map()');
  // Without --plugin-logs the text summary still names the failures' cause.
  const text = covey('sim', '--plugin', 'sim/report/fixtures/flaky-plugin.ts', '--agents', '5', '--seed', '1');
  assert.match(text.stdout, /plugin failures 2\n {2}agent-3 at 0\.0 s: plugin failed: compass not calibrated on agent-3/);
});

test('in headless Chromium, a survey run\'s report shows the map with its drones lost and a crash on the fault timeline', { skip: browserSkipReason() }, async () => {
  assert.equal(survey.status, 0, survey.stderr);
  const summary = JSON.parse(survey.stdout);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // Offline by construction: any request other than the file itself fails the test.
    const requests: string[] = [];
    page.on('request', (req) => { if (!req.url().startsWith('file://')) requests.push(req.url()); });
    await page.goto(`file://${surveyFile}`);
    await page.waitForSelector('body[data-rendered="true"]', { timeout: 20_000 });
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, []);
    assert.equal(await page.locator('#verdict.pass').count(), 1);
    assert.equal(await page.locator('#trace-hash').textContent(), summary.traceHash);
    assert.equal(await page.locator('#mission-map rect.cell').count(), summary.cellsTotal);
    assert.equal(await page.locator('#mission-map rect.cell.status-done').count(), summary.cellsCovered);
    assert.equal(await page.locator('#mission-map polyline.track').count(), summary.drones);
    assert.equal(await page.locator('#mission-map .lost').count(), summary.dronesLost);
    const crashes = page.locator('#fault-timeline rect[data-kind="crash"]');
    assert.ok(await crashes.count() >= 1, 'a crash on the timeline');
    assert.match(await crashes.first().locator('title').textContent() ?? '', /agent-\d+ crashed at [\d.]+ s.*restarted at/);
    assert.equal(await page.locator('#fault-timeline rect[data-kind="lost"]').count(), summary.dronesLost);
    assert.equal(await page.locator('#throughput-chart canvas').count(), 1, 'uPlot drew the throughput chart');
    assert.equal(await page.locator('#latency-chart canvas').count(), 1);
    const shots = screenshotDir('sim-report');
    const files = { page: join(shots, 'survey-report.png'), map: join(shots, 'survey-map.png'), timeline: join(shots, 'survey-timeline.png') };
    await page.screenshot({ path: files.page, fullPage: true });
    await page.locator('#map').screenshot({ path: files.map });
    await page.locator('#timeline').screenshot({ path: files.timeline });
    process.stdout.write(`# report screenshots: ${Object.values(files).join(' ')}\n`);
  } finally {
    await browser.close();
  }
});

test('in headless Chromium, a workload report draws every kind of fault it injected and both charts', { skip: browserSkipReason() }, async () => {
  assert.equal(kv.status, 0, kv.stderr);
  const data = reportDataOf(readFileSync(kvFile, 'utf8'));
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`file://${kvFile}`);
    await page.waitForSelector('body[data-rendered="true"]', { timeout: 20_000 });
    assert.deepEqual(errors, []);
    const drawn = async (kind: string) => page.locator(`#fault-timeline rect[data-kind="${kind}"]`).count();
    const log = data.faults.log;
    // A crash is drawn once it has restarted (or at the end); every stall, skew and isolation as recorded.
    assert.equal(await drawn('crash'), log.filter((e) => e.kind === 'crash').length);
    assert.equal(await drawn('stall'), log.filter((e) => e.kind === 'stall').length);
    assert.equal(await drawn('skew'), log.filter((e) => e.kind === 'skew').length);
    assert.equal(await drawn('link'), log.filter((e) => e.kind === 'cut' && (e.shape === 'oneway' || e.shape === 'flap')).reduce((n, e) => n + (e.kind === 'cut' ? e.agents.length : 0), 0));
    assert.equal(await page.locator('#mission-map').count(), 0, 'no map without a plugin');
    assert.equal(await page.locator('#throughput-chart canvas').count(), 1);
    assert.equal(await page.locator('#latency-chart canvas').count(), 1);
    const file = join(screenshotDir('sim-report-kv'), 'kv-report.png');
    await page.screenshot({ path: file, fullPage: true });
    process.stdout.write(`# workload report screenshot: ${file}\n`);
  } finally {
    await browser.close();
  }
});
