// `covey kv watch` and `covey telemetry ls|echo|hz` as processes against an API with the live
// routes, fed by hand: what they print (text and NDJSON), and their exit codes — 0 at --count or
// on Ctrl-C, 1 when the agent ends the stream or is not a voter, 2 on a usage error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { LiveEvents } from '../live/events.ts';
import { LiveRoutes } from '../live/http-routes.ts';
import { TelemetryTap } from '../live/telemetry-tap.ts';
import { formatHz, hzOf } from './hz.ts';
import { runCli, serveGroup, startCli } from './testing.ts';

async function serveLive(role: 'voter' | 'worker' = 'voter') {
  let nowMs = 1_800_000_000_000;
  const events = new LiveEvents();
  const tap = new TelemetryTap({ now: () => nowMs });
  // As agent/live/live.ts wires them: what the tap hears becomes telemetry events.
  tap.subscribe('*', (s) => events.emit({ kind: 'telemetry', topic: s.topic, from: s.from, value: s.value, atMs: s.atMs }));
  const routes = new LiveRoutes({ events, tap });
  const s = await serveGroup({ status: () => ({ role }) }, { live: routes });
  const publish = (topic: string, value: unknown, stepMs = 100): void => {
    nowMs += stepMs;
    tap.published(topic, new TextEncoder().encode(JSON.stringify(value)));
  };
  const listening = async (n = 1): Promise<void> => {
    const end = Date.now() + 20_000;
    while (events.listeners < n) {
      if (Date.now() > end) throw new Error('the CLI never opened its stream');
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { ...s, events, tap, routes, publish, listening, close: async () => { routes.closeAll(); await s.close(); } };
}

test('kv watch: one line a change under the prefix, NDJSON with --json, exits 0 at --count', async () => {
  const s = await serveLive();
  try {
    const json = startCli(['kv', 'watch', 'fleet/', '--count', '3', '--json', '--agent', s.url]);
    await s.listening();
    s.events.emit({ kind: 'kv', key: 'fleet/a', value: '1', atMs: 1000 });
    s.events.emit({ kind: 'kv', key: 'other/x', value: 'not mine', atMs: 1001 });
    s.events.emit({ kind: 'task', op: 'task.create', task: { taskId: 'fleet/t', spec: '', status: 'open', owner: null, token: 0, leaseExpiresMs: 0, result: null }, atMs: 1002 });
    s.events.emit({ kind: 'kv', key: 'fleet/b', value: 'two\nlines', atMs: 1003 });
    s.events.emit({ kind: 'kv', key: 'fleet/a', value: null, atMs: 1004 });
    s.events.emit({ kind: 'kv', key: 'fleet/c', value: 'after the count', atMs: 1005 });
    const r = await json.done;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l)), [
      { key: 'fleet/a', value: '1', atMs: 1000 },
      { key: 'fleet/b', value: 'two\nlines', atMs: 1003 },
      { key: 'fleet/a', value: null, atMs: 1004 },
    ]);

    const text = startCli(['kv', 'watch', 'fleet/', '--count', '2', '--agent', s.url]);
    await s.listening();
    s.events.emit({ kind: 'kv', key: 'fleet/b', value: 'two\nlines', atMs: Date.parse('2026-12-05T10:00:00Z') });
    s.events.emit({ kind: 'kv', key: 'fleet/b', value: null, atMs: Date.parse('2026-12-05T10:00:01Z') });
    const t = await text.done;
    assert.equal(t.code, 0, t.stderr);
    assert.equal(t.stdout, '2026-12-05T10:00:00.000Z  put  fleet/b  two\\nlines\n2026-12-05T10:00:01.000Z  del  fleet/b\n');
  } finally {
    await s.close();
  }
});

test('kv watch: Ctrl-C ends it with 0; the agent ending the stream is 1; a worker is refused with 1; a missing prefix is 2', async () => {
  const s = await serveLive();
  try {
    const interrupted = startCli(['kv', 'watch', '', '--agent', s.url]);
    await s.listening();
    s.events.emit({ kind: 'kv', key: 'x', value: 'y', atMs: 0 });
    await new Promise((r) => setTimeout(r, 300));
    interrupted.child.kill('SIGINT');
    const i = await interrupted.done;
    assert.equal(i.code, 0, i.stderr);
    assert.match(i.stdout, /put {2}x {2}y\n$/);

    const ended = startCli(['kv', 'watch', 'p/', '--agent', s.url]);
    await s.listening();
    s.routes.closeAll();
    const e = await ended.done;
    assert.equal(e.code, 1);
    assert.match(e.stderr, /covey kv watch: the agent at http:\/\/127\.0\.0\.1:\d+ ended the stream/);

    const usage = await runCli(['kv', 'watch', '--agent', s.url]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /missing required argument 'prefix'/);
  } finally {
    await s.close();
  }
  const w = await serveLive('worker');
  try {
    const r = await runCli(['kv', 'watch', 'p/', '--agent', w.url]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /kv watch follows the commands a voter applies; the agent at .* is a worker: point --agent at a voter/);
  } finally {
    await w.close();
  }
});

