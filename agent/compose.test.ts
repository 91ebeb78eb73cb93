// createAgent and its lifecycle on a real in-process agent (libp2p on loopback, the WAL and
// lmdb, the HTTP API): the parts and their order, the ports it goes through, a start that fails
// at one part (the HTTP port taken) stopping what had started, and an idempotent stop. The agent
// is voter 0 of three that never start: nothing here needs consensus.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createAgent, type Agent } from './agent.ts';
import { parseConfig, type AgentConfig } from './config.ts';
import { createIdentity, saveIdentity, type Identity } from './identity.ts';
import { PartStartError } from './lifecycle.ts';
import { realAgentPorts, type AgentPorts } from './ports.ts';
import { silentLogger } from './testing.ts';

async function listen(port = 0): Promise<Server> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve());
  });
  return s;
}

async function freePort(): Promise<number> {
  const s = await listen();
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

interface Setup { dir: string; config: AgentConfig; identity: Identity; port: number }

async function setup(o: { worker?: boolean; http?: string } = {}): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'covey-compose-'));
  const ids = await Promise.all([0, 1, 2, 3].map(() => createIdentity()));
  const identity = o.worker === true ? ids[3] : ids[0];
  saveIdentity(join(dir, 'identity.key'), identity);
  const port = await freePort();
  const config = parseConfig(stringify({
    swarm: { name: 'compose-test' },
    listen: [`/ip4/127.0.0.1/tcp/${port}`],
    voters: ids.slice(0, 3).map((id) => id.peerId),
    mdns: false,
    http: { listen: o.http ?? '127.0.0.1:0' },
  }), 'config.yaml', dir);
  return { dir, config, identity, port };
}

/** The real ports, with what goes through the network and storage ports written into `log`. */
function recordingPorts(config: AgentConfig, identity: Identity, log: string[]): AgentPorts {
  const real = realAgentPorts(config, identity, silentLogger);
  return {
    ...real,
    network: {
      open: async (admits) => { log.push('network open'); return real.network.open(admits); },
      close: async (node) => { log.push('network close'); await real.network.close(node); },
    },
    storage: {
      epochs: real.storage.epochs,
      open: async (epoch) => {
        log.push('storage open');
        const s = await real.storage.open(epoch);
        return {
          load: () => s.load(),
          append: (r) => s.append(r),
          close: async () => { log.push('storage close'); await s.close(); },
        };
      },
    },
  };
}

const voterParts = [
  'node', 'consensus', 'join offers', 'peer keeper', 'link health', 'reach hint',
  'membership', 'roster sync', 'voters sync', 'voter replacement', 'HTTP API', 'devices', 'plugin environment', 'live layer', 'Foxglove bridge',
  'plugin host', 'memory reclaim',
];

test('createAgent composes the parts in dependency order: a voter and a worker have the same parts (the consensus '
  + 'groups hold a replica where the agent votes), the HTTP API is optional', async () => {
  const v = await setup();
  const w = await setup({ worker: true });
  try {
    const voterPorts = realAgentPorts(v.config, v.identity, silentLogger);
    const voter = await createAgent(v.config, voterPorts, { identity: v.identity });
    assert.deepEqual(voter.partNames, voterParts);
    const workerPorts = realAgentPorts(w.config, w.identity, silentLogger);
    const worker = await createAgent(w.config, workerPorts, { identity: w.identity, http: false });
    const workerParts = voterParts.filter((p) => p !== 'HTTP API');
    assert.deepEqual(worker.partNames, workerParts);
    assert.equal(worker.selfIndex, null);
  } finally {
    rmSync(v.dir, { recursive: true, force: true });
    rmSync(w.dir, { recursive: true, force: true });
  }
});

test('an agent goes through its ports, opens its storage once the node runs (its consensus RPC needs it), closes it '
  + 'before the node, and stops once however often asked',
  async () => {
  const s = await setup();
  const log: string[] = [];
  let agent: Agent | null = null;
  try {
    agent = await createAgent(s.config, recordingPorts(s.config, s.identity, log), { identity: s.identity });
    assert.deepEqual(log, [], 'nothing opens before start');
    await agent.start();
    assert.deepEqual(log, ['network open', 'storage open']);
    assert.equal((await fetch(`${agent.httpUrl}/status`)).status, 200);
    const url = agent.httpUrl;
    await Promise.all([agent.stop(), agent.stop()]);
    await agent.stop();
    assert.deepEqual(log, ['network open', 'storage open', 'storage close', 'network close']);
    await assert.rejects(fetch(`${url}/status`), 'the HTTP API is closed');
    (await listen(s.port)).close(); // the libp2p port is free again
  } finally {
    await agent?.stop();
    rmSync(s.dir, { recursive: true, force: true });
  }
});

test('a start failing at the HTTP API (its port taken) stops what had started, in reverse, and names the part',
  async () => {
  const taken = await listen();
  const s = await setup({ http: `127.0.0.1:${(taken.address() as AddressInfo).port}` });
  const log: string[] = [];
  try {
    const agent = await createAgent(s.config, recordingPorts(s.config, s.identity, log), { identity: s.identity });
    await assert.rejects(agent.start(), (err: Error) => {
      assert.ok(err instanceof PartStartError, String(err));
      assert.equal(err.part, 'HTTP API');
      assert.match(err.message,
        /^cannot start the agent's HTTP API: cannot listen for HTTP on 127\.0\.0\.1:\d+: .*\(change http\.listen\)$/);
      return true;
    });
    assert.deepEqual(log, ['network open', 'storage open', 'storage close', 'network close']);
    (await listen(s.port)).close(); // the libp2p node was stopped: its port is free
    await agent.stop(); // and a stop after the failed start changes nothing
    assert.equal(log.length, 4);
  } finally {
    taken.close();
    rmSync(s.dir, { recursive: true, force: true });
  }
});
