// The membership core: SWIM with Lifeguard as a pure state machine (DESIGN.md, "the one rule").
// Inputs: messages (validated at the edge, validate.ts), ticks carrying the driver's clock and
// entropy, and the calls join / leave / setMeta. Output: `takeReady()` — messages to send, member
// events, and when to tick next. No clock, timer, randomness or I/O of its own.
//
// Protocol, one period (probeIntervalMs × local health):
//   1. ping the next member of a shuffled round-robin order (memberlist), piggybacking gossip;
//   2. no ack after probeTimeoutMs → ping-req through k random members (Lifeguard: with nacks),
//      and ping directly once more (a second chance over a lossy radio link);
//   3. no ack after indirectTimeoutMs more → suspect it (incarnation, from = self), and tell it
//      directly so it can refute (Lifeguard's buddy system);
//   4. a suspicion becomes dead after a timeout that shrinks from max to min as independent
//      suspicions of the same member arrive (Lifeguard: max − (max − min)·log(C+1)/log(k+1)).
// Dissemination: every ping, ack and ping-req piggybacks the least-sent pending items; a gossip
// round every gossipIntervalMs sends them to gossipFanout members; each item is sent
// retransmitMult·ceil(log10(n+1)) times. Anti-entropy: every pushPullIntervalMs a full-state
// exchange with a random live member, and one with a random dead or seed member (reconnect), which
// is how two sides of a healed partition find each other again.
//
// Trust (DESIGN.md, "Trust"; statement.ts). A member's statements about itself — its alive record
// and its leave — are signed by it and carried verbatim; one whose signature does not verify is
// dropped. Alive records of members the roster does not admit, or whose role disagrees with the
// roster's, are dropped. Claims about others (suspect, dead) count only from admitted members and
// only at exactly the incarnation their subject signed last: a claim above it is ignored (it
// cannot push the subject's incarnation anywhere), and the subject's signed refutation at a
// higher incarnation outranks it. So the only ways to raise a member's incarnation are its own
// signatures, and incarnations stay far below 2^53 (config.ts, incarnationMax).

import {
  membershipConfig, relaysMax, membersMax, retransmitLimit, suspicionBoundsMs, suspicionTimeoutMs, defaultMeta, incarnationMax,
  type MembershipConfig, type MembershipOptions,
} from './config.ts';
import { aliveStatement, leaveStatement, trustEveryone, type Signer, type Trust } from './statement.ts';
import { BroadcastQueue } from './broadcast.ts';
import { metaEqual, metaProblem } from './meta.ts';
import { Prng } from './prng.ts';
import { isMemberId, validateMessage, validateMeta } from './validate.ts';
import type {
  Ack, AliveItem, DeadItem, GossipItem, Input, MemberEvent, MemberEventType, MemberId, MemberRecord, MemberState, MemberView,
  MembershipStats, Message, Meta, Nack, Outgoing, Ping, PingReq, PushPull, Ready, Status, SuspectItem,
} from './types.ts';

/** A seed to join through: the driver resolves a seed multiaddr to its peer id when it dials it. */
export interface Seed {
  readonly id: MemberId;
  readonly addr: string;
}

/** Seeds kept for reconnecting; a longer list is cut (a swarm config names a handful). */
const seedsMax = 64;
/**
 * A relay waits this share of the originator's indirect window before sending its nack, so the
 * nack (one more hop) still arrives inside that window.
 */
const relayTimeoutShare = 0.6;
/** Members told "the other side holds you dead" after one push-pull; the rest hear it from later ones. */
const noticesPerMergeMax = 1024;
/** Suspects queued to be probed out of turn; more are left to the round-robin order. */
const urgentMax = 16;
/** Above this many open suspicions, probing returns to the round-robin order alone. */
const urgentSuspicionsMax = 4;

interface Member {
  readonly id: MemberId;
  addr: string;
  incarnation: number;
  state: MemberState;
  meta: Meta;
  /** When it entered its current state (this agent's clock): for gossip-to-dead and forgetting. */
  sinceMs: number;
  /** Its latest signed alive statement, verbatim (addr, meta and its incarnation are this one's). */
  alive: AliveItem;
  /** Its signed leave, exactly while it is `left` (then `incarnation` is the leave's). */
  leave: DeadItem | null;
}

interface Suspicion {
  readonly startMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** Confirmations that bring the timeout down to min; 0 when too few members to expect any. */
  readonly k: number;
  /** Who suspected it: the first one and every independent confirmation. */
  readonly from: Set<MemberId>;
  deadlineMs: number;
  /** The member was asked directly once more before being declared dead. */
  lastCall: boolean;
}

interface Probe {
  readonly seq: number;
  readonly target: MemberId;
  readonly directDeadlineMs: number;
  readonly indirectDeadlineMs: number;
  indirectSent: boolean;
  nacksExpected: number;
  nacks: number;
}

interface Relay {
  readonly origin: MemberId;
  readonly originSeq: number;
  readonly deadlineMs: number;
}

export type Result = { ok: true } | { ok: false; reason: string };

