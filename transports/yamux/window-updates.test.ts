// Two yamux muxers joined back to back: 200 small messages on one stream, read as they come.
// Without the half-window rule the reader sends ~200 window updates back; with it, the first
// (which opens the stream) and then one per half window; and every message still arrives.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sendWindowUpdatesAtHalfWindow } from './window-updates.ts';
import { sendBackToBack } from './testing.ts';

async function headerOnlyFramesBack(messages: number, bytes: number): Promise<{ updates: number; received: number }> {
  const chunks = (function* () { for (let i = 0; i < messages; i++) yield new Uint8Array(bytes).fill(i & 0xff); })();
  const r = await sendBackToBack({}, chunks);
  return { updates: r.windowUpdates.length, received: r.received };
}

test('a reader sends window updates once half its window is used, not after every chunk', async () => {
  sendWindowUpdatesAtHalfWindow();
  sendWindowUpdatesAtHalfWindow(); // idempotent
  const small = await headerOnlyFramesBack(200, 100);
  assert.equal(small.received, 200 * 100, 'every byte arrives');
  assert.ok(small.updates <= 2, `${small.updates} window updates for 20 KB (the opening one, and none per chunk)`);
  // 2 MiB through a 256 KiB window: it arrives only if updates keep coming (at half windows).
  const big = await headerOnlyFramesBack(64, 32 * 1024);
  assert.equal(big.received, 64 * 32 * 1024);
  assert.ok(big.updates >= 2 && big.updates <= 40, `${big.updates} window updates for 2 MiB (8 windows of 256 KiB; the window grows)`);
});
