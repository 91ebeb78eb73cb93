// A peer that writes as fast as it may, to a reader that keeps up: js yamux then doubles the
// stream's receive window, by default up to 16 MiB, which is what a flooding peer can park unread
// in this agent per stream. The node's yamuxOptions keep every window (read from the window
// updates the reader sends back) at 256 KiB, and every byte still arrives.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { yamux } from '@chainsafe/libp2p-yamux';
import { defaultLogger } from '@libp2p/logger';
import { pipe } from 'it-pipe';
import { Uint8ArrayList } from 'uint8arraylist';
import { yamuxOptions } from '../node.ts';
import { sendWindowUpdatesAtHalfWindow } from './window-updates.ts';

const windowUpdate = 1; // yamux frame type

async function largestWindowGranted(options: Parameters<typeof yamux>[0], bytes: number): Promise<{ largest: number; received: number }> {
  const factory = yamux(options)({ logger: defaultLogger() });
  let largest = 0;
  let received = 0;
  let finished!: () => void;
  const done = new Promise<void>((r) => { finished = r; });
  const a = factory.createStreamMuxer({ direction: 'outbound' });
  const b = factory.createStreamMuxer({
    direction: 'inbound',
    onIncomingStream: (s) => {
      void (async () => {
        for await (const chunk of s.source) received += chunk.byteLength;
        finished();
      })();
    },
  });
  void pipe(a.source, b);
  void pipe(b.source, async function* (src) {
    for await (const chunk of src) {
      const buf = chunk instanceof Uint8Array ? chunk : (chunk as Uint8ArrayList).subarray();
      // A header-only window update: its length field is the credit granted.
      if (buf.length === 12 && buf[1] === windowUpdate) largest = Math.max(largest, new DataView(buf.buffer, buf.byteOffset).getUint32(8));
      yield buf;
    }
  }, a);
  const stream = await a.newStream();
  await stream.sink((function* () { for (let sent = 0; sent < bytes; sent += 32 * 1024) yield new Uint8Array(32 * 1024); })());
  await done;
  a.abort(new Error('test over'));
  b.abort(new Error('test over'));
  return { largest, received };
}

test('a stream\'s receive window stays within 256 KiB however fast its peer writes', async () => {
  sendWindowUpdatesAtHalfWindow(); // as every Covey node runs
  const bytes = 8 * 1024 * 1024;
  const unbounded = await largestWindowGranted({}, bytes);
  assert.ok(unbounded.largest > 1024 * 1024, `js yamux's own default grows the window (to ${unbounded.largest} bytes here): what the budget is for`);
  const covey = await largestWindowGranted(yamuxOptions, bytes);
  assert.equal(covey.received, bytes, 'every byte arrives');
  assert.ok(covey.largest <= 256 * 1024, `largest window granted ${covey.largest} bytes`);
});
