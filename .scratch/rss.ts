import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSwarm, startAgent, swarmDown, waitReady } from '../agent/swarm.ts';
const dir = mkdtempSync(join(tmpdir(), 'covey-rss-'));
const swarm = await createSwarm(join(dir, 'swarm'), { agents: 3, voters: 3, name: 'rss', logLevel: 'warn' });
const t0 = performance.now();
const pids = swarm.agents.map((ag) => startAgent(swarm, ag.index));
await waitReady(swarm, 60_000);
console.log('all ready after', (performance.now() - t0).toFixed(0), 'ms');
await new Promise((r) => setTimeout(r, 10_000));
for (const pid of pids) {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  console.log(pid, /VmRSS:\s+(\d+)/.exec(st)![1], 'kB RSS');
}
await swarmDown(swarm.dir);
