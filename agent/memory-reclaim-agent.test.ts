// The memory reclaim is part of every real agent: one in-process Agent (voter 0 of three that
// never start; consensus is not needed) serves its counters on /metrics from the start, and says
// at start why malloc is not trimmed only where the addon could not be loaded.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { Agent } from './agent.ts';
import { parseConfig } from './config.ts';
import { metricSum } from './fuzz/watch.ts';
import { createIdentity, saveIdentity } from './identity.ts';
import { loadMallocTrim } from './malloc-trim.ts';

test('an agent serves its memory reclaims on /metrics, and names a missing malloc trim at start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-reclaim-'));
  const ids = await Promise.all([0, 1, 2].map(() => createIdentity()));
  saveIdentity(join(dir, 'identity.key'), ids[0]);
  const config = parseConfig(stringify({
    swarm: { name: 'reclaim-test' },
    listen: ['/ip4/127.0.0.1/tcp/0'],
    voters: ids.map((id) => id.peerId),
    mdns: false,
    http: { listen: '127.0.0.1:0' },
  }), 'config.yaml', dir);
  const lines: { part?: string; msg?: string; reason?: string }[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { for (const l of String(chunk).split('\n')) if (l !== '') lines.push(JSON.parse(l)); done(); } });
  const agent = await Agent.start(config, { logger: pino({ level: 'info' }, sink) });
  try {
    const text = await (await fetch(`${agent.httpUrl}/metrics`)).text();
    for (const name of ['covey_memory_reclaims_total', 'covey_memory_reclaim_pause_seconds_count']) {
      assert.match(text, new RegExp(`^${name} 0$`, 'm'), `${name} is served from the start`);
    }
    assert.equal(metricSum(text, 'covey_memory_reclaimed_rss_bytes_total'), 0);
    const untrimmed = lines.filter((l) => l.part === 'memory' && /malloc is not trimmed/.test(l.msg ?? ''));
    const loaded = loadMallocTrim();
    assert.equal(untrimmed.length, loaded.trim === null ? 1 : 0, `logged: ${JSON.stringify(untrimmed)}`);
    if (loaded.trim === null) assert.equal(untrimmed[0].reason, loaded.unavailable);
  } finally {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
