// The live routes behind the agent's real HTTP layer (agent/http.ts): the event stream parsed as
// a browser would, its filters, its token rule, a bad query, a slow client dropped while a fast
// one keeps its stream and the agent keeps answering, and GET /telemetry.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { z } from 'zod';
import { createHttpApi, type AgentApi } from '../http.ts';
import { silentLogger } from '../testing.ts';
import { LiveEvents, type LiveEvent } from './events.ts';
import { LiveRoutes } from './http-routes.ts';
import { readSse, type SseMessage } from './sse-reader.ts';
import { TelemetryTap } from './telemetry-tap.ts';

const token = 'live-test-token';
const auth = { authorization: `Bearer ${token}` };

function unused(): never {
  throw new Error('not used by the live routes');
}

async function serve(o: { clientBufferBytesMax?: number } = {}) {
  const events = new LiveEvents();
  const tap = new TelemetryTap();
  const routes = new LiveRoutes({ events, tap, clientBufferBytesMax: o.clientBufferBytesMax });
  // Only what the live routes and the token check touch: the rest of the API is not theirs.
  const api = {
    registry: new Registry(), status: () => ({}), submit: unused, staleGet: unused, staleTasks: unused, members: () => [], memberEvents: () => [],
    plugins: () => [], devices: () => [], readiness: () => ({ ready: true, reason: 'test' }), peers: () => ({}), changeRoster: unused, voters: unused, changeVoters: unused, redeemJoinToken: unused,
  } as unknown as AgentApi;
  const server = createHttpApi(api, { token, logger: silentLogger, live: routes });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    events, tap, routes, url, port,
    close: async () => { routes.closeAll(); server.closeAllConnections(); await new Promise((r) => server.close(r)); },
  };
}

async function until(what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const kv = (key: string, value: string | null): LiveEvent => ({ kind: 'kv', key, value, atMs: 1 });

/** Reads messages until `n` arrived or the stream ends. */
async function take(it: AsyncGenerator<SseMessage>, n: number): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  for await (const m of it) {
    out.push(m);
    if (out.length === n) break;
  }
  return out;
}

test('GET /events streams Server-Sent Events that pass the kinds and prefix filter, in order', async () => {
  const s = await serve();
  try {
    const res = await fetch(`${s.url}/events?kinds=kv,task&prefix=a/`, { headers: auth });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(s.routes.clients, 1);
    s.events.emit(kv('a/1', 'one'));
    s.events.emit(kv('b/1', 'not mine'));
    s.events.emit({ kind: 'consensus', commitsPerS: 1, latencyMs: 1, fastPathShare: 1, recoveries: 0, committed: 1, reachableVoters: 3, voters: 3, atMs: 1 });
    s.events.emit({ kind: 'task', op: 'task.claim', task: { taskId: 'a/t', spec: '', status: 'claimed', owner: 'w1', token: 1, leaseExpiresMs: 9, result: null }, atMs: 2 });
    s.events.emit(kv('a/2', null));
    const got = await take(readSse(res.body!), 3);
    assert.deepEqual(got.map((m) => m.event), ['kv', 'task', 'kv']);
    assert.deepEqual(got.map((m) => JSON.parse(m.data)), [
      { kind: 'kv', key: 'a/1', value: 'one', atMs: 1 },
      { kind: 'task', op: 'task.claim', task: { taskId: 'a/t', spec: '', status: 'claimed', owner: 'w1', token: 1, leaseExpiresMs: 9, result: null }, atMs: 2 },
      { kind: 'kv', key: 'a/2', value: null, atMs: 1 },
    ]);
    await res.body!.cancel();
    await until('the closed stream to unsubscribe', () => s.events.listeners === 0 && s.routes.clients === 0);
  } finally {
    await s.close();
  }
});

