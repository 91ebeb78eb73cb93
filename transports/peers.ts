// PeerKeeper: keeps this node connected to the peers it must reach (the voters, the bootstrap
// peers), and dials peers that discovery reports.
//
// libp2p 2 does not dial discovered peers by itself, and its own reconnect queue gives up on a
// KEEP_ALIVE-tagged peer after a few retries and then *removes the tag*. A voter that is down for
// an hour must still be redialled when it returns, so this component owns that loop:
//   - every kept peer is tagged KEEP_ALIVE in the peer store (the connection manager never prunes
//     it), and the tag is put back on every connect and after libp2p's reconnect gives up;
//   - invariant, checked on every disconnect and by a periodic sweep: a kept peer that is not
//     connected has a dial in flight or a redial timer set;
//   - redials back off exponentially with jitter, from redialDelayMsMin to redialDelayMsMax, and
//     start over after a successful connection;
//   - a discovered peer (mDNS, bootstrap) that is not connected is dialled once, with a bound on
//     the dials in flight; discovery reports it again later if that fails.
// Time and randomness are real here (this is a driver, not a core).

import { KEEP_ALIVE } from '@libp2p/interface';
import type { Libp2p, PeerId, PeerInfo } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import type { Logger } from 'pino';

export interface KeptPeerSpec {
  /** Peer id in text form (12D3KooW…). */
  readonly id: string;
  /** Known multiaddrs of the peer (without /p2p/), may be empty when discovery will find them. */
  readonly addrs: readonly string[];
}

export interface PeerKeeperOptions {
  /** Any node (the keeper uses only libp2p's core API), e.g. createCoveyNode's. */
  readonly node: Libp2p;
  readonly peers: readonly KeptPeerSpec[];
  /** Bootstrap multiaddrs ending in /p2p/<id>: kept connected like `peers`. */
  readonly bootstrap?: readonly string[];
  readonly logger: Logger;
  /** Dial peers reported by peer:discovery. Default true. */
  readonly dialDiscovered?: boolean;
  readonly redialDelayMsMin?: number;
  readonly redialDelayMsMax?: number;
  readonly dialTimeoutMs?: number;
  /** Called when the set of connected kept peers changes. */
  readonly onChange?: (connected: readonly string[]) => void;
}

export const redialDelayMsMinDefault = 250;
// Short on purpose: after a network cut heals, a voter is redialled within 0.5–1 s (the delay is
// jittered over its upper half), and a dial started during the cut gives up in 3 s instead of
// holding the next one back (issue 16: with 10 s and 10 s, writes resumed 5–16 s after a heal). A
// dial of a peer that is down costs one failed connect a second.
export const redialDelayMsMaxDefault = 1_000;
export const dialTimeoutMsDefault = 3_000;
/** Dials of discovered (not kept) peers in flight at once. */
export const discoveredDialsMax = 4;
/** Every this often, every kept peer is checked against the invariant above. */
export const sweepIntervalMs = 5_000;
/** Tag value of kept peers; the connection manager prunes lower values first. */
const keepTagValue = 100;

interface KeptPeer {
  readonly peerId: PeerId;
  readonly id: string;
  readonly addrs: Multiaddr[];
  /** Consecutive failed dials since the last connection. */
  failures: number;
  dialing: boolean;
  timer: NodeJS.Timeout | null;
}

