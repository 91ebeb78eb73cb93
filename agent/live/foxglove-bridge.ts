// The Foxglove bridge: a Foxglove WebSocket protocol server (subprotocol foxglove.websocket.v1)
// over the telemetry tap, so Foxglove Studio ("Open connection → Foxglove WebSocket") shows the
// swarm's telemetry and drone positions with no glue code. Each telemetry topic the tap knows is a
// channel with encoding `json` and its JSON schema (when a plugin declared one); a topic learned
// later is advertised then, and a schema learned later re-advertises its channel with it. Each
// drone's fix is also sent as a foxglove.LocationFix for the Map panel (./foxglove-location.ts).
//
// It is opt-in (`foxglove.listen` in the config) and unauthenticated, so the config accepts only a
// loopback address (agent/config.ts); reach it from another machine through an SSH tunnel.
// A slow client loses messages (never the agent's memory): data is dropped for a client whose
// socket buffer is over bufferBytesMax, while channel advertisements still go through.

import { FoxgloveServer } from '@foxglove/ws-protocol';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../log.ts';
import type { Cancel } from '../plugins/api.ts';
import { fixTopicsMax, locationFixJsonSchema, locationFixOf, locationFixSchemaName } from './foxglove-location.ts';
import type { TelemetrySample, TelemetryTap } from './telemetry-tap.ts';

/** A client whose socket holds more than this (bytes not yet sent) gets no data until it drains. */
export const bufferBytesMax = 1024 * 1024;
/** How often the tap's topic list is compared with the advertised channels (topics without messages, late schemas). */
export const syncEveryMs = 1000;

interface ChannelState {
  readonly id: number;
  /** The schema advertised, as sent (JSON text, '' when none is known yet). */
  readonly schema: string;
}

export interface FoxgloveBridgeOptions {
  readonly tap: TelemetryTap;
  /** host:port; port 0 picks a free one (see `port`). */
  readonly listen: string;
  readonly logger: Logger;
  /** Names the server in Foxglove's connection panel. */
  readonly name?: string;
}

export class FoxgloveBridge {
  readonly #tap: TelemetryTap;
  readonly #logger: Logger;
  readonly #server: FoxgloveServer;
  readonly #wss: WebSocketServer;
  readonly #channels = new Map<string, ChannelState>();
  readonly #subscribed = new Set<number>();
  /** Per-drone LocationFix channels advertised (bounded by fixTopicsMax). */
  #fixChannels = 0;
  #cancelTap: Cancel | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** Messages not sent to a client because its buffer was full. */
  dropped = 0;

  private constructor(o: FoxgloveBridgeOptions, wss: WebSocketServer, server: FoxgloveServer) {
    this.#tap = o.tap;
    this.#logger = o.logger;
    this.#wss = wss;
    this.#server = server;
  }

