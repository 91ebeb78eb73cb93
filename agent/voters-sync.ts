// Tells agents that do not vote which voters the swarm has now (docs/reconfiguration.md). A voter
// publishes its current epoch and voters on gossipsub topic covey/<swarm>/voters, on every change
// and every `publishEveryMs`; a worker takes an announcement only when its StrictSign signer is a
// voter it knows and the epoch is newer than its own, and then forwards its clients' commands to
// those voters. A worker named among the announced voters waits for its join offer instead (it
// cannot vote without the state at the change). Anything else on the topic is dropped and counted.

import type { PubSub, Message as PubSubMessage } from '@libp2p/interface';
import { Registry, type Counter } from 'prom-client';
import { counterIn } from '../transports/rpc/metrics.ts';
import { parseVotersMessage, votersTopic, type VotersAnnouncement } from '../transports/voters-topic.ts';
import type { Logger } from './log.ts';

// The announcement's wire format and decoder are the transports' (the wire fuzzer checks them there).
export { parseVotersMessage, votersTopic, type VotersAnnouncement };

export const votersPublishEveryMs = 5_000;

export interface VotersSyncOptions {
  readonly swarm: string;
  readonly pubsub: PubSub | null;
  /** What this agent announces: its current epoch and voters, when it votes; null otherwise. */
  announce(): VotersAnnouncement | null;
  /** Whether `peer` is a voter this agent trusts to announce. */
  trusts(peer: string): boolean;
  /** A newer epoch announced by a trusted voter. */
  onAnnouncement(from: string, a: VotersAnnouncement): void;
  readonly logger: Logger;
  readonly publishEveryMs?: number;
  /** prom-client registry for covey_voters_announcements_dropped_total (the agent's); a private one when absent. */
  readonly registry?: Registry;
}

/** Why an announcement was dropped (the counter's `reason`), as covey_rpc_frames_dropped_total names them. */
export type VotersDropReason = 'non_voter' | 'invalid';

export class VotersSync {
  readonly #o: VotersSyncOptions;
  readonly #topic: string;
  readonly #dropped: Counter<'reason'>;
  #publish: NodeJS.Timeout | null = null;
  /** Messages dropped: not from a trusted voter, or malformed. */
  dropped = 0;

  constructor(o: VotersSyncOptions) {
    this.#o = o;
    this.#topic = votersTopic(o.swarm);
    // Looked up before made: two VotersSyncs on one registry (an agent restarted in-process) share it.
    this.#dropped = counterIn(o.registry ?? new Registry(), 'covey_voters_announcements_dropped_total',
      'Messages on the voters topic dropped, by reason (non_voter: not signed by a voter this agent knows; invalid: not an announcement of this swarm)', ['reason']);
  }

  start(): void {
    const pubsub = this.#o.pubsub;
    if (pubsub === null) return;
    pubsub.addEventListener('message', this.#onMessage);
    pubsub.subscribe(this.#topic);
    this.#publish = setInterval(() => this.publish(), this.#o.publishEveryMs ?? votersPublishEveryMs);
    this.#publish.unref();
  }

  stop(): void {
    if (this.#publish !== null) clearInterval(this.#publish);
    const pubsub = this.#o.pubsub;
    if (pubsub === null) return;
    pubsub.removeEventListener('message', this.#onMessage);
    try { pubsub.unsubscribe(this.#topic); } catch { /* the node may be stopping */ }
  }

  /** Announces this agent's voters now (also on a change of epoch). */
  publish(): void {
    const a = this.#o.announce();
    const pubsub = this.#o.pubsub;
    if (a === null || a.epoch === 0 || pubsub === null) return; // epoch 0: every config says it
    const bytes = new TextEncoder().encode(JSON.stringify({ swarm: this.#o.swarm, epoch: a.epoch, voters: a.voters }));
    pubsub.publish(this.#topic, bytes).catch((err: Error) => this.#o.logger.debug({ err: err.message }, 'cannot publish the voters (no subscribed peers yet?)'));
  }

  readonly #onMessage = (evt: CustomEvent<PubSubMessage>): void => {
    const m = evt.detail;
    if (m.topic !== this.#topic) return;
    const from = m.type === 'signed' ? m.from.toString() : null;
    if (from === null || !this.#o.trusts(from)) return this.#drop(from, 'non_voter', 'not signed by a voter this agent knows');
    const a = parseVotersMessage(m.data, this.#o.swarm);
    if (typeof a === 'string') return this.#drop(from, 'invalid', a);
    this.#o.onAnnouncement(from, a);
  };

  #drop(from: string | null, why: VotersDropReason, reason: string): void {
    this.dropped++;
    this.#dropped.inc({ reason: why });
    this.#o.logger.debug({ from, reason }, 'dropped a voters announcement');
  }
}
