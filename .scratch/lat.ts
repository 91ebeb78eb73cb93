import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSwarm, startAgent, swarmDown, waitReady } from '../agent/swarm.ts';
import { coveyStreamClient } from '../bench/kv-clients.ts';



const dir = mkdtempSync(join(tmpdir(), 'covey-lat-'));

const swarm = await createSwarm(join(dir, 'swarm'), { agents: 3, voters: 3, name: 'lat', logLevel: 'warn' });
for (const ag of swarm.agents) startAgent(swarm, ag.index);
await waitReady(swarm, 60_000);
const kv = await coveyStreamClient(swarm.agents[0].http);
const lat: number[] = [];
for (let i = 0; i < 300; i++) { const t = performance.now(); await kv.put(`k${i}`, 'v'.repeat(100)); lat.push(performance.now() - t); }
lat.sort((a, b) => a - b);
console.log('p50', lat[150].toFixed(2), 'p10', lat[30].toFixed(2), 'p90', lat[270].toFixed(2));
await kv.close();
await swarmDown(swarm.dir);
console.log(dir);
