// The libp2p driver of the membership core: runs one `Membership` (SWIM + Lifeguard, a pure state
// machine) on a real libp2p 2.x node. The driver owns everything the core may not touch: the clock
// (performance.now(), monotonic), entropy (node:crypto), the one timer for `wakeAtMs`, streams,
// gossipsub, logs and metrics. README.md ("The libp2p driver") has the wire details.
//
// /covey/membership/2.0.0 — every core message (ping, ack, pingReq, nack, gossip, pushPull). Per
//   peer one long-lived outbound stream, written only (each side opens its own), created on the
//   first message and closed after idleCloseMs without traffic. On it, length-prefixed frames
//   (it-length-prefixed) holding UTF-8 JSON `{ "swarm": <name>, "msg": <core message> }`, at most
//   frameBytesMax (64 KiB) bytes, pushPull frames at most pushPullBytesMax (4 MiB).
//     send     never blocks: a bounded queue per peer (oldest dropped when full) and one writer
//              loop per peer; opening a stream (dial by peer id) gives up after dialTimeoutMs and
//              drops what waits (membership messages are stale within a probe period); a stream
//              whose head frame is not taken for writeStallMs is aborted. A dead peer costs its
//              own loop, never another peer's probes.
//     receive  the sender is the authenticated remote peer id, never a field of the frame. A
//              frame that is oversized, truncated, not UTF-8 JSON, not `{ swarm, msg }`, from
//              another swarm, or refused by the core's validator is dropped, counted in
//              covey_membership_frames_dropped_total{reason} and logged (warn, at most once per
//              peer per logIntervalMs). Nothing a peer sends can throw out of the driver.
// gossipsub topic covey/<swarm>/membership — this agent's own statements only: its alive record
//   whenever its incarnation changes (join, refutation, setMeta) and its leave. The same envelope
//   and validation; a gossip item about anyone but the signer of the pubsub message is dropped
//   (reason not_self). It speeds up news about oneself; the core's own dissemination does the rest.
//
// Trust: a frame whose sender (the authenticated remote peer, or the pubsub signer) the roster
//   (`trust`) does not admit is dropped before it is decoded (not_admitted). The core is handed an
//   Ed25519 signer (ed25519.ts) made from the identity key: it signs this agent's own statements
//   and checks everyone else's; statements it drops (bad signature, not admitted, wrong role, a
//   claim above its subject's signed incarnation) are counted in
//   covey_membership_statements_dropped_total{reason}.
//
// Addresses: the member id is the libp2p peer id. The core's `addr` is opaque to it; this driver
// puts in it the node's own listen multiaddrs (space-separated, without /p2p/, non-loopback ones
// first, within the core's 256-byte bound), so that a member learnt through gossip or push-pull
// can be dialled without any other discovery: before dialling `to`, its addr's multiaddrs are
// merged into the peer store, then libp2p dials by peer id. An addr that does not parse is
// ignored (dial by peer id alone, the peer store's addresses). Seeds are given as peer ids or as
// multiaddrs ending in /p2p/<id>.

import { DropLog } from '../drop-log.ts';
import { FrameOutbox, frameReadError, writeFrames, type QueuedFrame } from '../stream/outbox.ts';
import { randomBytes, randomInt } from 'node:crypto';
import type { Connection, Libp2p, Message as PubSubMessage, PeerId, PrivateKey, PubSub, Stream, TopicValidatorResult } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import * as lp from 'it-length-prefixed';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { CoveyNode } from '../node.ts';
import {
  addrBytesMax, type GossipItem, isMemberId, type MemberEvent, type MemberId, Membership, type MembershipOptions,
  type MembershipStats, type MemberState, type Message, type MessageType, type Meta, type Outgoing, type Result,
  type Seed, type Status, type Trust, trustEveryone, utf8Bytes, validateMessage, validateMeta,
} from './index.ts';
import { ed25519Signer } from './ed25519.ts';
import { TopicGate } from './topic-gate.ts';

// 2.0.0: statements about oneself are signed and push-pull carries signed records (1.0.0 agents
// cannot read them, so the two refuse to negotiate rather than drop each other's frames).
export const membershipProtocol = '/covey/membership/2.0.0';

/** The gossipsub topic of a swarm's membership news. */
export function membershipTopic(swarm: string): string {
  return `covey/${swarm}/membership`;
}

/** Bytes of one membership frame (every message but pushPull; also one gossipsub message). */
export const membershipFrameBytesMaxDefault = 64 * 1024;
/** Bytes of one pushPull frame (the full member table; ~370 B per signed member record: ~11 000 members). */
export const pushPullBytesMaxDefault = 4 * 1024 * 1024;
/** Opening a stream to a member (dial included) gives up after this long. */
export const dialTimeoutMsDefault = 1500;
/** A stream whose head frame waits this long for the sink is aborted (a half-open connection). */
export const writeStallMsDefault = 3000;
/** An outbound stream idle this long is closed (reopened by the next message). */
export const idleCloseMsDefault = 30_000;
/** stop(): the most it waits for the leave to spread and the queues to drain. */
export const leaveTimeoutMsDefault = 2000;
/** Frames waiting for one peer; when full, the oldest is dropped. */
export const queueFramesMax = 128;
/** Bytes waiting for one peer (at least one pushPull must fit). */
export const queueBytesMax = 8 * 1024 * 1024;
/** Inbound membership streams per connection (one is normal; a few while one is replaced). */
export const inboundStreamsMax = 8;
/** At most one warning per peer this often for dropped frames; the rest are counted in it. */
export const logIntervalMs = 10_000;
/** Swarm names: 1..64 bytes, no '/' or whitespace (they are part of a topic name). */
const swarmNamePattern = /^[^\s/]{1,64}$/;

