// The survey example on a real local swarm: five agent processes on loopback (libp2p, lmdb, the
// HTTP API). Three voters are ground stations (the survey plugin, no devices: they plan the
// cells' tasks); two workers are drones, each with a simulated autopilot flying in real time.
// A small area (2 × 2 cells of 20 m) and quick speeds keep the mission to a few seconds of flight.
// Every wait polls a condition; nothing sleeps for a fixed time.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from '../../agent/client.ts';
import { createSwarm, startAgent, swarmDown, waitReady, type Swarm } from '../../agent/swarm.ts';
import { cellsOf, toLatLon } from './geometry.ts';
import { taskIdOf } from './plugin.ts';

const pluginModule = new URL('./index.ts', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'covey-survey-swarm-'));
let swarm: Swarm | null = null;
after(async () => {
  if (swarm !== null) await swarmDown(swarm.dir).catch(() => {});
  if (process.env.COVEY_KEEP_TEST_DIRS === undefined) rmSync(root, { recursive: true, force: true });
});

const origin = { lat: 47.397, lon: 8.545 };
const mission = 'swarm-test';
const options = {
  mission,
  area: { origin, widthM: 40, heightM: 40 },
  cellSizeM: 20,
  trackSpacingM: 10,
  altitudeM: 5,
  speedMps: 8,
  transitSpeedMps: 12,
  leaseMs: 5000,
};

interface Task { taskId: string; status: string; owner: string | null; token: number; result: string | null }

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

test('survey on a real swarm: 3 planning voters, 2 drones with sim autopilots; every cell done once, by the drones, cleanly', { timeout: 180_000 }, async () => {
  const started = Date.now();
  const s = await createSwarm(join(root, 'survey'), {
    voters: 3,
    workers: 2,
    name: 'survey-test',
    requestTimeoutMs: 3000,
    plugins: [{ module: pluginModule, options }],
    // Drones' homes 10 m apart on the area's south edge; a brisk multicopter (the default 3 m/s² makes every 10 m leg take ~3 s).
    devices: (_i, a) => a.voter ? [] : [{ driver: 'sim-autopilot', name: 'autopilot', home: toLatLon(origin, 0, 15 + 10 * a.workerIndex!), maxSpeed: 15, maxAccel: 8, maxClimb: 5 }],
  });
  swarm = s;
  const workers = s.agents.filter((a) => !a.voter);
  const workerIds = new Set(workers.map((a) => a.peerId));
  for (const a of s.agents) startAgent(s, a.index);
  await waitReady(s, 60_000);
  const ready = Date.now();
  const clients = s.agents.map((a) => new AgentClient(a.http));
  const logs = (): string => s.agents.map((a) => `--- agent ${a.index} (${a.voter ? 'voter' : 'worker'} ${a.peerId}) ${a.log}\n${tail(a.log)}`).join('\n');

  // The drones' autopilots opened.
  for (const w of workers) {
    const d = (await clients[w.index].request('GET', '/devices')) as { devices: { name: string; driver: string; status: { state: string } }[] };
    assert.deepEqual(d.devices.map((x) => `${x.name}:${x.driver}:${x.status.state}`), ['autopilot:sim-autopilot:available']);
  }

  // Poll a voter's task board until every cell's task is done.
  const cells = cellsOf(options.area, options.cellSizeM);
  const ids = cells.map((c) => taskIdOf(mission, c)).sort();
  const surveyTasks = async (i: number): Promise<Task[]> =>
    ((await clients[i].tasks()).value as unknown as Task[]).filter((t) => t.taskId.startsWith(`survey/${mission}/`)).sort((a, b) => a.taskId.localeCompare(b.taskId));
  const deadline = Date.now() + 90_000;
  let board: Task[] = [];
  for (;;) {
    board = await surveyTasks(0).catch(() => board);
    if (board.length === ids.length && board.every((t) => t.status === 'done')) break;
    if (Date.now() > deadline) assert.fail(`not every cell done after 90 s: ${JSON.stringify(board)}\n${logs()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const done = Date.now();

  // Every cell's task: done once, with one owner (a drone), a fencing token, and the drone's report.
  assert.deepEqual(board.map((t) => t.taskId), ids);
  for (const t of board) {
    assert.equal(t.status, 'done', t.taskId);
    assert.ok(t.owner !== null && workerIds.has(t.owner), `${t.taskId} completed by a drone, got ${t.owner}`);
    assert.ok(Number.isInteger(t.token) && t.token >= 1, `${t.taskId} token ${t.token}`);
    const report = JSON.parse(t.result ?? 'null') as { drone: string; cell: string };
    assert.equal(report.drone, t.owner, `${t.taskId}: the report is the owner's`);
    assert.equal(taskIdOf(mission, report.cell), t.taskId);
  }
  assert.deepEqual(new Set(board.map((t) => t.owner)), workerIds, `both drones flew cells: ${JSON.stringify(board.map((t) => [t.taskId, t.owner]))}`);
  // The other voters hold the same board (their copies converge).
  for (const v of [1, 2]) {
    const until = Date.now() + 10_000;
    let theirs = await surveyTasks(v);
    while (JSON.stringify(theirs) !== JSON.stringify(board) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      theirs = await surveyTasks(v);
    }
    assert.deepEqual(theirs, board, `voter ${v}'s copy of the board`);
  }

  // The plugin ran everywhere without a failure.
  for (const [i, c] of clients.entries()) {
    const plugins = (await c.plugins()).plugins;
    assert.deepEqual(plugins.map((p) => [p.name, p.state, p.restarts, p.lastError]), [['survey', 'active', 0, null]], `agent ${i}: ${JSON.stringify(plugins)}\n${tail(s.agents[i].log)}`);
  }

  // A clean stop: every agent stops gracefully and says so.
  assert.equal(await swarmDown(s.dir), s.agents.length);
  swarm = null;
  for (const a of s.agents) assert.match(readFileSync(a.log, 'utf8'), /"msg":"agent stopped"/, `agent ${a.index} stopped gracefully`);
  const stopped = Date.now();
  process.stderr.write(`# survey swarm: ready ${ready - started} ms, mission ${done - ready} ms, stop ${stopped - done} ms (owners: ${board.map((t) => `${t.taskId.split('/').pop()}=agent-${s.agents.findIndex((a) => a.peerId === t.owner)}#${t.token}`).join(' ')})\n`);
});
