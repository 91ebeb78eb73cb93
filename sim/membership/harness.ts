// The membership simulation harness: N pure membership cores (transports/membership) driven by
// sim/engine's virtual clock (EventQueue), seeded randomness (Random) and lossy network (Network),
// with crashes, restarts, leaves and partitions. One seed, one run: every random choice — latency,
// loss, start times, the entropy of every tick — comes from one generator, so the same seed gives
// the same events in the same order and the same trace hash.
//
// The link model is a radio mesh, not a LAN (sim/engine's default is 1–5 ms): 5–40 ms one way,
// 1 MB/s per directed link, loss as the scenario sets it. The probe timeout is tuned against it.

import { EventQueue } from '../engine/queue.ts';
import { Network, type Cut, type NetworkOptions } from '../engine/network.ts';
import { Random } from '../engine/random.ts';
import { TraceHash, codeOf } from '../engine/trace.ts';
import {
  digestSigner, type MemberEvent, Membership, type MembershipOptions, type MemberState, type Message, type Meta,
  type Ready, type Signer, type Trust,
} from '../../transports/membership/index.ts';

export const radioNetwork: NetworkOptions = {
  latencyMs: { min: 5, max: 40 },
  loss: 0,
  duplicate: 0,
  reorder: 0,
  reorderDelayMs: { min: 10, max: 60 },
  bandwidthBytesPerMs: 1000,
};

/** The protocol knobs a scenario may change (everything but identity, clock and seed). */
export type Tuning = Partial<Omit<MembershipOptions, 'id' | 'addr' | 'nowMs' | 'seed' | 'incarnation' | 'meta' | 'signer' | 'trust'>>;

/** The simulated swarm's name (part of every signed statement). */
export const simSwarm = 'sim';
/**
 * Statements are "signed" with the keyless digest (statement.ts): deterministic, so a run replays
 * byte for byte, and a tampered, re-attributed or unsigned statement still fails to verify.
 */
export const simSigner: Signer = digestSigner(simSwarm);

export interface SimOptions {
  readonly agents: number;
  readonly seed: number;
  /** Overrides of the radio link model. */
  readonly network?: Partial<NetworkOptions>;
  readonly tuning?: Tuning;
  /** Agents 0..seeds−1 are the seed list every agent joins through. */
  readonly seeds?: number;
  /** Agents start (and join) at random times in [0, startSpreadMs). */
  readonly startSpreadMs?: number;
  /** Run every delivered message through the core's validator (the real driver always does). */
  readonly validate?: boolean;
  readonly meta?: (agent: number) => Meta;
  /** The roster every agent consults (default: everyone admitted, role as claimed). */
  readonly trust?: Trust;
}

type SimEvent =
  | { readonly k: 'tick'; readonly agent: number; readonly epoch: number }
  | { readonly k: 'msg'; readonly from: number; readonly to: number; readonly msg: Message }
  | { readonly k: 'start'; readonly agent: number; readonly epoch: number }
  | { readonly k: 'call'; readonly fn: () => void };

/** A "dead" verdict one agent reached about another. */
export interface DeadVerdict {
  readonly atUs: number;
  readonly observer: number;
  readonly subject: number;
  /** The subject was running, had not left, and no cut separated the two: a false positive. */
  readonly falsePositive: boolean;
}

/** After a cut heals, "dead" verdicts within this long are not counted as false positives. */
const cutGraceUs = 30_000_000;

export const idOf = (agent: number): string => `m${agent}`;
export const addrOf = (agent: number): string => `sim://${agent}`;

