// The live layer of one agent, composed: the event hub, the telemetry tap, the consensus sampler,
// the position publisher and the HTTP routes over them. The agent makes it before its HTTP API
// (the routes answer from the start, empty), feeds it applied batches and membership events, and
// starts it once the plugin environment exists (the tap listens through it).

import type { PubSub } from '@libp2p/interface';
import type { ExecutedBatch } from '../../consensus/index.ts';
import type { Device } from '../../devices/types.ts';
import type { MemberEvent } from '../../transports/membership/index.ts';
import type { Logger } from '../log.ts';
import type { Cancel } from '../plugins/api.ts';
import { telemetryTopic } from '../plugins/agent-env.ts';
import { changesOf } from './changes.ts';
import { ConsensusSampler, consensusEveryMs, type ConsensusCounters } from './consensus-sampler.ts';
import { LiveEvents } from './events.ts';
import { LiveRoutes } from './http-routes.ts';
import { localPositions, positionEventOf, positionEveryMs, positionMessage, positionTopic } from './positions.ts';
import { TelemetryTap, type TelemetryTapPort } from './telemetry-tap.ts';

export interface LiveStartOptions {
  readonly tap: TelemetryTapPort;
  readonly devices: ReadonlyMap<string, Device>;
  readonly counters: ConsensusCounters;
}

export class LiveLayer {
  readonly events = new LiveEvents();
  readonly tap = new TelemetryTap();
  readonly routes: LiveRoutes;
  readonly #logger: Logger;
  readonly #stops: Cancel[] = [];
  #publishingPositions = false;

  constructor(o: { readonly logger: Logger }) {
    this.#logger = o.logger;
    this.routes = new LiveRoutes({
      events: this.events,
      tap: this.tap,
      onSlowClient: () => this.#logger.warn('dropped a live-events client that read too slowly (it reconnects by itself)'),
    });
  }

  /** An applied batch (voters): its key writes and task changes become events. */
  executed(batch: ExecutedBatch): void {
    if (this.events.listeners === 0) return;
    for (const e of changesOf(batch, Date.now())) this.events.emit(e);
  }

  member(e: MemberEvent): void {
    const m = e.member;
    this.events.emit({ kind: 'member', type: e.type, peerId: m.id, state: m.state, role: m.meta.role, incarnation: m.incarnation, battery: m.meta.battery, atMs: Date.now() });
  }

  /** A move to a new epoch of the voter set. */
  voters(epoch: number, voters: readonly string[], role: 'voter' | 'worker'): void {
    this.events.emit({ kind: 'voters', epoch, voters: [...voters], role, atMs: Date.now() });
  }

  start(o: LiveStartOptions): void {
    this.#stops.push(this.tap.subscribe('*', (s) => {
      this.events.emit({ kind: 'telemetry', topic: s.topic, from: s.from, value: s.value, atMs: s.atMs });
      const p = positionEventOf(s);
      if (p !== null) this.events.emit(p);
    }));
    this.tap.start(o.tap);
    this.tap.declare(positionTopic, positionMessage);
    this.#stops.push(() => this.tap.stop());
    this.#stops.push(o.tap.every(positionEveryMs, () => { void this.#publishPositions(o); }));
    const sampler = new ConsensusSampler(o.counters);
    this.#stops.push(o.tap.every(consensusEveryMs, () => {
      sampler.sample(Date.now()).then((e) => this.events.emit(e), (err: unknown) => this.#logger.debug({ err }, 'consensus sample failed'));
    }));
  }

  async #publishPositions(o: LiveStartOptions): Promise<void> {
    // A device slow to answer (a battery read over a busy link) must not stack up rounds.
    if (this.#publishingPositions) return;
    this.#publishingPositions = true;
    try {
      for (const m of await localPositions(o.devices)) {
        await o.tap.publish(positionTopic, new TextEncoder().encode(JSON.stringify(m))).catch((err: unknown) => this.#logger.debug({ err }, 'position publish failed'));
      }
    } finally {
      this.#publishingPositions = false;
    }
  }

  /** Stops timers and the tap and ends every stream (before the HTTP server closes). */
  stop(): void {
    for (const s of this.#stops.splice(0).reverse()) s();
    this.routes.closeAll();
  }
}

/** gossipsub's news of peers subscribing, as the plugin telemetry topics they subscribe to. */
export function peerTelemetryTopics(pubsub: PubSub | null, swarm: string): (fn: (topic: string) => void) => Cancel {
  const prefix = telemetryTopic(swarm, '');
  return (fn) => {
    if (pubsub === null) return () => {};
    const onChange = (evt: CustomEvent<{ subscriptions: ReadonlyArray<{ topic: string; subscribe: boolean }> }>): void => {
      for (const s of evt.detail.subscriptions) if (s.subscribe && s.topic.startsWith(prefix)) fn(s.topic.slice(prefix.length));
    };
    pubsub.addEventListener('subscription-change', onChange);
    return () => pubsub.removeEventListener('subscription-change', onChange);
  };
}