test('GET /events: no token is 401, a bad query is 400 naming the problem, POST is 405', async () => {
  const s = await serve();
  try {
    const none = await fetch(`${s.url}/events`);
    assert.equal(none.status, 401);
    const bad = async (query: string, pattern: RegExp): Promise<void> => {
      const r = await fetch(`${s.url}/events?${query}`, { headers: auth });
      assert.equal(r.status, 400, query);
      assert.match(((await r.json()) as { error: string }).error, pattern);
    };
    await bad('kinds=kv,bogus', /unknown kind\(s\) "bogus"; the kinds are member, task, kv, telemetry, position, consensus, voters/);
    await bad('kinds=', /query "kinds" is empty/);
    await bad('topc=x', /unknown query parameter "topc"; \/events takes kinds, prefix and topic/);
    await bad('topic=', /query "topic" is empty/);
    const post = await fetch(`${s.url}/events`, { method: 'POST', headers: auth });
    assert.equal(post.status, 405);
    assert.equal(s.events.listeners, 0, 'a refused request leaves no listener behind');
  } finally {
    await s.close();
  }
});

test('a client that stops reading is dropped once its buffer is full; a reading client and the agent carry on', async () => {
  const s = await serve({ clientBufferBytesMax: 256 * 1024 });
  const slow = connect(s.port, '127.0.0.1');
  try {
    await new Promise<void>((r) => slow.once('connect', () => r()));
    slow.pause(); // reads nothing: the kernel's buffers fill, then the agent's
    slow.write(`GET /events?kinds=kv HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\n\r\n`);
    await until('the slow client to subscribe', () => s.routes.clients === 1);
    const fast = await fetch(`${s.url}/events?kinds=kv`, { headers: auth });
    const keys: string[] = [];
    const reading = (async () => {
      for await (const m of readSse(fast.body!)) {
        const key = (JSON.parse(m.data) as { key: string }).key;
        keys.push(key);
        if (key === 'k/last') return;
      }
    })();
    const value = 'x'.repeat(16 * 1024);
    let sent = 0;
    // At most 4,000 × 16 KiB = 64 MiB: far beyond any loopback socket buffer, so the drop must come.
    // Bursts of 64 KiB, well under the bound, so that a client that reads keeps up.
    while (s.routes.slowDropped === 0 && sent < 4000) {
      for (let i = 0; i < 4; i++) s.events.emit(kv(`k/${sent++}`, value));
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.equal(s.routes.slowDropped, 1, `the slow client was not dropped after ${sent} events`);
    assert.equal(s.routes.clients, 1, 'the reading client is still streaming');
    s.events.emit(kv('k/last', 'end'));
    const health = await fetch(`${s.url}/health`, { headers: auth });
    assert.equal(health.status, 200);
    await reading;
    assert.equal(keys.length, sent + 1, 'the reading client got every event');
    keys.forEach((k, i) => assert.equal(k, i < sent ? `k/${i}` : 'k/last'));
    await fast.body!.cancel().catch(() => {});
  } finally {
    slow.destroy();
    await s.close();
  }
});

test('GET /telemetry lists topics with schema, last value, count and rate; ?topic= gives history; unknown topic is 404', async () => {
  const s = await serve();
  try {
    s.tap.declare('env/temp', z.strictObject({ celsius: z.number() }));
    for (const c of [20, 21, 22]) s.tap.published('env/temp', new TextEncoder().encode(JSON.stringify({ celsius: c })));
    const r = await fetch(`${s.url}/telemetry`, { headers: auth });
    assert.equal(r.status, 200);
    const { topics } = await r.json() as { topics: Array<Record<string, unknown>> };
    assert.equal(topics.length, 1);
    const t = topics[0];
    assert.equal(t.topic, 'env/temp');
    assert.equal(t.count, 3);
    assert.deepEqual((t.last as { value: unknown }).value, { celsius: 22 });
    assert.equal((t.schema as { type: string }).type, 'object');
    assert.deepEqual((t.schema as { required: string[] }).required, ['celsius']);
    assert.ok((t.ratePerS as number) > 0);
    const one = await (await fetch(`${s.url}/telemetry?topic=env%2Ftemp`, { headers: auth })).json() as { history: Array<{ value: { celsius: number } }> };
    assert.deepEqual(one.history.map((h) => h.value.celsius), [20, 21, 22]);
    const missing = await fetch(`${s.url}/telemetry?topic=nope`, { headers: auth });
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { error: string }).error, /no telemetry topic "nope"/);
    const bad = await fetch(`${s.url}/telemetry?topics=x`, { headers: auth });
    assert.equal(bad.status, 400);
  } finally {
    await s.close();
  }
});