export class MembershipSim {
  readonly agents: number;
  readonly rng: Random;
  readonly net: Network;
  readonly trace = new TraceHash();
  readonly verdicts: DeadVerdict[] = [];
  readonly rejected: string[] = [];
  /** Every member event, when `recordEvents` is on (tests of event sequences). */
  readonly events: { atUs: number; observer: number; event: MemberEvent }[] = [];
  recordEvents = false;
  nowUs = 0;
  private readonly queue = new EventQueue<SimEvent>();
  private readonly nodes: (Membership | null)[];
  private readonly epochs: number[];
  private readonly tickAtUs: number[];
  private readonly opts: SimOptions;
  private readonly seedList: { id: string; addr: string }[];
  private readonly idIndex = new Map<string, number>();
  /** When the last cut was removed: suspicions begun across it may still expire for a while. */
  private healedAtUs = -Infinity;
  /** Agents deliberately down (crashed, left): `converged` does not wait for them. */
  private readonly down = new Set<number>();

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.agents = opts.agents;
    this.rng = new Random(opts.seed);
    this.net = new Network(opts.agents, { ...radioNetwork, ...opts.network });
    this.nodes = new Array<Membership | null>(opts.agents).fill(null);
    this.epochs = new Array<number>(opts.agents).fill(0);
    this.tickAtUs = new Array<number>(opts.agents).fill(Infinity);
    for (let i = 0; i < opts.agents; i++) this.idIndex.set(idOf(i), i);
    const seeds = Math.min(opts.seeds ?? 3, opts.agents);
    this.seedList = Array.from({ length: seeds }, (_, i) => ({ id: idOf(i), addr: addrOf(i) }));
  }

  // ---- scenario API -----------------------------------------------------------------------------

  /** Schedules every agent's start at a random time in [0, startSpreadMs). */
  startAll(): void {
    const spreadUs = Math.round((this.opts.startSpreadMs ?? 1000) * 1000);
    for (let a = 0; a < this.agents; a++) this.queue.push(this.nowUs + this.rng.int(0, Math.max(0, spreadUs - 1)), { k: 'start', agent: a, epoch: this.epochs[a] });
  }

  /** Runs `fn` at virtual time `atMs` from now. */
  at(afterMs: number, fn: () => void): void {
    this.queue.push(this.nowUs + Math.round(afterMs * 1000), { k: 'call', fn });
  }

  runForMs(ms: number): void {
    this.runUntilUs(this.nowUs + Math.round(ms * 1000));
  }

  runUntilUs(endUs: number): void {
    for (;;) {
      const t = this.queue.peekTimeUs();
      if (t === undefined || t > endUs) break;
      const { timeUs, item } = this.queue.pop()!;
      this.nowUs = timeUs;
      this.handle(timeUs, item);
    }
    this.nowUs = Math.max(this.nowUs, endUs);
  }

  /**
   * Runs until `done()` holds (checked every `checkMs` of virtual time) or `maxMs` passes.
   * Returns the virtual time it first held (µs), or null.
   */
  runUntil(done: () => boolean, maxMs: number, checkMs = 50): number | null {
    const endUs = this.nowUs + Math.round(maxMs * 1000);
    while (this.nowUs < endUs) {
      if (done()) return this.nowUs;
      this.runUntilUs(Math.min(endUs, this.nowUs + Math.round(checkMs * 1000)));
    }
    return done() ? this.nowUs : null;
  }

  /** The agent's process stops: no more ticks, messages to it are lost. */
  crash(agent: number): void {
    this.down.add(agent);
    this.nodes[agent] = null;
    this.epochs[agent]++;
    this.tickAtUs[agent] = Infinity;
    this.trace.add(this.nowUs); this.trace.add(codeOf('crash')); this.trace.add(agent);
  }

  /** A fresh process under the same id joins again (it kept nothing, unless `incarnation` says). */
  restart(agent: number, incarnation?: number): void {
    this.crash(agent);
    this.boot(agent, incarnation);
  }

  leave(agent: number): void {
    const n = this.nodes[agent];
    if (n === null) throw new Error(`sim: agent ${agent} is not running`);
    const r = n.leave();
    if (!r.ok) throw new Error(r.reason);
    this.down.add(agent);
    this.flush(agent, n);
  }

  setMeta(agent: number, meta: Meta): { ok: true } | { ok: false; reason: string } {
    const n = this.nodes[agent];
    if (n === null) throw new Error(`sim: agent ${agent} is not running`);
    const r = n.setMeta(meta);
    this.flush(agent, n);
    return r;
  }

  /** Delivers raw (possibly malformed) input to an agent as if from `fromId`. */
  inject(agent: number, fromId: unknown, raw: unknown): { ok: true } | { ok: false; reason: string } {
    const n = this.nodes[agent];
    if (n === null) throw new Error(`sim: agent ${agent} is not running`);
    const r = n.receiveUntrusted(fromId, raw, this.nowUs / 1000);
    this.flush(agent, n);
    return r;
  }

  split(side: ReadonlySet<number>): number {
    return this.net.addCut({ kind: 'split', side } satisfies Cut);
  }

  heal(cutId: number): void {
    this.net.removeCut(cutId);
    this.healedAtUs = this.nowUs;
  }

  node(agent: number): Membership | null {
    return this.nodes[agent];
  }

  running(agent: number): boolean {
    const n = this.nodes[agent];
    return n !== null && n.status === 'joined';
  }

  /** How `observer` sees `subject`; undefined when it does not know it. */
  view(observer: number, subject: number): MemberState | undefined {
    return this.nodes[observer]?.member(idOf(subject))?.state;
  }

  /**
   * Whether every agent that should be up (started, not crashed or left) is running and sees
   * every such agent alive, and counts no one else as live.
   */
  converged(): boolean {
    const up: number[] = [];
    for (let a = 0; a < this.agents; a++) {
      if (this.down.has(a)) continue;
      if (!this.running(a)) return false;
      up.push(a);
    }
    for (const a of up) {
      const n = this.nodes[a]!;
      if (n.liveCount !== up.length) return false;
      for (const b of up) if (n.member(idOf(b))?.state !== 'alive') return false;
    }
    return true;
  }

  /** Whether every running agent other than `subject` sees `subject` dead or left. */
  allSeeDead(subject: number): boolean {
    for (let a = 0; a < this.agents; a++) {
      if (a === subject || !this.running(a)) continue;
      const s = this.view(a, subject);
      if (s !== 'dead' && s !== 'left') return false;
    }
    return true;
  }

  falsePositives(): DeadVerdict[] {
    return this.verdicts.filter((v) => v.falsePositive);
  }

  // ---- the driver ------------------------------------------------------------------------------

  /** Starts a process for `agent` (after a crash) and joins it through the seeds. */
  boot(agent: number, incarnation?: number, meta?: Meta): void {
    if (this.nodes[agent] !== null) throw new Error(`sim: agent ${agent} is running`);
    const n = new Membership({
      ...this.opts.tuning,
      id: idOf(agent), addr: addrOf(agent), nowMs: this.nowUs / 1000, seed: this.rng.nextU32(),
      incarnation, meta: meta ?? this.opts.meta?.(agent), signer: simSigner, trust: this.opts.trust,
    });
    this.nodes[agent] = n;
    this.down.delete(agent);
    this.trace.add(this.nowUs); this.trace.add(codeOf('start')); this.trace.add(agent);
    n.join(this.seedList);
    this.flush(agent, n);
  }

  private handle(timeUs: number, ev: SimEvent): void {
    switch (ev.k) {
      case 'start':
        if (ev.epoch === this.epochs[ev.agent] && this.nodes[ev.agent] === null) this.boot(ev.agent);
        break;
      case 'call': ev.fn(); break;
      case 'tick': {
        const n = this.nodes[ev.agent];
        if (n === null || ev.epoch !== this.epochs[ev.agent] || this.tickAtUs[ev.agent] !== timeUs) return;
        this.tickAtUs[ev.agent] = Infinity;
        n.step({ type: 'tick', nowMs: timeUs / 1000, entropy: this.rng.nextU32() });
        this.flush(ev.agent, n);
        break;
      }
      case 'msg': {
        if (this.net.blocked(ev.from, ev.to, timeUs)) { this.net.countCutOnArrival(); return; }
        const n = this.nodes[ev.to];
        if (n === null) return;
        this.trace.add(timeUs); this.trace.add(ev.from); this.trace.add(ev.to); this.trace.add(codeOf(ev.msg.type));
        if (this.opts.validate === false) n.step({ type: 'message', from: idOf(ev.from), msg: ev.msg, nowMs: timeUs / 1000 });
        else {
          const r = n.receiveUntrusted(idOf(ev.from), ev.msg, timeUs / 1000);
          if (!r.ok) this.rejected.push(r.reason);
        }
        this.flush(ev.to, n);
        break;
      }
    }
  }

  /** Honours one agent's Ready: send its messages, record its events, set its timer. */
  private flush(agent: number, n: Membership): void {
    const ready: Ready = n.takeReady();
    for (const out of ready.messages) {
      const to = this.idIndex.get(out.to);
      if (to === undefined) continue;
      for (const at of this.net.send(agent, to, sizeBytes(out.msg), this.nowUs, this.rng)) {
        this.queue.push(at, { k: 'msg', from: agent, to, msg: out.msg });
      }
    }
    for (const e of ready.events) {
      if (this.recordEvents) this.events.push({ atUs: this.nowUs, observer: agent, event: e });
      if (e.type !== 'dead') continue;
      const subject = this.idIndex.get(e.member.id);
      if (subject === undefined) continue;
      // A verdict reached across a cut, or soon after one healed (a suspicion begun while the
      // two could not talk, expiring before the refutation crossed), is the partition's doing.
      const separated = this.net.blocked(agent, subject, this.nowUs) || this.net.blocked(subject, agent, this.nowUs) ||
        this.nowUs - this.healedAtUs < cutGraceUs;
      const fp = this.nodes[subject] !== null && this.nodes[subject]!.status === 'joined' && !separated;
      this.verdicts.push({ atUs: this.nowUs, observer: agent, subject, falsePositive: fp });
    }
    if (ready.wakeAtMs !== null) {
      const wakeUs = Math.max(this.nowUs + 1, Math.ceil(ready.wakeAtMs * 1000));
      if (wakeUs < this.tickAtUs[agent]) {
        this.tickAtUs[agent] = wakeUs;
        this.queue.push(wakeUs, { k: 'tick', agent, epoch: this.epochs[agent] });
      }
    }
  }
}

