import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createHttpApi, HttpError, type AgentApi } from './http.ts';
import { AgentClient } from './client.ts';
import { group, groupVoterIds, groupVoters, silentLogger } from './testing.ts';
import type { Command, Operation } from '../consensus/index.ts';
import { definePlugin } from './plugins/api.ts';
import { PluginHost } from './plugins/host.ts';
import { testEnvironment, TestWorld } from './plugins/testing.ts';
import { formatStatus } from './cli/agent-commands.ts';

/** The HTTP API over voter 0 of an in-process group: everything but libp2p and lmdb is real. */
async function serve(token?: string, host: PluginHost | null = null) {
  const g = await group();
  const d = g.drivers[0];
  let seq = 0;
  const registry = new Registry();
  const api: AgentApi = {
    registry,
    status: () => ({ committed: d.core.stats.committed }),
    submit: (op: Operation, o) => d.submit({ clientId: o.clientId ?? 'http-test', requestId: o.requestId ?? ++seq, timestampMs: Date.now(), ...op } as Command, o.timeoutMs ?? 3000, () => 'no majority'),
    staleGet: (key) => ({ value: d.stateMachine.get(key), stale: true, staleness: { appliedInstances: d.core.stats.applied } }),
    staleTasks: () => ({ value: d.stateMachine.listTasks(), stale: true, staleness: {} }),
    members: () => [],
    memberEvents: () => [],
    plugins: () => host?.status() ?? [],
    devices: () => [],
    readiness: () => ({ ready: g.down.size === 0, reason: g.down.size === 0 ? 'all voters reachable' : 'cut off' }),
    peers: () => ({ ...d.stateMachine.roster() }),
    changeRoster: (op, peerId, o) => api.submit({ op, peerId }, o),
    ...groupVoters(d, g.down, (op, o) => api.submit(op, o)),
    redeemJoinToken: async (token) => { if (token !== 'good') throw new HttpError(403, 'join token refused'); return api.submit({ op: 'peer.admit', peerId: '12D3KooWKz3HqNbmrmHnj3ahvUNNx5rYAUDpMgTwGbDQzwEFrsxh' }, {}); },
  };
  const server = createHttpApi(api, { token, logger: silentLogger });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    g, url, api, client: new AgentClient(url, token),
    raw: (method: string, path: string, body?: string, headers: Record<string, string> = {}) => fetch(url + path, { method, body, headers }),
    close: async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)); await Promise.all(g.drivers.map((x) => x.stop())); },
  };
}

test('key-value operations through the API, linearizable and stale reads', async () => {
  const s = await serve();
  try {
    assert.deepEqual(await s.client.put('a/b c', 'one'), { ok: true });
    assert.deepEqual(await s.client.get('a/b c'), { ok: true, value: 'one' });
    assert.deepEqual(await s.client.cas('a/b c', 'one', 'two'), { ok: true, swapped: true });
    assert.deepEqual(await s.client.cas('a/b c', 'one', 'three'), { ok: true, swapped: false, value: 'two' });
    const stale = await s.client.get('a/b c', { stale: true }) as Record<string, unknown>;
    assert.equal(stale.value, 'two');
    assert.equal(stale.stale, true);
    assert.ok(typeof (stale.staleness as Record<string, unknown>).appliedInstances === 'number');
    assert.deepEqual(await s.client.del('a/b c'), { ok: true });
    assert.deepEqual(await s.client.get('a/b c'), { ok: true, value: null });
    // A client retrying under the same ids gets the first answer, and the write happens once.
    assert.deepEqual(await s.client.put('once', 'x', { clientId: 'c1', requestId: 7 }), { ok: true });
    assert.deepEqual(await s.client.put('once', 'x', { clientId: 'c1', requestId: 7 }), { ok: true });
    assert.deepEqual(await s.client.get('once'), { ok: true, value: 'x' });
  } finally {
    await s.close();
  }
});

test('task board through the API: a refused command is a 409 with the reason', async () => {
  const s = await serve();
  try {
    assert.equal((await s.client.task('create', 't1', { spec: 'survey cell 1' })).ok, true);
    const claim = await s.client.task('claim', 't1', { worker: 'w1', leaseMs: 60_000 });
    assert.equal(claim.ok, true);
    const token = claim.task!.token;
    const again = await s.raw('POST', '/tasks/t1/claim', JSON.stringify({ worker: 'w2', leaseMs: 1000 }), { 'content-type': 'application/json' });
    assert.equal(again.status, 409);
    assert.match(((await again.json()) as { error: string }).error, /held|claimed|lease/);
    assert.equal((await s.client.task('complete', 't1', { worker: 'w1', token, result: 'done' })).ok, true);
    const list = await s.client.tasks();
    assert.equal(list.value.length, 1);
    assert.equal(list.value[0].status, 'done');
  } finally {
    await s.close();
  }
});

