// Integration: a real local swarm of agent processes on loopback (libp2p over TCP, lmdb on disk,
// the HTTP API), driven the way a user would drive it. Slow by nature (process starts, kill -9,
// restarts), so each step waits on conditions with generous deadlines instead of sleeping.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AgentClient, AgentClientError } from './client.ts';
import { createSwarm, startAgent, stopAgent, swarmDown, waitReady, type Swarm } from './swarm.ts';
import { eventually as poll } from '../transports/testing/eventually.ts';

const eventually = <T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> => poll(what, f, timeoutMs, 100);

const cli = new URL('./cli/covey.ts', import.meta.url).pathname;
const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'covey-swarm-test-'));
const swarms: Swarm[] = [];
after(async () => {
  for (const s of swarms) await swarmDown(s.dir).catch(() => {});
  rmSync(root, { recursive: true, force: true });
});

async function up(name: string, agents: number, voters: number, snapshotEveryApplied?: number): Promise<{ s: Swarm; c: AgentClient[] }> {
  const s = await createSwarm(join(root, name), { agents, voters, faultInjection: true, requestTimeoutMs: 3000, snapshotEveryApplied });
  swarms.push(s);
  for (const a of s.agents) startAgent(s, a.index);
  await waitReady(s, 60_000);
  return { s, c: s.agents.map((a) => new AgentClient(a.http)) };
}

test('a 3-voter swarm commits writes at any agent, survives kill -9 of a voter, and the voter catches up', { timeout: 180_000 }, async () => {
  // Agent 3 is a worker: it forwards to voters. A snapshot every 4 applied instances, so the
  // restarted voter rebuilds from a snapshot plus the log after it, and truncation runs.
  const { s, c } = await up('kill', 4, 3, 4);
  // Each agent runs with node-flags.ts's environment: the log's writes through io_uring, unless the
  // caller chose otherwise.
  const uring = `UV_USE_IO_URING=${process.env.UV_USE_IO_URING ?? '1'}`;
  for (const a of s.agents) assert.ok(readFileSync(`/proc/${a.pid}/environ`, 'utf8').split('\0').includes(uring), `agent ${a.index} runs with ${uring}`);
  const acked = new Map<string, string>();
  for (let i = 0; i < 8; i++) {
    const key = `k${i}`;
    assert.deepEqual(await c[i % 4].put(key, `v${i}`), { ok: true }, `put at agent ${i % 4}`);
    acked.set(key, `v${i}`);
  }
  for (let i = 0; i < 8; i++) assert.deepEqual(await c[(i + 1) % 4].get(`k${i}`), { ok: true, value: `v${i}` });

  // kill -9 voter 2: the other two keep committing, through every remaining agent.
  await stopAgent(s, 2, { hard: true });
  for (let i = 8; i < 16; i++) {
    const via = [0, 1, 3][i % 3];
    assert.deepEqual(await c[via].put(`k${i}`, `v${i}`), { ok: true }, `put at agent ${via} with voter 2 down`);
    acked.set(`k${i}`, `v${i}`);
  }

  // Restart it from its data dir: it rebuilds from lmdb and catches up with what it missed.
  startAgent(s, 2);
  await waitReady(s, 60_000, [2]);
  await eventually('voter 2 to catch up', async () => {
    const r = await c[2].get('k15', { stale: true }) as { value: string | null };
    return r.value === 'v15' ? true : undefined;
  });
  // Nothing acknowledged was lost: every key reads back, linearizably, at every agent.
  for (const [key, value] of acked) assert.deepEqual(await c[2].get(key), { ok: true, value });
  for (let i = 0; i < 3; i++) {
    const st = await c[i].status() as { lastSnapshot: { applied: number[]; truncated: number[] } | null };
    assert.ok(st.lastSnapshot !== null, `voter ${i} took a snapshot`);
  }
});

