// The submit stream: pipelined commands matched to their answers by id, the agent's clock in every
// command, bad frames answered without closing, unframeable bytes closing, the token enforced on
// the upgrade, and a lost connection failing what was in flight.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { attachStreamServer, type StreamServer } from './server.ts';
import { StreamClient, StreamClosedError, StreamCommandError } from './client.ts';
import { streamPath, streamProtocol } from './frames.ts';
import type { Command, CommandResult } from '../../consensus/index.ts';
import { tokenProblem } from '../http.ts';

const logger = pino({ level: 'silent' });

interface Served { server: Server; streams: StreamServer; url: string }

async function serve(submit: (c: Command) => Promise<CommandResult>, token?: string): Promise<Served> {
  const server = createServer((_req, res) => { res.writeHead(404).end(); });
  const streams = attachStreamServer(server, { submit, authorize: (req) => tokenProblem(req, token), logger });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, streams, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function close(s: Served): Promise<void> {
  s.server.closeAllConnections();
  s.streams.closeAll();
  await new Promise<void>((r) => s.server.close(() => r()));
}

test('pipelined commands are answered by id, in whatever order they finish, with the agent\'s clock in each', async () => {
  const seen: Command[] = [];
  const served = await serve(async (c) => {
    seen.push(c);
    // Later commands finish first.
    await new Promise((r) => setTimeout(r, 40 - seen.length * 10));
    return c.op === 'get' ? { ok: true, value: `value-of-${c.key}` } : { ok: true };
  });
  const client = await StreamClient.connect(served.url);
  const before = Date.now();
  const answers = await Promise.all([client.get('a'), client.put('b', '1'), client.get('c')]);
  assert.deepEqual(answers, [{ ok: true, value: 'value-of-a' }, { ok: true }, { ok: true, value: 'value-of-c' }]);
  assert.deepEqual(seen.map((c) => c.requestId), [1, 2, 3]);
  assert.ok(seen.every((c) => c.clientId === client.clientId && c.timestampMs >= before), 'the agent stamps its own clock');
  // A retry under the same ids carries them unchanged.
  await client.submit({ op: 'put', key: 'b', value: '1' }, { clientId: 'other', requestId: 2 });
  assert.deepEqual([seen[3].clientId, seen[3].requestId], ['other', 2]);
  client.close();
  await close(served);
});

test('an invalid command is answered with the reason and the connection stays up; a refusal is a result', async () => {
  const served = await serve(async (c) => 'key' in c && c.key === 'refused' ? { ok: false, error: 'no' } : { ok: true });
  const client = await StreamClient.connect(served.url);
  await assert.rejects(client.put('x'.repeat(5000), 'v'), (err: Error) => err instanceof StreamCommandError && err.kind === 'InvalidCommand' && /key/.test(err.message));
  assert.deepEqual(await client.put('refused', 'v'), { ok: false, error: 'no' });
  assert.deepEqual(await client.put('fine', 'v'), { ok: true });
  client.close();
  await close(served);
});

test('a failed submit is answered with its error kind', async () => {
  const served = await serve(async () => { const e = new Error('no quorum within 5000 ms'); e.name = 'DeadlineError'; throw e; });
  const client = await StreamClient.connect(served.url);
  await assert.rejects(client.put('k', 'v'), (err: Error) => err instanceof StreamCommandError && err.kind === 'DeadlineError' && /no quorum/.test(err.message));
  client.close();
  await close(served);
});

test('the upgrade needs the token when the agent has one; other upgrades are refused with 404', async () => {
  const served = await serve(async () => ({ ok: true }), 'a-long-enough-token-123');
  await assert.rejects(StreamClient.connect(served.url), /refused the submit stream: 401 missing or wrong bearer token/);
  await assert.rejects(StreamClient.connect(served.url, { token: 'wrong-token-wrong-token' }), /401/);
  const ok = await StreamClient.connect(served.url, { token: 'a-long-enough-token-123' });
  assert.deepEqual(await ok.get('k'), { ok: true });
  ok.close();
  const other = await new Promise<string>((resolve) => {
    const s = connect(Number(new URL(served.url).port), '127.0.0.1', () => s.write(`GET ${streamPath} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`));
    let text = '';
    s.on('data', (d) => { text += d.toString(); });
    s.on('close', () => resolve(text));
  });
  assert.match(other, /^HTTP\/1\.1 404[\s\S]*Upgrade: covey-submit\/1/);
  await close(served);
});

test('unframeable bytes close the connection; commands in flight fail as closed, not as refused', async () => {
  let release: (() => void) | null = null;
  const served = await serve(() => new Promise<CommandResult>((r) => { release = () => r({ ok: true }); }));
  const client = await StreamClient.connect(served.url);
  const pending = client.put('k', 'v');
  await new Promise((r) => setTimeout(r, 20));
  // A raw peer sends a frame header announcing 1 GiB: the server must hang up, not buffer it.
  const raw = await new Promise<string>((resolve) => {
    const s = connect(Number(new URL(served.url).port), '127.0.0.1', () => {
      s.write(`GET ${streamPath} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${streamProtocol}\r\n\r\n`);
      s.write(Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 1]));
    });
    s.on('data', () => {});
    s.on('close', () => resolve('closed'));
  });
  assert.equal(raw, 'closed');
  served.streams.closeAll();
  await assert.rejects(pending, (err: Error) => err instanceof StreamClosedError && /may still take effect/.test(err.message));
  await assert.rejects(client.get('k'), StreamClosedError);
  (release as (() => void) | null)?.();
  await close(served);
});
