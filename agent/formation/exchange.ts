// One request, one reply, over a libp2p stream of /covey/formation/1.0.0 (frames: wire.ts). The
// answering side reads one frame within requestReadTimeoutMs, drops it whole when it does not
// decode (the stream is closed, nothing else happens), and writes the handler's reply.

import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import * as lp from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import type { Logger } from 'pino';
import { decodeFrame, encodeFrame, formationProtocol, frameBytesMax, replySchema, requestSchema, type Reply, type Request } from './wire.ts';

/** The answering side waits this long for the request's bytes. */
export const requestReadTimeoutMs = 5_000;
/** Formation streams a peer may have open at once on one connection. */
export const inboundStreamsMax = 8;

/** Sends `request` to `peer` and returns its checked reply; throws with the reason otherwise. */
export async function requestReply(node: Libp2p, peer: PeerId, request: Request, timeoutMs: number): Promise<Reply> {
  const signal = AbortSignal.timeout(timeoutMs);
  let stream: Stream | null = null;
  const onAbort = () => stream?.abort(new Error(`no reply within ${timeoutMs} ms`));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    stream = await node.dialProtocol(peer, formationProtocol, { signal });
    const bytes = await pipe(
      [encodeFrame(request)],
      (s) => lp.encode(s),
      stream,
      (s) => lp.decode(s, { maxDataLength: frameBytesMax }),
      async (s) => {
        for await (const reply of s) return reply.subarray();
        return null;
      },
    );
    if (bytes === null) throw new Error('the peer closed the stream without a reply');
    const d = decodeFrame(bytes, replySchema);
    if (!d.ok) throw new Error(`malformed reply (${d.reason})`);
    return d.frame;
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (stream !== null) await stream.close().catch(() => stream?.abort(new Error('close failed')));
  }
}

/** Answers every request on the protocol with `handler`'s reply (from: the authenticated peer id). */
export async function serveRequests(node: Libp2p, logger: Logger, handler: (request: Request, from: string) => Promise<Reply>): Promise<void> {
  await node.handle(formationProtocol, ({ stream, connection }) => { void serveOne(stream, connection, logger, handler); }, { maxInboundStreams: inboundStreamsMax });
}

async function serveOne(stream: Stream, connection: Connection, logger: Logger, handler: (request: Request, from: string) => Promise<Reply>): Promise<void> {
  const peer = connection.remotePeer.toString();
  const timer = setTimeout(() => stream.abort(new Error('no formation request in time')), requestReadTimeoutMs);
  try {
    let bytes: Uint8Array | null = null;
    for await (const chunk of lp.decode(stream.source, { maxDataLength: frameBytesMax })) {
      bytes = chunk.subarray();
      break;
    }
    clearTimeout(timer);
    if (bytes === null) throw new Error('the stream ended without a request');
    const d = decodeFrame(bytes, requestSchema);
    if (!d.ok) {
      logger.warn({ peer, reason: d.reason }, 'dropped a malformed formation request');
      stream.abort(new Error('malformed request'));
      return;
    }
    const reply = await handler(d.frame, peer);
    await pipe([encodeFrame(reply)], (s) => lp.encode(s), stream.sink);
    await stream.close({ signal: AbortSignal.timeout(1000) });
  } catch (err) {
    logger.debug({ peer, err: (err as Error).message }, 'formation stream failed');
    stream.abort(err as Error);
  } finally {
    clearTimeout(timer);
  }
}