export class Membership {
  readonly cfg: MembershipConfig;
  readonly stats: MembershipStats = {
    probes: 0, probesFailed: 0, indirectProbes: 0, nacksReceived: 0, suspicionsStarted: 0, refutations: 0, declaredDead: 0, pushPulls: 0, rejected: 0,
    badSignatures: 0, notAdmitted: 0, roleRefused: 0, unbackedClaims: 0, incarnationExhausted: 0,
  };
  private readonly signer: Signer;
  private readonly trust: Trust;
  /** When we last asked a peer for the evidence behind a claim about us above our incarnation. */
  private lastEvidenceMs = -Infinity;
  private readonly members = new Map<MemberId, Member>();
  /** The same members in an array, for choosing random ones without a scan. */
  private readonly memberArray: Member[] = [];
  private readonly me: Member;
  private phase: Status = 'idle';
  private nowMs: number;
  private readonly rng: Prng;
  private seq = 0;
  /** Lifeguard local health score, 0..awarenessMax−1; timeouts and the period scale by score + 1. */
  private awareness = 0;
  /** Members alive or suspect, self included: the n of every formula. */
  private live = 1;

  private probeOrder: MemberId[] = [];
  private probeIndex = 0;
  private probe: Probe | null = null;
  /** Members we heard suspected by others: probed before the round-robin order (confirmations). */
  private urgent: MemberId[] = [];
  private readonly relays = new Map<number, Relay>();
  private readonly suspicions = new Map<MemberId, Suspicion>();
  private readonly broadcasts = new BroadcastQueue();
  private seeds: Seed[] = [];
  private nextProbeMs = 0;
  private nextGossipMs = 0;
  private nextPushPullMs = 0;
  private lastRetryMs = -Infinity;

  // The Ready being assembled.
  private out: Outgoing[] = [];
  private events: MemberEvent[] = [];

  constructor(options: MembershipOptions) {
    this.cfg = membershipConfig(options);
    if (!isMemberId(options.id)) throw new RangeError('membership: id must be a non-empty string of at most 128 bytes');
    const meta = options.meta ?? defaultMeta;
    const problem = metaProblem(meta);
    if (problem !== null) throw new RangeError(`membership: ${problem}`);
    const incarnation = options.incarnation ?? 0;
    if (!Number.isSafeInteger(incarnation) || incarnation < 0 || incarnation > incarnationMax) throw new RangeError(`membership: incarnation must be an integer in 0..${incarnationMax}, got ${incarnation}`);
    if (typeof options.signer?.sign !== 'function' || typeof options.signer.verify !== 'function') throw new TypeError('membership: signer { sign, verify } is required');
    this.signer = options.signer;
    this.trust = options.trust ?? trustEveryone;
    this.nowMs = options.nowMs;
    this.rng = new Prng(options.seed);
    const unsigned: AliveItem = { kind: 'alive', id: options.id, addr: options.addr, incarnation, meta, sig: '' };
    this.me = { id: options.id, addr: options.addr, incarnation, state: 'alive', meta, sinceMs: options.nowMs, alive: unsigned, leave: null };
    this.resign();
    this.members.set(this.me.id, this.me);
    this.memberArray.push(this.me);
  }

  // ---- driver API -----------------------------------------------------------------------------

  step(input: Input): void {
    if (input.type === 'tick') this.tick(input.nowMs, input.entropy);
    else this.receive(input.from, input.msg, input.nowMs);
  }

  /**
   * The edge for bytes-turned-objects: validated first; a malformed message changes nothing and
   * its reason comes back (for a log line or a metric), never an exception.
   */
  receiveUntrusted(from: unknown, raw: unknown, nowMs?: number): Result {
    if (!isMemberId(from)) {
      this.stats.rejected++;
      return { ok: false, reason: 'from: expected a member id (1..128 bytes)' };
    }
    const v = validateMessage(raw);
    if (!v.ok) {
      this.stats.rejected++;
      return v;
    }
    this.receive(from, v.msg, nowMs);
    return { ok: true };
  }

  /** Start: contact every seed with a full-state exchange, then probe, gossip and push-pull. */
  join(seeds: readonly Seed[]): Result {
    if (this.phase !== 'idle') return { ok: false, reason: `join: already ${this.phase}` };
    this.phase = 'joined';
    this.seeds = seeds.filter((s) => s.id !== this.me.id).slice(0, seedsMax);
    for (const s of this.seeds) this.send(s.id, s.addr, this.pushPullMessage(false));
    // Random phases: agents started together must not probe and exchange in lockstep.
    this.nextProbeMs = this.nowMs + this.rng.below(this.cfg.probeIntervalMs);
    this.nextGossipMs = this.nowMs;
    this.nextPushPullMs = this.nowMs + this.rng.below(this.cfg.pushPullIntervalMs);
    return { ok: true };
  }

  /**
   * Graceful leave: tell the others (a dead message from self, which they record as `left`), keep
   * answering pings while that news spreads, and stop once it has been sent its full count.
   */
  leave(): Result {
    if (this.phase !== 'joined') return { ok: false, reason: `leave: not joined (${this.phase})` };
    this.phase = 'leaving';
    this.me.state = 'left';
    this.probe = null;
    const leave = { kind: 'dead', id: this.me.id, incarnation: this.me.incarnation, from: this.me.id } as const;
    this.me.leave = { ...leave, sig: this.signer.sign(leaveStatement(leave)) };
    this.broadcast(this.me.leave);
    this.gossipRound();
    return { ok: true };
  }

