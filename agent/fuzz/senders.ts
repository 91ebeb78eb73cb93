// How the wire fuzzer puts frames on each protocol, as a peer would: length-prefixed frames on
// libp2p streams (consensus and membership: many frames per stream; submit, snapshot and join: one
// per stream, as their protocols define), messages on the gossipsub topics (membership, voters),
// and the HTTP submit stream over a plain TCP connection after its upgrade. A framing breaker
// (`raw`) is always the last thing written on its stream: after it the receiver has lost the
// framing and closes.

import { connect } from 'node:net';
import type { Libp2p, PeerId, Stream } from '@libp2p/interface';
import * as lp from 'it-length-prefixed';
import { FrameReader, encodeStreamFrame, streamPath, streamProtocol } from '../stream/frames.ts';
import { concat, varint } from '../../transports/testing/fuzz-mutate.ts';
import type { DrawnFrame } from './feed.ts';

/** One stream or connection gives up after this long (a stuck agent shows in the health checks). */
export const sendTimeoutMs = 20_000;

function lpFrame(f: DrawnFrame): Uint8Array {
  return f.kind === 'raw' ? f.bytes : concat(varint(f.bytes.length), f.bytes);
}

/** Many frames on one stream of `protocol` (consensus, membership), then a close. */
export async function sendOnStream(node: Libp2p, peer: PeerId, protocol: string, frames: readonly DrawnFrame[]): Promise<void> {
  const signal = AbortSignal.timeout(sendTimeoutMs);
  const stream = await node.dialProtocol(peer, protocol, { signal });
  try {
    await stream.sink((function* () { for (const f of frames) yield lpFrame(f); })());
    await stream.close({ signal });
  } catch (err) {
    stream.abort(err as Error);
  }
}

/**
 * One request on its own stream, and its reply when the protocol has one (submit's reply, join's ack). Resolves true
 * when a reply came back: the frame reached the decoder and was answered. Without a reply
 * (snapshot), it waits for the receiver to end the stream, so the next request does not find the
 * receiver's few inbound streams still taken.
 */
export async function sendRequest(node: Libp2p, peer: PeerId, protocol: string, frame: DrawnFrame, expectReply: boolean): Promise<boolean> {
  const signal = AbortSignal.timeout(sendTimeoutMs);
  let stream: Stream | null = null;
  try {
    stream = await node.dialProtocol(peer, protocol, { signal });
    const s = stream;
    signal.addEventListener('abort', () => s.abort(new Error('fuzzer: request timed out')), { once: true });
    await stream.sink([lpFrame(frame)]);
    if (!expectReply) {
      for await (const _ of stream.source) { /* the receiver sends nothing; this ends when it closes */ }
      return false;
    }
    for await (const _ of lp.decode(stream.source)) return true;
    return false;
  } catch {
    return false;
  } finally {
    if (stream !== null) await stream.close({ signal: AbortSignal.timeout(1000) }).catch(() => stream?.abort(new Error('close failed')));
  }
}

/** Publishes each frame on the topic; resolves with how many gossipsub took. */
export async function publishAll(node: Libp2p, topic: string, frames: readonly DrawnFrame[]): Promise<number> {
  const pubsub = (node.services as { pubsub: { publish(t: string, d: Uint8Array): Promise<unknown> } }).pubsub;
  const outcomes = await Promise.allSettled(frames.map((f) => pubsub.publish(topic, f.bytes)));
  return outcomes.filter((o) => o.status === 'fulfilled').length;
}

/**
 * Frames on one HTTP submit-stream connection (upgrade, then u32 length ‖ u32 id ‖ body). Resolves
 * with the replies read: every frame gets one (an error naming the problem). A framing breaker is
 * written only once every other frame is answered: the agent closes on it, replies in flight lost.
 */
export async function sendHttpStream(host: string, port: number, frames: readonly DrawnFrame[]): Promise<number> {
  const socket = connect({ host, port });
  const reader = new FrameReader();
  let replies = 0;
  const payloads = frames.filter((f) => f.kind === 'frame');
  const breaker = frames.find((f) => f.kind === 'raw');
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('fuzzer: the submit stream timed out')), sendTimeoutMs);
      let head = Buffer.alloc(0);
      let upgraded = false;
      let ended = false;
      const done = (err?: Error) => { clearTimeout(timer); if (err === undefined) resolve(); else reject(err); };
      socket.on('error', (err) => done(err));
      socket.on('close', () => done());
      socket.on('data', (chunk: Buffer) => {
        let data = chunk;
        if (!upgraded) {
          head = Buffer.concat([head, chunk]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) { if (head.length > 16 * 1024) done(new Error('fuzzer: no upgrade answer')); return; }
          if (!head.subarray(0, 12).toString().includes('101')) { done(new Error(`fuzzer: upgrade refused: ${head.subarray(0, 80).toString()}`)); return; }
          upgraded = true;
          data = head.subarray(end + 4);
          socket.write(Buffer.concat(payloads.map((f, i) => encodeStreamFrame(i, f.bytes))));
        }
        try {
          replies += reader.push(data).length;
        } catch (err) {
          done(err as Error);
          return;
        }
        if (replies >= payloads.length && !ended) {
          ended = true;
          if (breaker === undefined) socket.end(); else socket.end(Buffer.from(breaker.bytes));
        }
      });
      socket.write(`GET ${streamPath} HTTP/1.1\r\nhost: ${host}:${port}\r\nconnection: Upgrade\r\nupgrade: ${streamProtocol}\r\n\r\n`);
    });
  } finally {
    socket.destroy();
  }
  return replies;
}