test('a request id reused for a different command is a 409 saying so, and nothing is stored (issue 13)', async () => {
  const s = await serve();
  const json = { 'content-type': 'application/json' };
  try {
    await s.client.put('other', 'v');
    const ids = { clientId: 'c1-0-0', requestId: 1300 };
    const cas = await s.raw('POST', '/cas/other', JSON.stringify({ expected: 'x', value: 'y', ...ids }), json);
    assert.equal(cas.status, 200);
    const casBody = await cas.json();
    assert.deepEqual(casBody, { ok: true, swapped: false, value: 'v' });
    // A restarted client reusing the pair for a put of another key: refused, not acknowledged.
    const put = await s.raw('PUT', '/kv/dupprobe', JSON.stringify({ value: 'dup-probe', ...ids }), json);
    assert.equal(put.status, 409);
    const body = await put.json() as { ok: boolean; error: string };
    assert.equal(body.ok, false);
    assert.match(body.error, /^request id 1300 of client "c1-0-0" was already used for a different command \(.*\); use a new request id$/);
    assert.deepEqual(await s.client.get('dupprobe'), { ok: true, value: null });
    assert.deepEqual(await s.client.get('other'), { ok: true, value: 'v' });
    // The true retry still gets the cas's answer.
    const retry = await s.raw('POST', '/cas/other', JSON.stringify({ expected: 'x', value: 'y', ...ids }), json);
    assert.equal(retry.status, 200);
    assert.deepEqual(await retry.json(), casBody);
  } finally {
    await s.close();
  }
});

test('bad requests get a 4xx with a JSON error saying what was wrong', async () => {
  const s = await serve();
  try {
    const cases: [string, string, string | undefined, number, RegExp][] = [
      ['PUT', '/kv/k', '{not json', 400, /not valid JSON/],
      ['PUT', '/kv/k', '', 400, /missing JSON body/],
      ['PUT', '/kv/k', '{"value": 5}', 400, /value: /],
      ['PUT', '/kv/k', '{"value": "v", "colour": 1}', 400, /unknown field\(s\) colour/],
      ['PUT', '/kv/k', '{"value": "v", "requestId": -1}', 400, /requestId: /],
      ['POST', '/tasks/t/claim', '{"worker": "w"}', 400, /leaseMs: /],
      ['GET', '/kv/%E0%A4%A', undefined, 400, /not valid percent-encoding/],
      ['GET', '/kv/k?stale=maybe', undefined, 400, /"stale" must be true or false/],
      ['GET', '/kv/k?timeoutMs=0', undefined, 400, /"timeoutMs" must be a whole number/],
      ['PATCH', '/kv/k', undefined, 405, /PATCH is not allowed on \/kv\/k; use GET, PUT, DELETE/],
      ['GET', '/nope', undefined, 404, /no such endpoint: GET \/nope/],
      ['POST', '/debug/partition', '{"peers":["x"]}', 404, /fault injection is off/],
      // What the state machine refuses is the client's mistake too: 400, not 500 (issue 13).
      ['PUT', `/kv/${'k'.repeat(1100)}`, '{"value": "v"}', 400, /invalid command: .*key/],
      ['PUT', '/kv/k', JSON.stringify({ value: 'x'.repeat(1024 * 1024 + 1) }), 400, /invalid command: .*value/],
      ['POST', '/tasks/t/claim', '{"worker": "w", "leaseMs": 86400001}', 400, /invalid command: .*leaseMs/],
      ['PUT', '/kv/k', '{"value": "\\ud800"}', 400, /invalid command: /],
    ];
    for (const [method, path, body, status, message] of cases) {
      const r = await s.raw(method, path, body);
      assert.equal(r.status, status, `${method} ${path}`);
      assert.match(((await r.json()) as { error: string }).error, message, `${method} ${path}`);
    }
    // Invalid UTF-8 is refused, not stored with U+FFFD in its place.
    const latin1 = await fetch(s.url + '/kv/enc', { method: 'PUT', body: Buffer.concat([Buffer.from('{"value": "caf'), Buffer.from([0xe9]), Buffer.from('"}')]) });
    assert.equal(latin1.status, 400);
    assert.match(((await latin1.json()) as { error: string }).error, /not valid UTF-8/);
    const stored = await s.raw('GET', '/kv/enc');
    assert.deepEqual(await stored.json(), { ok: true, value: null });
    const big = await s.raw('PUT', '/kv/k', JSON.stringify({ value: 'x'.repeat(3 * 1024 * 1024) }));
    assert.equal(big.status, 413);
    // The agent is still serving after all that.
    assert.deepEqual(await s.client.put('k', 'fine'), { ok: true });
  } finally {
    await s.close();
  }
});