  /** New metadata for this agent, spread with a higher incarnation. Over-size or ill-formed: refused. */
  setMeta(raw: Meta): Result {
    if (this.phase === 'leaving' || this.phase === 'left') return { ok: false, reason: `setMeta: agent is ${this.phase}` };
    const v = validateMeta(raw);
    if (!v.ok) return { ok: false, reason: `setMeta: ${v.reason}` };
    if (this.phase === 'joined' && this.me.incarnation >= incarnationMax) {
      this.stats.incarnationExhausted++;
      return { ok: false, reason: `setMeta: incarnation at its bound (${incarnationMax}); restart under a new identity` };
    }
    this.me.meta = v.meta;
    if (this.phase === 'joined') this.me.incarnation++;
    this.resign();
    if (this.phase === 'joined') this.broadcast(this.me.alive);
    return { ok: true };
  }

  /** Everything produced since the last call, and when to tick next (see `Ready`). */
  takeReady(): Ready {
    const ready: Ready = { messages: this.out, events: this.events, wakeAtMs: this.wakeAtMs() };
    this.out = [];
    this.events = [];
    return ready;
  }

  get status(): Status {
    return this.phase;
  }

  get id(): MemberId {
    return this.me.id;
  }

  get incarnation(): number {
    return this.me.incarnation;
  }

  /** This agent's current signed alive statement (what a driver publishes about itself). */
  get selfAlive(): AliveItem {
    return this.me.alive;
  }

  /** This agent's signed leave, once it has left or is leaving; null before. */
  get selfLeave(): DeadItem | null {
    return this.me.leave;
  }

  /** Lifeguard's local health score (0 = healthy). */
  get healthScore(): number {
    return this.awareness;
  }

  member(id: MemberId): MemberView | undefined {
    const m = this.members.get(id);
    return m === undefined ? undefined : viewOf(m);
  }

  /** Every member this agent knows, itself included. */
  memberList(): MemberView[] {
    return [...this.members.values()].map(viewOf);
  }

  /** How many members are alive or suspect, self included. */
  get liveCount(): number {
    return this.live;
  }

  // ---- time -----------------------------------------------------------------------------------

  private tick(nowMs: number, entropy: number): void {
    if (nowMs > this.nowMs) this.nowMs = nowMs;
    this.rng.stir(entropy);
    if (this.phase === 'idle' || this.phase === 'left') return;
    const now = this.nowMs;
    for (const [seq, r] of this.relays) {
      if (r.deadlineMs > now) continue;
      this.relays.delete(seq);
      this.send(r.origin, this.addrOf(r.origin), { type: 'nack', seq: r.originSeq } satisfies Nack);
    }
    if (this.phase === 'leaving') {
      if (now >= this.nextGossipMs) this.gossipRound();
      if (this.broadcasts.size === 0) this.phase = 'left';
      return;
    }
    const p = this.probe;
    if (p !== null && !p.indirectSent && now >= p.directDeadlineMs) this.probeIndirect(p);
    if (p !== null && now >= p.indirectDeadlineMs) this.probeFailed(p);
    for (const [id, s] of this.suspicions) {
      if (s.deadlineMs <= now) this.suspicionExpired(id);
    }
    if (now >= this.nextProbeMs) {
      this.nextProbeMs = now + this.cfg.probeIntervalMs * this.scale();
      this.probeNext();
    }
    if (now >= this.nextGossipMs) this.gossipRound();
    if (now >= this.nextPushPullMs) {
      this.nextPushPullMs = now + this.cfg.pushPullIntervalMs;
      this.pushPullRound();
    } else if (this.live === 1 && this.seeds.length > 0 && now - this.lastRetryMs >= this.cfg.probeIntervalMs) {
      // Alone (no seed answered yet, or everyone else is gone): retry a seed every period
      // instead of every push-pull period, so an agent that started before its seeds joins fast.
      this.lastRetryMs = now;
      const s = this.seeds[this.rng.below(this.seeds.length)];
      this.send(s.id, s.addr, this.pushPullMessage(false));
    }
  }

  private wakeAtMs(): number | null {
    if (this.phase === 'idle' || this.phase === 'left') return null;
    let t = Infinity;
    for (const r of this.relays.values()) t = Math.min(t, r.deadlineMs);
    if (this.broadcasts.size > 0) t = Math.min(t, this.nextGossipMs);
    if (this.phase === 'leaving') return t === Infinity ? this.nowMs : t;
    t = Math.min(t, this.nextProbeMs, this.nextPushPullMs);
    const p = this.probe;
    if (p !== null) t = Math.min(t, p.indirectSent ? p.indirectDeadlineMs : p.directDeadlineMs);
    for (const s of this.suspicions.values()) t = Math.min(t, s.deadlineMs);
    return t;
  }

  private scale(): number {
    return this.awareness + 1;
  }

  private adjustHealth(delta: number): void {
    this.awareness = Math.min(this.cfg.awarenessMax - 1, Math.max(0, this.awareness + delta));
  }

  // ---- probing --------------------------------------------------------------------------------

