// The Foxglove bridge, tested with the protocol's own client (FoxgloveClient of
// @foxglove/ws-protocol over `ws`): it advertises the tap's topics with their JSON schemas, sends
// a subscribed topic's values as JSON with their time, advertises a topic that appears later, and
// re-advertises a channel whose schema becomes known after it was first advertised.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { silentLogger } from '../testing.ts';
import { FoxgloveBridge } from './foxglove-bridge.ts';
import { connectFoxglove as connect, type Received } from './foxglove-testing.ts';
import { positionMessage, positionTopic } from './positions.ts';
import { TelemetryTap } from './telemetry-tap.ts';

const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

test('a Foxglove client sees the telemetry topics with their schemas, subscribes, and receives JSON messages; a later topic is advertised', async () => {
  const tap = new TelemetryTap();
  tap.declare(positionTopic, positionMessage);
  const bridge = await FoxgloveBridge.start({ tap, listen: '127.0.0.1:0', logger: silentLogger });
  const c = await connect(`ws://127.0.0.1:${bridge.port}`);
  try {
    const pos = await c.until('covey/position advertised', () => c.channels.get(positionTopic));
    assert.equal(pos.encoding, 'json');
    assert.equal(pos.schemaEncoding, 'jsonschema');
    assert.equal(pos.schemaName, positionTopic);
    const schema = JSON.parse(pos.schema) as { type: string; properties: Record<string, unknown>; required: string[] };
    assert.equal(schema.type, 'object');
    assert.deepEqual(schema.required.sort(), ['device', 'lat', 'lon']);
    assert.ok('battery' in schema.properties, 'the schema lists the optional fields too');

    const subId = c.client.subscribe(pos.id);
    // The subscription reaches the server asynchronously: publish until a message arrives.
    const fix = { device: 'drone-1', lat: 47.397, lon: 8.545, alt: 12.5, battery: 0.8 };
    const before = Date.now();
    const tick = setInterval(() => tap.published(positionTopic, bytes(fix)), 20);
    let got: Received;
    try {
      got = await c.until('a position message', () => c.messages.find((m) => m.subscriptionId === subId));
    } finally {
      clearInterval(tick);
    }
    const value = JSON.parse(new TextDecoder().decode(got.data)) as unknown;
    assert.deepEqual(value, fix);
    assert.ok(positionMessage.safeParse(value).success, 'the message fits the advertised schema');
    const ms = Number(got.timestamp / 1_000_000n);
    assert.ok(ms >= before && ms <= Date.now(), `the timestamp is the arrival time in ns (${got.timestamp})`);

    // A topic the tap learns later (a peer's plugin) is advertised on the fly, schema and all.
    tap.declare('battery-report', z.object({ percent: z.number() }));
    const later = await c.until('battery-report advertised', () => c.channels.get('battery-report'));
    assert.equal((JSON.parse(later.schema) as { properties: Record<string, unknown> }).properties.percent !== undefined, true);
  } finally {
    c.close();
    await bridge.stop();
  }
});

test('a topic first seen without a schema is advertised schemaless, then re-advertised when its schema arrives', async () => {
  const tap = new TelemetryTap();
  const bridge = await FoxgloveBridge.start({ tap, listen: '127.0.0.1:0', logger: silentLogger });
  const c = await connect(`ws://127.0.0.1:${bridge.port}`);
  try {
    tap.published('wind', bytes({ speed: 3 }));
    const first = await c.until('wind advertised', () => c.channels.get('wind'));
    assert.equal(first.schema, '');
    tap.declare('wind', z.object({ speed: z.number() }));
    const second = await c.until('wind re-advertised with a schema', () => (c.channels.get('wind')?.schema ?? '') !== '' ? c.channels.get('wind') : undefined);
    assert.notEqual(second.id, first.id);
    assert.ok(c.removed.includes(first.id), 'the schemaless channel was withdrawn');
    assert.ok('speed' in (JSON.parse(second.schema) as { properties: Record<string, unknown> }).properties);
  } finally {
    c.close();
    await bridge.stop();
  }
});

test('a port already in use is refused with a message naming the address and the setting', async () => {
  const tap = new TelemetryTap();
  const first = await FoxgloveBridge.start({ tap, listen: '127.0.0.1:0', logger: silentLogger });
  try {
    await assert.rejects(FoxgloveBridge.start({ tap, listen: `127.0.0.1:${first.port}`, logger: silentLogger }),
      new RegExp(`cannot listen for Foxglove on 127\\.0\\.0\\.1:${first.port}: .*change foxglove\\.listen`));
  } finally {
    await first.stop();
  }
});

test('a client that stops reading loses messages instead of growing the agent\'s memory', async () => {
  const tap = new TelemetryTap();
  tap.declare('big', z.object({ blob: z.string() }));
  const bridge = await FoxgloveBridge.start({ tap, listen: '127.0.0.1:0', logger: silentLogger });
  const c = await connect(`ws://127.0.0.1:${bridge.port}`);
  try {
    const ch = await c.until('big advertised', () => c.channels.get('big'));
    const sub = c.client.subscribe(ch.id);
    const tick = setInterval(() => tap.published('big', bytes({ blob: 'first' })), 20);
    try {
      await c.until('a first message', () => c.messages.find((m) => m.subscriptionId === sub));
    } finally {
      clearInterval(tick);
    }
    // The client's socket stops reading: the kernel's buffers fill, then the bridge's.
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const value = bytes({ blob: 'x'.repeat(256 * 1024) });
    for (let i = 0; i < 200 && bridge.dropped === 0; i++) {
      tap.published('big', value);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(bridge.dropped > 0, 'messages were dropped for the stalled client');
  } finally {
    c.close();
    await bridge.stop();
  }
});
