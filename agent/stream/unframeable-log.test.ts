// Regression (found by npm run fuzz:wire): every connection that sent unframeable bytes to the
// submit stream logged its own warning, so a client reconnecting with garbage flooded the log.
// Each such connection is still closed; the warning comes at most once per client address per
// interval, carrying how many it stood for.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { streamPath, streamProtocol } from './frames.ts';
import { attachStreamServer } from './server.ts';

const connections = 20;

test('unframeable bytes on many connections: each is closed, one warning is logged', async () => {
  const lines: { msg: string }[] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
  const server = createServer((_req, res) => { res.writeHead(404).end(); });
  const streams = attachStreamServer(server, { submit: async () => ({ ok: true }), authorize: () => null, logger });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  try {
    for (let i = 0; i < connections; i++) {
      await new Promise<void>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.write(`GET ${streamPath} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${streamProtocol}\r\n\r\n`);
          s.write(Buffer.from([0, 0, 0, 1, 0, 0, 0, 0])); // a frame of 1 byte: shorter than its own id
        });
        s.on('data', () => {});
        s.on('close', () => resolve());
      });
    }
    const warnings = lines.filter((l) => /unframeable/.test(l.msg));
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
  } finally {
    streams.closeAll();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