  private probeNext(): void {
    const target = this.nextProbeTarget();
    if (target === null) return;
    this.stats.probes++;
    const scale = this.scale();
    const seq = this.nextSeq();
    this.probe = {
      seq, target: target.id, indirectSent: false, nacksExpected: 0, nacks: 0,
      directDeadlineMs: this.nowMs + this.cfg.probeTimeoutMs * scale,
      indirectDeadlineMs: this.nowMs + (this.cfg.probeTimeoutMs + this.cfg.indirectTimeoutMs) * scale,
    };
    this.send(target.id, target.addr, { type: 'ping', seq, target: target.id, gossip: this.pingGossip(target) } satisfies Ping);
  }

  /** A suspect target hears of its suspicion first in every ping (Lifeguard's buddy system). */
  private pingGossip(target: Member): GossipItem[] {
    if (target.state !== 'suspect') return this.piggyback(this.cfg.piggybackItemsMax);
    const item: SuspectItem = { kind: 'suspect', id: target.id, incarnation: target.incarnation, from: this.me.id };
    return [item, ...this.piggyback(this.cfg.piggybackItemsMax - 1)];
  }

  /** Shuffled round-robin (memberlist): every live member once per round, a fresh order each round. */
  private nextProbeTarget(): Member | null {
    // Out-of-turn probes are for an isolated failure. In a mass failure (a partition) they would
    // spend every probe confirming what is already suspected instead of finding the rest, and
    // confirmations arrive anyway from the many members that probe their way onto each suspect.
    if (this.suspicions.size > urgentSuspicionsMax) this.urgent.length = 0;
    while (this.urgent.length > 0) {
      const id = this.urgent.shift()!;
      const m = this.members.get(id);
      if (m !== undefined && m.state === 'suspect' && this.needsConfirmation(id)) return m;
    }
    for (let tries = 0; tries <= this.probeOrder.length + 1; tries++) {
      if (this.probeIndex >= this.probeOrder.length) {
        this.probeOrder = [];
        for (const m of this.members.values()) if (m !== this.me && isLive(m.state)) this.probeOrder.push(m.id);
        this.rng.shuffle(this.probeOrder);
        this.probeIndex = 0;
        if (this.probeOrder.length === 0) return null;
      }
      const m = this.members.get(this.probeOrder[this.probeIndex++]);
      if (m !== undefined && m !== this.me && isLive(m.state)) return m;
    }
    return null;
  }

  private probeIndirect(p: Probe): void {
    p.indirectSent = true;
    const target = this.members.get(p.target);
    if (target === undefined || !isLive(target.state)) return;
    const relays = this.randomMembers(this.cfg.indirectChecks, (m) => m.state === 'alive' && m.id !== p.target);
    p.nacksExpected = relays.length;
    if (relays.length > 0) this.stats.indirectProbes++;
    for (const r of relays) {
      this.send(r.id, r.addr, { type: 'pingReq', seq: p.seq, target: target.id, targetAddr: target.addr, gossip: this.piggyback(this.cfg.piggybackItemsMax) } satisfies PingReq);
    }
    this.send(target.id, target.addr, { type: 'ping', seq: p.seq, target: target.id, gossip: this.pingGossip(target) } satisfies Ping);
  }

  private probeFailed(p: Probe): void {
    this.probe = null;
    this.stats.probesFailed++;
    // Lifeguard: a failed probe with no nack at all points at our own links, not the target's.
    // One nack is enough to clear us: relays that stay silent may be across a partition (so
    // memberlist's "+1 per missing nack" slows a healthy agent in every partition).
    this.adjustHealth(p.nacks === 0 ? 1 : 0);
    const target = this.members.get(p.target);
    if (target === undefined || !isLive(target.state)) return;
    this.onSuspect({ kind: 'suspect', id: target.id, incarnation: target.incarnation, from: this.me.id });
  }

  // ---- receiving ------------------------------------------------------------------------------

  private receive(from: MemberId, msg: Message, nowMs: number | undefined): void {
    if (nowMs !== undefined && nowMs > this.nowMs) this.nowMs = nowMs;
    if (from === this.me.id || this.phase === 'idle' || this.phase === 'left') return;
    // The driver drops frames of peers not on the roster before they get here; this is the same
    // rule for drivers that do not (the simulator), at the cost of one lookup.
    if (!this.trust.isAdmitted(from)) {
      this.stats.notAdmitted++;
      return;
    }
    if (this.phase === 'leaving') {
      // Still answer probes, carrying the leave notice, so nobody suspects us before hearing it.
      if (msg.type === 'ping' && msg.target === this.me.id) this.send(from, this.addrOf(from), { type: 'ack', seq: msg.seq, gossip: this.piggyback(this.cfg.piggybackItemsMax) });
      return;
    }
    switch (msg.type) {
      case 'ping': this.onGossip(from, msg.gossip); this.onPing(from, msg); break;
      case 'ack': this.onGossip(from, msg.gossip); this.onAck(msg); break;
      case 'pingReq': this.onGossip(from, msg.gossip); this.onPingReq(from, msg); break;
      case 'nack': this.onNack(msg); break;
      case 'gossip': this.onGossip(from, msg.gossip); break;
      case 'pushPull': this.onPushPull(from, msg); break;
    }
  }

