// The wire fuzzer's sender loops (wire-fuzzer.ts runs them): per target and agent a few loops (one
// in all for a gossipsub topic), each taking frames of its target from the feed and putting them on
// the wire (senders.ts).

import type { Libp2p, PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Swarm } from '../swarm.ts';
import { membershipProtocol, membershipTopic } from '../../transports/membership/driver.ts';
import { epaxosProtocol, submitProtocol } from '../../transports/rpc/consensus-rpc.ts';
import { joinProtocol } from '../../transports/rpc/join-transfer.ts';
import { snapshotProtocol } from '../../transports/rpc/snapshot-transfer.ts';
import type { FuzzTarget } from '../../transports/testing/fuzz-frames.ts';
import { votersTopic } from '../../transports/voters-topic.ts';
import type { DrawnFrame, FrameFeed } from './feed.ts';
import { publishAll, sendHttpStream, sendOnStream, sendRequest } from './senders.ts';
import { sleep } from './watch.ts';

/** Sender loops per agent and frames per stream or connection (or per publish round), per target. */
export const lanes: Readonly<Record<FuzzTarget, { perAgent: number; batch: number }>> = {
  consensus: { perAgent: 2, batch: 200 },
  membership: { perAgent: 2, batch: 200 },
  httpStream: { perAgent: 1, batch: 500 },
  submit: { perAgent: 16, batch: 1 }, // a stream per request costs ~20 ms of round trips: many in flight (the agent allows 64)
  snapshot: { perAgent: 2, batch: 1 }, // the agent allows 2 inbound snapshot streams per connection
  join: { perAgent: 2, batch: 1 }, // the agent allows 2 inbound join streams per connection (and 4 in all)
  gossip: { perAgent: 0, batch: 20 }, // topics: one loop in all, a message reaches every agent
  votersTopic: { perAgent: 0, batch: 20 },
};

/** Targets published on a gossipsub topic rather than sent to one agent. */
const topicTargets: ReadonlySet<FuzzTarget> = new Set(['gossip', 'votersTopic']);

/** The sender loops: each takes frames of its target from the feed and sends them to its agent. */
export class Flood {
  sent = 0;
  httpReplies = 0;
  submitReplies = 0;
  gossipPublished = 0;
  joinAcks = 0;
  votersPublished = 0;
  #limit = 0;
  #rateFrom = { t: performance.now(), sent: 0 };
  readonly #node: Libp2p;
  readonly #swarm: Swarm;
  readonly #feed: FrameFeed;
  readonly #signal: AbortSignal;
  readonly #peers: PeerId[];
  readonly #agents: number;

  /** Sends to agents 0..agents-1 of `swarm`. */
  constructor(node: Libp2p, swarm: Swarm, agents: number, feed: FrameFeed, signal: AbortSignal) {
    this.#agents = agents;
    this.#node = node;
    this.#swarm = swarm;
    this.#feed = feed;
    this.#signal = signal;
    this.#peers = swarm.agents.slice(0, agents).map((a) => peerIdFromString(a.peerId));
  }

  /** Frames per second since the last call. */
  rate(): number {
    const now = performance.now();
    const r = (this.sent - this.#rateFrom.sent) / ((now - this.#rateFrom.t) / 1000);
    this.#rateFrom = { t: now, sent: this.sent };
    return Math.round(r);
  }

  /** Sends until `limit` frames have been sent in all (or every quota is spent, or the run stops). */
  async run(limit: number): Promise<void> {
    this.#limit = limit;
    const loops: Promise<void>[] = [];
    for (const [target, lane] of Object.entries(lanes) as [FuzzTarget, { perAgent: number; batch: number }][]) {
      if (topicTargets.has(target)) { loops.push(this.#loop(target, lane.batch, 0)); continue; }
      for (let agent = 0; agent < this.#agents; agent++) {
        for (let k = 0; k < lane.perAgent; k++) loops.push(this.#loop(target, lane.batch, agent));
      }
    }
    await Promise.all(loops);
  }

  async #loop(target: FuzzTarget, batch: number, agent: number): Promise<void> {
    while (!this.#signal.aborted && this.sent < this.#limit) {
      // A send that settles without I/O (gossipsub refusing at once) would otherwise starve timers.
      await new Promise((r) => setImmediate(r));
      const frames = this.#take(target, Math.min(batch, this.#limit - this.sent));
      if (frames.length === 0) return;
      this.sent += frames.length;
      this.#feed.sent(topicTargets.has(target) ? -1 : agent, frames);
      try {
        await this.#send(target, agent, frames);
      } catch {
        // A refused dial or a reset stream: the agent may be busy or gone; the watcher decides which.
        await sleep(50, this.#signal);
      }
    }
  }

  /** Frames for one stream: a framing breaker ends it. */
  #take(target: FuzzTarget, max: number): DrawnFrame[] {
    const out: DrawnFrame[] = [];
    while (out.length < max) {
      const [f] = this.#feed.take(target, 1);
      if (f === undefined) break;
      out.push(f);
      if (f.kind === 'raw') break;
    }
    return out;
  }

  async #send(target: FuzzTarget, agent: number, frames: DrawnFrame[]): Promise<void> {
    const peer = this.#peers[agent];
    switch (target) {
      case 'consensus': return sendOnStream(this.#node, peer, epaxosProtocol, frames);
      case 'membership': return sendOnStream(this.#node, peer, membershipProtocol, frames);
      case 'submit': if (await sendRequest(this.#node, peer, submitProtocol, frames[0], true)) this.submitReplies++; return;
      case 'snapshot': await sendRequest(this.#node, peer, snapshotProtocol, frames[0], false); return;
      // The receiver acks every offer, a refusal too (framing broken, not JSON, invalid): an ack read is an offer decoded.
      case 'join': if (await sendRequest(this.#node, peer, joinProtocol, frames[0], true)) this.joinAcks++; return;
      // Awaited first, then added: `x += await …` would read x before the wait and lose the other loops' counts.
      case 'gossip': {
        const published = await publishAll(this.#node, membershipTopic(this.#swarm.name), frames);
        this.gossipPublished += published;
        return;
      }
      case 'votersTopic': {
        const published = await publishAll(this.#node, votersTopic(this.#swarm.name), frames);
        this.votersPublished += published;
        return;
      }
      case 'httpStream': {
        const u = new URL(this.#swarm.agents[agent].http);
        const replies = await sendHttpStream(u.hostname, Number(u.port), frames);
        this.httpReplies += replies;
      }
    }
  }
}