/** Why a received frame was dropped (the `reason` label). */
export type FrameDropReason = 'oversized' | 'truncated' | 'malformed' | 'foreign_swarm' | 'invalid' | 'not_self' | 'rate_limited' | 'not_admitted';
/** Why the core dropped a statement inside an accepted frame (the `reason` label). */
export type StatementDropReason = 'bad_signature' | 'not_admitted' | 'role_mismatch' | 'unbacked_claim';
/** The core's counter behind each statement drop reason. */
const statementDropStats: readonly (readonly [StatementDropReason, keyof MembershipStats])[] = [
  ['bad_signature', 'badSignatures'], ['not_admitted', 'notAdmitted'], ['role_mismatch', 'roleRefused'], ['unbacked_claim', 'unbackedClaims'],
];
type Channel = 'stream' | 'pubsub';

/** Core options a caller may tune (tests use a fast probe period). */
export type MembershipTuning = Partial<Omit<MembershipOptions, 'id' | 'addr' | 'meta' | 'nowMs' | 'seed' | 'signer' | 'trust'>>;

export interface MembershipDriverOptions {
  /** The libp2p node (createCoveyNode's: its services.pubsub is gossipsub; without one, no topic). Started. */
  readonly node: CoveyNode | Libp2p;
  /** Frames carrying another swarm's name are dropped. 1..64 bytes, no '/' or whitespace. */
  readonly swarm: string;
  readonly logger: Logger;
  /** prom-client registry for the metrics; a private one when absent. */
  readonly registry?: Registry;
  readonly meta: Meta;
  /** Seed members: peer ids, or multiaddrs ending in /p2p/<peer id> (their address is learnt too). */
  readonly seeds: readonly string[];
  /**
   * The node's identity key (Ed25519): signs this agent's membership statements. Default: the
   * key the node was created with (libp2p's `components.privateKey`); pass it explicitly.
   */
  readonly privateKey?: PrivateKey;
  /**
   * The roster: frames from peers it does not admit are dropped, and so are alive records of
   * them and claims by them; a member's claimed `meta.role` must match `roleOf` when that is not
   * null. Default: everyone admitted, role as claimed (signatures are checked all the same).
   * Called on every frame and every new statement: keep it a cheap lookup. A throw counts as
   * "not admitted" / "no role".
   */
  readonly trust?: Trust;
  /** Every member event (join, update, suspect, alive, dead, leave). Exceptions are logged, not thrown. */
  onEvent?(e: MemberEvent): void;
  /** What other members dial: default, this node's listen multiaddrs (see the file comment). */
  readonly addr?: string;
  readonly tuning?: MembershipTuning;
  readonly frameBytesMax?: number;
  readonly pushPullBytesMax?: number;
  readonly dialTimeoutMs?: number;
  readonly writeStallMs?: number;
  readonly idleCloseMs?: number;
  readonly leaveTimeoutMs?: number;
}

/** One member as this agent sees it. */
export interface MemberInfo {
  readonly id: MemberId;
  readonly state: MemberState;
  readonly incarnation: number;
  /** Since a frame from it was last accepted (0 for this agent itself); null: never heard directly. */
  readonly lastHeardMsAgo: number | null;
  readonly meta: Meta;
  /** What it advertises to be dialled at (multiaddrs, space-separated), as the core holds it. */
  readonly addr: string;
}

export interface MembershipMetrics {
  readonly members: Gauge<'state'>;
  readonly framesSent: Counter<'channel' | 'type'>;
  readonly framesReceived: Counter<'channel' | 'type'>;
  readonly framesDropped: Counter<'reason'>;
  readonly statementsDropped: Counter<'reason'>;
  readonly sendDropped: Counter<'reason'>;
  readonly events: Counter<'type'>;
}

function metric<T>(registry: Registry, name: string, make: () => T): T {
  const existing = registry.getSingleMetric(name);
  return existing !== undefined ? (existing as T) : make();
}