  private onPing(from: MemberId, ping: Ping): void {
    if (ping.target !== this.me.id) return; // meant for a previous holder of this address
    this.send(from, this.addrOf(from), { type: 'ack', seq: ping.seq, gossip: this.piggyback(this.cfg.piggybackItemsMax) } satisfies Ack);
  }

  private onAck(ack: Ack): void {
    const p = this.probe;
    if (p !== null && ack.seq === p.seq) {
      this.probe = null;
      this.adjustHealth(-1);
      return;
    }
    const r = this.relays.get(ack.seq);
    if (r === undefined) return;
    this.relays.delete(ack.seq);
    this.send(r.origin, this.addrOf(r.origin), { type: 'ack', seq: r.originSeq, gossip: this.piggyback(this.cfg.piggybackItemsMax) });
  }

  private onNack(nack: Nack): void {
    const p = this.probe;
    if (p === null || nack.seq !== p.seq) return;
    this.stats.nacksReceived++;
    if (p.nacks < p.nacksExpected) p.nacks++;
  }

  private onPingReq(from: MemberId, req: PingReq): void {
    if (req.target === this.me.id || this.relays.size >= relaysMax) return;
    const seq = this.nextSeq();
    this.relays.set(seq, { origin: from, originSeq: req.seq, deadlineMs: this.nowMs + this.cfg.indirectTimeoutMs * relayTimeoutShare });
    const target = this.members.get(req.target);
    const gossip = target?.state === 'suspect' ? this.pingGossip(target) : this.piggyback(this.cfg.piggybackItemsMax);
    this.send(req.target, req.targetAddr, { type: 'ping', seq, target: req.target, gossip } satisfies Ping);
  }

  /** `sender`: the peer the message came from (asked for evidence of a claim about us; see `unbacked`). */
  private onGossip(sender: MemberId, items: readonly GossipItem[]): void {
    for (const item of items) {
      switch (item.kind) {
        case 'alive': this.onAlive(item); break;
        case 'suspect': this.onSuspect(item, true, sender); break;
        case 'dead': this.onDead(item, sender); break;
      }
    }
  }

  /**
   * Merge the peer's full state, then answer with ours: after merging, our answer carries any
   * refutation the merge caused, which is what lets the peer take us back after a partition.
   *
   * A remote "dead" or "suspect" about a member we hold alive at the same incarnation is old news
   * from the other side of a healed partition far more often than fresh evidence, so it starts no
   * suspicion here (memberlist turns it into one, which after a long partition means hundreds of
   * suspicions of live members racing their refutations through a congested gossip). Instead the
   * member is told directly, refutes at once (straight back to us, too), and its higher
   * incarnation is what revives it on the other side. Here the suspicion stays local (not
   * gossiped): if the member really is down — we missed the news of its death — our own timer
   * finds out.
   */
  private onPushPull(from: MemberId, pp: PushPull): void {
    this.stats.pushPulls++;
    let notices = 0;
    for (const r of pp.members) {
      const v = r.alive;
      switch (r.state) {
        case 'alive': this.onAlive(v); break;
        case 'suspect': case 'dead': {
          // The sender's claim refers to the member's own signed record: that record first
          // (checked like any alive item), for a member we hold live (ourselves included). One
          // we do not know, or hold dead or left, is not learnt or revived by a claim that it is down.
          const m = this.members.get(v.id);
          if (m !== undefined && isLive(m.state)) this.onAlive(v);
          const item: SuspectItem = { kind: 'suspect', id: v.id, incarnation: v.incarnation, from: this.me.id };
          // No evidence request here (no sender): the push-pull answer already carries our record.
          if (v.id === this.me.id) this.onSuspect(item);
          else if (m !== undefined && isLive(m.state) && v.incarnation === m.incarnation && notices++ < noticesPerMergeMax) {
            this.send(m.id, m.addr, { type: 'gossip', gossip: [item] });
            if (m.state === 'alive') this.onSuspect(item, false);
          }
          break;
        }
        case 'left': if (r.leave !== null) this.onDead(r.leave); break;
      }
    }
    // The sender's address as its own signed record gives it (none: answer on the connection).
    if (!pp.reply) this.send(from, this.addrOf(from), this.pushPullMessage(true));
  }

  // ---- the state rules (SWIM §4.2 with incarnations; memberlist's aliveNode/suspectNode/deadNode)

