// Devices from the agent config, in one real in-process Agent (libp2p on loopback, lmdb, the
// HTTP API): a good simulated autopilot opens, a GPIO output on a chip that does not exist does
// not; the agent starts anyway, says why in a warning, lists both (GET /devices, status, covey
// status), hands both to its plugins, advertises their names, and closes them when it stops.
// Consensus is not needed for any of this: the agent is voter 0 of three that never start.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { Agent } from './agent.ts';
import { AgentClient } from './client.ts';
import { formatStatus } from './cli/agent-commands.ts';
import { parseConfig } from './config.ts';
import { createIdentity, saveIdentity } from './identity.ts';
import { AgentEnvironment } from './plugins/agent-env.ts';
import { silentLogger } from './testing.ts';
import type { Meta } from '../transports/membership/index.ts';

const apiUrl = pathToFileURL(join(import.meta.dirname, 'plugins', 'api.ts')).href;

/** Records what its context offers: the devices it may use, and whether the autopilot answers. */
const lookSource = `
import { definePlugin } from '${apiUrl}';
export default definePlugin({
  name: 'look',
  version: '1.0.0',
  capabilities: { devices: ['kind:autopilot', 'led'] },
  async start(ctx) {
    const ap = ctx.devices.autopilot('autopilot');
    await ctx.store.put('seen', { list: ctx.devices.list(), mode: ap.state().mode, hasFix: ap.position() !== undefined });
  },
});
`;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('devices: a good sim autopilot and a GPIO output on a missing chip; the agent starts, warns, and lists one available and one unavailable with the reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-devices-'));
  const ids = await Promise.all([0, 1, 2].map(() => createIdentity()));
  saveIdentity(join(dir, 'identity.key'), ids[0]);
  writeFileSync(join(dir, 'look.ts'), lookSource);
  const port = await freePort();
  const config = parseConfig(stringify({
    swarm: { name: 'devices-test' },
    listen: [`/ip4/127.0.0.1/tcp/${port}`],
    voters: ids.map((id) => id.peerId),
    mdns: false,
    http: { listen: '127.0.0.1:0' },
    plugins: [{ module: './look.ts' }],
    devices: [
      { driver: 'sim-autopilot', name: 'autopilot', home: { lat: 47.4, lon: 8.5 }, maxSpeed: 15 },
      { driver: 'gpio-out', name: 'led', chip: 'gpiochip-nowhere', line: 17 },
    ],
  }), 'config.yaml', dir);

  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { for (const l of String(chunk).split('\n')) if (l !== '') lines.push(JSON.parse(l)); done(); } });
  const agent = await Agent.start(config, { logger: pino({ level: 'warn' }, sink) });
  try {
    const warning = lines.find((l) => l.device === 'led');
    assert.ok(warning !== undefined, `a warning names the device; logged: ${JSON.stringify(lines)}`);
    assert.equal(warning.level, 40);
    assert.equal(warning.driver, 'gpio-out');
    assert.match(String(warning.msg), /^device "led": .+; the agent runs without it/);

    const listed = (await new AgentClient(agent.httpUrl).request('GET', '/devices')) as { devices: { name: string; kind: string; driver: string; status: { state: string; reason?: string } }[] };
    assert.deepEqual(listed.devices.map((d) => [d.name, d.kind, d.driver, d.status.state]), [
      ['autopilot', 'autopilot', 'sim-autopilot', 'available'],
      ['led', 'actuator', 'gpio-out', 'unavailable'],
    ]);
    assert.deepEqual(listed.devices[0].status, { state: 'available' });
    const reason = listed.devices[1].status.reason ?? '';
    assert.ok(reason.length > 0 && String(warning.msg).includes(reason), `the reason (${reason}) is the one logged`);
    const post = await fetch(agent.httpUrl + '/devices', { method: 'POST' });
    assert.equal(post.status, 405);

    // The same in GET /status and in covey status.
    const status = await new AgentClient(agent.httpUrl).status();
    assert.deepEqual(status.devices, listed.devices);
    const text = formatStatus(status);
    assert.match(text, /autopilot\s+autopilot\s+sim-autopilot\s+available/);
    assert.match(text, /led\s+actuator\s+gpio-out\s+unavailable: \S+/);
    assert.match(formatStatus({ devices: [] }), /devices\s+none/);

    // Advertised by name in the membership record.
    const self = (agent.members() as { self: boolean; meta: Meta | null }[]).find((m) => m.self);
    assert.deepEqual(self?.meta?.devices, ['autopilot', 'led']);
    assert.deepEqual(self?.meta?.plugins, ['look']);
    assert.equal(agent.plugins()[0].state, 'active');
  } finally {
    await agent.stop();
  }
  // Closed after the plugins stopped.
  assert.deepEqual(agent.devices().map((d) => d.status.state), ['unavailable', 'unavailable']);
  assert.deepEqual(agent.devices()[0].status, { state: 'unavailable', reason: 'closed' });

  // The plugin saw both devices (the unavailable one too, with its reason) and used the autopilot.
  const env = new AgentEnvironment({
    agentId: 'reader', role: 'worker', swarm: 's', submit: async () => ({ ok: true }), staleGet: null, pubsub: null,
    members: () => [], onMemberEvent: () => () => {}, devices: new Map(), logger: silentLogger, storeDir: join(dir, 'data', 'plugins'),
  });
  try {
    const seen = await env.store('look').get('seen') as { list: { name: string; kind: string; status: { state: string } }[]; mode: string; hasFix: boolean };
    assert.deepEqual(seen.list.map((d) => `${d.name}:${d.kind}:${d.status.state}`), ['autopilot:autopilot:available', 'led:actuator:unavailable']);
    assert.equal(seen.mode, 'GUIDED');
    assert.equal(seen.hasFix, true);
  } finally {
    await env.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