test('no quorum: the request waits for its deadline, then fails with 503 saying why', async () => {
  const s = await serve();
  try {
    s.g.down.add(1); s.g.down.add(2);
    const r = await s.raw('PUT', '/kv/x', JSON.stringify({ value: '1', timeoutMs: 300 }));
    assert.equal(r.status, 503);
    assert.match(((await r.json()) as { error: string }).error, /no answer from consensus within 300 ms: no majority/);
    const ready = await s.raw('GET', '/ready');
    assert.equal(ready.status, 503);
    s.g.down.clear();
  } finally {
    await s.close();
  }
});

test('/ready?commit=true: ready only when a read through consensus commits, even where the agent hears a majority', async () => {
  const s = await serve();
  try {
    assert.equal((await s.raw('GET', '/ready?commit=maybe')).status, 400);
    const ok = await s.raw('GET', '/ready?commit=true');
    assert.equal(ok.status, 200);
    assert.match(((await ok.json()) as { reason: string }).reason, /all voters reachable; a read through consensus committed in \d+ ms/);
    // The agent hears a majority (say, the voters are cut from each other, not from it), yet nothing commits.
    s.api.readiness = () => ({ ready: true, reason: 'reaches 2 of 3 voters' });
    s.g.down.add(1); s.g.down.add(2);
    assert.equal((await s.raw('GET', '/ready')).status, 200, 'the plain probe says what the agent hears');
    const stuck = await s.raw('GET', '/ready?commit=true');
    assert.equal(stuck.status, 503);
    assert.match(((await stuck.json()) as { reason: string }).reason, /reaches 2 of 3 voters, but a read through consensus did not commit within 2000 ms/);
    s.g.down.clear();
    assert.equal((await s.raw('GET', '/ready?commit=true')).status, 200);
  } finally {
    await s.close();
  }
});

test('a token, when set, is required', async () => {
  const s = await serve('0123456789abcdef-secret');
  try {
    const r = await s.raw('GET', '/status');
    assert.equal(r.status, 401);
    assert.match(((await r.json()) as { error: string }).error, /bearer token/);
    const wrong = await s.raw('GET', '/status', undefined, { authorization: 'Bearer 0123456789abcdef-secreT' });
    assert.equal(wrong.status, 401);
    assert.equal(typeof (await s.client.status()).committed, 'number');
    const health = await s.client.request('GET', '/health');
    assert.deepEqual(health, { ok: true });
  } finally {
    await s.close();
  }
});

test('GET /plugins lists every plugin with its state, restarts and last error', async () => {
  const world = new TestWorld();
  const ok = definePlugin({ name: 'fine', version: '1.2.0', capabilities: {}, start: () => {} });
  const bad = definePlugin({ name: 'broken', version: '0.1.0', capabilities: {}, start: () => { throw new Error('no sensor on i2c bus 1'); } });
  const host = new PluginHost(testEnvironment(world, 'a1'), [
    { definition: ok, options: undefined, source: './fine.ts' },
    { definition: bad, options: undefined, source: './broken.ts' },
  ]);
  await host.start();
  const s = await serve(undefined, host);
  try {
    const r = await s.client.plugins();
    assert.deepEqual(r.plugins.map((p) => [p.name, p.version, p.source, p.state]), [['fine', '1.2.0', './fine.ts', 'active'], ['broken', '0.1.0', './broken.ts', 'failed']]);
    const broken = r.plugins[1];
    assert.equal(broken.lastError, 'no sensor on i2c bus 1');
    assert.equal(broken.restarts, 0);
    assert.equal(broken.nextRestartInMs, 1000);
    assert.equal(typeof broken.lastErrorAt, 'string');
    assert.equal(broken.telemetryDropped, 0);
    const post = await s.raw('POST', '/plugins', '{}');
    assert.equal(post.status, 405);
    // The human status of `covey status` shows the same.
    const text = formatStatus({ peerId: 'p1', role: 'voter', replicaId: 0, swarm: 's', ready: true, readiness: 'ok', voters: ['a', 'b', 'c'], reachableVoters: 3, epoch: 2, plugins: r.plugins });
    assert.match(text, /voters +3 of 3 reachable, epoch 2 \(covey voters ls\)/);
    assert.match(text, /fine\s+1\.2\.0\s+active\s+0\s+-/);
    assert.match(text, /broken\s+0\.1\.0\s+failed\s+0\s+no sensor on i2c bus 1 \(at .*\), restart in 1 s/);
    assert.match(formatStatus({ plugins: [] }), /plugins\s+none/);
  } finally {
    await host.stop();
    await s.close();
  }
});

