// The live layer inside one real agent (libp2p, lmdb, the HTTP API, a plugin, a simulated
// drone): voter 0 of three that never start, so nothing commits (key and task events from a
// live swarm are in dashboard.test.ts). The event stream carries its plugin's telemetry, its
// drone's position and consensus health; GET /telemetry lists the plugin's topic with the
// schema the plugin declared.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { Agent } from '../agent.ts';
import { AgentClient } from '../client.ts';
import { parseConfig } from '../config.ts';
import { createIdentity, saveIdentity } from '../identity.ts';
import { freePorts } from '../../transports/ports.ts';
import { silentLogger } from '../testing.ts';
import { readSse } from './sse-reader.ts';

const apiUrl = pathToFileURL(join(import.meta.dirname, '..', 'plugins', 'api.ts')).href;
// The plugin sits in a temporary directory, out of reach of node_modules: it imports zod by path.
const zodUrl = import.meta.resolve('zod');

const pulseSource = `
import { z } from '${zodUrl}';
import { definePlugin } from '${apiUrl}';
export default definePlugin({
  name: 'pulse', version: '1.0.0', capabilities: { topics: ['pulse/n'] },
  start(ctx) {
    const topic = ctx.telemetry.topic('pulse/n', z.strictObject({ n: z.number().int() }));
    let n = 0;
    ctx.every(100, () => topic.publish({ n: ++n }));
  },
});
`;

test('one agent streams its plugin\'s telemetry, its drone\'s position and consensus health', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-live-'));
  const [id, ...others] = await Promise.all([0, 1, 2].map(() => createIdentity()));
  saveIdentity(join(dir, 'identity.key'), id);
  writeFileSync(join(dir, 'pulse.ts'), pulseSource);
  const [port] = await freePorts(1);
  const config = parseConfig(stringify({
    swarm: { name: 'live-test' },
    listen: [`/ip4/127.0.0.1/tcp/${port}`],
    voters: [id, ...others].map((i) => i.peerId),
    mdns: false,
    http: { listen: '127.0.0.1:0' },
    plugins: [{ module: './pulse.ts' }],
    devices: [{ driver: 'sim-autopilot', name: 'autopilot', home: { lat: 47.4, lon: 8.5 } }],
  }), 'config.yaml', dir);
  const agent = await Agent.start(config, { logger: silentLogger });
  const stream = new AbortController();
  try {
    const res = await fetch(`${agent.httpUrl}/events?kinds=telemetry,position,consensus`, { signal: stream.signal });
    assert.equal(res.status, 200);
    const want = new Set(['telemetry', 'position', 'consensus']);
    const seen = new Map<string, Record<string, unknown>>();
    const pulses: number[] = [];
    for await (const m of readSse(res.body!)) {
      const e = JSON.parse(m.data) as Record<string, unknown>;
      assert.equal(e.kind, m.event);
      if (e.kind === 'telemetry' && e.topic === 'pulse/n') pulses.push((e.value as { n: number }).n);
      if (e.kind === 'telemetry' && e.topic !== 'pulse/n') continue;
      if (!seen.has(m.event)) seen.set(m.event, e);
      if ([...want].every((k) => seen.has(k)) && pulses.length >= 3) break;
    }
    assert.equal(seen.get('telemetry')!.from, id.peerId);
    assert.ok(pulses.every((n, i) => i === 0 || n === pulses[i - 1] + 1), `pulses in order: ${pulses}`);
    const pos = seen.get('position')!;
    assert.equal(pos.agent, id.peerId);
    assert.equal(pos.device, 'autopilot');
    assert.ok(Math.abs((pos.lat as number) - 47.4) < 1e-6);
    const c = seen.get('consensus')!;
    assert.equal(c.voters, 3);
    assert.equal(c.reachableVoters, 1);
    assert.equal(c.committed, 0);

    const tel = await new AgentClient(agent.httpUrl).request('GET', '/telemetry') as { topics: Array<{ topic: string; schema: { properties?: Record<string, unknown> } | null; count: number }> };
    const pulse = tel.topics.find((t) => t.topic === 'pulse/n');
    assert.ok(pulse !== undefined && pulse.count >= 3);
    assert.deepEqual(Object.keys(pulse.schema?.properties ?? {}), ['n']);
    assert.ok(tel.topics.some((t) => t.topic === 'covey/position' && t.schema !== null));
  } finally {
    stream.abort();
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
