// Yamux flow control as the other libp2p implementations do it. js yamux 7 (the 2.x generation's
// muxer) sends a window update after *every* chunk a stream's reader takes, so each consensus
// frame a voter receives costs a second frame back: a 30-byte noise packet, a socket write on
// this side and a read, a decryption and a decode on the other. On the real path that was half
// of every voter's socket writes (bench:profile-path, docs/benchmarks.md). rust-yamux and
// go-yamux send one only once half the receive window has been consumed; so does this, by
// wrapping YamuxStream.prototype.sendWindowUpdate: a stream still sends the first update (it
// carries the SYN/ACK flags) and any update once its remaining receive capacity is at or below
// half the window, and nothing else changes. The sender can never be stalled by it: it has at
// least half a window (128 KiB at first) of credit whenever the receiver is keeping up.

import assert from 'node:assert/strict';
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream';

interface StreamWindow {
  state: StreamState;
  recvWindow: number;
  recvWindowCapacity: number;
  sendWindowUpdate(): void;
}

let installed = false;

/** Installs the half-window rule for every yamux stream of this process (idempotent). */
export function sendWindowUpdatesAtHalfWindow(): void {
  if (installed) return;
  const proto = YamuxStream.prototype as unknown as StreamWindow;
  const original = proto.sendWindowUpdate;
  // The names below are js yamux 7's; a version that renamed them must be looked at again.
  assert.equal(typeof original, 'function', 'yamux: YamuxStream.sendWindowUpdate is gone; review transports/yamux/window-updates.ts');
  assert.equal(StreamState.SYNReceived, 2, 'yamux: StreamState changed; review transports/yamux/window-updates.ts');
  proto.sendWindowUpdate = function (this: StreamWindow): void {
    // Init and SYNReceived: this update carries SYN or ACK (getSendFlags has side effects: not called here).
    const opening = this.state === StreamState.Init || this.state === StreamState.SYNReceived;
    if (!opening && this.recvWindowCapacity * 2 > this.recvWindow) return;
    original.call(this);
  };
  installed = true;
}
