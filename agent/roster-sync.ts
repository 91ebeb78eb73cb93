// Keeps an agent's SwarmRoster current with the replicated decisions.
//
// A voter reads its own state machine (its version every `pollMs`, the decisions only when the
// version moved: the roster changes rarely) and publishes the decisions on gossipsub topic covey/<swarm>/roster, on
// every change and every `publishEveryMs` (a worker that joins later, or missed a message, hears
// it within that). A worker takes a message only when its StrictSign signer is a voter of its
// config and its version is newer than what it holds: voters are trusted with the roster, other
// peers are not. Anything else on the topic is dropped and counted.

import type { PubSub, Message as PubSubMessage } from '@libp2p/interface';
import { peerIdPattern, rosterDecisionsMax, type RosterView } from '../consensus/index.ts';
import type { Logger } from './log.ts';
import type { SwarmRoster } from './roster.ts';
import { parseSwarmJson } from '../transports/swarm-json.ts';

export const rosterPollMs = 200;
export const rosterPublishEveryMs = 5_000;
/** A roster message: 10,000 decisions of ~70 bytes each, with room to spare. */
export const rosterMessageBytesMax = 1 << 20;

export function rosterTopic(swarm: string): string {
  return `covey/${swarm}/roster`;
}

export interface RosterSyncOptions {
  readonly roster: SwarmRoster;
  readonly swarm: string;
  readonly pubsub: PubSub | null;
  /** A voter's own decisions (its state machine); null on a worker. */
  readonly read: { version(): number; view(): RosterView } | null;
  readonly logger: Logger;
  readonly pollMs?: number;
  readonly publishEveryMs?: number;
}

export class RosterSync {
  readonly #o: RosterSyncOptions;
  readonly #topic: string;
  #poll: NodeJS.Timeout | null = null;
  #publish: NodeJS.Timeout | null = null;
  /** Messages dropped: not from a voter, malformed, or not newer. */
  dropped = 0;

  constructor(o: RosterSyncOptions) {
    this.#o = o;
    this.#topic = rosterTopic(o.swarm);
  }

  start(): void {
    const { pubsub, read } = this.#o;
    if (read !== null) {
      this.#o.roster.update(read.view());
      this.#poll = setInterval(() => {
        if (read.version() !== this.#o.roster.version && this.#o.roster.update(read.view())) this.#send();
      }, this.#o.pollMs ?? rosterPollMs);
      this.#publish = setInterval(() => this.#send(), this.#o.publishEveryMs ?? rosterPublishEveryMs);
      this.#poll.unref();
      this.#publish.unref();
    }
    if (pubsub !== null) {
      pubsub.addEventListener('message', this.#onMessage);
      pubsub.subscribe(this.#topic);
    }
  }

  stop(): void {
    if (this.#poll !== null) clearInterval(this.#poll);
    if (this.#publish !== null) clearInterval(this.#publish);
    const pubsub = this.#o.pubsub;
    if (pubsub !== null) {
      pubsub.removeEventListener('message', this.#onMessage);
      try { pubsub.unsubscribe(this.#topic); } catch { /* the node may be stopping */ }
    }
  }

  #send(): void {
    const { pubsub, read } = this.#o;
    if (pubsub === null || read === null) return;
    const view = read.view();
    if (view.version === 0) return; // nothing decided: the config says it all
    const bytes = new TextEncoder().encode(JSON.stringify({ swarm: this.#o.swarm, version: view.version, decisions: view.decisions }));
    pubsub.publish(this.#topic, bytes).catch((err: Error) => this.#o.logger.debug({ err: err.message }, 'cannot publish the roster (no subscribed peers yet?)'));
  }

  readonly #onMessage = (evt: CustomEvent<PubSubMessage>): void => {
    const m = evt.detail;
    if (m.topic !== this.#topic) return;
    const from = m.type === 'signed' ? m.from.toString() : null;
    if (from === null || !this.#o.roster.isVoter(from)) return this.#drop(from, 'not signed by a voter');
    const view = parseRosterMessage(m.data, this.#o.swarm);
    if (typeof view === 'string') return this.#drop(from, view);
    if (this.#o.roster.update(view)) this.#o.logger.info({ version: view.version, from }, 'roster updated');
  };

  #drop(from: string | null, reason: string): void {
    this.dropped++;
    this.#o.logger.debug({ from, reason }, 'dropped a roster message');
  }
}

/** The decisions a roster message carries, or why it is refused. */
export function parseRosterMessage(data: Uint8Array, swarm: string): RosterView | string {
  const o = parseSwarmJson(data, swarm, rosterMessageBytesMax, ['version', 'decisions']);
  if (typeof o === 'string') return o;
  const { version, decisions } = o;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) return 'version: expected a positive integer';
  if (!Array.isArray(decisions) || decisions.length > rosterDecisionsMax) return `decisions: expected a list of at most ${rosterDecisionsMax}`;
  const out: [string, 'admitted' | 'revoked'][] = [];
  for (const d of decisions as unknown[]) {
    if (!Array.isArray(d) || d.length !== 2) return 'decisions: expected [peerId, decision] pairs';
    const [peer, decision] = d as unknown[];
    if (typeof peer !== 'string' || !peerIdPattern.test(peer)) return 'decisions: a peer id is malformed';
    if (decision !== 'admitted' && decision !== 'revoked') return 'decisions: expected admitted or revoked';
    out.push([peer, decision]);
  }
  if (version < out.length) return 'version: lower than the number of decisions';
  return { version, decisions: out };
}
