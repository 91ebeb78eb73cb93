// Tells agents that do not vote which voters the swarm has now (docs/reconfiguration.md). A voter
// publishes its current epoch and voters on gossipsub topic covey/<swarm>/voters, on every change
// and every `publishEveryMs`; a worker takes an announcement only when its StrictSign signer is a
// voter it knows and the epoch is newer than its own, and then forwards its clients' commands to
// those voters. A worker named among the announced voters waits for its join offer instead (it
// cannot vote without the state at the change). Anything else on the topic is dropped and counted.

import type { PubSub, Message as PubSubMessage } from '@libp2p/interface';
import { voterCounts, voterNamePattern } from '../consensus/index.ts';
import type { Logger } from './log.ts';

export const votersPublishEveryMs = 5_000;
const votersMessageBytesMax = 4096;

export function votersTopic(swarm: string): string {
  return `covey/${swarm}/voters`;
}

export interface VotersAnnouncement {
  readonly epoch: number;
  readonly voters: readonly string[];
}

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
}

export class VotersSync {
  readonly #o: VotersSyncOptions;
  readonly #topic: string;
  #publish: NodeJS.Timeout | null = null;
  /** Messages dropped: not from a trusted voter, or malformed. */
  dropped = 0;

  constructor(o: VotersSyncOptions) {
    this.#o = o;
    this.#topic = votersTopic(o.swarm);
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
    if (from === null || !this.#o.trusts(from)) return this.#drop(from, 'not signed by a voter this agent knows');
    const a = parseVotersMessage(m.data, this.#o.swarm);
    if (typeof a === 'string') return this.#drop(from, a);
    this.#o.onAnnouncement(from, a);
  };

  #drop(from: string | null, reason: string): void {
    this.dropped++;
    this.#o.logger.debug({ from, reason }, 'dropped a voters announcement');
  }
}

/** The announcement a message carries, or why it is refused. */
export function parseVotersMessage(data: Uint8Array, swarm: string): VotersAnnouncement | string {
  if (data.length > votersMessageBytesMax) return `over ${votersMessageBytesMax} bytes`;
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'not an object';
  const { swarm: s, epoch, voters, ...extra } = raw as Record<string, unknown>;
  if (Object.keys(extra).length > 0) return `unknown field ${Object.keys(extra)[0]}`;
  if (s !== swarm) return 'another swarm';
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 1) return 'epoch: expected a positive integer';
  if (!Array.isArray(voters) || !(voterCounts as readonly number[]).includes(voters.length)) return `voters: expected ${voterCounts.join(', ')} peer ids`;
  if (!voters.every((v) => typeof v === 'string' && voterNamePattern.test(v)) || new Set(voters).size !== voters.length) return 'voters: a peer id is malformed or listed twice';
  return { epoch, voters: voters as string[] };
}