export function membershipMetrics(registry: Registry): MembershipMetrics {
  const registers = [registry];
  return {
    members: metric(registry, 'covey_membership_members', () => new Gauge({
      name: 'covey_membership_members', help: 'Members this agent knows, itself included, by state', labelNames: ['state'], registers,
    })),
    framesSent: metric(registry, 'covey_membership_frames_sent_total', () => new Counter({
      name: 'covey_membership_frames_sent_total', help: 'Membership frames written to a peer stream or published on the topic, by channel and message type',
      labelNames: ['channel', 'type'], registers,
    })),
    framesReceived: metric(registry, 'covey_membership_frames_received_total', () => new Counter({
      name: 'covey_membership_frames_received_total', help: 'Membership frames received and accepted by the core, by channel and message type',
      labelNames: ['channel', 'type'], registers,
    })),
    framesDropped: metric(registry, 'covey_membership_frames_dropped_total', () => new Counter({
      name: 'covey_membership_frames_dropped_total',
      help: 'Received membership frames dropped before the core, by reason (oversized, truncated, malformed, foreign_swarm, invalid, not_self, not_admitted, rate_limited)',
      labelNames: ['reason'], registers,
    })),
    statementsDropped: metric(registry, 'covey_membership_statements_dropped_total', () => new Counter({
      name: 'covey_membership_statements_dropped_total',
      help: 'Statements inside accepted membership frames that the core dropped, by reason (bad_signature, not_admitted, role_mismatch, unbacked_claim)',
      labelNames: ['reason'], registers,
    })),
    sendDropped: metric(registry, 'covey_membership_send_dropped_total', () => new Counter({
      name: 'covey_membership_send_dropped_total',
      help: 'Outgoing membership frames not sent, by reason (queue_full, unreachable, too_large, stopped)', labelNames: ['reason'], registers,
    })),
    events: metric(registry, 'covey_membership_events_total', () => new Counter({
      name: 'covey_membership_events_total', help: 'Member events (join, update, suspect, alive, dead, leave)', labelNames: ['type'], registers,
    })),
  };
}

interface TypedFrame extends QueuedFrame {
  readonly type: MessageType;
}

/** The outgoing side towards one peer: the shared bounded queue (stream/outbox.ts), its stream and address. */
class Outbox extends FrameOutbox<TypedFrame> {
  readonly id: string;
  readonly peerId: PeerId;
  /** When the head frame started waiting (for the stall check). */
  headSinceMs = 0;
  stream: Stream | null = null;
  running = false;
  loop: Promise<void> = Promise.resolve();
  /** The addr the core gave last, and the one merged into the peer store. */
  addr: string | null = null;
  merged: string | null = null;
  constructor(id: string, peerId: PeerId) {
    super(queueFramesMax, queueBytesMax);
    this.id = id;
    this.peerId = peerId;
  }
}


const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

export class MembershipDriver {
  readonly #o: MembershipDriverOptions;
  readonly #node: Libp2p;
  readonly #pubsub: PubSub | null;
  readonly #topicGate: TopicGate;
  readonly #topic: string;
  readonly #selfId: string;
  readonly #seeds: Seed[];
  readonly #frameBytesMax: number;
  readonly #pushPullBytesMax: number;
  readonly #dialTimeoutMs: number;
  readonly #writeStallMs: number;
  readonly #idleCloseMs: number;
  readonly #leaveTimeoutMs: number;
  readonly metrics: MembershipMetrics;
  readonly #outboxes = new Map<string, Outbox>();
  readonly #inbound = new Set<Stream>();
  readonly #lastHeard = new Map<string, number>();
  readonly #dropLog: DropLog;
  readonly #dialFailures = new Map<string, number>();
  #core: Membership | null = null;
  #meta: Meta;
  #running = false;
  /** stop() is draining: writers end once their queue is empty. */
  #closing = false;
  #abort = new AbortController();
  #stopped: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #timerAtMs: number | null = null;
  #publishedIncarnation = -1;
  readonly #trust: Trust;
  readonly #privateKey: PrivateKey;
  /** The core's drop counters as last reported to the metric. */
  readonly #statementDrops = new Map<StatementDropReason, number>();

