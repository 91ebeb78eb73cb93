// Integration (issue 15): a real local swarm replaces its lost voters by itself. Three voters and
// two workers on loopback, clients writing, reading and swapping registers at every agent the whole
// time; a voter is killed for good (kill -9) and the swarm replaces it with a worker once membership
// has held it dead for `voterReplacement.afterMs` (3 s here; 30 s by default): the worker joins
// epoch 1 with the state at the change and votes. Then a second original voter is killed for good,
// and the other worker takes its seat (epoch 2). Every acknowledged write reads back at every live
// agent, the history is linearizable (the project's checker), an agent restarted from its disk
// comes back in the newest epoch, and the voter lost first, back after all, rejoins as a worker.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AgentClient, AgentClientError } from '../client.ts';
import { createSwarm, startAgent, stopAgent, swarmDown, waitReady, type Swarm } from '../swarm.ts';
import { eventually as poll } from '../testing.ts';
import { historyFromRecords } from '../../sim/history.ts';
import { checkLinearizable } from '../../sim/check/linearizability.ts';
import { readSse } from '../live/sse-reader.ts';

const eventually = <T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => poll(what, f, timeoutMs, 100);
const cli = new URL('./covey.ts', import.meta.url).pathname;
const run = promisify(execFile);

const root = mkdtempSync(join(tmpdir(), 'covey-reconfig-swarm-'));
let swarm: Swarm | null = null;
/** Ends the clients' loops even when the test fails midway (they would keep the process alive). */
let stopClients: () => Promise<void> = async () => {};
after(async () => {
  await stopClients();
  if (swarm !== null) await swarmDown(swarm.dir).catch(() => {});
  if (process.env.COVEY_KEEP_TEST_DIRS === undefined) rmSync(root, { recursive: true, force: true });
});

interface Status { epoch: number; role: string; replicaId: number | null; voters: string[] }
const replaceAfterMs = 3000;
const keys = 8;

/** Closed-loop clients at the given agents, one process each, recording the history format's events. */
function clients(c: AgentClient[], at: readonly number[]) {
  const events: Record<string, unknown>[] = [];
  let stop = false;
  const t0 = process.hrtime.bigint();
  const now = (): number => Number(process.hrtime.bigint() - t0);
  const loop = async (p: number, agent: number): Promise<void> => {
    for (let i = 1; !stop; i++) {
      const key = `k${i % keys}`;
      const f = i % 3 === 0 ? 'read' : i % 3 === 1 ? 'write' : 'cas';
      const value = `${p}.${i}`;
      const expected = f === 'cas' ? `${p}.${i - 1}` : null;
      events.push({ process: p, type: 'invoke', f, key, ...(f === 'write' ? { value } : f === 'cas' ? { value: [expected, value] } : {}), time: now() });
      try {
        const ids = { clientId: `p${p}`, requestId: i, timeoutMs: 2000 };
        const r = (f === 'read' ? await c[agent].get(key, { timeoutMs: 2000 })
          : f === 'write' ? await c[agent].put(key, value, ids) : await c[agent].cas(key, expected, value, ids)) as Record<string, unknown>;
        if (r.ok !== true) events.push({ process: p, type: f === 'read' ? 'fail' : 'info', f, key, time: now() });
        else events.push({ process: p, type: 'ok', f, key, ...(f === 'read' ? { value: r.value ?? null } : f === 'cas' ? { value: r.swapped === true } : {}), time: now() });
      } catch (err) {
        if (!(err instanceof AgentClientError)) throw err;
        // No answer: a write may still take effect; a read changed nothing.
        events.push({ process: p, type: f === 'read' ? 'fail' : 'info', f, key, time: now() });
        if (err.status === 0) await new Promise((r) => setTimeout(r, 200)); // the agent is gone
      }
    }
  };
  const loops = at.map((agent, p) => loop(p, agent));
  return {
    events,
    acked: () => events.filter((e) => e.type === 'ok').length,
    async stop(): Promise<void> {
      stop = true;
      await Promise.all(loops);
    },
    now,
  };
}

