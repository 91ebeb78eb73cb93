// LinkHealth: whether this agent actually hears each voter, not merely whether a connection is
// open. On a real network cut nothing closes a TCP connection for minutes (no RST, no FIN): the
// connection stays "open" while nothing crosses it, and readiness built on connection state said
// "reaches 5 of 5 voters" for 6–13 s after a cut (issue 16).
//
// So every `intervalMs` each kept voter with an open connection is sent a small echo on
// `/covey/health/1.0.0` (one in flight per peer; the echo handler answers anyone connected, which
// the connection gater already limits to the roster). Any reply — or anything else heard from the
// peer, reported with heard() (the agent reports each consensus message) — marks it heard. A peer
// is "hearing" while it was heard within `staleAfterMs`. After `abortAfterMs` of silence on an open
// connection the connection is aborted, so the peer keeper (peers.ts) redials it as soon as the
// network lets it, instead of waiting on a dead connection.
// Time is real here (a driver, not a core).

import { randomBytes } from 'node:crypto';
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { Uint8ArrayList } from 'uint8arraylist';
import type { Logger } from 'pino';

export const healthProtocol = '/covey/health/1.0.0';
export const healthIntervalMsDefault = 250;
export const healthStaleAfterMsDefault = 1000;
export const healthAbortAfterMsDefault = 4000;
/** Bytes of one echo; a peer that sends more on the stream is cut off at this. */
const echoBytes = 8;

export interface LinkHealthOptions {
  readonly node: Libp2p;
  /** Peer ids (text) to watch: the other voters. */
  readonly peers: readonly string[];
  readonly logger: Logger;
  readonly intervalMs?: number;
  readonly staleAfterMs?: number;
  readonly abortAfterMs?: number;
}

interface Watched {
  readonly peerId: PeerId;
  /** performance.now() when last heard, or -Infinity. */
  heardAt: number;
  pinging: boolean;
  /** Whether the silence was logged (once per silence). */
  warned: boolean;
}

export class LinkHealth {
  readonly #o: LinkHealthOptions;
  readonly #watched = new Map<string, Watched>();
  #timer: NodeJS.Timeout | null = null;
  /** performance.now() of the last round, to tell this process's own stalls from a peer's silence. */
  #lastRoundAt = 0;
  #echoesSent = 0;
  #abort = new AbortController();

  constructor(options: LinkHealthOptions) {
    this.#o = options;
    for (const id of options.peers) this.watch(id);
  }

  get staleAfterMs(): number {
    return this.#o.staleAfterMs ?? healthStaleAfterMsDefault;
  }

