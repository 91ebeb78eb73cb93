import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSwarm, startAgent, swarmDown, waitReady } from '../agent/swarm.ts';
const dir = mkdtempSync(join(tmpdir(), 'covey-ready-'));
const swarm = await createSwarm(join(dir, 'swarm'), { agents: 3, voters: 3, name: 'ready', logLevel: 'warn' });
for (const ag of swarm.agents) startAgent(swarm, ag.index);
await waitReady(swarm, 60_000);
for (let i = 0; i < 3; i++) {
  const pid = swarm.agents[0].pid!;
  process.kill(pid, 'SIGTERM');
  while (true) { try { process.kill(pid, 0); await new Promise((r) => setTimeout(r, 20)); } catch { break; } }
  const t0 = performance.now();
  startAgent(swarm, 0);
  let health = 0;
  for (;;) {
    try {
      const h = await fetch(`${swarm.agents[0].http}/health`); if (h.ok && health === 0) health = performance.now() - t0;
      const r = await fetch(`${swarm.agents[0].http}/ready`); if (r.ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 10));
  }
  console.log(`restart ${i}: serving after ${health.toFixed(0)} ms, ready after ${(performance.now() - t0).toFixed(0)} ms`);
}
await swarmDown(swarm.dir);
