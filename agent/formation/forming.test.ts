// In-process agents forming a swarm with a roster: `swarm.roster` keeps an agent off it out of
// the formation as it keeps it off everything else, even when its id is the smallest (it would
// be chosen first otherwise). A start that is still forming gives up on its signal.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Agent } from '../agent.ts';
import { parseConfig } from '../config.ts';
import { createIdentity, saveIdentity, type Identity } from '../identity.ts';
import { freePorts } from '../../transports/ports.ts';
import { silentLogger } from '../testing.ts';

const root = mkdtempSync(join(tmpdir(), 'covey-forming-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('with swarm.roster, only roster members can be chosen: a stranger with the smallest id is left out and gives up when stopped', { timeout: 120_000 }, async () => {
  const ids: Identity[] = await Promise.all([0, 1, 2, 3].map(() => createIdentity()));
  ids.sort((x, y) => (x.peerId < y.peerId ? -1 : 1));
  const [stranger, ...members] = ids;
  const ports = await freePorts(8);
  const bootstrap = [0, 1, 2, 3].map((i) => `/ip4/127.0.0.1/tcp/${ports[2 * i]}`);
  const configs = ids.map((id, i) => {
    const dir = join(root, `agent-${i}`);
    mkdirSync(dir, { recursive: true });
    saveIdentity(join(dir, 'identity.key'), id);
    const text = stringify({
      swarm: { name: 'rostered', expectVoters: 3, roster: members.map((m) => m.peerId) },
      listen: [`/ip4/127.0.0.1/tcp/${ports[2 * i]}`],
      bootstrap,
      mdns: false,
      http: { listen: `127.0.0.1:${ports[2 * i + 1]}` },
    });
    return parseConfig(text, `agent ${i}`, dir);
  });
  const stop = new AbortController();
  const strangerStart = Agent.start(configs[0], { logger: silentLogger, signal: stop.signal });
  const agents = await Promise.all([1, 2, 3].map((i) => Agent.start(configs[i], { logger: silentLogger })));
  try {
    const expected = members.map((m) => m.peerId);
    assert.ok(stranger.peerId < expected[0], 'the stranger would be chosen first if the roster let it in');
    for (const a of agents) assert.deepEqual(a.status().voters, expected, 'the three roster members are the voters');
    const ready = await fetch(`http://127.0.0.1:${ports[1]}/ready`);
    assert.equal(ready.status, 503);
    assert.match(((await ready.json()) as { reason: string }).reason, /found 1 of 3 voters/, 'the stranger found nobody who admits it');
    stop.abort();
    await assert.rejects(strangerStart, /stopped while forming the swarm \(forming the swarm: found 1 of 3 voters/);
    await assert.rejects(fetch(`http://127.0.0.1:${ports[1]}/ready`), 'its HTTP API is closed');
  } finally {
    stop.abort();
    await strangerStart.catch(() => {});
    await Promise.all(agents.map((a) => a.stop()));
  }
});