  constructor(options: MembershipDriverOptions) {
    if (typeof options.swarm !== 'string' || !swarmNamePattern.test(options.swarm) || utf8Bytes(options.swarm) > 64) {
      throw new RangeError(`MembershipDriver: swarm must be 1..64 bytes without '/' or whitespace, got ${JSON.stringify(options.swarm)}`);
    }
    const meta = validateMeta(options.meta);
    if (!meta.ok) throw new RangeError(`MembershipDriver: ${meta.reason}`);
    this.#o = options;
    this.#dropLog = new DropLog(options.logger, 'dropped a membership frame', logIntervalMs);
    this.#node = options.node as Libp2p;
    this.#meta = meta.meta;
    this.#selfId = this.#node.peerId.toString();
    this.#topic = membershipTopic(options.swarm);
    const services = this.#node.services as { pubsub?: PubSub };
    this.#pubsub = services.pubsub ?? null;
    this.#frameBytesMax = options.frameBytesMax ?? membershipFrameBytesMaxDefault;
    this.#pushPullBytesMax = Math.max(this.#frameBytesMax, options.pushPullBytesMax ?? pushPullBytesMaxDefault);
    this.#dialTimeoutMs = options.dialTimeoutMs ?? dialTimeoutMsDefault;
    this.#writeStallMs = options.writeStallMs ?? writeStallMsDefault;
    this.#idleCloseMs = options.idleCloseMs ?? idleCloseMsDefault;
    this.#leaveTimeoutMs = options.leaveTimeoutMs ?? leaveTimeoutMsDefault;
    this.#seeds = [];
    for (const s of options.seeds) {
      const seed = parseSeed(s);
      if (seed === null) throw new RangeError(`MembershipDriver: seed ${JSON.stringify(s)} is neither a peer id nor a multiaddr ending in /p2p/<peer id>`);
      if (seed.id !== this.#selfId && !this.#seeds.some((x) => x.id === seed.id)) this.#seeds.push(seed);
    }
    this.metrics = membershipMetrics(options.registry ?? new Registry());
    const key = options.privateKey ?? (this.#node as { components?: { privateKey?: PrivateKey } }).components?.privateKey;
    if (key === undefined) throw new TypeError('MembershipDriver: privateKey (the node\'s identity key) is required to sign membership statements');
    this.#privateKey = key;
    ed25519Signer(key, options.swarm, this.#selfId); // checks the key now, not at start
    this.#trust = safeTrust(options.trust ?? trustEveryone, options.logger);
    this.#topicGate = new TopicGate({ isAdmitted: (p) => this.#trust.isAdmitted(p), frameBytesMax: this.#frameBytesMax });
  }

  /** Handles the protocol, subscribes to the topic, joins through the seeds. The node must be started. */
  async start(): Promise<void> {
    if (this.#running) return;
    if (this.#core !== null) throw new Error('MembershipDriver: a stopped driver cannot start again (make a new one)');
    this.#running = true;
    this.#closing = false;
    const abort = this.#abort;
    this.#stopped = new Promise<void>((r) => abort.signal.addEventListener('abort', () => r(), { once: true }));
    const addr = this.#o.addr ?? advertisedAddr(this.#node);
    this.#core = new Membership({
      ...this.#o.tuning, id: this.#selfId, addr, meta: this.#meta, nowMs: now(), seed: randomBytes(4).readUInt32LE(0),
      signer: ed25519Signer(this.#privateKey, this.#o.swarm, this.#selfId), trust: this.#trust,
    });
    await this.#node.handle(membershipProtocol, ({ stream, connection }) => {
      void this.#receive(stream, connection);
    }, { maxInboundStreams: inboundStreamsMax });
    this.#node.addEventListener('peer:disconnect', this.#onDisconnect);
    if (this.#pubsub !== null) {
      // Refused here, a message is neither delivered nor forwarded to the rest of the mesh.
      this.#pubsub.topicValidators.set(this.#topic, (_peer, m) => {
        const signer = m.type === 'signed' ? m.from.toString() : null;
        const { verdict, why } = this.#topicGate.check(signer, m.data.length, now());
        if (why !== null) this.#drop(signer ?? 'unsigned', why, `membership topic message refused before forwarding (${why})`);
        return verdict as TopicValidatorResult;
      });
      this.#pubsub.addEventListener('message', this.#onPubSub);
      this.#pubsub.subscribe(this.#topic);
    } else {
      this.#o.logger.info('the node has no pubsub service: membership news go over the protocol streams only');
    }
    const rosterRole = this.#trust.roleOf(this.#selfId);
    if (rosterRole !== null && rosterRole !== this.#meta.role) {
      // The others refuse every record of ours (role_mismatch): this agent will not be listed.
      this.#o.logger.error({ claimed: this.#meta.role, roster: rosterRole }, 'membership: this agent claims a role the roster does not give it; the other agents will refuse its records');
    }
    const r = this.#core.join(this.#seeds);
    if (!r.ok) this.#o.logger.error({ reason: r.reason }, 'membership join refused');
    this.#o.logger.info({ swarm: this.#o.swarm, addr, seeds: this.#seeds.map((s) => s.id) }, 'membership started');
    this.#countMembers();
    this.#pump();
  }