test('telemetry ls, echo and hz as ros2 topic does, with --json', async () => {
  const s = await serveLive();
  try {
    s.tap.declare('temp', z.object({ c: z.number() }));
    for (let i = 0; i < 3; i++) s.publish('temp', { c: 20 + i });
    const ls = await runCli(['telemetry', 'ls', '--json', '--agent', s.url]);
    assert.equal(ls.code, 0, ls.stderr);
    const topics = JSON.parse(ls.stdout) as { topic: string; count: number; schema: unknown; last: { value: unknown } }[];
    assert.deepEqual(topics.map((t) => [t.topic, t.count, t.last.value]), [['temp', 3, { c: 22 }]]);
    assert.equal((topics[0].schema as { type?: string }).type, 'object', 'the declared schema as JSON Schema');
    const lsText = await runCli(['telemetry', 'ls', '--agent', s.url]);
    assert.match(lsText.stdout, /^TOPIC +RATE +COUNT +LAST +FROM +SCHEMA +LAST VALUE\ntemp +[\d.]+\/s +3 +.* yes +\{"c":22\}\n$/);

    const echo = startCli(['telemetry', 'echo', 'temp', '--count', '2', '--json', '--agent', s.url]);
    await s.listening();
    s.publish('other', { c: 0 });
    s.publish('temp', { c: 30 });
    s.publish('temp', { c: 31 });
    const e = await echo.done;
    assert.equal(e.code, 0, e.stderr);
    assert.deepEqual(e.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { topic: string; value: unknown }).value), [{ c: 30 }, { c: 31 }]);

    // Messages 100 ms apart on the agent's clock: 10 Hz, whatever the stream's own jitter.
    const hz = startCli(['telemetry', 'hz', 'temp', '--count', '1', '--every', '1500', '--json', '--agent', s.url]);
    await s.listening();
    for (let i = 0; i < 11; i++) s.publish('temp', { c: i }, 100);
    const h = await hz.done;
    assert.equal(h.code, 0, h.stderr);
    const report = JSON.parse(h.stdout.trim()) as { topic: string; rateHz: number; minS: number; maxS: number; stdDevS: number; window: number };
    assert.equal(report.topic, 'temp');
    assert.equal(report.window, 11);
    assert.ok(Math.abs(report.rateHz - 10) < 1e-6, String(report.rateHz));
    assert.ok(report.stdDevS < 1e-6);

    // A topic not heard yet: a note on stderr, and the stream still waits for it.
    const unheard = startCli(['telemetry', 'echo', 'later', '--count', '1', '--agent', s.url]);
    await s.listening();
    s.publish('later', { ok: true });
    const u = await unheard.done;
    assert.equal(u.code, 0);
    assert.match(u.stderr, /no message on "later" has reached .* yet; waiting/);
    assert.match(u.stdout, /Z {2}\S+ {2}\{"ok":true\}\n$/);
  } finally {
    await s.close();
  }
  const usage = await runCli(['telemetry', 'hz', 't', '--window', '1', '--agent', 'http://127.0.0.1:9']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--window must be a whole number ≥ 2/);
  const unreachable = await runCli(['telemetry', 'ls', '--agent', 'http://127.0.0.1:9']);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /cannot reach the agent/);
});

test('hz: the mean rate and the spread of the intervals over the window', () => {
  assert.deepEqual(hzOf([]), { rateHz: null, minS: null, maxS: null, stdDevS: null, window: 0 });
  const r = hzOf([0, 100, 300, 400]);
  assert.equal(r.window, 4);
  assert.ok(Math.abs(r.rateHz! - 3 / 0.4) < 1e-9);
  assert.equal(r.minS, 0.1);
  assert.equal(r.maxS, 0.2);
  assert.ok(Math.abs(r.stdDevS! - Math.sqrt(((0.1 - 0.4 / 3) ** 2 * 2 + (0.2 - 0.4 / 3) ** 2) / 3)) < 1e-12);
  assert.equal(formatHz(r), 'rate 7.50 Hz  min 0.100 s  max 0.200 s  std dev 0.04714 s  window 4');
  assert.equal(formatHz(hzOf([5])), '1 message so far; a rate needs two');
});
