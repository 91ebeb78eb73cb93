// The Foxglove bridge inside one real agent (libp2p, the live layer, a plugin, a simulated drone),
// reached with the protocol's own client: the agent's config turns it on, it advertises the
// plugin's topic and `covey/position` with their JSON schemas, and a subscriber receives the
// drone's fixes, also as a foxglove.LocationFix on the drone's own topic (for the Map panel); a
// port already taken leaves the agent running without the bridge. Voter 0 of three that never
// start: nothing commits, none is needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { Agent } from '../agent.ts';
import { parseConfig } from '../config.ts';
import { createIdentity, saveIdentity } from '../identity.ts';
import { freePorts } from '../../transports/ports.ts';
import { silentLogger } from '../testing.ts';
import { locationFix } from './foxglove-location.ts';
import { connectFoxglove } from './foxglove-testing.ts';
import { positionMessage, positionTopic } from './positions.ts';

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

/** A voter 0 of three (the others never start) with the pulse plugin, a simulated drone and `foxglove`. */
async function agentConfig(dir: string, foxglove: Record<string, unknown>) {
  const [id, ...others] = await Promise.all([0, 1, 2].map(() => createIdentity()));
  saveIdentity(join(dir, 'identity.key'), id);
  writeFileSync(join(dir, 'pulse.ts'), pulseSource);
  const [port] = await freePorts(1);
  const config = parseConfig(stringify({
    swarm: { name: 'foxglove-test' },
    listen: [`/ip4/127.0.0.1/tcp/${port}`],
    voters: [id, ...others].map((i) => i.peerId),
    mdns: false,
    http: { listen: '127.0.0.1:0' },
    foxglove,
    plugins: [{ module: './pulse.ts' }],
    devices: [{ driver: 'sim-autopilot', name: 'autopilot', home: { lat: 47.4, lon: 8.5 } }],
  }), 'config.yaml', dir);
  return { id, config };
}

test('an agent with foxglove.listen serves its telemetry and its drone\'s position to a Foxglove client', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-foxglove-'));
  const { id, config } = await agentConfig(dir, { listen: '127.0.0.1:0' });
  const agent = await Agent.start(config, { logger: silentLogger });
  try {
    assert.match(agent.foxgloveUrl ?? '', /^ws:\/\/127\.0\.0\.1:\d+$/);
    const c = await connectFoxglove(agent.foxgloveUrl!);
    try {
      const pulse = await c.until('pulse/n advertised', () => c.channels.get('pulse/n'));
      assert.deepEqual((JSON.parse(pulse.schema) as { required: string[] }).required, ['n']);
      const pos = await c.until('covey/position advertised', () => c.channels.get(positionTopic));
      assert.equal(pos.encoding, 'json');
      const sub = c.client.subscribe(pos.id);
      const got = await c.until('a position message', () => c.messages.find((m) => m.subscriptionId === sub));
      const fix = positionMessage.parse(JSON.parse(new TextDecoder().decode(got.data)));
      assert.equal(fix.device, 'autopilot');
      assert.ok(Math.abs(fix.lat - 47.4) < 1e-3, `the drone is near home: ${fix.lat}`);

      // The same drone on its own LocationFix topic, for Foxglove's Map panel.
      const fixTopic = `covey/fix/${id.peerId.slice(-8)}/autopilot`;
      const fc = await c.until(`${fixTopic} advertised`, () => c.channels.get(fixTopic));
      assert.equal(fc.schemaName, 'foxglove.LocationFix');
      assert.equal((JSON.parse(fc.schema) as { title: string }).title, 'foxglove.LocationFix');
      const fixSub = c.client.subscribe(fc.id);
      const gotFix = await c.until('a LocationFix', () => c.messages.find((m) => m.subscriptionId === fixSub));
      const lf = locationFix.parse(JSON.parse(new TextDecoder().decode(gotFix.data)));
      assert.ok(Math.abs(lf.latitude - 47.4) < 1e-3 && Math.abs(lf.longitude - 8.5) < 1e-3, `the fix is near home: ${lf.latitude}, ${lf.longitude}`);
      assert.equal(lf.frame_id, 'autopilot');
      assert.equal(BigInt(lf.timestamp.sec) * 1_000_000_000n + BigInt(lf.timestamp.nsec), gotFix.timestamp, 'the fix carries the message time');
    } finally {
      c.close();
    }
  } finally {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(agent.foxgloveUrl, null, 'stopped with the agent');
});

test('an agent whose Foxglove port is taken logs it and runs on without the bridge', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-foxglove-'));
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const { config } = await agentConfig(dir, { listen: `127.0.0.1:${(taken.address() as AddressInfo).port}` });
  const agent = await Agent.start(config, { logger: silentLogger });
  try {
    assert.equal(agent.foxgloveUrl, null);
    assert.equal((await fetch(`${agent.httpUrl}/health`)).status, 200);
  } finally {
    await agent.stop();
    taken.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
