// The telemetry tap over a fake agent port: what it learns from local declarations, local
// publications, peers' subscriptions and peers' schema announcements; its count, rate and
// history; and its bounds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import type { Cancel } from '../plugins/api.ts';
import { historyBytesMax, historyMax, schemasTopic, TelemetryTap, topicsMax, type TelemetrySample, type TelemetryTapPort } from './telemetry-tap.ts';

/** A port whose subscriptions, publications and peer news the test drives by hand. */
function fakePort() {
  const subs = new Map<string, Set<(data: Uint8Array, from: string) => void>>();
  const peerTopicFns = new Set<(topic: string) => void>();
  const published: Array<{ topic: string; text: string }> = [];
  const port: TelemetryTapPort = {
    selfId: 'me',
    subscribe(topic, fn): Cancel {
      let set = subs.get(topic);
      if (set === undefined) { set = new Set(); subs.set(topic, set); }
      set.add(fn);
      return () => { set.delete(fn); };
    },
    async publish(topic, data) { published.push({ topic, text: new TextDecoder().decode(data) }); },
    onPeerTopic(fn) { peerTopicFns.add(fn); return () => { peerTopicFns.delete(fn); }; },
    every: () => () => {},
  };
  return {
    port, published,
    subscribed: (topic: string): boolean => (subs.get(topic)?.size ?? 0) > 0,
    deliver: (topic: string, value: unknown, from: string): void => {
      for (const fn of subs.get(topic) ?? []) fn(new TextEncoder().encode(JSON.stringify(value)), from);
    },
    peerSubscribes: (topic: string): void => { for (const fn of peerTopicFns) fn(topic); },
  };
}

const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

test('a declared topic is subscribed, announced with its JSON schema, and counts local and remote messages', () => {
  let now = 10_000;
  const tap = new TelemetryTap({ now: () => now });
  const f = fakePort();
  tap.declare('env/temp', z.strictObject({ celsius: z.number() })); // before start: kept, subscribed at start
  tap.start(f.port);
  assert.ok(f.subscribed('env/temp'));
  assert.ok(f.subscribed(schemasTopic));
  const announced = f.published.filter((p) => p.topic === schemasTopic).map((p) => JSON.parse(p.text) as { topic: string; schema: { properties: object } });
  assert.deepEqual(announced.map((a) => a.topic), ['env/temp']);
  assert.deepEqual(Object.keys(announced[0].schema.properties), ['celsius']);

  const seen: TelemetrySample[] = [];
  const cancel = tap.subscribe('env/temp', (s) => seen.push(s));
  tap.published('env/temp', bytes({ celsius: 20 }));
  now += 500;
  f.deliver('env/temp', { celsius: 21 }, 'peer-b');
  const t = tap.topic('env/temp')!;
  assert.equal(t.count, 2);
  assert.deepEqual(t.last, { topic: 'env/temp', from: 'peer-b', value: { celsius: 21 }, atMs: 10_500 });
  assert.deepEqual(seen.map((s) => [s.from, s.value]), [['me', { celsius: 20 }], ['peer-b', { celsius: 21 }]]);
  assert.equal(t.ratePerS, 2 / 5);
  now += 10_000; // both arrivals leave the window
  assert.equal(tap.topics()[0].ratePerS, 0);
  cancel();
  f.deliver('env/temp', { celsius: 22 }, 'peer-b');
  assert.equal(seen.length, 2, 'an unsubscribed listener hears nothing more');
  tap.stop();
  assert.ok(!f.subscribed('env/temp'));
});

test('a peer subscribing to the announcements gets them at once, not at the next round; the topic is not tracked', () => {
  const tap = new TelemetryTap();
  const f = fakePort();
  tap.start(f.port);
  tap.declare('pulse', z.strictObject({ n: z.number() }));
  const announcements = (): number => f.published.filter((p) => p.topic === schemasTopic).length;
  const before = announcements();
  f.peerSubscribes(schemasTopic);
  assert.equal(announcements(), before + 1);
  assert.deepEqual(tap.topics().map((t) => t.topic), ['pulse']);
  f.peerSubscribes('other/topic');
  assert.equal(announcements(), before + 1, 'another topic\'s subscriber triggers no announcement');
  tap.stop();
});

test('topics are learned from peers\' subscriptions and announcements; an announced schema fills an unknown one', () => {
  const tap = new TelemetryTap();
  const f = fakePort();
  tap.start(f.port);
  f.peerSubscribes('survey/coverage');
  assert.ok(f.subscribed('survey/coverage'));
  assert.equal(tap.topic('survey/coverage')!.schema, null);
  f.deliver(schemasTopic, { topic: 'survey/coverage', schema: { type: 'object' } }, 'peer-b');
  assert.deepEqual(tap.topic('survey/coverage')!.schema, { type: 'object' });
  f.deliver(schemasTopic, { topic: 'only/published', schema: null }, 'peer-c');
  assert.ok(f.subscribed('only/published'), 'a topic announced by a publisher that never subscribes is heard too');
  f.deliver(schemasTopic, { nonsense: true }, 'peer-d');
  assert.deepEqual(tap.topics().map((t) => t.topic), ['only/published', 'survey/coverage']);
  tap.stop();
});

test('bounds: history per topic, number of topics; non-JSON is counted, not kept', () => {
  const tap = new TelemetryTap();
  const f = fakePort();
  tap.start(f.port);
  for (let i = 0; i < historyMax + 30; i++) tap.published('n', bytes(i));
  const n = tap.topic('n')!;
  assert.equal(n.count, historyMax + 30);
  assert.equal(n.history.length, historyMax);
  assert.equal(n.history[0].value, 30, 'the oldest are dropped first');
  const big = 'x'.repeat(1000);
  for (let i = 0; i < historyMax; i++) tap.published('big', bytes({ i, big }));
  const kept = tap.topic('big')!.history;
  assert.ok(kept.length < historyMax && kept.length * 1000 <= historyBytesMax, `history of big values cut by bytes: ${kept.length} kept`);
  assert.equal((kept.at(-1)!.value as { i: number }).i, historyMax - 1, 'the newest is kept');
  for (let i = 0; i < topicsMax + 5; i++) f.peerSubscribes(`t/${i}`);
  assert.equal(tap.topics().length, topicsMax);
  assert.equal(tap.topicsRefused, 7);
  tap.published('n', new TextEncoder().encode('{not json'));
  assert.equal(tap.invalid, 1);
  assert.equal(tap.topic('n')!.count, historyMax + 30);
  tap.stop();
});
