// Logging dropped input without letting a misbehaving peer flood the log: at most one warning per
// peer per interval, each carrying how many drops it stood for. Used by every transport that
// validates frames from peers (consensus RPC, membership).

import type { Logger } from 'pino';

/** Peers remembered at most; beyond it the memory is reset (a peer may then log once early). */
const peersMax = 1024;

export class DropLog {
  readonly #logger: Logger;
  readonly #message: string;
  readonly #intervalMs: number;
  readonly #peers = new Map<string, { lastMs: number; suppressed: number }>();

  constructor(logger: Logger, message: string, intervalMs: number) {
    this.#logger = logger;
    this.#message = message;
    this.#intervalMs = intervalMs;
  }

  /** Warns about a drop from `peer`, unless one was logged for it within the interval. */
  warn(peer: string, reason: string, detail: string): void {
    const t = Date.now();
    if (this.#peers.size >= peersMax && !this.#peers.has(peer)) this.#peers.clear();
    const log = this.#peers.get(peer) ?? { lastMs: -Infinity, suppressed: 0 };
    this.#peers.set(peer, log);
    if (t - log.lastMs < this.#intervalMs) {
      log.suppressed++;
      return;
    }
    this.#logger.warn({ peer, reason, detail, suppressed: log.suppressed }, this.#message);
    log.lastMs = t;
    log.suppressed = 0;
  }
}