  async start(): Promise<void> {
    const node = this.#o.node;
    this.#abort = new AbortController();
    await node.handle(healthProtocol, ({ stream }) => { void echo(stream); }, { maxInboundStreams: 2, maxOutboundStreams: 1 });
    node.addEventListener('peer:connect', this.#onConnect);
    this.#lastRoundAt = performance.now();
    this.#timer = setInterval(() => this.#round(), this.#o.intervalMs ?? healthIntervalMsDefault);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#abort.abort();
    this.#o.node.removeEventListener('peer:connect', this.#onConnect);
    await this.#o.node.unhandle(healthProtocol).catch(() => {});
  }

  /** Watches `peer` too from now on (a voter of a new epoch). */
  watch(peer: string): void {
    if (!this.#watched.has(peer)) this.#watched.set(peer, { peerId: peerIdFromString(peer), heardAt: -Infinity, pinging: false, warned: false });
  }

  /** Something arrived from `peer` (a consensus message, an echo): it is heard now. */
  heard(peer: string): void {
    const w = this.#watched.get(peer);
    if (w === undefined) return;
    w.heardAt = performance.now();
    if (w.warned) this.#o.logger.info({ peer }, 'hearing the peer again');
    w.warned = false;
  }

  /** Whether `peer` was heard within staleAfterMs. */
  hearing(peer: string): boolean {
    const w = this.#watched.get(peer);
    return w !== undefined && performance.now() - w.heardAt <= this.staleAfterMs;
  }

  /** Milliseconds since `peer` was last heard; null if never. */
  silentMs(peer: string): number | null {
    const w = this.#watched.get(peer);
    return w === undefined || w.heardAt === -Infinity ? null : Math.round(performance.now() - w.heardAt);
  }

  // A new connection counts as hearing the peer: noise just completed a handshake with it.
  readonly #onConnect = (evt: CustomEvent<PeerId>): void => {
    this.heard(evt.detail.toString());
  };

  #round(): void {
    const abortAfterMs = this.#o.abortAfterMs ?? healthAbortAfterMsDefault;
    const intervalMs = this.#o.intervalMs ?? healthIntervalMsDefault;
    const now = performance.now();
    // A round that runs late means this process was stalled (a GC pause, a busy event loop, a
    // loaded machine): replies may sit unread in the socket, and timers run before I/O is polled.
    // The stall is not the peers' silence, so it is not counted against them.
    const lateMs = now - this.#lastRoundAt - intervalMs;
    this.#lastRoundAt = now;
    if (lateMs > intervalMs) {
      for (const w of this.#watched.values()) w.heardAt = Math.min(now, w.heardAt + lateMs);
    }
    for (const [id, w] of this.#watched) {
      const open = this.#o.node.getConnections(w.peerId).filter((c) => c.status === 'open');
      if (open.length === 0) continue;
      // A connection that opened before this started watching (no peer:connect seen): its
      // handshake is the first thing heard, as far as this can tell.
      if (w.heardAt === -Infinity) w.heardAt = performance.now();
      const silent = performance.now() - w.heardAt;
      if (silent > abortAfterMs) {
        this.#o.logger.warn({ peer: id, silentMs: Math.round(silent) }, 'no reply from a voter on an open connection; closing it so it is redialled');
        w.warned = true;
        for (const c of open) c.abort(new Error(`no reply for ${Math.round(silent)} ms`));
        continue;
      }
      if (silent > this.staleAfterMs && !w.warned) {
        this.#o.logger.info({ peer: id, silentMs: Math.round(silent) }, 'not hearing a voter');
        w.warned = true;
      }
      // Heard within the last interval (a consensus message, under load many a second): an echo
      // would tell nothing new. Each one is a new yamux stream with its protocol negotiation, about
      // ten small frames and socket writes between the two agents, four times a second per peer.
      if (silent < intervalMs) continue;
      if (!w.pinging) void this.#ping(id, w, open[0]);
    }
  }

  /** Echoes sent so far (all peers), for tests. */
  get echoesSent(): number {
    return this.#echoesSent;
  }

  async #ping(id: string, w: Watched, conn: Connection): Promise<void> {
    w.pinging = true;
    this.#echoesSent++;
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#o.abortAfterMs ?? healthAbortAfterMsDefault)]);
    let stream: Stream | null = null;
    try {
      stream = await conn.newStream(healthProtocol, { signal });
      const payload = randomBytes(echoBytes);
      const s = stream;
      const onAbort = (): void => { s.abort(new Error('health echo timed out')); };
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        const sent = s.sink([payload]);
        const got = new Uint8ArrayList();
        for await (const chunk of s.source) {
          got.append(chunk);
          if (got.length >= echoBytes) break;
        }
        await sent;
        if (got.length >= echoBytes && Buffer.compare(got.subarray(0, echoBytes), payload) === 0) this.heard(id);
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
      await s.close().catch(() => {});
    } catch (err) {
      stream?.abort(err as Error);
      this.#o.logger.debug({ peer: id, err: (err as Error).message }, 'health echo failed');
    } finally {
      w.pinging = false;
    }
  }
}

/** The echo: returns the first `echoBytes` bytes and closes. */
async function echo(stream: Stream): Promise<void> {
  try {
    const got = new Uint8ArrayList();
    for await (const chunk of stream.source) {
      got.append(chunk);
      if (got.length >= echoBytes) break;
    }
    await stream.sink([got.subarray(0, echoBytes)]);
  } catch (err) {
    stream.abort(err as Error);
  }
}