test('a voter cut off from the others cannot commit alone, serves stale reads marked stale, and converges after the heal', { timeout: 180_000 }, async () => {
  const { s, c } = await up('cut', 3, 3);
  assert.deepEqual(await c[0].put('x', 'before'), { ok: true });
  await eventually('voter 2 to apply the first write', async () => ((await c[2].get('x', { stale: true })) as { value: unknown }).value === 'before' ? true : undefined);

  const ids = s.agents.map((a) => a.peerId);
  await c[2].request('POST', '/debug/partition', { peers: [ids[0], ids[1]] });
  await c[0].request('POST', '/debug/partition', { peers: [ids[2]] });
  await c[1].request('POST', '/debug/partition', { peers: [ids[2]] });

  // The isolated voter waits for its deadline and says why.
  await assert.rejects(c[2].put('x', 'lonely', { timeoutMs: 1500 }), (err: unknown) => {
    assert.ok(err instanceof AgentClientError);
    assert.equal(err.status, 503);
    assert.match(err.message, /reaches 0 of the 2 other voters and needs 1 for a majority/);
    return true;
  });
  // The majority side keeps committing.
  assert.deepEqual(await c[0].put('x', 'after'), { ok: true });
  assert.deepEqual(await c[1].get('x'), { ok: true, value: 'after' });
  // The cut-off voter answers stale reads, marked stale, with its bound.
  const stale = await c[2].get('x', { stale: true }) as { value: string; stale: boolean; staleness: { majorityReachable: boolean } };
  assert.equal(stale.stale, true);
  assert.equal(stale.value, 'before');
  assert.equal(stale.staleness.majorityReachable, false);
  const ready = await fetch(s.agents[2].http + '/ready');
  assert.equal(ready.status, 503);

  for (const cl of c) await cl.request('DELETE', '/debug/partition');
  await eventually('the cut-off voter to converge', async () => {
    const r = await c[2].get('x', { stale: true }) as { value: string };
    return r.value === 'after' || r.value === 'lonely' ? r.value : undefined;
  }, 30_000);
  // Every voter agrees on the final value. Its lonely write may commit after the heal — even after
  // the cut-off voter has caught up on the rest — so three concurrent reads may straddle it once;
  // once it is decided, nothing else changes x.
  await eventually('every voter to read the same final value', async () => {
    const finals = await Promise.all(c.map((cl) => cl.get('x')));
    return new Set(finals.map((f) => JSON.stringify(f))).size === 1 ? true : undefined;
  }, 30_000);
  const settled = await Promise.all(c.map((cl) => cl.get('x')));
  assert.equal(new Set(settled.map((f) => JSON.stringify(f))).size, 1, `settled: ${JSON.stringify(settled)}`);
});