test('a client that hangs up mid-body is logged at debug, not as a failure', async () => {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => { lines.push(JSON.parse(l) as { level: number; msg: string }); } });
  const server = createHttpApi({ submit: async () => ({ ok: true }) } as unknown as AgentApi, { logger });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => {
    const sock = connect(port, '127.0.0.1', () => {
      sock.write('PUT /kv/k HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"value":');
      setTimeout(() => { sock.destroy(); resolve(); }, 50);
    });
  });
  await new Promise((r) => setTimeout(r, 100));
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  assert.deepEqual(lines.filter((l) => l.level >= 50), [], 'nothing at error level');
  assert.ok(lines.some((l) => l.level === 20 && /disconnected before its request was read/.test(l.msg)), JSON.stringify(lines));
});

test('a request without the token is answered and its connection closed at once, its body unread', async () => {
  const server = createHttpApi({ submit: async () => ({ ok: true }) } as unknown as AgentApi, { token: '0123456789abcdef-secret', logger: silentLogger });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const started = Date.now();
  const { text, closedAfterMs } = await new Promise<{ text: string; closedAfterMs: number }>((resolve) => {
    let text = '';
    const sock = connect(port, '127.0.0.1', () => {
      // Announces 1 MB and drips it: the agent must not wait for it.
      sock.write('PUT /kv/k HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"value":');
      const drip = setInterval(() => { if (!sock.destroyed) sock.write('x'); }, 100);
      sock.on('close', () => { clearInterval(drip); resolve({ text, closedAfterMs: Date.now() - started }); });
    });
    sock.on('data', (d) => { text += d.toString(); });
    sock.on('error', () => {});
  });
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  assert.match(text, /^HTTP\/1\.1 401 /);
  assert.ok(closedAfterMs < 2000, `closed after ${closedAfterMs} ms`);
});

test('the roster routes: list, admit and revoke through consensus; a malformed peer id is a 400', async () => {
  const s = await serve();
  const peer = '12D3KooWKz3HqNbmrmHnj3ahvUNNx5rYAUDpMgTwGbDQzwEFrsxh';
  try {
    assert.deepEqual(await (await s.raw('GET', '/peers')).json(), { version: 0, decisions: [] });
    const admit = await s.raw('POST', '/peers/admit', JSON.stringify({ peerId: peer }));
    assert.equal(admit.status, 200);
    assert.deepEqual(await admit.json(), { ok: true, value: '1' });
    assert.equal((await s.raw('POST', '/peers/revoke', JSON.stringify({ peerId: peer }))).status, 200);
    assert.deepEqual(await (await s.raw('GET', '/peers')).json(), { version: 2, decisions: [[peer, 'revoked']] });
    const bad = await s.raw('POST', '/peers/admit', JSON.stringify({ peerId: 'alice' }));
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /peerId: expected a libp2p peer id/);
    assert.equal((await s.raw('GET', '/peers/admit')).status, 405);
    assert.equal((await s.raw('POST', '/peers', '{}')).status, 405);
  } finally {
    await s.close();
  }
});

