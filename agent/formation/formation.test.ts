// Integration: agents started from identical configs — `swarm.expectVoters: 3`, the same bootstrap
// addresses without peer ids, no voters listed; only their ports and directories differ — form a
// swarm and commit. Real agent processes on loopback, as a user would run them.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { AgentClient } from '../client.ts';
import { createIdentity, saveIdentity } from '../identity.ts';
import { freePorts } from '../../transports/ports.ts';
import { saveSwarm, startAgent, stopAgent, swarmDown, waitReady, type Swarm } from '../swarm.ts';
import { eventually } from '../../transports/testing/eventually.ts';

const root = mkdtempSync(join(tmpdir(), 'covey-formation-test-'));
let swarm: Swarm | null = null;
after(async () => {
  if (swarm !== null) await swarmDown(swarm.dir).catch(() => {});
  rmSync(root, { recursive: true, force: true });
});

interface Status { [k: string]: unknown; role?: string; voters?: string[]; replicaId?: number | null }

async function readyOf(s: Swarm, i: number): Promise<{ status: number; reason: string }> {
  const r = await fetch(s.agents[i].http + '/ready', { signal: AbortSignal.timeout(2000) });
  return { status: r.status, reason: ((await r.json()) as { reason: string }).reason };
}

/** Four agents' directories: keys made by each, configs identical but for ports. */
async function makeAgents(count: number): Promise<Swarm> {
  const ports = await freePorts(count * 3);
  const bootstrap = [0, 1, 2].map((i) => `/ip4/127.0.0.1/tcp/${ports[3 * i]}`);
  const agents = [];
  for (let i = 0; i < count; i++) {
    const dir = join(root, `agent-${i}`);
    mkdirSync(dir, { recursive: true });
    const id = await createIdentity();
    saveIdentity(join(dir, 'identity.key'), id);
    const config = {
      swarm: { name: 'self-formed', expectVoters: 3 },
      listen: [`/ip4/127.0.0.1/tcp/${ports[3 * i]}`, `/ip4/127.0.0.1/tcp/${ports[3 * i + 1]}/ws`],
      bootstrap,
      mdns: false,
      http: { listen: `127.0.0.1:${ports[3 * i + 2]}` },
      consensus: { requestTimeoutMs: 3000 },
    };
    writeFileSync(join(dir, 'config.yaml'), stringify(config));
    agents.push({ index: i, peerId: id.peerId, dir, config: join(dir, 'config.yaml'), http: `http://127.0.0.1:${ports[3 * i + 2]}`, log: join(dir, 'agent.log'), voter: i < 3, pid: null });
  }
  const s: Swarm = { dir: root, name: 'self-formed', agents };
  saveSwarm(s);
  return s;
}

test('3 agents from identical configs with expectVoters 3 and no ids form a swarm and commit; a 4th joins as a worker', { timeout: 240_000 }, async () => {
  const s = await makeAgents(4);
  swarm = s;
  const c = s.agents.map((a) => new AgentClient(a.http));
  // Two of three: not ready, and saying how many were found.
  startAgent(s, 0);
  startAgent(s, 1);
  const waiting = await eventually('two agents to find each other', async () => {
    const r = await readyOf(s, 0).catch(() => null);
    return r !== null && /found 2 of 3 voters/.test(r.reason) ? r : undefined;
  }, 30_000, 100);
  assert.equal(waiting.status, 503);
  assert.equal((await c[1].status() as Status).role, 'forming');
  assert.ok(!existsSync(join(s.agents[0].dir, 'data', 'consensus')), 'no consensus state before the swarm has formed');

  const formingAt = performance.now();
  startAgent(s, 2);
  await waitReady(s, 60_000, [0, 1, 2]);
  const formedMs = performance.now() - formingAt;
  const expected = s.agents.slice(0, 3).map((a) => a.peerId).sort();
  for (const i of [0, 1, 2]) {
    const st = await c[i].status() as Status;
    assert.equal(st.role, 'voter', `agent ${i} is a voter`);
    assert.deepEqual(st.voters, expected, `agent ${i} has the same voters, in peer id order`);
    assert.equal(st.replicaId, expected.indexOf(s.agents[i].peerId));
  }
  assert.deepEqual(await c[0].put('formed', 'yes'), { ok: true });
  for (const i of [0, 1, 2]) assert.deepEqual(await c[i].get('formed'), { ok: true, value: 'yes' }, `read back at agent ${i}`);

  // A fourth agent, same config: it learns the formed set from a member and is a worker.
  startAgent(s, 3);
  await waitReady(s, 60_000, [3]);
  const worker = await c[3].status() as Status;
  assert.equal(worker.role, 'worker');
  assert.deepEqual(worker.voters, expected);
  assert.deepEqual(await c[3].put('via-worker', '4'), { ok: true });
  for (const i of [0, 1, 2, 3]) assert.deepEqual(await c[i].get('via-worker'), { ok: true, value: '4' });

  // A worker is ready only while a majority of the voters is up: kill -9 two of them.
  const [v1, v2] = [1, 2];
  const killedAt = performance.now();
  await stopAgent(s, v1, { hard: true });
  await stopAgent(s, v2, { hard: true });
  const notReady = await eventually('the worker to stop being ready', async () => {
    const r = await readyOf(s, 3);
    return r.status === 503 ? r : undefined;
  }, 15_000, 50);
  assert.match(notReady.reason, /reaches 1 of 3 voters; a command needs a majority \(2\)/);
  const notReadyMs = performance.now() - killedAt;

  // Restarted, the voters read the formed set from their data dirs (no formation again) and catch up.
  const logBytes = readFileSync(s.agents[v1].log, 'utf8').length;
  for (const v of [v1, v2]) {
    const saved = JSON.parse(readFileSync(join(s.agents[v].dir, 'data', 'formation.json'), 'utf8')) as { formed: { id: string }[] };
    assert.deepEqual(saved.formed.map((x) => x.id), expected);
    startAgent(s, v);
  }
  await waitReady(s, 60_000);
  assert.deepEqual(await c[v2].get('via-worker'), { ok: true, value: '4' });
  assert.doesNotMatch(readFileSync(s.agents[v1].log, 'utf8').slice(logBytes), /forming the swarm|proposing the voters/, 'the restart formed nothing again');
  process.stderr.write(`# formed and ready ${Math.round(formedMs)} ms after the third agent started; the worker not ready ${Math.round(notReadyMs)} ms after two voters were killed\n`);
});