  /**
   * Leaves gracefully (the core spreads the leave; this waits until it has been sent, at most
   * leaveTimeoutMs), then stops. `{ leave: false }`: stop at once, as a crash would.
   */
  async stop(options: { leave?: boolean } = {}): Promise<void> {
    if (!this.#running) return;
    const core = this.#core!;
    // Alone, nobody needs telling (and the core would wait for someone to send the leave to).
    if (options.leave !== false && core.status === 'joined' && core.liveCount > 1) {
      const r = core.leave();
      if (r.ok) {
        const leave = core.selfLeave;
        if (leave !== null) this.#publish([leave]);
        this.#pump();
        const deadline = now() + this.#leaveTimeoutMs;
        while (now() < deadline && (statusOf(core) !== 'left' || [...this.#outboxes.values()].some((b) => b.frames.length > 0))) {
          await sleep(10);
        }
        // Let the writers hand their last frames to the streams and close them.
        this.#closing = true;
        for (const b of this.#outboxes.values()) b.notify();
        await Promise.race([Promise.all([...this.#outboxes.values()].map((b) => b.loop)), sleep(Math.max(100, deadline - now()))]);
      }
    }
    this.#running = false;
    this.#closing = true;
    this.#abort.abort();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAtMs = null;
    this.#node.removeEventListener('peer:disconnect', this.#onDisconnect);
    if (this.#pubsub !== null) {
      this.#pubsub.topicValidators.delete(this.#topic);
      this.#pubsub.removeEventListener('message', this.#onPubSub);
      try {
        this.#pubsub.unsubscribe(this.#topic);
      } catch { /* a stopped node */ }
    }
    await this.#node.unhandle(membershipProtocol).catch(() => {});
    for (const box of this.#outboxes.values()) {
      const dropped = box.clear();
      if (dropped > 0) this.metrics.sendDropped.inc({ reason: 'stopped' }, dropped);
      box.stream?.abort(new Error('membership stopped'));
      box.notify();
    }
    for (const s of this.#inbound) s.abort(new Error('membership stopped'));
    this.#inbound.clear();
    await Promise.all([...this.#outboxes.values()].map((b) => b.loop));
    this.#outboxes.clear();
    this.#o.logger.info({ status: core.status }, 'membership stopped');
  }

  /** Every member this agent knows, itself included (empty before start). */
  members(): MemberInfo[] {
    const core = this.#core;
    if (core === null) return [];
    const t = now();
    return core.memberList().map((v) => {
      const heard = this.#lastHeard.get(v.id);
      return {
        id: v.id, state: v.state, incarnation: v.incarnation, meta: v.meta, addr: v.addr,
        lastHeardMsAgo: v.id === this.#selfId ? 0 : heard === undefined ? null : Math.round(t - heard),
      };
    });
  }

  /** New metadata for this agent, spread with a higher incarnation (over-size or ill-formed: refused). */
  setMeta(meta: Meta): Result {
    const core = this.#core;
    if (core === null) {
      const v = validateMeta(meta);
      if (!v.ok) return { ok: false, reason: `setMeta: ${v.reason}` };
      this.#meta = v.meta;
      return { ok: true };
    }
    const r = core.setMeta(meta);
    if (r.ok) this.#pump();
    return r;
  }

  get id(): MemberId {
    return this.#selfId;
  }

  /** The core's status ('idle' before start). */
  get status(): Status {
    return this.#core?.status ?? 'idle';
  }

  get incarnation(): number {
    return this.#core?.incarnation ?? 0;
  }

  /** The core's counters (probes, suspicions, refutations, …), for status pages and tests. */
  get stats(): MembershipStats | null {
    return this.#core?.stats ?? null;
  }

  // ---- the core's effects ----------------------------------------------------------------------

  /** After every call into the core: send, report, publish, and set the one timer. */
  #pump(): void {
    const core = this.#core;
    if (core === null || !this.#running) return;
    const ready = core.takeReady();
    for (const out of ready.messages) this.#send(out);
    if (ready.events.length > 0) {
      for (const e of ready.events) this.#report(e);
      this.#countMembers();
    }
    if (core.status === 'joined' && core.incarnation !== this.#publishedIncarnation) {
      this.#publishedIncarnation = core.incarnation;
      this.#publish([core.selfAlive]);
    }
    this.#schedule(ready.wakeAtMs);
  }

  #schedule(wakeAtMs: number | null): void {
    if (wakeAtMs === this.#timerAtMs && this.#timer !== null) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAtMs = wakeAtMs;
    if (wakeAtMs === null) return;
    const delay = Math.min(2 ** 31 - 1, Math.max(0, Math.ceil(wakeAtMs - now())));
    this.#timer = setTimeout(this.#tick, delay);
  }

  readonly #tick = (): void => {
    this.#timer = null;
    this.#timerAtMs = null;
    const core = this.#core;
    if (core === null || !this.#running) return;
    try {
      core.step({ type: 'tick', nowMs: now(), entropy: randomInt(0, 2 ** 32) });
    } catch (err) {
      this.#o.logger.error({ err: (err as Error).message }, 'membership core threw on a tick (bug)');
    }
    this.#pump();
  };

  #report(e: MemberEvent): void {
    this.metrics.events.inc({ type: e.type });
    const fields = { member: e.member.id, incarnation: e.member.incarnation, state: e.member.state };
    if (e.type === 'suspect' || e.type === 'alive' || e.type === 'update') this.#o.logger.debug(fields, `member ${e.type}`);
    else this.#o.logger.info(fields, `member ${e.type}`);
    if (this.#o.onEvent === undefined) return;
    try {
      this.#o.onEvent(e);
    } catch (err) {
      this.#o.logger.error({ type: e.type, member: e.member.id, err: (err as Error).message }, 'onEvent threw');
    }
  }

  #countMembers(): void {
    const counts: Record<MemberState, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
    for (const m of this.#core!.memberList()) counts[m.state]++;
    for (const [state, n] of Object.entries(counts)) this.metrics.members.set({ state }, n);
    if (this.#lastHeard.size > 2 * (counts.alive + counts.suspect + counts.dead + counts.left) + 64) {
      for (const id of this.#lastHeard.keys()) if (this.#core!.member(id) === undefined) this.#lastHeard.delete(id);
    }
  }

  // ---- sending ---------------------------------------------------------------------------------

  #send(out: Outgoing): void {
    if (out.to === this.#selfId) return;
    const box = this.#outbox(out.to);
    if (box === null) {
      this.#o.logger.error({ to: out.to }, 'membership: destination is not a peer id (bug or foreign id format)');
      return;
    }
    if (out.addr !== null) box.addr = out.addr;
    const frames = this.#encode(out.msg);
    if (frames.length === 0) return;
    const t = now();
    if (box.frames.length === 0) box.headSinceMs = t;
    else if (box.stream !== null && t - box.headSinceMs > this.#writeStallMs) {
      // The sink took nothing for a while: a half-open connection. Abort; the writer reopens.
      box.stream.abort(new Error(`membership stream stalled for ${Math.round(t - box.headSinceMs)} ms`));
    }
    let dropped = 0;
    for (const f of frames) dropped += box.push(f);
    if (dropped > 0) this.metrics.sendDropped.inc({ reason: 'queue_full' }, dropped);
    if (!box.running) {
      box.running = true;
      box.loop = this.#writer(box);
    } else box.notify();
  }

  #outbox(id: string): Outbox | null {
    let box = this.#outboxes.get(id);
    if (box !== undefined) return box;
    let peerId: PeerId;
    try {
      peerId = peerIdFromString(id);
    } catch {
      return null;
    }
    box = new Outbox(id, peerId);
    this.#outboxes.set(id, box);
    return box;
  }

  /**
   * A message as frames within the bounds. A gossip message too large for one frame is split; a
   * ping, ack or pingReq sheds piggybacked items until it fits (they are best-effort); anything
   * else too large is dropped and logged.
   */
  #encode(msg: Message): TypedFrame[] {
    const bytes = utf8Encoder.encode(JSON.stringify({ swarm: this.#o.swarm, msg }));
    const bound = msg.type === 'pushPull' ? this.#pushPullBytesMax : this.#frameBytesMax;
    if (bytes.length <= bound) return [{ bytes, type: msg.type }];
    if (msg.type === 'gossip' && msg.gossip.length > 1) {
      const half = Math.ceil(msg.gossip.length / 2);
      return [...this.#encode({ ...msg, gossip: msg.gossip.slice(0, half) }), ...this.#encode({ ...msg, gossip: msg.gossip.slice(half) })];
    }
    if ((msg.type === 'ping' || msg.type === 'ack' || msg.type === 'pingReq') && msg.gossip.length > 0) {
      return this.#encode({ ...msg, gossip: msg.gossip.slice(0, Math.floor(msg.gossip.length / 2)) });
    }
    this.metrics.sendDropped.inc({ reason: 'too_large' });
    this.#o.logger.error({ type: msg.type, bytes: bytes.length, bound }, 'a membership message exceeds its frame bound and cannot be sent');
    return [];
  }

  /** One writer per peer while it has something to send: dial, write, close when idle. */
  async #writer(box: Outbox): Promise<void> {
    try {
      while (this.#running && box.frames.length > 0) {
        await this.#learnAddr(box);
        let stream: Stream;
        try {
          stream = await this.#node.dialProtocol(box.peerId, membershipProtocol, {
            signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#dialTimeoutMs)]),
          });
        } catch (err) {
          if (!this.#running) break;
          // Whatever waits is stale by the time the peer is back; the core's timers handle it.
          this.metrics.sendDropped.inc({ reason: 'unreachable' }, box.clear());
          // Counted across outboxes (one is dropped when its queue empties): consecutive failures.
          const failures = (this.#dialFailures.get(box.id) ?? 0) + 1;
          if (this.#dialFailures.size >= 4096 && !this.#dialFailures.has(box.id)) this.#dialFailures.clear();
          this.#dialFailures.set(box.id, failures);
          if (failures === 1 || failures % 50 === 0) {
            this.#o.logger.debug({ to: box.id, failures, err: (err as Error).message }, 'cannot open a membership stream');
          }
          break;
        }
        this.#dialFailures.delete(box.id);
        box.stream = stream;
        try {
          // Raced with stop and with the peer's disconnection (writeFrames).
          const broke = await writeFrames(box, this.#source(box, stream), stream, this.#stopped);
          if (this.#running && !broke) await stream.close({ signal: AbortSignal.timeout(1000) });
          else stream.abort(new Error(this.#running ? 'the peer disconnected' : 'membership stopped'));
        } catch (err) {
          this.#o.logger.debug({ to: box.id, err: (err as Error).message }, 'membership stream broke');
          stream.abort(err as Error);
        } finally {
          box.stream = null;
          box.broken = null;
          box.notify(); // a source still waiting for frames sees its stream is gone, and ends
        }
      }
    } finally {
      // No await since the loop's last check of the queue: a frame queued now finds running false.
      box.running = false;
      if (box.frames.length === 0 && this.#outboxes.get(box.id) === box) this.#outboxes.delete(box.id);
      else if (box.frames.length > 0 && this.#running) {
        box.running = true;
        box.loop = this.#writer(box);
      }
    }
  }

  /**
   * Yields queued frames as the sink takes them; ends after idleCloseMs without any, on stop, or
   * once `stream` is no longer the box's (so an abandoned source never takes a later stream's frames).
   */
  async *#source(box: Outbox, stream: Stream): AsyncGenerator<Uint8Array> {
    while (this.#running && box.stream === stream) {
      const f = box.shift();
      if (f === undefined) {
        if (this.#closing) return;
        const woke = await box.wait(this.#idleCloseMs, true);
        if (!woke && box.length === 0) return;
        continue;
      }
      box.headSinceMs = now();
      this.metrics.framesSent.inc({ channel: 'stream', type: f.type });
      yield f.bytes;
    }
  }

  /** Puts the multiaddrs the core knows for a peer into the peer store, once per distinct addr. */
  async #learnAddr(box: Outbox): Promise<void> {
    const addr = box.addr;
    if (addr === null || addr === box.merged) return;
    box.merged = addr;
    const multiaddrs = parseAddr(addr, box.id);
    if (multiaddrs.length === 0) return;
    try {
      await this.#node.peerStore.merge(box.peerId, { multiaddrs });
    } catch (err) {
      this.#o.logger.debug({ to: box.id, err: (err as Error).message }, 'could not record a member address');
    }
  }

  readonly #onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.#outboxes.get(evt.detail.toString())?.breakLink();
  };

  #publish(gossip: GossipItem[]): void {
    const pubsub = this.#pubsub;
    if (pubsub === null || !this.#running) return;
    const msg: Message = { type: 'gossip', gossip };
    const bytes = utf8Encoder.encode(JSON.stringify({ swarm: this.#o.swarm, msg }));
    pubsub.publish(this.#topic, bytes).then(
      () => this.metrics.framesSent.inc({ channel: 'pubsub', type: 'gossip' }),
      // Usually "no peers subscribed" at start: the protocol streams carry the same news.
      (err: Error) => this.#o.logger.debug({ err: err.message }, 'membership news not published on the topic'),
    );
  }

  // ---- receiving -------------------------------------------------------------------------------

  async #receive(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    if (!this.#running) {
      stream.abort(new Error('membership stopped'));
      return;
    }
    if (!this.#trust.isAdmitted(peer)) {
      // Not read at all: a peer off the roster has nothing to say about membership.
      this.#drop(peer, 'not_admitted', 'the remote peer is not on the roster; stream closed');
      stream.abort(new Error('not admitted'));
      return;
    }
    this.#inbound.add(stream);
    try {
      await stream.closeWrite(); // this side never writes on an inbound membership stream
      for await (const chunk of lp.decode(stream.source, { maxDataLength: this.#pushPullBytesMax })) {
        if (!this.#running) break;
        this.#onFrame(peer, chunk.subarray(), 'stream');
      }
    } catch (err) {
      const framing = frameReadError(err);
      if (framing === 'oversized') {
        this.#drop(peer, 'oversized', `frame length exceeds ${this.#pushPullBytesMax} bytes; closing the stream`);
      } else if (framing === 'truncated') {
        this.#drop(peer, 'truncated', 'the stream ended inside a frame');
      } else if (this.#running) {
        this.#o.logger.debug({ peer, err: (err as Error).message }, 'inbound membership stream ended with an error');
      }
      stream.abort(err as Error);
    } finally {
      this.#inbound.delete(stream);
    }
  }

  readonly #onPubSub = (evt: CustomEvent<PubSubMessage>): void => {
    const m = evt.detail;
    if (m.topic !== this.#topic || !this.#running) return;
    if (m.type !== 'signed') {
      this.#drop('unsigned', 'malformed', 'unsigned pubsub message');
      return;
    }
    const from = m.from.toString();
    if (from === this.#selfId) return;
    if (!this.#trust.isAdmitted(from)) {
      this.#drop(from, 'not_admitted', 'the pubsub signer is not on the roster');
      return;
    }
    if (m.data.length > this.#frameBytesMax) {
      this.#drop(from, 'oversized', `pubsub message of ${m.data.length} bytes (at most ${this.#frameBytesMax})`);
      return;
    }
    this.#onFrame(from, m.data, 'pubsub');
  };

  /** One received frame: decode, check the envelope and the swarm, validate, hand to the core. Never throws. */
  #onFrame(from: string, bytes: Uint8Array, channel: Channel): void {
    const core = this.#core;
    if (core === null) return;
    let env: unknown;
    try {
      env = JSON.parse(utf8.decode(bytes));
    } catch {
      this.#drop(from, 'malformed', 'not UTF-8 JSON');
      return;
    }
    if (typeof env !== 'object' || env === null || Array.isArray(env)) {
      this.#drop(from, 'malformed', 'expected an object { swarm, msg }');
      return;
    }
    const keys = Object.keys(env);
    const { swarm, msg } = env as { swarm?: unknown; msg?: unknown };
    if (keys.length !== 2 || typeof swarm !== 'string' || msg === undefined) {
      this.#drop(from, 'malformed', 'expected exactly { swarm: string, msg }');
      return;
    }
    if (swarm !== this.#o.swarm) {
      this.#drop(from, 'foreign_swarm', `swarm ${JSON.stringify(swarm.slice(0, 64))}, this agent is in ${JSON.stringify(this.#o.swarm)}`);
      return;
    }
    if (bytes.length > this.#frameBytesMax && (typeof msg !== 'object' || msg === null || (msg as { type?: unknown }).type !== 'pushPull')) {
      this.#drop(from, 'oversized', `a ${bytes.length}-byte frame that is not a pushPull (at most ${this.#frameBytesMax})`);
      return;
    }
    const t = now();
    const v = validateMessage(msg);
    if (!v.ok) {
      this.#drop(from, 'invalid', v.reason);
      return;
    }
    if (channel === 'pubsub') {
      const problem = selfStatementProblem(from, v.msg);
      if (problem !== null) {
        this.#drop(from, 'not_self', problem);
        return;
      }
    }
    if (!isMemberId(from)) {
      this.#drop((from as string).slice(0, 128), 'invalid', 'the sender is not a member id');
      return;
    }
    try {
      core.step({ type: 'message', from, msg: v.msg, nowMs: t });
    } catch (err) {
      this.#o.logger.error({ from, type: v.msg.type, err: (err as Error).message }, 'membership core threw on a message (bug)');
    }
    this.#countStatementDrops(from, core.stats);
    this.#lastHeard.set(from, t);
    this.metrics.framesReceived.inc({ channel, type: v.msg.type });
    this.#pump();
  }

  /** Reports what the core dropped inside the frame just handled (its counters only grow). */
  #countStatementDrops(from: string, stats: MembershipStats): void {
    for (const [reason, key] of statementDropStats) {
      const total = stats[key];
      const delta = total - (this.#statementDrops.get(reason) ?? 0);
      if (delta <= 0) continue;
      this.#statementDrops.set(reason, total);
      this.metrics.statementsDropped.inc({ reason }, delta);
      this.#dropLog.warn(from, reason, `${delta} statement(s) in a ${reason === 'unbacked_claim' ? 'claim' : 'frame'} from this peer dropped`);
    }
  }

  #drop(peer: string, reason: FrameDropReason, detail: string): void {
    this.metrics.framesDropped.inc({ reason });
    this.#dropLog.warn(peer, reason, detail);
  }
}

// ---- helpers ----------------------------------------------------------------------------------

function now(): number {
  return performance.now();
}

/** Read through a call: TypeScript would keep a getter narrowed across awaits. */
function statusOf(core: Membership): Status {
  return core.status;
}

/** The caller's roster, made total: a throw is "not admitted" / "no role" (logged once per minute at most). */
function safeTrust(trust: Trust, logger: Logger): Trust {
  let loggedMs = -Infinity;
  const failed = (err: unknown): void => {
    if (Date.now() - loggedMs < 60_000) return;
    loggedMs = Date.now();
    logger.error({ err: (err as Error)?.message }, 'membership trust callback threw (treated as not admitted)');
  };
  return {
    isAdmitted(id) {
      try {
        return trust.isAdmitted(id) === true;
      } catch (err) {
        failed(err);
        return false;
      }
    },
    roleOf(id) {
      try {
        const r = trust.roleOf(id);
        return r === 'voter' || r === 'worker' ? r : null;
      } catch (err) {
        failed(err);
        return null;
      }
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The topic carries statements of a member about itself: its alive record, or its leave. */
function selfStatementProblem(from: string, msg: Message): string | null {
  if (msg.type !== 'gossip') return `a ${msg.type} message on the topic (only gossip)`;
  for (const item of msg.gossip) {
    if (item.id !== from) return `a ${item.kind} item about ${item.id.slice(0, 60)} published by ${from}`;
    if (item.kind === 'suspect') return 'a suspect item on the topic';
    if (item.kind === 'dead' && item.from !== from) return 'a dead item on the topic that is not a leave';
  }
  return null;
}

function isLoopback(ma: string): boolean {
  return ma.startsWith('/ip4/127.') || ma.startsWith('/ip6/::1/') || ma.startsWith('/dns4/localhost/') || ma.startsWith('/dns/localhost/');
}

/**
 * This node's listen multiaddrs without /p2p/, non-loopback ones first (loopback ones only when
 * there is nothing else), space-separated within the core's address bound; the peer id when none.
 */
export function advertisedAddr(node: Libp2p): string {
  const all: string[] = [];
  for (const ma of node.getMultiaddrs()) {
    const s = ma.decapsulateCode(421).toString();
    if (!all.includes(s) && !s.includes('/p2p-circuit')) all.push(s);
  }
  const outside = all.filter((s) => !isLoopback(s));
  const chosen = outside.length > 0 ? outside : all;
  let addr = '';
  for (const s of chosen) {
    const next = addr === '' ? s : `${addr} ${s}`;
    if (utf8Bytes(next) > addrBytesMax) break;
    addr = next;
  }
  return addr === '' ? node.peerId.toString() : addr;
}

/** The multiaddrs in a core `addr` that may belong to peer `id` (a /p2p/ part must name it). */
export function parseAddr(addr: string, id: string): Multiaddr[] {
  const out: Multiaddr[] = [];
  for (const part of addr.split(' ').slice(0, 16)) {
    if (!part.startsWith('/')) continue;
    try {
      const ma = multiaddr(part);
      const p2p = ma.getPeerId();
      if (p2p !== null && p2p !== id) continue;
      out.push(p2p === null ? ma : ma.decapsulateCode(421));
    } catch { /* not a multiaddr: ignored */ }
  }
  return out;
}

/** A seed given as a peer id, or as a multiaddr ending in /p2p/<id> (its address kept as addr). */
function parseSeed(s: string): Seed | null {
  if (s.startsWith('/')) {
    try {
      const ma = multiaddr(s);
      const id = ma.getPeerId();
      if (id === null) return null;
      peerIdFromString(id);
      const addr = ma.decapsulateCode(421).toString();
      return { id, addr: utf8Bytes(addr) <= addrBytesMax ? addr : id };
    } catch {
      return null;
    }
  }
  try {
    peerIdFromString(s);
    return { id: s, addr: s };
  } catch {
    return null;
  }
}