/** A real signature's bytes (Ed25519), whatever the simulator's stand-in digest takes. */
const sigWireBytes = 64;

/** Roughly what the message costs on the wire (a protobuf encoding), for the bandwidth model. */
export function sizeBytes(msg: Message): number {
  switch (msg.type) {
    case 'nack': return 12;
    case 'pushPull': {
      let s = 8;
      for (const r of msg.members) s += 14 + r.alive.id.length + r.alive.addr.length + sigWireBytes + metaBytes(r.alive.meta) + (r.leave === null ? 0 : 12 + r.leave.id.length * 2 + sigWireBytes);
      return s;
    }
    default: {
      let s = 12 + (msg.type === 'ping' || msg.type === 'pingReq' ? msg.target.length : 0) + (msg.type === 'pingReq' ? msg.targetAddr.length : 0);
      for (const g of msg.gossip) {
        s += g.kind === 'alive' ? 10 + g.id.length + g.addr.length + sigWireBytes + metaBytes(g.meta) : 10 + g.id.length + g.from.length + (g.kind === 'dead' && g.sig !== undefined ? sigWireBytes : 0);
      }
      return s;
    }
  }
}

function metaBytes(m: Meta): number {
  let s = 12;
  for (const d of m.devices) s += d.length + 2;
  for (const p of m.plugins) s += p.length + 2;
  return s;
}