/** The delay before redial number `failures` (1-based): exponential, capped, "equal jitter". */
export function redialDelayMs(failures: number, minMs: number, maxMs: number, random: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(failures - 1, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

export class PeerKeeper {
  readonly #o: PeerKeeperOptions;
  readonly #kept = new Map<string, KeptPeer>();
  #abort = new AbortController();
  #running = false;
  #sweep: NodeJS.Timeout | null = null;
  #discoveredDials = 0;
  #lastReported = '';

  constructor(options: PeerKeeperOptions) {
    this.#o = options;
    for (const p of options.peers) this.#add(p.id, p.addrs.map((a) => multiaddr(a)));
    for (const a of options.bootstrap ?? []) {
      const ma = multiaddr(a);
      const id = ma.getPeerId();
      if (id === null) {
        options.logger.warn({ addr: a }, 'bootstrap address has no /p2p/<peer id>; it cannot be kept (add the peer id)');
        continue;
      }
      this.#add(id, [ma.decapsulateCode(421)]); // 421: the p2p protocol code
    }
    const self = options.node.peerId.toString();
    this.#kept.delete(self);
  }

  #add(id: string, addrs: Multiaddr[]): void {
    const existing = this.#kept.get(id);
    if (existing !== undefined) {
      existing.addrs.push(...addrs);
      return;
    }
    this.#kept.set(id, { peerId: peerIdFromString(id), id, addrs, failures: 0, dialing: false, timer: null });
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#abort = new AbortController();
    const node = this.#o.node;
    for (const p of this.#kept.values()) await this.#tag(p);
    node.addEventListener('peer:connect', this.#onConnect);
    node.addEventListener('peer:disconnect', this.#onDisconnect);
    node.addEventListener('peer:discovery', this.#onDiscovery);
    node.addEventListener('peer:reconnect-failure', this.#onReconnectFailure);
    this.#sweep = setInterval(() => this.#ensureAll(), sweepIntervalMs);
    this.#sweep.unref();
    this.#ensureAll();
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    const node = this.#o.node;
    node.removeEventListener('peer:connect', this.#onConnect);
    node.removeEventListener('peer:disconnect', this.#onDisconnect);
    node.removeEventListener('peer:discovery', this.#onDiscovery);
    node.removeEventListener('peer:reconnect-failure', this.#onReconnectFailure);
    if (this.#sweep !== null) clearInterval(this.#sweep);
    for (const p of this.#kept.values()) {
      if (p.timer !== null) clearTimeout(p.timer);
      p.timer = null;
    }
    this.#abort.abort();
  }

  /**
   * Something says `id` is reachable again (membership heard it alive through another peer):
   * dial it now instead of waiting for its backoff timer. No-op for a peer that is not kept,
   * connected, or being dialled.
   */
  redialNow(id: string): void {
    const p = this.#kept.get(id);
    if (p === undefined || !this.#running || p.dialing || this.#isConnected(p.peerId)) return;
    if (p.timer !== null) clearTimeout(p.timer);
    p.timer = null;
    void this.#dial(p);
  }

  /**
   * Keeps `id` connected from now on too (a voter of a new epoch; docs/reconfiguration.md): its
   * addresses come from libp2p's peer store (membership and discovery fill it).
   */
  keep(id: string): void {
    if (id === this.#o.node.peerId.toString() || this.#kept.has(id)) return;
    this.#add(id, []);
    const p = this.#kept.get(id)!;
    if (!this.#running) return;
    void this.#tag(p);
    this.#ensure(p);
  }

  /** Kept peers (voters, bootstrap peers) with an open connection now. */
  connected(): string[] {
    return [...this.#kept.values()].filter((p) => this.#isConnected(p.peerId)).map((p) => p.id);
  }

  isConnected(id: string): boolean {
    const p = this.#kept.get(id);
    return p !== undefined && this.#isConnected(p.peerId);
  }

  #isConnected(peerId: PeerId): boolean {
    return this.#o.node.getConnections(peerId).some((c) => c.status === 'open');
  }

  async #tag(p: KeptPeer): Promise<void> {
    try {
      await this.#o.node.peerStore.merge(p.peerId, { multiaddrs: p.addrs, tags: { [KEEP_ALIVE]: { value: keepTagValue } } });
    } catch (err) {
      this.#o.logger.warn({ peer: p.id, err: (err as Error).message }, 'cannot tag a kept peer in the peer store');
    }
  }

  /** The invariant: a kept peer is connected, being dialled, or waiting on its redial timer. */
  #ensure(p: KeptPeer): void {
    if (!this.#running || p.dialing || p.timer !== null || this.#isConnected(p.peerId)) return;
    if (p.failures === 0) {
      void this.#dial(p);
      return;
    }
    const delayMs = redialDelayMs(p.failures, this.#o.redialDelayMsMin ?? redialDelayMsMinDefault, this.#o.redialDelayMsMax ?? redialDelayMsMaxDefault, Math.random());
    p.timer = setTimeout(() => {
      p.timer = null;
      void this.#dial(p);
    }, delayMs);
  }

  #ensureAll(): void {
    for (const p of this.#kept.values()) this.#ensure(p);
    this.#report();
  }

  async #dial(p: KeptPeer): Promise<void> {
    if (!this.#running || p.dialing || this.#isConnected(p.peerId)) return;
    p.dialing = true;
    try {
      await this.#o.node.dial(p.peerId, { signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#o.dialTimeoutMs ?? dialTimeoutMsDefault)]) });
      p.failures = 0;
    } catch (err) {
      p.failures++;
      // The first failure and then every tenth: a peer that is down for hours logs a few lines.
      if (this.#running && (p.failures === 1 || p.failures % 10 === 0)) {
        this.#o.logger.info({ peer: p.id, failures: p.failures, err: (err as Error).message }, 'cannot reach a kept peer; redialling with backoff');
      }
    } finally {
      p.dialing = false;
    }
    this.#ensure(p);
    this.#report();
  }

  #report(): void {
    const now = this.connected().sort();
    const key = now.join(',');
    if (key === this.#lastReported) return;
    this.#lastReported = key;
    this.#o.onChange?.(now);
  }

  readonly #onConnect = (evt: CustomEvent<PeerId>): void => {
    const p = this.#kept.get(evt.detail.toString());
    if (p === undefined) return;
    p.failures = 0;
    if (p.timer !== null) clearTimeout(p.timer);
    p.timer = null;
    this.#o.logger.info({ peer: p.id }, 'kept peer connected');
    void this.#tag(p);
    this.#report();
  };

  readonly #onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const p = this.#kept.get(evt.detail.toString());
    if (p === undefined || !this.#running) return;
    this.#o.logger.info({ peer: p.id }, 'kept peer disconnected; redialling');
    // Count the drop as a failure so the first redial waits a little (the peer is likely
    // restarting), and a peer that flaps backs off like one that is down.
    p.failures = Math.max(p.failures, 1);
    this.#ensure(p);
    this.#report();
  };

  readonly #onReconnectFailure = (evt: CustomEvent<PeerId>): void => {
    const p = this.#kept.get(evt.detail.toString());
    if (p !== undefined && this.#running) void this.#tag(p);
  };

  readonly #onDiscovery = (evt: CustomEvent<PeerInfo>): void => {
    if (!this.#running) return;
    const id = evt.detail.id.toString();
    const kept = this.#kept.get(id);
    if (kept !== undefined) {
      // New addresses may have been learnt (discovery stores them in the peer store): try now.
      if (kept.timer !== null) clearTimeout(kept.timer);
      kept.timer = null;
      void this.#dial(kept);
      return;
    }
    if (this.#o.dialDiscovered === false || this.#isConnected(evt.detail.id) || this.#discoveredDials >= discoveredDialsMax) return;
    this.#discoveredDials++;
    this.#o.node.dial(evt.detail.id, { signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#o.dialTimeoutMs ?? dialTimeoutMsDefault)]) })
      .catch((err: Error) => this.#o.logger.debug({ peer: id, err: err.message }, 'cannot dial a discovered peer'))
      .finally(() => this.#discoveredDials--);
  };
}
