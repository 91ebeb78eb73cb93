// Integration: readiness follows what an agent hears, not whether connections are open. Two
// voters are frozen with SIGSTOP — their connections stay open and silent, as on a cut network
// (no RST, no FIN) — and the voter and the worker left on their own must stop saying they are
// ready, well before anything closes those connections by itself (libp2p's own connection check
// pings every 10 s and waits at least 5 s: 15 s). Thawed, the swarm commits again everywhere.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from './client.ts';
import { createSwarm, startAgent, swarmDown, waitReady, type Swarm } from './swarm.ts';
import { eventually } from '../transports/testing/eventually.ts';

const root = mkdtempSync(join(tmpdir(), 'covey-silent-test-'));
let swarm: Swarm | null = null;
const frozen = new Set<number>();
after(async () => {
  for (const pid of frozen) try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
  if (swarm !== null) await swarmDown(swarm.dir).catch(() => {});
  rmSync(root, { recursive: true, force: true });
});

async function readyOf(s: Swarm, i: number): Promise<{ status: number; reason: string }> {
  const r = await fetch(s.agents[i].http + '/ready', { signal: AbortSignal.timeout(2000) });
  return { status: r.status, reason: ((await r.json()) as { reason: string }).reason };
}

test('a voter and a worker that stop hearing the majority stop being ready, and commit again once it is back', { timeout: 180_000 }, async () => {
  const s = await createSwarm(join(root, 'swarm'), { agents: 4, voters: 3, requestTimeoutMs: 3000 });
  swarm = s;
  for (const a of s.agents) startAgent(s, a.index);
  await waitReady(s, 60_000);
  const c = s.agents.map((a) => new AgentClient(a.http));
  assert.deepEqual(await c[3].put('before', '1'), { ok: true });

  const cutAt = performance.now();
  for (const v of [1, 2]) {
    process.kill(s.agents[v].pid!, 'SIGSTOP');
    frozen.add(s.agents[v].pid!);
  }
  // Generous bounds (a busy test machine), but below the 15 s after which libp2p itself would
  // close the silent connections: what makes these pass is the link health check.
  const voterNotReady = await eventually('voter 0 to stop being ready', async () => {
    const r = await readyOf(s, 0);
    return r.status === 503 ? r : undefined;
  }, 10_000, 50);
  const voterMs = performance.now() - cutAt;
  assert.match(voterNotReady.reason, /reaches 1 of 3 voters/);
  const workerNotReady = await eventually('the worker to stop being ready', async () => {
    const r = await readyOf(s, 3);
    return r.status === 503 ? r : undefined;
  }, 10_000, 50);
  assert.match(workerNotReady.reason, /reaches 1 of 3 voters.*majority/);
  const stale = await c[0].get('before', { stale: true }) as { staleness: { majorityReachable: boolean } };
  assert.equal(stale.staleness.majorityReachable, false);

  const thawAt = performance.now();
  for (const v of [1, 2]) process.kill(s.agents[v].pid!, 'SIGCONT');
  frozen.clear();
  await waitReady(s, 60_000);
  await eventually('writes to commit again through every agent', async () => {
    for (const i of [0, 1, 2, 3]) {
      const r = await c[i].put(`after-${i}`, 'x').catch(() => null);
      if (r === null || (r as { ok: boolean }).ok !== true) return undefined;
    }
    return true;
  }, 60_000, 100);
  process.stderr.write(`# not ready ${Math.round(voterMs)} ms after the freeze; writes everywhere ${Math.round(performance.now() - thawAt)} ms after the thaw\n`);
});