test('the covey CLI reaches a running agent: kv, tasks, status, members; bad arguments exit 2', { timeout: 120_000 }, async () => {
  const { s } = await up('cli', 3, 3);
  const agent = ['--agent', s.agents[1].http];
  const put = await run(process.execPath, [cli, 'kv', 'put', 'greeting', 'hello', ...agent]);
  assert.deepEqual(JSON.parse(put.stdout), { ok: true });
  const get = await run(process.execPath, [cli, 'kv', 'get', 'greeting', '--agent', s.agents[2].http]);
  assert.deepEqual(JSON.parse(get.stdout), { ok: true, value: 'hello' });
  await run(process.execPath, [cli, 'tasks', 'create', 'cell-1', 'north field', ...agent]);
  const claim = JSON.parse((await run(process.execPath, [cli, 'tasks', 'claim', 'cell-1', '--worker', 'drone-7', ...agent])).stdout);
  assert.equal(claim.task.owner, 'drone-7');
  const complete = await run(process.execPath, [cli, 'tasks', 'complete', 'cell-1', 'covered', '--worker', 'drone-7', '--token', String(claim.task.token), ...agent]);
  assert.equal(JSON.parse(complete.stdout).task.status, 'done');
  const ls = await run(process.execPath, [cli, 'tasks', 'ls', ...agent]);
  assert.match(ls.stdout, /^cell-1 +done +drone-7 +1 +- +covered$/m);
  const status = JSON.parse((await run(process.execPath, [cli, 'status', ...agent])).stdout);
  assert.equal(status.peerId, s.agents[1].peerId);
  assert.equal(status.role, 'voter');
  const members = await run(process.execPath, [cli, 'members', ...agent]);
  assert.equal(members.stdout.trim().split('\n').length, 4, 'a header and the three voters');
  assert.match(members.stdout, /voter 1 +alive +\d+ +\(this agent\)/);
  // A second claim is refused: exit 1 and the reason.
  await assert.rejects(run(process.execPath, [cli, 'tasks', 'claim', 'cell-1', '--worker', 'drone-8', ...agent]), (err: { code: number; stdout: string }) => {
    assert.equal(err.code, 1);
    assert.match(err.stdout, /"ok": false/);
    return true;
  });
  await assert.rejects(run(process.execPath, [cli, 'kv', 'get', 'x', '--agent', 'http://127.0.0.1:1']), (err: { code: number; stderr: string }) => {
    assert.equal(err.code, 1);
    assert.match(err.stderr, /cannot reach the agent at http:\/\/127\.0\.0\.1:1/);
    return true;
  });
  await assert.rejects(run(process.execPath, [cli, 'agent', '--config', join(root, 'missing.yaml')]), (err: { code: number; stderr: string }) => {
    assert.equal(err.code, 2);
    assert.match(err.stderr, /no such config file; run `covey init/);
    return true;
  });
});

test('a swarm whose agents require an HTTP token (set through configExtra) is reported ready (issue 13)', { timeout: 120_000 }, async () => {
  const token = 'a-token-for-the-readiness-poll-0123';
  const s = await createSwarm(join(root, 'token'), { agents: 3, voters: 3, configExtra: { http: { token } } });
  swarms.push(s);
  for (const a of s.agents) startAgent(s, a.index);
  await waitReady(s, 60_000);
  const r = await fetch(s.agents[0].http + '/ready');
  assert.equal(r.status, 401, 'the agents do require the token');
});

test('covey init writes a config and key that an agent accepts once voters are listed', async () => {
  const dir = join(root, 'init');
  const plain = await run(process.execPath, [cli, 'init', '--dir', dir]);
  const first = JSON.parse(plain.stdout);
  assert.match(first.peerId, /^12D3KooW/);
  assert.match(plain.stderr, /warning: no swarm key and no roster, and listening on \/ip4\/0\.0\.0\.0\/tcp\/4001/, 'init says a keyless agent is open to strangers');
  await assert.rejects(run(process.execPath, [cli, 'init', '--dir', dir]), /already exists/);
  // A private swarm: the first agent makes the key, the next copies it.
  const a = JSON.parse((await run(process.execPath, [cli, 'init', '--dir', join(root, 'pa'), '--new-swarm-key'])).stdout);
  const keyed = await run(process.execPath, [cli, 'init', '--dir', join(root, 'pb'), '--swarm-key', join(root, 'pa', 'swarm.key')]);
  assert.doesNotMatch(keyed.stderr, /warning/);
  assert.equal(readFileSync(join(root, 'pa', 'swarm.key'), 'utf8'), readFileSync(join(root, 'pb', 'swarm.key'), 'utf8'));
  assert.match(readFileSync(a.config, 'utf8'), /keyFile: swarm\.key/);
  await assert.rejects(run(process.execPath, [cli, 'init', '--dir', join(root, 'pc'), '--swarm-key', a.config]), /is not a libp2p swarm key/);
  await assert.rejects(run(process.execPath, [cli, 'init', '--dir', join(root, 'named'), '--swarm', 'My Swarm']), (err: { code: number; stderr: string }) => {
    assert.equal(err.code, 2, 'a swarm name no agent would accept is refused at init, not at the first start');
    assert.match(err.stderr, /--swarm "My Swarm": expected a short lowercase name/);
    assert.ok(!existsSync(join(root, 'named', 'config.yaml')), 'and nothing is written');
    return true;
  });
  await assert.rejects(run(process.execPath, [cli, 'init', '--dir', join(root, 'init2'), '--voters', 'a,b,c']), (err: { code: number; stderr: string }) => {
    assert.equal(err.code, 2);
    assert.match(err.stderr, /voters\[0\]\.id: expected a libp2p peer id/);
    return true;
  });
});

test('npm start: brings up 3 voters and 2 simulated drones on the survey, prints the dashboard URL, shows live work, and stops it cleanly', { timeout: 120_000 }, async () => {
  const demo = new URL('./demo.ts', import.meta.url).pathname;
  const dir = join(root, 'demo');
  // 15 s: five agents and two flying drones on a loaded 2-core machine took over 5 s to the first round.
  const { stdout } = await run(process.execPath, [demo, '--for', '15s', '--dir', dir], { timeout: 100_000 });
  assert.match(stdout, /agent 2 {2}voter {2}12D3KooW\S+ {2}http:\/\/127\.0\.0\.1:\d+/);
  assert.match(stdout, /agent 4 {2}drone {2}12D3KooW\S+ {2}http:\/\/127\.0\.0\.1:\d+/);
  assert.match(stdout, /dashboard: {2}http:\/\/127\.0\.0\.1:\d+\/ui/);
  assert.match(stdout, /put counter=\d+ via agent \d, read \d+ via agent \d/);
  assert.match(stdout, /agent 0: \d+ executed, reaches 3/);
  assert.match(stdout, /survey demo-\d+: \d+ cells being flown, \d+\/\d+ done/);
  assert.match(stdout, /stopped 5 agent\(s\)/);
  const swarm = JSON.parse(readFileSync(join(dir, 'swarm.json'), 'utf8')) as Swarm;
  assert.ok(swarm.agents.every((a) => a.pid === null), 'no agent left running');
});

test('membership: 5 agents list each other alive; a killed one is listed dead by all the others, and alive again after its restart', { timeout: 180_000 }, async () => {
  const { s, c } = await up('members', 5, 3);
  type M = { peerId: string; state: string; incarnation: number | null };
  const states = async (i: number): Promise<Map<string, M>> => new Map((((await c[i].members()).members) as unknown as M[]).map((m) => [m.peerId, m]));
  const victim = s.agents[4].peerId; // a worker: membership is about every agent, not only voters
  await eventually('every agent to list all five alive', async () => {
    for (let i = 0; i < 5; i++) {
      const m = await states(i);
      if (m.size !== 5 || [...m.values()].some((x) => x.state !== 'alive')) return undefined;
    }
    return true;
  }, 60_000);
  const before = (await states(0)).get(victim)!.incarnation!;
  await stopAgent(s, 4, { hard: true });
  await eventually('the others to list the killed agent dead', async () => {
    for (let i = 0; i < 4; i++) if ((await states(i)).get(victim)?.state !== 'dead') return undefined;
    return true;
  }, 60_000);
  const events = (await c[0].request('GET', '/members/events')) as { events: { type: string; peerId: string }[] };
  assert.ok(events.events.some((e) => e.type === 'dead' && e.peerId === victim), 'the dead event reached the HTTP API');
  startAgent(s, 4);
  await waitReady(s, 60_000, [4]);
  await eventually('all to list it alive again, with a higher incarnation', async () => {
    for (let i = 0; i < 4; i++) {
      const m = (await states(i)).get(victim);
      if (m?.state !== 'alive' || m.incarnation! <= before) return undefined;
    }
    return true;
  }, 60_000);
});