  private onAlive(item: AliveItem): void {
    if (item.id === this.me.id) {
      // Someone speaks for us with our incarnation or later (a previous run of this agent, or a
      // stale address/meta): outbid it, or the swarm would keep the other record. Only a
      // statement we signed can move our incarnation: a forged one is dropped here.
      const same = item.addr === this.me.addr && metaEqual(item.meta, this.me.meta);
      if (item.incarnation < this.me.incarnation || (item.incarnation === this.me.incarnation && same)) return;
      if (!this.verified(item)) return;
      this.refute(item.incarnation, false);
      return;
    }
    const m = this.members.get(item.id);
    // Old news first: no signature is checked for what would change nothing.
    if (m !== undefined && item.incarnation <= m.incarnation) return;
    if (!this.admissible(item)) return;
    if (m === undefined) {
      if (this.members.size >= membersMax) return;
      const added: Member = {
        id: item.id, addr: item.addr, incarnation: item.incarnation, state: 'alive', meta: item.meta, sinceMs: this.nowMs, alive: item, leave: null,
      };
      this.members.set(added.id, added);
      this.memberArray.push(added);
      this.live++;
      this.addToProbeOrder(added.id);
      this.broadcast(item);
      this.emit('join', added);
      return;
    }
    const before = m.state;
    const changed = m.addr !== item.addr || !metaEqual(m.meta, item.meta);
    m.incarnation = item.incarnation;
    m.addr = item.addr;
    m.meta = item.meta;
    m.alive = item;
    m.leave = null;
    this.setState(m, 'alive');
    this.broadcast(item);
    if (before === 'dead' || before === 'left') {
      this.addToProbeOrder(m.id);
      this.emit('join', m);
    } else if (before === 'suspect') this.emit('alive', m);
    else if (changed) this.emit('update', m);
  }

  /**
   * `spread` false: a suspicion of our own that is not gossiped (see onPushPull). `sender`: the
   * peer whose message carried the claim, asked for evidence when it is above our incarnation.
   */
  private onSuspect(item: SuspectItem, spread = true, sender?: MemberId): void {
    if (item.id === this.me.id) {
      if (item.incarnation > this.me.incarnation) this.unbacked(sender);
      else if (item.incarnation === this.me.incarnation) this.refute(item.incarnation, true, item.from);
      else if (item.from !== this.me.id) this.tellAlive(item.from);
      return;
    }
    const m = this.members.get(item.id);
    if (m === undefined || item.incarnation < m.incarnation || !isLive(m.state)) return;
    if (!this.backed(item, m)) return;
    if (m.state === 'suspect') {
      if (this.confirm(m.id, item.from)) this.broadcast(item);
      return;
    }
    this.setState(m, 'suspect');
    this.stats.suspicionsStarted++;
    const { minMs, maxMs } = suspicionBoundsMs(this.cfg, this.live);
    // Expect only as many confirmations as there are members besides the suspect and the first
    // suspecter. memberlist uses min at once when fewer than k can come; here fewer are expected,
    // and with none possible the timeout stays at max: no independent evidence, no shortcut
    // (a two-member side of a partition on a lossy link would otherwise kill on one lost ack).
    const k = Math.min(this.cfg.suspicionConfirmations, Math.max(0, this.live - 2));
    this.suspicions.set(m.id, { startMs: this.nowMs, minMs, maxMs, k, from: new Set([item.from]), lastCall: false, deadlineMs: this.nowMs + suspicionTimeoutMs(minMs, maxMs, 0, k) });
    this.emit('suspect', m);
    if (!spread) return;
    this.broadcast(item);
    // Lifeguard: the suspected member hears it from us at once, not only through gossip.
    if (item.from === this.me.id) this.send(m.id, m.addr, { type: 'gossip', gossip: [item] });
    else this.probeSoon(m.id);
  }

  /**
   * Someone else suspects `id`: probe it ourselves next, and soon. If it is down, our failure is
   * an independent confirmation that brings the timeout down to its minimum within about one
   * probe; if it is up, our ack changes nothing and its refutation is already on its way. The
   * order changes, not the rate: at most one probe in flight, the next at most a quarter period
   * early.
   */
  private probeSoon(id: MemberId): void {
    if (this.urgent.length >= urgentMax || this.suspicions.size > urgentSuspicionsMax || this.urgent.includes(id) || !this.needsConfirmation(id)) return;
    this.urgent.push(id);
    const soonMs = this.nowMs + this.rng.below(Math.ceil((this.cfg.probeIntervalMs * this.scale()) / 4));
    if (this.probe === null && this.nextProbeMs > soonMs) this.nextProbeMs = soonMs;
  }

  /** Whether the suspicion of `id` still waits for confirmations (more would change nothing). */
  private needsConfirmation(id: MemberId): boolean {
    const s = this.suspicions.get(id);
    return s !== undefined && s.from.size - 1 < s.k;
  }

  /** An independent suspicion of an already suspected member: shorten its timeout (Lifeguard). */
  private confirm(id: MemberId, from: MemberId): boolean {
    const s = this.suspicions.get(id);
    if (s === undefined || s.from.has(from) || s.from.size - 1 >= s.k) return false;
    s.from.add(from);
    s.deadlineMs = s.startMs + suspicionTimeoutMs(s.minMs, s.maxMs, s.from.size - 1, s.k);
    return true;
  }

  private onDead(item: DeadItem, sender?: MemberId): void {
    const leaving = item.from === item.id;
    if (item.id === this.me.id) {
      if (leaving) {
        // Our own leave, replayed (a previous run's): outbid it if it is really ours.
        if (this.phase === 'joined' && item.incarnation >= this.me.incarnation && this.verified(item)) this.refute(item.incarnation, true);
      } else if (item.incarnation > this.me.incarnation) this.unbacked(sender);
      else if (item.incarnation === this.me.incarnation) this.refute(item.incarnation, true, item.from);
      return;
    }
    const m = this.members.get(item.id);
    if (m === undefined || item.incarnation < m.incarnation || !isLive(m.state)) return;
    if (leaving) {
      // The member's own word, at any incarnation it signed.
      if (!this.verified(item)) return;
      m.incarnation = item.incarnation;
      m.leave = item;
    } else if (!this.backed(item, m)) return;
    this.setState(m, leaving ? 'left' : 'dead');
    if (item.from === this.me.id) this.stats.declaredDead++;
    this.broadcast(item);
    this.emit(leaving ? 'leave' : 'dead', m);
    if (this.probe?.target === m.id) this.probe = null;
  }

