// SWIM membership on the simulated voters (SimulationOptions.membership 'swim'): the real
// membership core (transports/membership) on each voter, its messages over the simulated network
// (latency, loss, cuts), its timers on the voter's own (possibly skewed) clock, crashed with the
// voter and started afresh when it restarts. Its events go to the agent's own wiring
// (agent/membership-recovery.ts): a voter that SWIM declares dead has its instances recovered by
// the others at once, as on a real swarm, instead of after each instance's recovery timeout.
//
// Deterministic like the rest of the simulator: every seed and tick entropy comes from the
// simulation's generator, statements are "signed" with the keyless digest (statement.ts).

import {
  digestSigner, type MemberEvent, Membership, type MembershipOptions, type Message,
} from '../../transports/membership/index.ts';
import { sizeBytes } from '../membership/harness.ts';
import { UnheardVoters } from '../../agent/membership-recovery.ts';
import type { Event } from '../../consensus/index.ts';

/** The membership knobs a simulation may change (not identity, clock or seed). */
export type SwimTuning = Partial<Pick<MembershipOptions, 'probeIntervalMs' | 'probeTimeoutMs' | 'indirectTimeoutMs' | 'suspicionMult' | 'gossipIntervalMs' | 'pushPullIntervalMs'>>;

/** What the simulation lends the membership layer. */
export interface SwimPorts {
  /** The agent's own clock, ms (skewed when the skew fault is on). */
  localMs(agent: number): number;
  /** Virtual µs at which the agent's clock will read `localMs`. */
  virtualUsAt(agent: number, localMs: number): number;
  nowUs(): number;
  nextU32(): number;
  /** Sends a membership message over the simulated network. */
  send(from: number, to: number, bytes: number, msg: Message): void;
  /** Wakes agent `agent`'s membership at virtual time `atUs` (epoch: its incarnation then). */
  wake(atUs: number, agent: number, epoch: number): void;
  /** A member event as agent `observer` saw it. */
  onEvent(observer: number, e: MemberEvent): void;
  /**
   * When given: the 'reachable' hint for agent `observer`'s core, on each change in the voters
   * its SWIM holds alive (SimulationOptions.reachableHint). A restarted agent starts with none.
   */
  onHint?(observer: number, hint: Event): void;
}

export const swimSwarm = 'sim';
export const swimId = (agent: number): string => `voter-${agent}`;

export class SimSwim {
  readonly #count: number;
  readonly #ports: SwimPorts;
  readonly #tuning: SwimTuning;
  readonly #nodes: (Membership | null)[];
  readonly #epochs: number[];
  /** When each agent's pending wake-up is due (µs): a later or equal one is not queued twice. */
  readonly #wakeAtUs: number[];
  readonly #signer = digestSigner(swimSwarm);
  /** Per agent, the voters its SWIM does not hold alive (for onHint). */
  readonly #unheard: UnheardVoters[];
  /** Member events seen, by type (a result figure). */
  readonly events = { suspect: 0, dead: 0, alive: 0, join: 0 };

  constructor(count: number, ports: SwimPorts, tuning: SwimTuning = {}) {
    this.#count = count;
    this.#ports = ports;
    this.#tuning = tuning;
    this.#nodes = new Array<Membership | null>(count).fill(null);
    this.#epochs = new Array<number>(count).fill(0);
    this.#wakeAtUs = new Array<number>(count).fill(Infinity);
    this.#unheard = Array.from({ length: count }, (_, a) => new UnheardVoters(this.#ids(), a));
  }

  #ids(): string[] {
    return Array.from({ length: this.#count }, (_, a) => swimId(a));
  }

  /** Starts agent `a`'s membership (at the start, and when it restarts) and joins through the others. */
  boot(a: number): void {
    if (this.#nodes[a] !== null) return;
    const node = new Membership({
      ...this.#tuning,
      id: swimId(a), addr: `sim://${a}`, nowMs: this.#ports.localMs(a), seed: this.#ports.nextU32(), signer: this.#signer,
    });
    this.#nodes[a] = node;
    this.#unheard[a] = new UnheardVoters(this.#ids(), a);
    const seeds = [];
    for (let b = 0; b < this.#count; b++) if (b !== a) seeds.push({ id: swimId(b), addr: `sim://${b}` });
    node.join(seeds);
    this.#flush(a, node);
  }

  /** Agent `a` crashed: its membership is gone; its timers and messages in flight are void. */
  crash(a: number): void {
    this.#nodes[a] = null;
    this.#epochs[a]++;
    this.#wakeAtUs[a] = Infinity;
  }

  /** A membership message arrives at `to` (the caller checked cuts, crashes and stalls). */
  deliver(from: number, to: number, msg: Message): void {
    const node = this.#nodes[to];
    if (node === null) return;
    node.receiveUntrusted(swimId(from), msg, this.#ports.localMs(to));
    this.#flush(to, node);
  }

  /**
   * Agent `a`'s wake-up that was due at `dueUs` (it may run later, when the agent was stalled);
   * stale ones (an older incarnation, a superseded time) are ignored.
   */
  wake(a: number, epoch: number, dueUs: number): void {
    const node = this.#nodes[a];
    if (node === null || epoch !== this.#epochs[a] || this.#wakeAtUs[a] !== dueUs) return;
    this.#wakeAtUs[a] = Infinity;
    node.step({ type: 'tick', nowMs: this.#ports.localMs(a), entropy: this.#ports.nextU32() });
    this.#flush(a, node);
  }

  #flush(a: number, node: Membership): void {
    const ready = node.takeReady();
    for (const out of ready.messages) {
      const to = Number(out.to.slice('voter-'.length));
      if (!Number.isInteger(to) || to < 0 || to >= this.#count || to === a) continue;
      this.#ports.send(a, to, sizeBytes(out.msg), out.msg);
    }
    for (const e of ready.events) {
      if (e.type in this.events) this.events[e.type as keyof SimSwim['events']]++;
      const hint = this.#ports.onHint === undefined ? null : this.#unheard[a].observe(e);
      if (hint !== null) this.#ports.onHint!(a, hint);
      this.#ports.onEvent(a, e);
    }
    if (ready.wakeAtMs !== null) {
      const atUs = Math.max(this.#ports.nowUs() + 1, this.#ports.virtualUsAt(a, ready.wakeAtMs));
      if (atUs < this.#wakeAtUs[a]) {
        this.#wakeAtUs[a] = atUs;
        this.#ports.wake(atUs, a, this.#epochs[a]);
      }
    }
  }
}