  /** Listens on `listen`; rejects with a message naming the address when it cannot. */
  static async start(o: FoxgloveBridgeOptions): Promise<FoxgloveBridge> {
    const server = new FoxgloveServer({ name: o.name ?? 'covey' });
    const [host, port] = splitHostPort(o.listen);
    const wss = new WebSocketServer({ host, port, handleProtocols: (protocols) => server.handleProtocols(protocols) });
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', () => resolve());
      wss.once('error', (err) => reject(new Error(`cannot listen for Foxglove on ${o.listen}: ${err.message} (change foxglove.listen)`)));
    });
    const bridge = new FoxgloveBridge(o, wss, server);
    bridge.#wire();
    return bridge;
  }

  /** The port it listens on (the chosen one when `listen` asked for port 0). */
  get port(): number {
    const a = this.#wss.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  /** Clients connected now. */
  get clients(): number {
    return this.#wss.clients.size;
  }

  #wire(): void {
    this.#wss.on('error', (err) => this.#logger.warn({ err }, 'Foxglove bridge socket error'));
    this.#wss.on('connection', (ws, req) => {
      const client = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
      let warned = false;
      boundSends(ws, () => {
        this.dropped++;
        if (!warned) this.#logger.warn({ client }, 'a Foxglove client reads too slowly: dropping its messages until it catches up');
        warned = true;
      });
      ws.on('error', (err) => this.#logger.debug({ err }, 'Foxglove client error'));
      this.#server.handleConnection(ws, client);
    });
    this.#server.on('error', (err) => this.#logger.debug({ err }, 'Foxglove protocol error from a client'));
    this.#server.on('subscribe', (id) => { this.#subscribed.add(id); });
    this.#server.on('unsubscribe', (id) => { this.#subscribed.delete(id); });
    this.#cancelTap = this.#tap.subscribe('*', (s) => this.#onSample(s));
    this.#sync();
    this.#timer = setInterval(() => this.#sync(), syncEveryMs);
    this.#timer.unref();
  }

  /** Advertises every topic the tap knows, and re-advertises a channel whose schema became known. */
  #sync(): void {
    for (const t of this.#tap.topics()) this.#channelOf(t.topic, t.topic, schemaText(t.schema));
  }

  #channelOf(topic: string, schemaName: string, text: string): ChannelState {
    const known = this.#channels.get(topic);
    if (known !== undefined && (known.schema === text || text === '')) return known;
    if (known !== undefined) {
      // Foxglove has no "schema changed": the channel goes and comes back (clients resubscribe).
      this.#server.removeChannel(known.id);
      this.#subscribed.delete(known.id);
    }
    const id = this.#server.addChannel({ topic, encoding: 'json', schemaName, schema: text, schemaEncoding: 'jsonschema' });
    const c = { id, schema: text };
    this.#channels.set(topic, c);
    return c;
  }

  #onSample(s: TelemetrySample): void {
    // A known channel as it is (a schema learned later is picked up by #sync): no tap lookup per message.
    const c = this.#channels.get(s.topic) ?? this.#channelOf(s.topic, s.topic, schemaText(this.#tap.topic(s.topic)?.schema ?? null));
    this.#send(c, s.atMs, s.value);
    const f = locationFixOf(s);
    if (f === null) return;
    const fc = this.#channels.get(f.topic) ?? (this.#fixChannels < fixTopicsMax ? this.#newFixChannel(f.topic) : null);
    if (fc !== null) this.#send(fc, s.atMs, f.fix);
  }

  #newFixChannel(topic: string): ChannelState {
    this.#fixChannels++;
    return this.#channelOf(topic, locationFixSchemaName, locationFixJsonSchema);
  }

  #send(c: ChannelState, atMs: number, value: unknown): void {
    if (!this.#subscribed.has(c.id)) return;
    this.#server.sendMessage(c.id, BigInt(Math.round(atMs)) * 1_000_000n, new TextEncoder().encode(JSON.stringify(value)));
  }

  /** Closes every client and the listening socket. */
  async stop(): Promise<void> {
    this.#cancelTap?.();
    this.#cancelTap = null;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}

/** Drops binary frames (message data) while the socket's buffer is over bufferBytesMax; text frames (advertisements) always go. */
function boundSends(ws: WebSocket, onDrop: () => void): void {
  const send = ws.send.bind(ws) as (data: unknown, options?: object) => void;
  (ws as { send: unknown }).send = (data: unknown, options?: object): void => {
    if (typeof data !== 'string' && ws.bufferedAmount > bufferBytesMax) { onDrop(); return; }
    if (ws.readyState !== ws.OPEN) return;
    send(data, options ?? {});
  };
}

/** A JSON schema as Foxglove takes it: its text, or '' when none is known. */
function schemaText(schema: Record<string, unknown> | null): string {
  return schema === null ? '' : JSON.stringify(schema);
}

function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  return [s.slice(0, i).replace(/^\[|\]$/g, ''), Number(s.slice(i + 1))];
}
