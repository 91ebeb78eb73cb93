// Test kit: two yamux muxers joined back to back, so a test can watch the frames a reader sends
// back to a writer (window updates) without a network.

import { yamux } from '@chainsafe/libp2p-yamux';
import { defaultLogger } from '@libp2p/logger';
import { pipe } from 'it-pipe';
import { Uint8ArrayList } from 'uint8arraylist';

const windowUpdate = 1; // yamux frame type

/**
 * Sends `chunks` on one stream from muxer a to muxer b (made with `options`), which reads them as
 * they come. Returns the bytes b received and the credit of each header-only window update b sent
 * back to a, in order.
 */
export async function sendBackToBack(options: Parameters<typeof yamux>[0], chunks: Iterable<Uint8Array>): Promise<{ received: number; windowUpdates: number[] }> {
  const factory = yamux(options)({ logger: defaultLogger() });
  const windowUpdates: number[] = [];
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
      if (buf.length === 12 && buf[1] === windowUpdate) windowUpdates.push(new DataView(buf.buffer, buf.byteOffset).getUint32(8));
      yield buf;
    }
  }, a);
  const stream = await a.newStream();
  await stream.sink(chunks);
  await done;
  a.abort(new Error('test over'));
  b.abort(new Error('test over'));
  return { received, windowUpdates };
}