test('lost voters are replaced by workers automatically, twice: the swarm keeps committing, loses nothing, stays linearizable', { timeout: 240_000 }, async () => {
  const s = await createSwarm(join(root, 'replace'), {
    voters: 3, workers: 2, requestTimeoutMs: 3000, configExtra: { voterReplacement: { afterMs: replaceAfterMs } },
  });
  swarm = s;
  for (const a of s.agents) startAgent(s, a.index);
  await waitReady(s, 60_000);
  const c = s.agents.map((a) => new AgentClient(a.http));
  const ids = s.agents.map((a) => a.peerId);
  const status = async (i: number): Promise<Status> => await c[i].status() as unknown as Status;
  // The live event stream of voter 0 (GET /events, the dashboard's): its moves to new epochs.
  const moves: { epoch: number; role: string }[] = [];
  const sse = new AbortController();
  const res = await fetch(`${s.agents[0].http}/events?kinds=voters`, { signal: sse.signal });
  const reading = (async () => {
    try {
      for await (const m of readSse(res.body!)) moves.push(JSON.parse(m.data) as { epoch: number; role: string });
    } catch { /* aborted at the end */ }
  })();
  const load = clients(c, [0, 1, 3, 4, 0, 3]);
  stopClients = () => load.stop();
  await eventually('the clients to commit', async () => (load.acked() >= 20 ? true : undefined));

  // Voter 2 is lost for good: a worker takes its seat.
  let killedAt = performance.now();
  await stopAgent(s, 2, { hard: true });
  const first = await eventually('a worker to vote in epoch 1', async () => {
    for (const w of [3, 4]) {
      const st = await status(w);
      if (st.epoch === 1 && st.role === 'voter') return { w, st, afterMs: performance.now() - killedAt };
    }
    return undefined;
  }, replaceAfterMs + 20_000);
  assert.equal(first.st.replicaId, 2, 'in the seat of the voter it replaced');
  assert.deepEqual(first.st.voters, [ids[0], ids[1], ids[first.w]]);
  const other = first.w === 3 ? 4 : 3;
  await eventually('every live agent in epoch 1', async () => {
    for (const i of [0, 1, other]) if ((await status(i)).epoch !== 1) return undefined;
    return true;
  });
  const acked = load.acked();
  await eventually('the clients to commit in epoch 1', async () => (load.acked() >= acked + 20 ? true : undefined));

  // Then voter 1 is lost for good: the other worker takes its seat.
  killedAt = performance.now();
  await stopAgent(s, 1, { hard: true });
  const second = await eventually('the other worker to vote in epoch 2', async () => {
    const st = await status(other);
    return st.epoch === 2 && st.role === 'voter' ? { st, afterMs: performance.now() - killedAt } : undefined;
  }, replaceAfterMs + 20_000);
  assert.deepEqual(second.st.voters, [ids[0], ids[other], ids[first.w]]);
  const acked2 = load.acked();
  await eventually('the clients to commit in epoch 2', async () => (load.acked() >= acked2 + 20 ? true : undefined));
  await load.stop();
  console.log(`# replaced after ${Math.round(first.afterMs)} ms and ${Math.round(second.afterMs)} ms (replaceAfter ${replaceAfterMs} ms); ${load.acked()} operations acknowledged`);

  // Final reads at every live agent: every key as the history says, the same everywhere.
  const events = load.events;
  const live = [0, 3, 4];
  for (let k = 0; k < keys; k++) {
    const values = new Set<unknown>();
    for (const [j, via] of live.entries()) {
      const p = 100 + k * live.length + j;
      events.push({ process: p, type: 'invoke', f: 'read', key: `k${k}`, time: load.now() });
      const r = await c[via].get(`k${k}`) as { ok: boolean; value?: unknown };
      assert.equal(r.ok, true, `final read of k${k} at agent ${via}`);
      events.push({ process: p, type: 'ok', f: 'read', key: `k${k}`, value: r.value ?? null, time: load.now() });
      values.add(r.value ?? null);
    }
    assert.equal(values.size, 1, `k${k} reads the same at every live agent`);
  }
  const lin = checkLinearizable(historyFromRecords(events.map((fields, i) => ({ fields, line: i + 1 }))));
  assert.equal(lin.linearizable, true, `linearizable: ${JSON.stringify(lin.violations).slice(0, 600)}`);
  assert.ok(lin.operations > 60, `${lin.operations} operations checked`);

  // The operator's view, and a restart from the agent's own disk: back in epoch 2, voting.
  const ls = JSON.parse((await run(process.execPath, [cli, 'voters', 'ls', '--json', '--agent', s.agents[first.w].http])).stdout) as { epoch: number; voters: { peerId: string }[] };
  assert.deepEqual([ls.epoch, ls.voters.map((v) => v.peerId)], [2, [ids[0], ids[other], ids[first.w]]]);
  // Rule 9: the old epochs' groups are retired once the voters after them hold the state.
  await eventually('epochs 0 and 1 retired at voter 0', async () => {
    const open = (await c[0].status() as { epochsOpen: number[] }).epochsOpen;
    return open.length === 1 && open[0] === 2 ? true : undefined;
  });
  // And their records are gone from its disk; the newest epoch's stay.
  const data0 = join(s.agents[0].dir, 'data');
  await eventually('epochs 0 and 1\'s records removed at voter 0', async () => (!existsSync(join(data0, 'consensus')) && !existsSync(join(data0, 'epochs', '1', 'consensus')) ? true : undefined));
  assert.ok(existsSync(join(data0, 'epochs', '2', 'consensus')));
  assert.deepEqual(JSON.parse(readFileSync(join(data0, 'epochs', 'retired.json'), 'utf8')), { retiredThrough: 1 });
  const metrics = await (await fetch(`${s.agents[first.w].http}/metrics`)).text();
  assert.match(metrics, /^covey_voters_epoch 2$/m);
  assert.match(metrics, /^covey_voting 1$/m);
  const news = (await c[0].request('GET', '/members/events') as { events: { type: string; epoch?: number; role?: string }[] }).events;
  // (The last ones: the list keeps the newest 200 events, membership's included.)
  assert.deepEqual(news.filter((e) => e.type === 'epoch').map((e) => [e.epoch, e.role]).slice(-2), [[1, 'voter'], [2, 'voter']]);
  sse.abort();
  await reading;
  assert.deepEqual(moves.map((e) => [e.epoch, e.role]), [[1, 'voter'], [2, 'voter']]);
  await stopAgent(s, first.w);
  startAgent(s, first.w);
  await waitReady(s, 60_000, [first.w]);
  const back = await status(first.w);
  assert.deepEqual([back.epoch, back.replicaId], [2, 2]);
  assert.deepEqual(await c[first.w].put('after-restart', 'x'), { ok: true });
  assert.deepEqual(await c[other].get('after-restart'), { ok: true, value: 'x' });
  // Voter 0, its old epochs retired and their records gone, comes back in epoch 2 alone.
  await stopAgent(s, 0);
  startAgent(s, 0);
  await waitReady(s, 60_000, [0]);
  const back0 = await c[0].status() as { epoch: number; replicaId: number; epochsOpen: number[] };
  assert.deepEqual([back0.epoch, back0.replicaId, back0.epochsOpen], [2, 0, [2]]);
  assert.equal(existsSync(join(data0, 'consensus')), false, 'a retired epoch is not opened again');
  assert.deepEqual(await c[0].put('after-restart-0', 'z'), { ok: true });
  assert.deepEqual(await c[first.w].get('after-restart-0'), { ok: true, value: 'z' });

  // The voter lost first comes back after all: it rejoins as a worker of the newest epoch (rule 10).
  startAgent(s, 2);
  const returned = await eventually('the old voter 2 back, as a worker of epoch 2', async () => {
    const st = await status(2);
    return st.epoch === 2 && st.role === 'worker' ? st : undefined;
  }, 60_000);
  assert.deepEqual(returned.voters, [ids[0], ids[other], ids[first.w]]);
  assert.deepEqual(await c[2].put('from-the-old-voter', 'y'), { ok: true });
  assert.deepEqual(await c[0].get('from-the-old-voter'), { ok: true, value: 'y' });
});