test('a join token is its own credential: POST /peers/join needs no bearer token, every other route still does', async () => {
  const s = await serve('a-token-of-sixteen-chars');
  try {
    assert.equal((await s.raw('POST', '/peers/join', JSON.stringify({ token: 'bad' }))).status, 403);
    const r = await s.raw('POST', '/peers/join', JSON.stringify({ token: 'good' }));
    assert.equal(r.status, 200);
    assert.equal((await s.raw('POST', '/peers/join', 'x'.repeat(5000))).status, 413);
    assert.equal((await s.raw('POST', '/peers/admit', JSON.stringify({ peerId: '12D3KooWKz3HqNbmrmHnj3ahvUNNx5rYAUDpMgTwGbDQzwEFrsxh' }))).status, 401);
    assert.equal((await s.raw('GET', '/peers')).status, 401);
    assert.equal((await s.raw('GET', '/voters')).status, 401);
    assert.equal((await s.raw('POST', '/voters', JSON.stringify({ op: 'replace', out: groupVoterIds[1], in: '12D3KooWKz3HqNbmrmHnj3ahvUNNx5rYAUDpMgTwGbDQzwEFrsxh' }))).status, 401);
  } finally {
    await s.close();
  }
});

test('the voter-set routes: GET /voters; POST /voters checked, planned, and proposed through consensus', async () => {
  const s = await serve();
  const [a, b, c] = groupVoterIds;
  const x = '12D3KooWKz3HqNbmrmHnj3ahvUNNx5rYAUDpMgTwGbDQzwEFrsxh';
  const post = async (body: unknown) => { const r = await s.raw('POST', '/voters', typeof body === 'string' ? body : JSON.stringify(body)); return { status: r.status, body: await r.json() as Record<string, unknown> }; };
  try {
    s.g.down.add(2);
    assert.deepEqual(await (await s.raw('GET', '/voters')).json(), {
      epoch: 0, self: 0, replaceAfterMs: null,
      voters: [
        { peerId: a, index: 0, self: true, reachable: true },
        { peerId: b, index: 1, self: false, reachable: true },
        { peerId: c, index: 2, self: false, reachable: false },
      ],
    });
    s.g.down.clear();

    // A body the API cannot take: 400 naming the field.
    const bad: [unknown, RegExp][] = [
      ['', /missing JSON body/],
      [{}, /^op: expected "add", "remove" or "replace"$/],
      [{ op: 'grow', peers: [x] }, /^op: expected "add", "remove" or "replace"$/],
      [{ op: 'add' }, /^peers: /],
      [{ op: 'add', peers: [] }, /^peers: /],
      [{ op: 'add', peers: Array(8).fill(x) }, /^peers: /],
      [{ op: 'remove', peers: ['alice'] }, /^peers\.0: expected a libp2p peer id/],
      [{ op: 'replace', out: a }, /^in: /],
      [{ op: 'replace', out: a, in: x, peers: [x] }, /unknown field\(s\) peers/],
      [{ op: 'replace', out: a, in: x, reason: '' }, /^reason: /],
      [{ op: 'replace', out: a, in: x, reason: 'r'.repeat(257) }, /^reason: /],
      [{ op: 'replace', out: a, in: x, requestId: 0 }, /^requestId: /],
    ];
    for (const [body, message] of bad) {
      const r = await post(body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(String(r.body.error), message, JSON.stringify(body));
    }
    assert.equal((await s.raw('DELETE', '/voters')).status, 405);

    // A plan refused before consensus: 409 naming the fix.
    assert.deepEqual(await post({ op: 'replace', out: b, in: x }), { status: 409, body: { error: `${x} is not on the swarm roster; admit it first (covey peers admit ${x})` } });
    assert.equal((await s.raw('POST', '/peers/admit', JSON.stringify({ peerId: x }))).status, 200);
    assert.match(String((await post({ op: 'add', peers: [x] })).body.error), /this would leave 4: add two peers at once \(covey voters add A B\)/);

    // The request reaches the API with its ids, and the change goes through consensus.
    const seen: unknown[] = [];
    const inner = s.api.changeVoters;
    s.api.changeVoters = (req, o) => { seen.push([req, o]); return inner(req, o); };
    assert.deepEqual(await post({ op: 'replace', out: b, in: x, reason: 'b lost at sea', clientId: 'ops', requestId: 5 }), { status: 200, body: { ok: true, value: '1' } });
    const [[req, opts]] = seen as [unknown, { clientId?: string; requestId?: number }][];
    assert.deepEqual(req, { op: 'replace', out: b, in: x, reason: 'b lost at sea' });
    assert.deepEqual([opts.clientId, opts.requestId], ['ops', 5]);
    const after = await (await s.raw('GET', '/voters')).json() as { epoch: number; voters: { peerId: string }[] };
    assert.equal(after.epoch, 1);
    assert.deepEqual(after.voters.map((v) => v.peerId), [a, x, c], 'the new peer took the old one\'s seat');
  } finally {
    await s.close();
  }
});
