// `covey agent --dev`'s setup: a real agent that is the only voter of its swarm commits writes by
// itself, runs a plugin named on the command line, serves its API on loopback, and leaves nothing
// behind once stopped and removed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from './agent.ts';
import { AgentClient } from './client.ts';
import { devAgentSetup } from './dev.ts';
import { silentLogger } from './testing.ts';

test('a dev agent is a one-voter swarm that commits alone and runs the plugins it is given', async () => {
  const pluginDir = mkdtempSync(join(tmpdir(), 'covey-dev-test-'));
  writeFileSync(join(pluginDir, 'marker.ts'), `import { definePlugin } from ${JSON.stringify(new URL('./plugins/api.ts', import.meta.url).pathname)};
export default definePlugin({ name: 'marker', version: '1', capabilities: { kv: ['marker/'] }, start(ctx) { ctx.every(100, () => ctx.kv.put('marker/' + ctx.agent.id, 'up')); } });
`);
  const dev = await devAgentSetup({ plugins: ['./marker.ts'], http: '127.0.0.1:0', baseDir: pluginDir, logLevel: 'silent' });
  try {
    assert.deepEqual(dev.config.voters.map((v) => v.id), [dev.peerId]);
    assert.equal(dev.config.mdns, false, 'a dev agent does not announce itself on the LAN');
    const agent = await Agent.start(dev.config, { logger: silentLogger });
    try {
      assert.match(agent.httpUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
      const client = new AgentClient(agent.httpUrl);
      assert.deepEqual(await client.put('k', 'v1'), { ok: true });
      assert.deepEqual(await client.cas('k', 'v1', 'v2'), { ok: true, swapped: true });
      assert.deepEqual(await client.get('k'), { ok: true, value: 'v2' });
      const deadline = Date.now() + 10_000;
      let marker: unknown = null;
      while (Date.now() < deadline && marker === null) {
        marker = ((await client.get(`marker/${dev.peerId}`)) as { value: unknown }).value;
        if (marker === null) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(marker, 'up', 'the plugin ran and its write committed');
    } finally {
      await agent.stop();
    }
    assert.ok(existsSync(dev.dir));
  } finally {
    dev.remove();
    rmSync(pluginDir, { recursive: true, force: true });
  }
  assert.equal(existsSync(dev.dir), false, 'the temporary data is gone');
});

test('a dev agent refuses an HTTP address beyond loopback, naming the fix', async () => {
  await assert.rejects(devAgentSetup({ plugins: [], http: '0.0.0.0:7070', baseDir: '.' }), /--http 0\.0\.0\.0:7070: a dev agent serves its API on loopback only/);
});
