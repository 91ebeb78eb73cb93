// A peer that writes as fast as it may, to a reader that keeps up: js yamux then doubles the
// stream's receive window, by default up to 16 MiB, which is what a flooding peer can park unread
// in this agent per stream. The node's yamuxOptions keep every window (read from the window
// updates the reader sends back) at 256 KiB, and every byte still arrives.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { yamuxOptions } from '../node.ts';
import { sendWindowUpdatesAtHalfWindow } from './window-updates.ts';
import { sendBackToBack } from './testing.ts';

async function largestWindowGranted(options: Parameters<typeof sendBackToBack>[0], bytes: number): Promise<{ largest: number; received: number }> {
  const chunks = (function* () { for (let sent = 0; sent < bytes; sent += 32 * 1024) yield new Uint8Array(32 * 1024); })();
  const r = await sendBackToBack(options, chunks);
  return { largest: Math.max(0, ...r.windowUpdates), received: r.received };
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