  /**
   * A suspicion ran out. If nobody confirmed it (only its first accuser, while confirmations were
   * possible), there is no independent evidence: ask the member itself once more, directly, and
   * give it one probe cycle to answer with a refutation. Gossip can miss a member for seconds
   * when half of every fan-out goes into a partition; a true failure has long been confirmed.
   */
  private suspicionExpired(id: MemberId): void {
    const m = this.members.get(id);
    const s = this.suspicions.get(id);
    if (m === undefined || s === undefined || m.state !== 'suspect') {
      this.suspicions.delete(id);
      return;
    }
    if (!s.lastCall && s.k > 0 && s.from.size === 1) {
      s.lastCall = true;
      s.deadlineMs = this.nowMs + (this.cfg.probeTimeoutMs + this.cfg.indirectTimeoutMs) * this.scale();
      this.send(m.id, m.addr, { type: 'gossip', gossip: [{ kind: 'suspect', id, incarnation: m.incarnation, from: this.me.id }] });
      return;
    }
    this.suspicions.delete(id);
    this.onDead({ kind: 'dead', id, incarnation: m.incarnation, from: this.me.id });
  }

  // ---- trust (statement.ts) -------------------------------------------------------------------

  /** Whether a self-statement (alive, leave) carries its subject's valid signature; counts a failure. */
  private verified(item: AliveItem | DeadItem): boolean {
    const ok = item.kind === 'alive'
      ? this.signer.verify(aliveStatement(item), item.sig)
      : item.sig !== undefined && item.from === item.id && this.signer.verify(leaveStatement(item), item.sig);
    if (!ok) this.stats.badSignatures++;
    return ok;
  }

  /** Whether another member's alive record may be listed: admitted, the roster's role, signed. */
  private admissible(item: AliveItem): boolean {
    if (!this.trust.isAdmitted(item.id)) {
      this.stats.notAdmitted++;
      return false;
    }
    const role = this.trust.roleOf(item.id);
    if (role !== null && role !== item.meta.role) {
      this.stats.roleRefused++;
      return false;
    }
    return this.verified(item);
  }

  /**
   * Whether a claim about member `m` (suspect, dead by another) may count: it refers to exactly
   * the incarnation `m` signed last (the caller ignored lower ones), and its author is admitted.
   */
  private backed(item: SuspectItem | DeadItem, m: Member): boolean {
    if (item.incarnation > m.incarnation) {
      this.stats.unbackedClaims++;
      return false;
    }
    if (item.from !== this.me.id && !this.trust.isAdmitted(item.from)) {
      this.stats.notAdmitted++;
      return false;
    }
    return true;
  }

  /**
   * A claim about us above any incarnation we know we signed: forged, or made about a previous
   * run of this agent that signed higher (a restart before anyone noticed). Never refuted at its
   * number (a forged 2^40 would exhaust us); instead the sender is asked for its table, at most
   * once per probe period, which carries our old signed record if there is one: that verified
   * record is what we refute above.
   */
  private unbacked(sender: MemberId | undefined): void {
    this.stats.unbackedClaims++;
    if (sender === undefined || sender === this.me.id || this.phase !== 'joined') return;
    if (this.nowMs - this.lastEvidenceMs < this.cfg.probeIntervalMs) return;
    this.lastEvidenceMs = this.nowMs;
    this.send(sender, this.addrOf(sender), this.pushPullMessage(false));
  }

  /** Signs this agent's current alive record (after its incarnation, addr or meta changed). */
  private resign(): void {
    const me = this.me;
    const s = { kind: 'alive', id: me.id, addr: me.addr, incarnation: me.incarnation, meta: me.meta } as const;
    me.alive = { ...s, sig: this.signer.sign(s) };
  }

  /**
   * Outbid a claim about us: a higher incarnation, spread as alive, and sent straight back to
   * whoever made the claim (its timer is the one running first; gossip alone may reach it late).
   */
  private refute(incarnation: number, suspected: boolean, accuser?: MemberId): void {
    if (this.phase !== 'joined') return;
    const next = Math.max(this.me.incarnation, incarnation) + 1;
    if (next > incarnationMax) {
      // Only our own signatures got us here (claims above what we signed are ignored).
      this.stats.incarnationExhausted++;
      return;
    }
    this.me.incarnation = next;
    this.resign();
    this.stats.refutations++;
    // Lifeguard: being suspected while alive says our own messages are not getting through.
    if (suspected) this.adjustHealth(1);
    this.broadcast(this.me.alive);
    if (accuser !== undefined && accuser !== this.me.id) this.tellAlive(accuser);
  }

  /** Our current alive record, straight to `id` (who holds an older, worse one about us). */
  private tellAlive(id: MemberId): void {
    const to = this.members.get(id);
    if (to !== undefined) this.send(to.id, to.addr, { type: 'gossip', gossip: [this.me.alive] });
  }

