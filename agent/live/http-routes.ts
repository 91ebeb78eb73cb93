// The live layer's HTTP routes, dispatched from agent/http.ts after its token check:
//   GET /events?kinds=member,task,…&prefix=P&topic=T   Server-Sent Events (events.ts)
//   GET /telemetry                                      every telemetry topic the tap tracks
//   GET /telemetry?topic=T                              one topic, with its recent history
// A bad query is a 400 naming the problem; a full house of listeners a 503.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { EventQueryError, LiveLimitError, parseEventFilter, type LiveEvents } from './events.ts';
import { SseClient } from './sse.ts';
import type { TelemetryTap } from './telemetry-tap.ts';

export interface LiveRoutesOptions {
  readonly events: LiveEvents;
  readonly tap: TelemetryTap;
  /** Per-client buffer bound (sse.ts's default otherwise; tests shrink it). */
  readonly clientBufferBytesMax?: number;
  /** Told when a slow client is dropped (the agent logs it). */
  readonly onSlowClient?: () => void;
}

/** An answer the HTTP layer sends as `{ error }` with this status. */
export class LiveHttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'LiveHttpError';
    this.status = status;
  }
}

export class LiveRoutes {
  readonly #o: LiveRoutesOptions;
  readonly #clients = new Set<SseClient>();
  /** Clients dropped for reading too slowly since start. */
  slowDropped = 0;

  constructor(o: LiveRoutesOptions) {
    this.#o = o;
  }

  /** Streams open now. */
  get clients(): number {
    return this.#clients.size;
  }

  /**
   * Answers the request if it is one of the live routes and returns true; false otherwise.
   * Throws LiveHttpError for a request it owns but cannot serve.
   */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const path = url.pathname;
    if (path !== '/events' && path !== '/telemetry') return false;
    if (req.method !== 'GET') throw new LiveHttpError(405, `${req.method} is not allowed on ${path}; use GET`);
    if (path === '/events') this.#events(res, url);
    else this.#telemetry(res, url);
    return true;
  }

  #events(res: ServerResponse, url: URL): void {
    let filter;
    try {
      filter = parseEventFilter(url.searchParams);
    } catch (err) {
      if (err instanceof EventQueryError) throw new LiveHttpError(400, err.message);
      throw err;
    }
    let cancel: (() => void) | null = null;
    let client: SseClient | null = null;
    const subscribe = (): (() => void) => this.#o.events.subscribe(filter, (e) => client?.send(e.kind, e));
    try {
      cancel = subscribe();
    } catch (err) {
      if (err instanceof LiveLimitError) throw new LiveHttpError(503, err.message);
      throw err;
    }
    client = new SseClient(res, {
      bufferBytesMax: this.#o.clientBufferBytesMax,
      onClose: (reason) => {
        cancel?.();
        this.#clients.delete(client!);
        if (reason === 'slow') { this.slowDropped++; this.#o.onSlowClient?.(); }
      },
    });
    this.#clients.add(client);
  }

  #telemetry(res: ServerResponse, url: URL): void {
    for (const name of url.searchParams.keys()) {
      if (name !== 'topic' && name !== 'token') throw new LiveHttpError(400, `unknown query parameter "${name}"; /telemetry takes topic`);
    }
    const topic = url.searchParams.get('topic');
    if (topic === null) return json(res, 200, { topics: this.#o.tap.topics() });
    const detail = this.#o.tap.topic(topic);
    if (detail === null) throw new LiveHttpError(404, `no telemetry topic ${JSON.stringify(topic)} has been heard here; GET /telemetry lists the topics this agent tracks`);
    json(res, 200, detail);
  }

  /** Ends every stream (the agent is stopping). */
  closeAll(): void {
    for (const c of [...this.#clients]) c.end();
  }
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
