// One Server-Sent Events client: events as `event: <kind>` / `data: <json>` frames, a comment
// line as a heartbeat, and a bound on what may wait for a slow reader. A client that lets more
// than bufferBytesMax pile up in its socket's write buffer is dropped (its connection closed;
// EventSource reconnects by itself), so one stalled browser tab costs the agent a bounded
// amount of memory and never slows the producers.

import type { ServerResponse } from 'node:http';

/** Bytes that may wait for one slow client before it is dropped. */
export const clientBufferBytesMax = 1024 * 1024;
/** A comment this often keeps idle connections open through proxies and finds dead clients. */
export const heartbeatEveryMs = 15_000;
/** What EventSource waits before reconnecting after a drop. */
const retryMs = 2000;

export interface SseClientOptions {
  readonly bufferBytesMax?: number;
  readonly heartbeatEveryMs?: number;
  /** Told once when the client goes away or is dropped (with the reason). */
  readonly onClose: (reason: 'closed' | 'slow') => void;
}

export class SseClient {
  readonly #res: ServerResponse;
  readonly #bufferBytesMax: number;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #onClose: SseClientOptions['onClose'];
  #closed = false;

  constructor(res: ServerResponse, o: SseClientOptions) {
    this.#res = res;
    this.#bufferBytesMax = o.bufferBytesMax ?? clientBufferBytesMax;
    this.#onClose = o.onClose;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Tells nginx-like proxies not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${retryMs}\n: covey live events\n\n`);
    this.#heartbeat = setInterval(() => this.#write(': heartbeat\n\n'), o.heartbeatEveryMs ?? heartbeatEveryMs);
    this.#heartbeat.unref();
    res.once('close', () => this.#close('closed'));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Queues one event; drops the client instead when too much is queued already. */
  send(kind: string, data: unknown): void {
    this.#write(`event: ${kind}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  #write(frame: string): void {
    if (this.#closed) return;
    if (this.#res.writableLength > this.#bufferBytesMax) {
      this.#close('slow');
      this.#res.destroy();
      return;
    }
    this.#res.write(frame);
  }

  /** Ends the stream (agent stopping). */
  end(): void {
    if (this.#closed) return;
    this.#close('closed');
    this.#res.end();
  }

  #close(reason: 'closed' | 'slow'): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#onClose(reason);
  }
}