  private setState(m: Member, state: MemberState): void {
    const wasLive = isLive(m.state);
    const nowLive = isLive(state);
    if (wasLive && !nowLive) this.live--;
    if (!wasLive && nowLive) this.live++;
    if (state !== 'suspect') this.suspicions.delete(m.id);
    if (m.state !== state) m.sinceMs = this.nowMs;
    m.state = state;
  }

  /** Drops a long-dead member from the table (no more reconnect attempts to it). */
  private forget(m: Member): void {
    this.members.delete(m.id);
    const i = this.memberArray.indexOf(m);
    if (i >= 0) this.memberArray.splice(i, 1);
  }

  private addToProbeOrder(id: MemberId): void {
    // memberlist: a newcomer goes to a random place among those not yet probed this round.
    const rest = this.probeOrder.length - this.probeIndex;
    this.probeOrder.splice(this.probeIndex + this.rng.below(rest + 1), 0, id);
  }

  // ---- dissemination and anti-entropy ---------------------------------------------------------

  private broadcast(item: GossipItem): void {
    this.broadcasts.push(item);
  }

  private piggyback(max: number): GossipItem[] {
    return this.broadcasts.take(max, retransmitLimit(this.cfg.retransmitMult, this.live));
  }

  /** memberlist's gossip: fanout random members, the recently dead included (so they can refute). */
  private gossipRound(): void {
    this.nextGossipMs = this.nowMs + this.cfg.gossipIntervalMs;
    if (this.broadcasts.size === 0) return;
    for (const m of this.randomMembers(this.cfg.gossipFanout, (m) => isLive(m.state) || (m.state === 'dead' && this.nowMs - m.sinceMs < this.cfg.gossipToDeadMs))) {
      const gossip = this.piggyback(this.cfg.gossipMessageItemsMax);
      if (gossip.length === 0) break;
      this.send(m.id, m.addr, { type: 'gossip', gossip });
    }
  }

  /**
   * Up to `count` distinct members other than self that pass `eligible`, chosen uniformly: a few
   * random draws first (cheap when most members qualify), a scan when those do not suffice.
   */
  private randomMembers(count: number, eligible: (m: Member) => boolean): Member[] {
    const arr = this.memberArray;
    const out: Member[] = [];
    for (let tries = 0; tries < 4 * count && out.length < count; tries++) {
      const m = arr[this.rng.below(arr.length)];
      if (m !== this.me && eligible(m) && !out.includes(m)) out.push(m);
    }
    if (out.length === count) return out;
    const pool = arr.filter((m) => m !== this.me && eligible(m) && !out.includes(m));
    return out.concat(this.rng.sample(pool, count - out.length));
  }

  /** One exchange with a random live member, one with a random dead or unreached seed member. */
  private pushPullRound(): void {
    const live: Member[] = [];
    const lost: { id: MemberId; addr: string }[] = [];
    for (const m of [...this.members.values()]) {
      if (m === this.me) continue;
      if (isLive(m.state)) live.push(m);
      else if (this.nowMs - m.sinceMs > this.cfg.deadRetainMs) this.forget(m);
      else if (m.state === 'dead') lost.push(m);
    }
    for (const s of this.seeds) {
      const m = this.members.get(s.id);
      if (m === undefined || !isLive(m.state)) lost.push(s);
    }
    if (live.length > 0) {
      const m = live[this.rng.below(live.length)];
      this.send(m.id, m.addr, this.pushPullMessage(false));
    }
    if (lost.length > 0) {
      const m = lost[this.rng.below(lost.length)];
      this.send(m.id, m.addr, this.pushPullMessage(false));
    }
  }

  private pushPullMessage(reply: boolean): PushPull {
    const members: MemberRecord[] = [];
    for (const m of this.members.values()) {
      // The wire's rule (validate.ts): a leave exactly when left.
      invariant((m.state === 'left') === (m.leave !== null), 'a member is left exactly when its signed leave is kept');
      members.push({ state: m.state, alive: m.alive, leave: m.leave });
    }
    return { type: 'pushPull', reply, members };
  }

  // ---- helpers --------------------------------------------------------------------------------

  private addrOf(id: MemberId): string | null {
    return this.members.get(id)?.addr ?? null;
  }

  private nextSeq(): number {
    this.seq = this.seq >= Number.MAX_SAFE_INTEGER ? 1 : this.seq + 1;
    return this.seq;
  }

  private send(to: MemberId, addr: string | null, msg: Message): void {
    this.out.push({ to, addr, msg });
  }

  private emit(type: MemberEventType, m: Member): void {
    this.events.push({ type, member: viewOf(m), atMs: this.nowMs });
  }
}

/** An invariant of the core; broken means a bug (the driver logs it and carries on). */
function invariant(cond: boolean, what: string): asserts cond {
  if (!cond) throw new Error(`membership invariant: ${what}`);
}

function isLive(state: MemberState): boolean {
  return state === 'alive' || state === 'suspect';
}

function viewOf(m: Member): MemberView {
  return { id: m.id, addr: m.addr, incarnation: m.incarnation, state: m.state, meta: m.meta };
}