test('covey voters add and remove move a real swarm from 3 voters to 5 and back, through consensus', { timeout: 180_000 }, async () => {
  const s = await createSwarm(join(root, 'resize'), { voters: 3, workers: 2, requestTimeoutMs: 3000, configExtra: { voterReplacement: { enabled: false } } });
  for (const a of s.agents) startAgent(s, a.index);
  try {
    await waitReady(s, 60_000);
    const c = s.agents.map((a) => new AgentClient(a.http));
    const ids = s.agents.map((a) => a.peerId);
    const covey = async (...args: string[]) => JSON.parse((await run(process.execPath, [cli, ...args, '--json', '--agent', s.agents[0].http])).stdout) as Record<string, unknown>;
    assert.deepEqual(await c[3].put('before', '3'), { ok: true });

    // Both workers join at once: five voters, each in its seat, the state at the change in hand.
    assert.deepEqual(await covey('voters', 'add', ids[3], ids[4], '--reason', 'grow'), { ok: true, value: '1' });
    for (const w of [3, 4]) {
      await eventually(`agent ${w} to vote in epoch 1`, async () => {
        const st = await c[w].status() as unknown as Status;
        return st.epoch === 1 && st.replicaId === w ? true : undefined;
      });
    }
    assert.deepEqual((await c[4].get('before', { stale: true }) as { value: unknown }).value, '3');
    for (let i = 0; i < 5; i++) assert.deepEqual(await c[i].put(`five-${i}`, 'v'), { ok: true }, `put at agent ${i} with five voters`);

    // And back to three: the two removed keep running as workers, forwarding to the voters.
    assert.deepEqual(await covey('voters', 'remove', ids[1], ids[2]), { ok: true, value: '2' });
    await eventually('agent 1 to be a worker of epoch 2', async () => {
      const st = await c[1].status() as unknown as Status;
      return st.epoch === 2 && st.role === 'worker' ? true : undefined;
    });
    const ls = await covey('voters', 'ls') as { epoch: number; voters: { peerId: string }[] };
    assert.deepEqual([ls.epoch, ls.voters.map((v) => v.peerId)], [2, [ids[0], ids[3], ids[4]]]);
    assert.deepEqual(await c[1].put('after', 'w'), { ok: true });
    for (let i = 0; i < 5; i++) assert.deepEqual(await c[3].get(`five-${i}`), { ok: true, value: 'v' });
    assert.deepEqual(await c[4].get('after'), { ok: true, value: 'w' });
  } finally {
    await swarmDown(s.dir).catch(() => {});
  }
});
