// The EPaxos* replica: a pure state machine fed events, returning what to persist and send
// (PROTOCOL.md; etcd raft's Step/Ready). No clock, timer, randomness or I/O: time and entropy
// arrive in tick events, messages arrive validated, and effects leave through `takeReady()`.
//
// Handlers cite the lines of the paper's figures (PROTOCOL.md §5, §6). Covey's additions (§12)
// are marked "Covey:".

import { assert } from './assert.ts';
import { replicaConfig, type ReplicaConfig, type ReplicaOptions } from './config.ts';
import { ConflictIndex } from './conflict-index.ts';
import { conflictsWithEverything, payloadsConflict, payloadsEqual } from './conflicts.ts';
import { arraysEqual, belowFloor, depsEqual, depsUnion, emptyDeps, floorAtLeast, makeDeps, maxFloor } from './deps.ts';
import { Executor } from './execution.ts';
import { ballotOwner, formatId, initCoord, instanceId, instanceSeq, nextBallot, type Ballot, type InstanceId, type ReplicaId } from './ids.ts';
import { decideAfterValidate, decideRecovery, decideWhileWaiting, validateAnswer } from './recovery.ts';
import { validateCommand, validateMessage, validateSnapshotMessage } from './validate.ts';
import {
  NOP, type Accept, type AcceptOK, type Batch, type ClientReply, type Commit, type Deps, type Envelope, type Event,
  type EpochClose, type ExecutedBatch, type Instance, type InstanceRecord, type Message, type Payload, type Phase, type PersistRecord,
  type PreAccept, type PreAcceptOK, type Ready, type Recover, type RecoverOK, type ReplicaSnapshot, type SnapshotMessage,
  type SnapshotEnvelope, type StoredState, type Validate, type ValidateOK, type Waiting, type Watermark,
} from './types.ts';
import type { Command, CommandResult } from '../statemachine/commands.ts';

/** What the replica applies committed commands to (consensus/statemachine). Must be deterministic. */
export interface StateMachine {
  apply(command: Command): CommandResult;
  /** The whole state as plain JSON data. Without it and `restoreSnapshot`, nothing is truncated. */
  snapshot?(): unknown;
  /** Replaces the whole state by a snapshot, in place; throws, changing nothing, if malformed. */
  restoreSnapshot?(s: unknown): void;
  /**
   * Optional: restoreSnapshot for the snapshot of this replica's own durable storage on a restart
   * (written by its own `snapshot()`, or a peer's snapshot restoreSnapshot accepted before it was
   * persisted), which it may trust instead of checking every field. Never given network input.
   */
  restoreOwnSnapshot?(s: unknown): void;
}

/**
 * How many missing ids one Watermark may put on the recovery track. A replica further behind
 * catches up over several exchanges (and, once snapshots exist, by state transfer).
 */
const catchUpIdsPerWatermarkMax = 256;
/**
 * How long after a peer asked this replica to recover an instance of coordinator c (the peer lacks
 * c's Commit: it does not hear c, or c is down) c's Commits are relayed to it as they arrive.
 */
const relayCommitsMs = 2000;
/**
 * How long a peer that left a PreAccept unanswered (it does not hear this replica) is passed over
 * by thrifty proposals before one asks it again: at most one fast-path timeout lost per second
 * while the cut lasts, and it carries its share again soon after the heal.
 */
const unansweredRetryMs = 1000;

/** The coordinator's or recoverer's work in progress on one id, at ballot `b`. */
type Lead =
  | { kind: 'preaccept'; b: 0; startedMs: number; sentMs: number; replies: Map<ReplicaId, Deps>; matching: number; unasked: ReplicaId[] }
  | { kind: 'accept'; b: Ballot; sentMs: number; oks: Set<ReplicaId> }
  | { kind: 'recover'; b: Ballot; sentMs: number; oks: Map<ReplicaId, RecoverOK> }
  | { kind: 'validate'; b: Ballot; sentMs: number; q: Set<ReplicaId>; cmd: Batch; dep: Deps; rmax: number; oks: Map<ReplicaId, ValidateOK> }
  | { kind: 'waiting'; b: Ballot; sentMs: number; q: Set<ReplicaId>; cmd: Batch; dep: Deps; rmax: number; I: InstanceId[] };

/** A known, uncommitted id and when this replica will try to recover it (§9, §12 recovery policy). */
interface PendingId {
  attempt: number;
  deadlineMs: number;
  /** A peer known to hold the id committed (it executed it): the first recovery asks it alone. */
  holder?: ReplicaId;
}

export interface ReplicaStats {
  proposed: number;
  fastCommits: number;
  slowCommits: number;
  recoveriesStarted: number;
  recoveredAsNop: number;
  committed: number;
  applied: number;
  /** A Commit contradicted a committed value: must stay 0 (INV1). */
  agreementViolations: number;
  /** A command with an effect came to execute after the change that closed the epoch: must stay 0 (RC1). */
  epochViolations: number;
  /** Snapshots taken here, and instances forgotten by truncation. */
  snapshots: number;
  truncatedInstances: number;
  /** State transfer: snapshots sent to lagging peers, and received snapshots installed. */
  snapshotsSent: number;
  snapshotsInstalled: number;
}

export class Replica {
  readonly cfg: ReplicaConfig;
  readonly stats: ReplicaStats = {
    proposed: 0, fastCommits: 0, slowCommits: 0, recoveriesStarted: 0, recoveredAsNop: 0, committed: 0, applied: 0, agreementViolations: 0, epochViolations: 0,
    snapshots: 0, truncatedInstances: 0, snapshotsSent: 0, snapshotsInstalled: 0,
  };
  private readonly sm: StateMachine;
  private readonly instances = new Map<InstanceId, Instance>();
  private readonly index: ConflictIndex;
  private readonly executor: Executor;
  private readonly leads = new Map<InstanceId, Lead>();
  /** Ids whose recovery waits (lines 67–79); re-judged when local state changes. */
  private readonly waitingLeads = new Set<InstanceId>();
  /** Own ids proposed since this incarnation started: their clients are waiting here. */
  private readonly ownProposals = new Map<InstanceId, Batch>();
  /** When each own proposal was made, by the ticks' clock (ownInFlightSinceMs). */
  private readonly ownProposedAtMs = new Map<InstanceId, number>();
  private readonly queue: Command[] = [];
  private readonly pending = new Map<InstanceId, PendingId>();
  /** Largest k of any Waiting(id, k) received (line 74). */
  private readonly waitingK = new Map<InstanceId, number>();
  private nextSeq = 1;
  /**
   * Own ids whose PreAccept went out early (before this replica's record of them was durable) and
   * whose own PreAcceptOK has not come back yet — that is, not yet known durable. Bounded by
   * cfg.earlyProposalsMax: a crash can lose at most that many ids, all above the last one on disk,
   * and `restore` skips and recovers that many (PROTOCOL.md §12, "Votes count once durable").
   */
  private readonly unconfirmedEarly = new Set<InstanceId>();
  /**
   * The highest own seq known to be on this replica's disk. A PreAccept may leave early only for a
   * seq at most earlyProposalsMax above it, so that every id a crash can lose is one the next
   * restart skips (it skips that many above the last own id on disk). Without this bound, the
   * first proposal after a restart (at last-on-disk + 1 + earlyProposalsMax) left early, a second
   * crash lost it, and the second restart allocated the same id again for another command (INV5;
   * found by consensus/epochs.test.ts with explicit syncs).
   */
  private durableOwnSeq = 0;
  /** Peers the driver says do not answer now (the 'reachable' hint; empty until it says). */
  private unreachable = new Set<ReplicaId>();
  /**
   * Per peer, since when (the ticks' clock) a PreAccept of ours to it has waited for any answer of
   * it, or null. A peer that hears us not — a one-way cut: we hear it, it does not hear us — is
   * heard by the hint yet answers nothing; thrifty proposals pass it over (fastQuorumPeers).
   */
  private unansweredSinceMs: (number | null)[];
  /**
   * docs/reconfiguration.md rule 3, sealing: the voters.change instances this replica holds (in a
   * record's cmd or initCmd, so durably, in the group commit that recorded them) and that are not
   * committed as Nop. While any is held it proposes nothing and reports dependencies for no
   * instance it had not reported them for, so no instance's dependencies can name a change.
   */
  private readonly heldChanges = new Set<InstanceId>();
  /** Rule 4: the change this replica executed, which closed its epoch; nothing executes after it. */
  private closedBy: InstanceId | null = null;
  /** The close, for the next Ready (set once). */
  private closeReady: EpochClose | null = null;

  private nowMs = 0;
  private entropy = 0;
  private ticks = 0;

  // Covey §12 bounded dependencies: what each peer last reported as its applied prefix (this
  // replica's own is the executor's, `appliedPrefix`).
  private readonly peerPrefix: number[][];
  /**
   * Per coordinator, the highest floor a peer's watermark carried: each is a minimum over that
   * peer's reports, so each is applied by every voter, and so is their maximum. It stands in for
   * the reports of a voter this replica does not hear (exchangeWatermarks).
   */
  private readonly relayedFloor: number[];
  /**
   * Covey truncation: per coordinator, instances with seq at or below this were forgotten (every
   * voter had applied them, and a snapshot covers them). Messages about them are ignored.
   */
  private truncated: readonly number[];
  private appliedSinceSnapshot = 0;
  /** When a snapshot was last sent to each peer (state transfer is rate-limited). */
  private readonly snapshotSentMs: number[];
  /** Each peer's lag behind this replica at its last watermark (farBehind), to see it shrink. */
  private readonly peerLag: number[];
  /** What the last snapshot sent to each peer covered (its applied prefix), or null. */
  private readonly snapshotSentApplied: (readonly number[] | null)[];
  /** Per coordinator c: peers that lack c's Commits, and until when they are relayed to them. */
  private readonly relayUntilMs: Map<ReplicaId, number>[];
  /** Per coordinator, the seq up to which peers' reports have been checked for ids missing here. */
  private readonly caughtUpTo: number[];
  /**
   * Per peer, since when (the ticks' clock) this replica has been far enough behind it that it sends
   * a snapshot, and so has not recovered the ids its watermark names one by one; null when it is not
   * (`awaitsSnapshot`).
   */
  private readonly snapshotAwaitedSinceMs: (number | null)[];
  /** The floor this replica puts on the dependency sets it proposes. */
  private proposalFloor: readonly number[];
  /** Proposal floors of the last exchanges; the index forgets only below the oldest. */
  private readonly floorHistory: (readonly number[])[] = [];
  /** The applied prefix this replica's last watermark carried, and the tick it left on. */
  private prefixReported: readonly number[] = [];
  private reportedAtTick = 0;
  /** A peer's watermark arrived since the proposal floor was last raised. */
  private floorReportsNew = false;

  // The Ready being assembled.
  private readonly dirty = new Map<InstanceId, Instance>();
  /** Applied and snapshot records, in the order they happened (they follow the instance records). */
  private logRecords: PersistRecord[] = [];
  /** Released before this turn's records are durable (Ready.early). */
  private early: Envelope[] = [];
  private messages: Envelope[] = [];
  private snapshots: SnapshotEnvelope[] = [];
  private executed: ExecutedBatch[] = [];
  private replies: ClientReply[] = [];
  /** takeReady's answer for a turn that produced nothing but asks for the next tick. */
  private readonly quietTickReady: Ready;
  /** The next tick was asked for (it is always `cfg.tickMs` away). */
  private tickWanted = false;
  /** ∅, shared: Deps values are never mutated. */
  private readonly noDeps: Deps;

  constructor(options: ReplicaOptions, stateMachine: StateMachine) {
    this.cfg = replicaConfig(options);
    this.sm = stateMachine;
    const n = this.cfg.n;
    this.index = new ConflictIndex(n);
    this.executor = new Executor({ committed: (id) => { const i = this.instances.get(id); return i?.phase === 'COMMITTED' ? i : undefined; } }, n);
    this.truncated = new Array<number>(n).fill(0);
    this.snapshotSentMs = new Array<number>(n).fill(-Infinity);
    this.peerLag = new Array<number>(n).fill(0);
    this.snapshotSentApplied = new Array<readonly number[] | null>(n).fill(null);
    this.relayUntilMs = Array.from({ length: n }, () => new Map<ReplicaId, number>());
    this.peerPrefix = Array.from({ length: n }, () => new Array<number>(n).fill(0));
    this.relayedFloor = new Array<number>(n).fill(0);
    this.caughtUpTo = new Array<number>(n).fill(0);
    this.snapshotAwaitedSinceMs = new Array<number | null>(n).fill(null);
    this.unansweredSinceMs = new Array<number | null>(n).fill(null);
    this.proposalFloor = new Array<number>(n).fill(0);
    this.noDeps = emptyDeps(n);
    this.tickWanted = true;
    this.quietTickReady = Object.freeze({ ...quietReady, tickMs: this.cfg.tickMs });
  }

  /**
   * Rebuild a replica after a restart from what its storage kept. The state machine is rebuilt by
   * replaying the execution log; nothing is re-sent and no client is answered twice.
   */
  static restore(options: ReplicaOptions, stored: StoredState, stateMachine: StateMachine): Replica {
    // `new this`: a subclass's restore (the model checker's test-only variants) rebuilds a subclass.
    const r = new this(options, stateMachine);
    if (stored.snapshot !== undefined) r.startFrom(stored.snapshot);
    for (const rec of stored.instances) {
      if (r.forgotten(rec.id)) continue; // storage drops these with the snapshot; be lenient
      const inst: Instance = { ...rec };
      r.instances.set(inst.id, inst);
      r.noteHeldChange(inst);
      r.index.add(inst.id, inst.initCmd, null);
      r.index.add(inst.id, inst.cmd, inst.initCmd);
      if (initCoord(inst.id) === r.cfg.self) r.nextSeq = Math.max(r.nextSeq, instanceSeq(inst.id) + 1);
    }
    for (const id of stored.applied) {
      const inst = r.instances.get(id);
      if (inst === undefined || inst.phase !== 'COMMITTED') throw new Error(`storage corrupt: applied ${id} is not a committed instance`);
      if (r.executor.isApplied(id)) throw new Error(`storage corrupt: applied ${id} twice (or in the snapshot and the log after it)`);
      if (r.closedBy !== null) throw new Error(`storage corrupt: applied ${id} after the voters.change ${r.closedBy} that closed epoch ${r.cfg.epoch}`);
      if (inst.cmd !== NOP) {
        for (const c of (inst.cmd as Batch).commands) {
          const result = r.sm.apply(c);
          if (c.op === 'voters.change' && result.ok) r.close(id, c, []);
        }
      }
      r.executor.markApplied(id);
    }
    // The replayed log counts toward the next snapshot: otherwise a replica restarted more often
    // than every snapshotEveryApplied instances never snapshots, and each restart replays the
    // whole history (found by profiling the 1,000-agent simulation: half its time in restore).
    r.appliedSinceSnapshot = stored.applied.length;
    r.bumpNextSeq();
    r.durableOwnSeq = r.nextSeq - 1;
    // Own ids above the last one on disk may have been proposed early and lost in the crash; they
    // are never allocated again, and are recovered (as Nop, or as the value recovery finds).
    // So are the ids an earlier restart skipped and did not live to recover: every own seq above
    // the applied prefix that this replica does not hold is a gap that would stall the prefix.
    r.nextSeq += r.cfg.earlyProposalsMax;
    if (r.closedBy !== null) return r; // a closed epoch recovers and executes nothing more (rule 7)
    for (let seq = r.appliedPrefix[r.cfg.self] + 1; seq < r.nextSeq; seq++) {
      const id = instanceId(seq, r.cfg.self);
      if (!r.instances.has(id)) r.trackPending(id);
    }
    for (const inst of r.instances.values()) {
      if (inst.phase !== 'COMMITTED') r.trackPending(inst.id);
      else if (!r.executor.isApplied(inst.id)) r.execute(inst.id);
    }
    r.flushExecution();
    return r;
  }

  /** Restore: start from a stored snapshot (the state machine, what it covers, what was forgotten). */
  private startFrom(snap: ReplicaSnapshot): void {
    if (this.sm.restoreSnapshot === undefined) throw new Error('storage holds a snapshot but the state machine cannot restore one');
    if (this.sm.restoreOwnSnapshot !== undefined) this.sm.restoreOwnSnapshot(snap.machine);
    else this.sm.restoreSnapshot(snap.machine);
    this.executor.install(snap.applied, snap.appliedAbove);
    this.forgetBelow(snap.truncated);
    this.bumpNextSeq();
  }

  // ---- driver API ---------------------------------------------------------------------------

  step(ev: Event): void {
    switch (ev.type) {
      case 'message': this.receive(ev.from, ev.msg); break;
      case 'submit': this.submit(ev.command); break;
      case 'tick': this.tick(ev.nowMs, ev.entropy); break;
      case 'recover': this.startRecovery(ev.id); break;
      case 'reachable': this.setReachable(ev.replicas); break;
      case 'snapshot': this.onSnapshot(ev.msg); break;
      case 'withdraw': this.withdraw(ev.clientId, ev.requestId); break;
    }
  }

  /**
   * The edge of the core for bytes-turned-objects from the network: the message is validated
   * first, and one with missing or ill-typed fields, an unknown ballot owner, an out-of-range
   * replica id or a non-canonical dependency set is refused with the reason, changing nothing.
   */
  receiveUntrusted(from: number, raw: unknown): { ok: true } | { ok: false; reason: string } {
    if (from === this.self) return { ok: false, reason: `replica ${from} does not take its own messages from the network` };
    const v = validateMessage(raw, from, { n: this.cfg.n });
    if (!v.ok) return v;
    this.step({ type: 'message', from, msg: v.msg });
    return { ok: true };
  }

  /** A state-transfer snapshot from the network (`Ready.snapshots` of a peer), validated first. */
  receiveSnapshotUntrusted(from: number, raw: unknown): { ok: true } | { ok: false; reason: string } {
    if (from === this.self) return { ok: false, reason: `replica ${from} does not take its own snapshots from the network` };
    const v = validateSnapshotMessage(raw, from, { n: this.cfg.n });
    if (!v.ok) return v;
    this.step({ type: 'snapshot', from, msg: v.msg });
    return { ok: true };
  }

  /** A client command from outside (HTTP, a forwarding agent): validated like a message. */
  submitUntrusted(raw: unknown): { ok: true } | { ok: false; reason: string } {
    const v = validateCommand(raw);
    if (!v.ok) return v;
    this.step({ type: 'submit', command: v.command });
    return { ok: true };
  }

  /** Everything the steps since the last call produced; see `Ready` for the order to honour. */
  takeReady(): Ready {
    // Most of an idle replica's turns are ticks that produce nothing (100 a second): they get one
    // shared, frozen Ready and empty lists, and allocate nothing (an idle agent's allocations feed
    // the garbage V8 promotes and its RSS creeps with; docs/benchmarks.md).
    const tickMs = this.tickWanted ? this.cfg.tickMs : null;
    this.tickWanted = false;
    if (this.dirty.size === 0 && this.logRecords.length === 0 && this.early.length === 0 && this.messages.length === 0 && this.snapshots.length === 0
      && this.executed.length === 0 && this.replies.length === 0 && this.closeReady === null) {
      return tickMs === null ? quietReady : this.quietTickReady;
    }
    let persist: PersistRecord[] = none;
    if (this.dirty.size > 0 || this.logRecords.length > 0) {
      persist = [];
      for (const inst of this.dirty.values()) persist.push({ kind: 'instance', instance: recordOf(inst) });
      for (const rec of this.logRecords) persist.push(rec);
      this.dirty.clear();
      this.logRecords = [];
    }
    const ready: Ready = {
      persist, early: handOut(this.early), messages: handOut(this.messages), snapshots: handOut(this.snapshots), executed: handOut(this.executed),
      replies: handOut(this.replies), tickMs, closed: this.closeReady,
    };
    this.closeReady = null;
    // A list handed out becomes the caller's and a new one starts; an empty one stays (the caller got `none`).
    if (this.early.length > 0) this.early = [];
    if (this.snapshots.length > 0) this.snapshots = [];
    if (this.messages.length > 0) this.messages = [];
    if (this.executed.length > 0) this.executed = [];
    if (this.replies.length > 0) this.replies = [];
    return ready;
  }

  get self(): ReplicaId {
    return this.cfg.self;
  }

  /** Read-only view for checkers and status pages. */
  instance(id: InstanceId): Readonly<Instance> | undefined {
    return this.instances.get(id);
  }

  instanceIds(): IterableIterator<InstanceId> {
    return this.instances.keys();
  }

  isApplied(id: InstanceId): boolean {
    return this.executor.isApplied(id);
  }

  /** Ids known here and not yet committed. */
  pendingIds(): InstanceId[] {
    return [...this.pending.keys()];
  }

  /** Ids committed here but not yet applied (waiting on dependencies, or for the next tick's flush). */
  committedUnapplied(): InstanceId[] {
    const out: InstanceId[] = [];
    for (const inst of this.instances.values()) if (inst.phase === 'COMMITTED' && !this.executor.isApplied(inst.id)) out.push(inst.id);
    return out;
  }

  queuedCommands(): number {
    return this.queue.length;
  }

  executedWatermark(): readonly number[] {
    return this.appliedPrefix;
  }

  /** The floor this replica's proposals carry now (tests). */
  currentProposalFloor(): readonly number[] {
    return this.proposalFloor;
  }

  /** Per coordinator: instances at or below were forgotten by truncation (checkers, status). */
  truncatedFloor(): readonly number[] {
    return this.truncated;
  }

  private get appliedPrefix(): readonly number[] {
    return this.executor.prefix;
  }

  // ---- submission and batching (§5 lines 8–10, Covey §12) ---------------------------------

  /**
   * How many queued commands the next batch takes: up to batchCommandsMax, and while their size
   * stays within batchBytesMax (always at least one), so that a payload fits in one network frame.
   */
  private batchTake(): number {
    if (this.queue[0].op === 'voters.change') return 1; // a change travels alone (rule 1)
    let bytes = 0;
    let k = 0;
    while (k < this.queue.length && k < this.cfg.batchCommandsMax) {
      if (this.queue[k].op === 'voters.change') break;
      bytes += commandBytes(this.queue[k]);
      if (k > 0 && bytes > this.cfg.batchBytesMax) break;
      k++;
    }
    return k;
  }

  /**
   * A partition's cost after the heal: a voter cut off from a majority keeps queueing its clients'
   * attempts behind its one instance in flight, and at the heal would propose all of them — each a
   * slow path over everything the majority committed meanwhile — though every one of their clients
   * has given up. Dropping them when their client stops waiting leaves only what someone awaits.
   */
  private withdraw(clientId: string, requestId: number): void {
    const at = this.queue.findIndex((c) => c.clientId === clientId && c.requestId === requestId);
    if (at >= 0) this.queue.splice(at, 1);
  }

  /** Instances peer `r` has applied by its last watermark (the sum over coordinators): to rank peers. */
  peerApplied(r: ReplicaId): number {
    let sum = 0;
    for (const x of this.peerPrefix[r]) sum += x;
    return sum;
  }

  /**
   * How far this replica's execution is behind the peer furthest ahead, by their gossiped executed
   * watermarks: the instances that peer has applied and this one has not, and the peer (null when
   * none is ahead). A voter back from a partition is thousands behind; one in step, its in-flight
   * window at most. The agent hands its clients' commands to the peer ahead while it catches up.
   */
  lagBehind(): { readonly instances: number; readonly peer: ReplicaId | null } {
    const mine = this.appliedPrefix;
    let best = 0;
    let peer: ReplicaId | null = null;
    for (let r = 0; r < this.peerPrefix.length; r++) {
      if (r === this.self) continue;
      let behind = 0;
      for (let c = 0; c < mine.length; c++) behind += Math.max(0, this.peerPrefix[r][c] - mine[c]);
      if (behind > best) { best = behind; peer = r; }
    }
    return { instances: best, peer };
  }

  /**
   * Since when (the ticks' clock, the driver's) the oldest own proposal has been in flight — not yet
   * executed here and answered — or null when none is. Commands submitted here queue behind it, so
   * one stuck for long (proposed while cut off, waiting out a recovery) holds every client of this
   * voter; the agent then hands them to a peer.
   */
  ownInFlightSinceMs(): number | null {
    let oldest: number | null = null;
    for (const at of this.ownProposedAtMs.values()) if (oldest === null || at < oldest) oldest = at;
    return oldest;
  }

  private forgetOwn(id: InstanceId): void {
    this.ownProposals.delete(id);
    this.ownProposedAtMs.delete(id);
  }

  private submit(command: Command): void {
    const refused = this.submitRefusal(command);
    if (refused !== null) {
      this.replies.push({ clientId: command.clientId, requestId: command.requestId, result: { ok: false, error: refused } });
      return;
    }
    if (this.queue.length >= this.cfg.submitQueueCommandsMax) {
      this.replies.push({
        clientId: command.clientId, requestId: command.requestId,
        result: { ok: false, error: `overloaded: ${this.queue.length} commands already queued at replica ${this.self}; retry later or at another voter` },
      });
      return;
    }
    this.queue.push(command);
    this.proposeQueued();
  }

  /** Why this group will not take `command` (docs/reconfiguration.md), or null. */
  private submitRefusal(command: Command): string | null {
    const epoch = this.cfg.epoch;
    if (this.closedBy !== null) return `epoch ${epoch} is closed by a voters.change; submit to the group of epoch ${epoch + 1}`;
    if (command.op === 'voters.change' && command.epoch !== epoch) {
      return `superseded: this voter group is at epoch ${epoch}, the voters.change was made for epoch ${command.epoch}`;
    }
    return null;
  }

  /** Sealed (rule 3) or closed (rule 4): this group proposes nothing more for now. */
  private get sealed(): boolean {
    return this.heldChanges.size > 0 || this.closedBy !== null;
  }

  /**
   * Adaptive batching: while fewer than pipelineInstancesMax own instances are in flight, queued
   * commands leave at once (a batch of one under light load); once the pipeline is full they wait
   * and leave together, up to batchCommandsMax, when an instance completes.
   */
  private proposeQueued(): void {
    // Sealed: queued commands wait for the change to commit (as Nop) or to close the epoch. Checked
    // per batch: proposing a change seals this replica at once.
    while (!this.sealed && this.queue.length > 0 && this.ownProposals.size < this.cfg.pipelineInstancesMax) {
      const commands = this.queue.splice(0, this.batchTake());
      this.propose({ commands });
    }
  }

  private propose(batch: Batch): void {
    const id = instanceId(this.nextSeq++, this.self);
    const dep = this.dependencies(id, batch, this.proposalFloor, [], true); // line 10
    this.ownProposals.set(id, batch);
    this.ownProposedAtMs.set(id, this.nowMs);
    this.stats.proposed++;
    const asked = this.fastQuorumPeers(id);
    const unasked: ReplicaId[] = [];
    for (let r = 0; r < this.cfg.n; r++) if (r !== this.self && !asked.includes(r)) unasked.push(r);
    this.leads.set(id, { kind: 'preaccept', b: 0, startedMs: this.nowMs, sentMs: this.nowMs, replies: new Map(), matching: 0, unasked });
    this.trackPending(id);
    // Covey §12: the PreAccept may leave while this replica's own record of it is being synced
    // (its own vote counts only once that is durable), within the bound a restart can skip. When
    // this turn already sends peers something after its sync (under load: the Commit of the
    // instance whose end made room for this one), the PreAccept goes with it instead: one frame
    // to each peer rather than two, for one sync of latency that load has already added.
    const early = this.unconfirmedEarly.size < this.cfg.earlyProposalsMax && instanceSeq(id) <= this.durableOwnSeq + this.cfg.earlyProposalsMax &&
      !this.sendsToPeersAfterSync();
    if (early) this.unconfirmedEarly.add(id);
    // Only a thrifty choice (fewer than every peer) marks its peers asked: a broadcast has no
    // choice to inform, and the model checker's replicas (thrifty off) keep no such state.
    if (asked.length < this.cfg.n - 1) {
      for (const r of asked) {
        const since = this.unansweredSinceMs[r];
        if (since === null || this.nowMs - since >= unansweredRetryMs) this.unansweredSinceMs[r] = this.nowMs;
      }
    }
    const msg: PreAccept = { type: 'PreAccept', id, cmd: batch, dep };
    this.sendToPeers(asked, msg, early);
    this.deliverToSelf(msg);
  }

  /**
   * Thrifty (EPaxos §4.4): the peers a proposal's PreAccept goes to first — just enough for a fast
   * quorum with this replica's own vote, among the peers the driver says it hears, rotated by seq
   * so each carries an even share. The rest are asked only if one of these stays silent past
   * fastPathTimeoutMs (tickLead). Asking fewer is what a lossy network may do anyway, so safety is
   * the paper's; what it saves is a PreAccept, its record, sync and answer at every other voter on
   * every instance — a third of a 3-voter swarm's consensus messages. With thrifty off, or when too
   * few peers are heard, every peer is asked.
   */
  private fastQuorumPeers(id: InstanceId): ReplicaId[] {
    const all: ReplicaId[] = [];
    for (let r = 0; r < this.cfg.n; r++) if (r !== this.self) all.push(r);
    const wanted = this.cfg.fastQuorumSize - 1;
    if (!this.cfg.thriftyPreAccept) return all;
    const heard = all.filter((r) => !this.unreachable.has(r));
    if (heard.length < wanted) return all;
    // Peers that left a PreAccept of ours unanswered past the fast-path timeout go last: after a
    // one-way cut each instance asking one waited out that timeout. Asked again once the wait
    // reaches unansweredRetryMs, in case the cut has healed.
    const answering = heard.filter((r) => !this.leavesUnanswered(r));
    const from = answering.length >= wanted ? answering : heard;
    const start = instanceSeq(id) % from.length;
    const picked: ReplicaId[] = [];
    for (let k = 0; k < wanted; k++) picked.push(from[(start + k) % from.length]);
    return picked;
  }

  private leavesUnanswered(r: ReplicaId): boolean {
    const since = this.unansweredSinceMs[r];
    return since !== null && this.nowMs - since >= this.cfg.fastPathTimeoutMs && this.nowMs - since < unansweredRetryMs;
  }

  /**
   * {id' ≠ id | cmd[id'] ⋈ c} above `floor`, plus `extra` (lines 10 and 16). With `index` set,
   * `id` is also entered in the conflict index under c's keys, in the same pass.
   */
  private dependencies(id: InstanceId, c: Batch, floor: readonly number[], extra: readonly InstanceId[], index = false): Deps {
    const found: InstanceId[] = [...extra];
    const visit = (other: InstanceId): void => {
      if (other === id) return;
      const inst = this.instances.get(other);
      if (inst !== undefined && payloadsConflict(inst.cmd, c)) found.push(other);
    };
    if (conflictsWithEverything(c)) {
      // A voters.change depends on every instance held above the floor: no key finds them all.
      for (const other of this.instances.keys()) if (!belowFloor(other, floor)) visit(other);
      if (index) this.index.add(id, c, null);
    } else if (index) this.index.collectAndAdd(id, c, floor, visit);
    else this.index.candidates(c, floor, visit);
    return makeDeps(found, floor);
  }

  // ---- messages -----------------------------------------------------------------------------

  private receive(from: ReplicaId, msg: Message): void {
    // Covey truncation: an id at or below the truncation floor was applied by every voter and is
    // forgotten here; a late or duplicated message about it has nothing left to decide.
    if ('id' in msg && this.forgotten(msg.id)) return;
    if (from !== this.self && isVote(msg)) this.unansweredSinceMs[from] = null;
    switch (msg.type) {
      case 'PreAccept': return this.onPreAccept(from, msg);
      case 'PreAcceptOK': return this.onPreAcceptOK(from, msg);
      case 'Accept': return this.onAccept(from, msg);
      case 'AcceptOK': return this.onAcceptOK(from, msg);
      case 'Commit': return this.onCommit(from, msg);
      case 'Recover': return this.onRecover(from, msg);
      case 'RecoverOK': return this.onRecoverOK(from, msg);
      case 'Validate': return this.onValidate(from, msg);
      case 'ValidateOK': return this.onValidateOK(from, msg);
      case 'Waiting': return this.onWaiting(msg);
      case 'Watermark': return this.onWatermark(from, msg);
    }
  }

  /** Lines 11–18. */
  private onPreAccept(from: ReplicaId, m: PreAccept): void {
    const inst = this.getOrCreate(m.id);
    if (this.answerIfCommitted(from, inst)) return;
    if (inst.bal !== 0 || inst.phase !== 'INITIAL') {
      // Covey: a retransmitted PreAccept whose answer was lost gets the same answer again.
      if (inst.bal === 0 && inst.phase === 'PREACCEPTED' && payloadsEqual(inst.initCmd, m.cmd)) {
        this.send(from, { type: 'PreAcceptOK', id: m.id, dep: inst.dep });
      }
      return;
    }
    // Rule 3: holding a change, report no dependencies for a command not reported before (its
    // dependencies could name the change, and it would execute after the epoch closed). Silence:
    // the coordinator's instance is recovered, as Nop unless a quorum reported it before. Another
    // change is answered (rule 8): whichever executes first closes the epoch, the other is void.
    if (!conflictsWithEverything(m.cmd) && this.refusesNewReport(m.id)) return;
    const previous = inst.cmd;
    inst.cmd = m.cmd;
    inst.initCmd = m.cmd;
    inst.initDep = m.dep;
    if (from === this.self) {
      inst.dep = m.dep; // the coordinator computed D from this very state a moment ago (line 10)
    } else if (this.index.completeAbove(m.dep.floor)) {
      inst.dep = this.dependencies(m.id, m.cmd, m.dep.floor, m.dep.ids, previous === null); // line 16
    } else {
      // Covey: this replica already forgot ids the coordinator's floor still asks about; they are
      // executed everywhere, so raise the floor to its own instead of naming them.
      const floor = maxFloor(m.dep.floor, this.index.floor);
      inst.dep = this.dependencies(m.id, m.cmd, floor, m.dep.ids, previous === null);
    }
    inst.phase = 'PREACCEPTED';
    if (previous !== null) this.index.add(m.id, m.cmd, previous); // else: entered while collecting
    this.markDirty(inst);
    this.trackPending(m.id);
    this.send(from, { type: 'PreAcceptOK', id: m.id, dep: inst.dep }); // line 18
  }

  /** Lines 19–25. */
  private onPreAcceptOK(from: ReplicaId, m: PreAcceptOK): void {
    if (from === this.self) { // the proposal is durable here
      this.unconfirmedEarly.delete(m.id);
      if (initCoord(m.id) === this.self) this.durableOwnSeq = Math.max(this.durableOwnSeq, instanceSeq(m.id));
    }
    const lead = this.leads.get(m.id);
    const inst = this.instances.get(m.id);
    if (lead?.kind !== 'preaccept' || inst === undefined) return;
    if (inst.bal !== 0 || inst.phase !== 'PREACCEPTED') { this.leads.delete(m.id); return; }
    if (lead.replies.has(from)) return;
    lead.replies.set(from, m.dep);
    if (depsEqual(m.dep, inst.initDep)) lead.matching++;
    this.decidePreAccept(inst, lead, false);
  }

  private decidePreAccept(inst: Instance, lead: Extract<Lead, { kind: 'preaccept' }>, timedOut: boolean): void {
    const { n, e, slowQuorumSize, fastQuorumSize } = this.cfg;
    if (lead.matching >= fastQuorumSize) { // line 22: fast path, D = initDep
      this.stats.fastCommits++;
      // Not early: line 56 takes initCoord's word that it did not commit, so its fast commit must
      // be durable here before anyone learns of it (Covey §12, "Votes count once durable").
      this.startCommit(0, inst.id, inst.cmd!, inst.initDep, this.fastCommitLeavesEarly());
      return;
    }
    const replies = lead.replies.size;
    if (replies < slowQuorumSize) return;
    // Practical policy of §5: go slow once a fast quorum of matching answers is impossible or late.
    // Impossible also when the answers still to come, all matching, would fall short because the
    // rest are peers this replica does not reach (the driver's hint): waiting for them is waiting
    // out the timeout on every instance during a partition (issue 16).
    // Peers not asked (thrifty) are silent too, until a timeout asks them.
    let silent = 0;
    for (let r = 0; r < n; r++) {
      if (r !== this.self && !lead.replies.has(r) && (this.unreachable.has(r) || lead.unasked.includes(r))) silent++;
    }
    const fastImpossible = replies - lead.matching > e || replies === n || lead.matching + (n - replies - silent) < fastQuorumSize;
    if (!fastImpossible && !timedOut) return;
    let dep = inst.initDep;
    for (const d of lead.replies.values()) dep = depsUnion(dep, d); // line 21
    this.stats.slowCommits++;
    this.startAccept(0, inst.id, inst.cmd!, dep); // line 24
  }

  private startAccept(b: Ballot, id: InstanceId, cmd: Payload, dep: Deps): void {
    this.leads.set(id, { kind: 'accept', b, sentMs: this.nowMs, oks: new Set() });
    // Covey §12: at ballot 0 only initCoord(id) accepts, once, and never again after a restart (it
    // keeps no lead across one), so the Accept may leave before its own record is durable. At a
    // higher ballot the ballot joined must be durable first, or a restarted owner could reuse it.
    this.broadcast({ type: 'Accept', b, id, cmd, dep }, b === 0);
  }

  /**
   * A Commit decided by an Accept quorum or learned from a peer carries a chosen value (its votes
   * are durable wherever they were counted): it may leave early. The coordinator's own fast-path
   * commit may not (decidePreAccept).
   */
  private startCommit(b: Ballot, id: InstanceId, cmd: Payload, dep: Deps, early = true): void {
    this.leads.delete(id);
    this.broadcast({ type: 'Commit', b, id, cmd, dep }, early);
  }

  /** Lines 26–33. */
  private onAccept(from: ReplicaId, m: Accept): void {
    const inst = this.getOrCreate(m.id);
    // Covey: a COMMITTED process answers with the Commit instead of stepping back to ACCEPTED
    // (it may already have executed the command); this also closes the §9 liveness gap.
    if (this.answerIfCommitted(from, inst)) return;
    if (inst.bal > m.b) return;
    if (inst.bal === m.b && inst.abal === m.b && inst.phase === 'ACCEPTED') {
      this.send(from, { type: 'AcceptOK', b: m.b, id: m.id }); // Covey: duplicate, same answer
      return;
    }
    const previous = inst.cmd;
    assert(m.b >= inst.bal, () => `ballots only grow: instance ${inst.id} at ${inst.bal} would accept at ${m.b}`);
    inst.bal = m.b;
    inst.abal = m.b;
    inst.cmd = m.cmd;
    inst.dep = m.dep;
    inst.phase = 'ACCEPTED';
    this.index.add(m.id, m.cmd, previous);
    this.markDirty(inst);
    this.trackPending(m.id);
    this.send(from, { type: 'AcceptOK', b: m.b, id: m.id });
  }

  /** Lines 34–36. */
  private onAcceptOK(from: ReplicaId, m: AcceptOK): void {
    const lead = this.leads.get(m.id);
    const inst = this.instances.get(m.id);
    if (lead?.kind !== 'accept' || lead.b !== m.b || inst === undefined) return;
    if (inst.bal !== m.b || inst.phase !== 'ACCEPTED') { this.leads.delete(m.id); return; }
    lead.oks.add(from);
    if (lead.oks.size >= this.cfg.slowQuorumSize) this.startCommit(m.b, m.id, inst.cmd!, inst.dep);
  }

  /**
   * Lines 37–42. Covey: the paper adopts a Commit only at the ballot joined (bal = b). A Commit
   * carries the decided value (INV7), so under message loss this replica also learns it when it
   * has moved to another ballot; it raises bal and abal to at least b, keeping abal ≤ bal (INV3).
   */
  private onCommit(from: ReplicaId, m: Commit): void {
    const inst = this.getOrCreate(m.id);
    if (inst.phase === 'COMMITTED') {
      if (!payloadsEqual(inst.cmd, m.cmd) || !depsEqual(inst.dep, m.dep)) this.stats.agreementViolations++;
      return;
    }
    if (from === initCoord(m.id)) this.relayCommit(from, m);
    const previous = inst.cmd;
    inst.bal = Math.max(inst.bal, m.b);
    inst.abal = Math.max(inst.abal, m.b);
    inst.cmd = m.cmd;
    inst.dep = m.dep;
    inst.phase = 'COMMITTED';
    this.index.add(m.id, m.cmd, previous);
    this.markDirty(inst);
    this.pending.delete(m.id);
    this.leads.delete(m.id);
    this.stats.committed++;
    this.onCommitted(inst);
  }

  /** Lines 46–49. */
  private onRecover(from: ReplicaId, m: Recover): void {
    const c = initCoord(m.id);
    if (from !== this.self && c !== from && c !== this.self) this.relayUntilMs[c].set(from, this.nowMs + relayCommitsMs);
    const inst = this.getOrCreate(m.id);
    if (this.answerIfCommitted(from, inst)) return;
    if (inst.bal > m.b || (inst.bal === m.b && inst.abal === m.b)) return;
    const balBefore = inst.bal;
    assert(m.b >= inst.bal, () => `ballots only grow: instance ${inst.id} at ${inst.bal} would join ${m.b}`);
    if (inst.bal < m.b) {
      inst.bal = m.b;
      this.markDirty(inst);
    } // else: a retransmitted Recover at the ballot already joined; nothing was accepted at it yet
    this.trackPending(m.id);
    this.send(from, {
      type: 'RecoverOK', b: m.b, id: m.id, abal: this.reportedBallot(inst, balBefore), cmd: inst.cmd, dep: inst.dep, initDep: inst.initDep, phase: inst.phase,
    });
  }

  /** Lines 50–80, and 76–79 for late answers while waiting. */
  private onRecoverOK(from: ReplicaId, m: RecoverOK): void {
    const lead = this.leads.get(m.id);
    const inst = this.instances.get(m.id);
    if (lead === undefined || lead.b !== m.b || lead.kind === 'preaccept' || inst === undefined) return;
    if (inst.bal !== m.b) { this.leads.delete(m.id); return; } // line 50 guard: another recovery took over
    if (m.phase === 'COMMITTED') { this.startCommit(m.b, m.id, m.cmd!, m.dep); return; } // line 54 / 76
    if (lead.kind === 'recover') {
      if (lead.oks.has(from)) return;
      lead.oks.set(from, m);
      if (lead.oks.size === this.cfg.slowQuorumSize) this.decideRecovered(inst, lead);
      return;
    }
    if (lead.kind === 'waiting' && !lead.q.has(from)) { // lines 76–79
      if (m.phase === 'ACCEPTED') this.startAccept(m.b, m.id, m.cmd!, m.dep);
      else if (from === initCoord(m.id)) this.acceptNop(m.b, m.id);
    }
  }

  private decideRecovered(inst: Instance, lead: Extract<Lead, { kind: 'recover' }>): void {
    const d = decideRecovery(inst.id, lead.oks, this.cfg);
    switch (d.kind) {
      case 'commit': return this.startCommit(lead.b, inst.id, d.cmd, d.dep);
      case 'accept':
        if (d.cmd === NOP) this.stats.recoveredAsNop++;
        return this.startAccept(lead.b, inst.id, d.cmd, d.dep);
      case 'validate': { // lines 60–62
        const q = new Set(lead.oks.keys());
        this.leads.set(inst.id, { kind: 'validate', b: lead.b, sentMs: this.nowMs, q, cmd: d.cmd, dep: d.dep, rmax: d.rmax, oks: new Map() });
        const msg: Validate = { type: 'Validate', b: lead.b, id: inst.id, cmd: d.cmd, dep: d.dep };
        for (const r of q) if (r !== this.self) this.send(r, msg);
        if (q.has(this.self)) this.send(this.self, msg);
      }
    }
  }

  /** Lines 81–87. */
  private onValidate(from: ReplicaId, m: Validate): void {
    const inst = this.getOrCreate(m.id);
    if (this.answerIfCommitted(from, inst)) return;
    if (inst.bal !== m.b) return;
    const previous = inst.cmd;
    inst.cmd = m.cmd;
    inst.initCmd = m.cmd;
    inst.initDep = m.dep;
    this.index.add(m.id, m.cmd, previous);
    this.markDirty(inst);
    const I = validateAnswer(m.id, m.cmd, m.dep, this.validateCandidates(m.cmd, m.dep));
    this.send(from, { type: 'ValidateOK', b: m.b, id: m.id, I });
  }

  private validateCandidates(c: Batch, D: Deps): Instance[] {
    // Rare: a full scan when the index is incomplete, or for a change (it conflicts with everything).
    if (!this.index.completeAbove(D.floor) || conflictsWithEverything(c)) return [...this.instances.values()];
    const seen = new Set<InstanceId>();
    const out: Instance[] = [];
    const add = (id: InstanceId): void => {
      if (seen.has(id)) return;
      seen.add(id);
      const inst = this.instances.get(id);
      if (inst !== undefined) out.push(inst);
    };
    this.index.candidates(c, D.floor, add);
    return out;
  }

  /** Lines 60–67: ValidateOK from all of Q. */
  private onValidateOK(from: ReplicaId, m: ValidateOK): void {
    const lead = this.leads.get(m.id);
    const inst = this.instances.get(m.id);
    if (lead?.kind !== 'validate' || lead.b !== m.b || inst === undefined || !lead.q.has(from)) return;
    if (inst.bal !== m.b) { this.leads.delete(m.id); return; }
    lead.oks.set(from, m);
    if (lead.oks.size < lead.q.size) return;
    const I = new Map<InstanceId, Set<Phase>>();
    for (const ok of lead.oks.values()) {
      for (const [other, phase] of ok.I) {
        let s = I.get(other);
        if (s === undefined) I.set(other, (s = new Set()));
        s.add(phase);
      }
    }
    const verdict = decideAfterValidate(I, lead.q, lead.rmax, this.cfg);
    if (verdict === 'accept-original') return this.startAccept(lead.b, m.id, lead.cmd, lead.dep); // line 64
    if (verdict === 'accept-nop') return this.acceptNop(lead.b, m.id); // line 66
    const ids = [...I.keys()].sort((a, b) => a - b);
    this.leads.set(m.id, { kind: 'waiting', b: lead.b, sentMs: this.nowMs, q: lead.q, cmd: lead.cmd, dep: lead.dep, rmax: lead.rmax, I: ids });
    this.waitingLeads.add(m.id);
    // The commands in I must themselves be recovered for this wait to end (§9).
    for (const other of ids) this.trackPending(other);
    this.broadcast({ type: 'Waiting', id: m.id, k: lead.rmax }); // line 68
  }

  /** Line 74 needs these records; Waiting has no ballot, so any record for an id counts. */
  private onWaiting(m: Waiting): void {
    if (m.k > (this.waitingK.get(m.id) ?? -1)) this.waitingK.set(m.id, m.k);
    this.recheckWaiting();
  }

  /** Lines 69–75, re-judged whenever local state that they read changes. */
  private recheckWaiting(): void {
    if (this.waitingLeads.size === 0) return;
    for (const id of [...this.waitingLeads]) {
      const lead = this.leads.get(id);
      if (lead?.kind !== 'waiting') { this.waitingLeads.delete(id); continue; }
      const inst = this.instances.get(id);
      if (inst === undefined || inst.bal !== lead.b) { this.leads.delete(id); this.waitingLeads.delete(id); continue; }
      const verdict = decideWhileWaiting(id, lead.I, (o) => this.instances.get(o), (o) => this.waitingK.get(o) ?? -1, this.cfg);
      if (verdict === 'accept-original') this.startAccept(lead.b, id, lead.cmd, lead.dep);
      else if (verdict === 'accept-nop') this.acceptNop(lead.b, id);
    }
  }

  private acceptNop(b: Ballot, id: InstanceId): void {
    this.stats.recoveredAsNop++;
    this.startAccept(b, id, NOP, emptyDeps(this.cfg.n));
  }

  /**
   * Covey: a coordinator's Commit, passed on to the peers that recently had to recover its
   * instances (a one-way cut: they do not hear it, this replica does). They get it one hop late
   * instead of after learnFromOthersMs and a recovery round. Any holder of a Commit may send it
   * (§12), and it leaves with this turn's messages, after the COMMITTED record is durable here.
   */
  private relayCommit(coordinator: ReplicaId, m: Commit): void {
    const peers = this.relayUntilMs[coordinator];
    for (const [peer, untilMs] of peers) {
      if (untilMs < this.nowMs) peers.delete(peer);
      else if (peer !== this.self) this.send(peer, m);
    }
  }

  /** Covey §12: any process holding a COMMITTED id answers a message about it with the Commit. */
  private answerIfCommitted(to: ReplicaId, inst: Instance): boolean {
    if (inst.phase !== 'COMMITTED') return false;
    // Not early: this may be a fast commit of its own not yet durable (see decidePreAccept).
    if (to !== this.self) this.send(to, { type: 'Commit', b: inst.abal, id: inst.id, cmd: inst.cmd!, dep: inst.dep });
    return true;
  }

  /**
   * Covey §12: record a peer's executed watermark. It also tells this replica which ids exist: one
   * that missed an instance entirely (it was down, every message lost) learns of it here, tracks it
   * as pending, and its recovery is answered with the Commit by those that hold it.
   */
  private onWatermark(from: ReplicaId, m: Watermark): void {
    // A peer applied own ids this replica does not remember allocating (it lost its disk): never
    // allocate them again.
    if (m.executed[this.self] >= this.nextSeq) this.nextSeq = m.executed[this.self] + 1;
    // State transfer: the peer still needs ids this replica has forgotten, or is so far behind
    // (a long partition) that one snapshot beats a recovery round per missed instance.
    if (!floorAtLeast(m.executed, this.truncated) || this.farBehind(from, m.executed)) this.sendSnapshot(from, m.executed);
    const known = this.peerPrefix[from];
    if (m.floor !== undefined) for (let c = 0; c < m.floor.length; c++) if (m.floor[c] > this.relayedFloor[c]) this.relayedFloor[c] = m.floor[c];
    this.floorReportsNew = true;
    const awaitsSnapshot = this.awaitsSnapshot(from, m.executed);
    for (let c = 0; c < known.length; c++) {
      if (m.executed[c] > known[c]) known[c] = m.executed[c];
      if (awaitsSnapshot) continue;
      const start = Math.max(this.caughtUpTo[c], this.appliedPrefix[c]);
      const to = Math.min(m.executed[c], start + catchUpIdsPerWatermarkMax);
      for (let s = start + 1; s <= to; s++) {
        const id = instanceId(s, c);
        if (this.instances.get(id)?.phase !== 'COMMITTED') this.learnCommitted(id, from);
      }
      if (to > this.caughtUpTo[c]) this.caughtUpTo[c] = to;
    }
  }

  // ---- recovery trigger, retransmission, watermarks (§9, Covey §12) ------------------------

  private tick(nowMs: number, entropy: number): void {
    this.nowMs = Math.max(this.nowMs, nowMs);
    this.entropy = entropy >>> 0;
    this.ticks++;
    this.tickWanted = true;
    for (const [id, lead] of this.leads) this.tickLead(id, lead);
    if (this.closedBy === null) for (const id of this.executor.missing()) this.trackPending(id);
    const due: InstanceId[] = [];
    for (const [id, p] of this.pending) if (p.deadlineMs <= this.nowMs) due.push(id);
    const snapshotDue = due.length > 0 && this.snapshotDue();
    for (const id of due) {
      const p = this.pending.get(id)!;
      const inst = this.instances.get(id);
      if (inst?.phase === 'COMMITTED' || this.notNeeded(id)) { this.pending.delete(id); continue; }
      // An id this replica only heard of (no command here, so no vote of its own to keep) while a
      // peer's snapshot is due: that snapshot covers it or comes before it (awaitsSnapshot).
      if (snapshotDue && (inst === undefined || inst.cmd === null)) { p.deadlineMs = this.nowMs + this.cfg.learnFromOthersMs; continue; }
      p.attempt++;
      p.deadlineMs = this.nowMs + this.recoveryDelayMs(id, p.attempt);
      this.startRecovery(id, p.attempt === 1 ? p.holder : undefined);
    }
    this.flushExecution();
    if (this.ticks % this.cfg.watermarkEveryTicks === 0) this.exchangeWatermarks();
    else {
      // A report heard since the last tick raises the floor now, not at this replica's next
      // exchange: on a busy swarm the floor then trails the voters by one busy report, not by two
      // exchanges.
      if (this.floorReportsNew) this.raiseProposalFloor();
      if (this.busyReportDue()) this.reportWatermark();
    }
    // A closed epoch's machine is frozen at its change; the next epoch's group snapshots from there.
    if (this.closedBy === null && this.cfg.snapshotEveryApplied > 0 && this.appliedSinceSnapshot >= this.cfg.snapshotEveryApplied) this.takeSnapshot();
    this.proposeQueued();
  }

  private tickLead(id: InstanceId, lead: Lead): void {
    const inst = this.instances.get(id);
    if (inst === undefined || inst.phase === 'COMMITTED' || inst.bal !== lead.b) { this.leads.delete(id); return; }
    if (lead.kind === 'preaccept' && this.nowMs - lead.startedMs >= this.cfg.fastPathTimeoutMs) {
      this.decidePreAccept(inst, lead, true);
      if (this.leads.get(id) !== lead) return;
      // Thrifty: a peer asked first stayed silent; ask the others now rather than at retransmitMs.
      if (lead.unasked.length > 0) {
        this.sendToPeers(lead.unasked, { type: 'PreAccept', id, cmd: inst.initCmd as Batch, dep: inst.initDep }, false);
        lead.unasked = [];
        return;
      }
    }
    if (this.nowMs - lead.sentMs < this.cfg.retransmitMs) return;
    lead.sentMs = this.nowMs;
    // Covey §12 lossy channels: retransmit to the processes that have not answered.
    switch (lead.kind) {
      case 'preaccept':
        lead.unasked = [];
        return this.sendToSilent(lead.replies, { type: 'PreAccept', id, cmd: inst.initCmd as Batch, dep: inst.initDep });
      case 'accept':
        return this.sendToSilent(lead.oks, { type: 'Accept', b: lead.b, id, cmd: inst.cmd!, dep: inst.dep });
      case 'recover':
        return this.sendToSilent(lead.oks, { type: 'Recover', b: lead.b, id });
      case 'validate':
        for (const r of lead.q) if (!lead.oks.has(r)) this.send(r, { type: 'Validate', b: lead.b, id, cmd: lead.cmd, dep: lead.dep });
        return;
      case 'waiting':
        return this.broadcastToOthers({ type: 'Waiting', id, k: lead.rmax });
    }
  }

  private sendToSilent(answered: { has(r: ReplicaId): boolean }, msg: Message): void {
    for (let r = 0; r < this.cfg.n; r++) if (r !== this.self && !answered.has(r)) this.send(r, msg);
  }

  /** Line 43–45: recover(id) at a ballot this replica owns above bal[id]. */
  /**
   * `askFirst`: a peer known to hold the id committed. The Recover goes to it alone (it answers
   * with the Commit); the others get it only if it stays silent, when the lead retransmits to every
   * silent peer after retransmitMs. A voter catching up on thousands of instances after a
   * partition sends one message per instance instead of n−1, and gets one Commit back instead of
   * up to n−1. Sending to fewer at first is what a lossy network may do anyway.
   */
  private startRecovery(id: InstanceId, askFirst?: ReplicaId): void {
    if (this.forgotten(id)) return;
    const inst = this.getOrCreate(id);
    if (inst.phase === 'COMMITTED') return;
    const b = nextBallot(inst.bal, this.self, this.cfg.n);
    if (ballotOwner(b, this.cfg.n, id) !== this.self) throw new Error(`assertion: ballot ${b} not owned by ${this.self}`);
    this.stats.recoveriesStarted++;
    this.leads.set(id, { kind: 'recover', b, sentMs: this.nowMs, oks: new Map() });
    if (askFirst === undefined || askFirst === this.self) return this.broadcast({ type: 'Recover', b, id });
    this.send(askFirst, { type: 'Recover', b, id });
    this.deliverToSelf({ type: 'Recover', b, id });
  }

  /** Randomised, growing recovery timeout: base·2^attempt, capped, plus up to half again. */
  private recoveryDelayMs(id: InstanceId, attempt: number): number {
    const base = Math.min(this.cfg.recoveryTimeoutMaxMs, this.cfg.recoveryTimeoutMs * 2 ** Math.min(attempt, 20));
    return base + (mix32(this.entropy, id) % (Math.floor(base / 2) + 1));
  }

  private trackPending(id: InstanceId): void {
    if (this.closedBy !== null) return; // rule 7: nothing of a closed epoch can take effect any more
    if (this.pending.has(id) || this.notNeeded(id)) return;
    if (this.instances.get(id)?.phase === 'COMMITTED') return;
    this.pending.set(id, { attempt: 0, deadlineMs: this.nowMs + this.firstRecoveryDelayMs(id) });
  }

  /**
   * A peer executed `id`, so it is committed there, and this replica missed its Commit (a cut, a
   * lost message): ask the others after learnFromOthersMs rather than the full recovery timeout —
   * they answer with the Commit, joining no ballot. After a long partition the former minority
   * learns the majority's instances this way; with the full timeout its first commands waited
   * seconds for them after the heal (issue 16).
   */
  private learnCommitted(id: InstanceId, holder: ReplicaId): void {
    if (!this.pending.has(id)) this.trackPending(id);
    const p = this.pending.get(id);
    if (p === undefined || p.attempt !== 0) return;
    p.deadlineMs = Math.min(p.deadlineMs, this.nowMs + this.cfg.learnFromOthersMs);
    p.holder = holder;
  }

  /**
   * Whether to leave the ids a peer's watermark names for the snapshot that peer sends (Covey state
   * transfer): this replica is at least catchUpBySnapshotIds behind it and has applied nothing it
   * has not, which is when the peer's farBehind holds. After a long partition, recovering every
   * missed id one by one was a storm of thousands of recoveries, answered and persisted one by one
   * on every voter, that held the whole swarm for seconds after the heal (issue 16), while the
   * snapshot that made them moot was on its way. Not for longer than two snapshot resend intervals:
   * a peer whose snapshot this replica cannot take (it refuses one that does not cover what it
   * applied above its prefix) is caught up with id by id after all.
   */
  private awaitsSnapshot(from: ReplicaId, peerExecuted: readonly number[]): boolean {
    const threshold = this.cfg.catchUpBySnapshotIds;
    // The peer's own test (farBehind), seen from here: below 0 it sends no snapshot at all.
    const behind = snapshotLag(peerExecuted, this.appliedPrefix);
    if (threshold === 0 || behind < threshold || this.sm.restoreSnapshot === undefined) {
      this.snapshotAwaitedSinceMs[from] = null;
      return false;
    }
    return this.stillAwaited(this.snapshotAwaitedSinceMs[from] ??= this.nowMs);
  }

  /** A snapshot awaited since `sinceMs` is still worth waiting for: two resend intervals at most. */
  private stillAwaited(sinceMs: number | null): boolean {
    return sinceMs !== null && this.nowMs - sinceMs < 2 * this.cfg.snapshotResendMs;
  }

  /**
   * Whether a peer's snapshot is due here: this replica is far behind it (awaitsSnapshot) and has
   * not waited two resend intervals yet. Ids it only heard of — in a dependency set, an execution
   * waiting on them, a watermark — are then not recovered one by one: after a 30 s split the former
   * minority learned ~2,000 of them from the Commits and answers that reached it first, before any
   * watermark, and recovered them all at once.
   */
  private snapshotDue(): boolean {
    return this.snapshotAwaitedSinceMs.some((since) => this.stillAwaited(since));
  }

  /** The first wait for an id: shorter when its coordinator is not reached (it cannot send the Commit). */
  private firstRecoveryDelayMs(id: InstanceId): number {
    const delay = this.recoveryDelayMs(id, 0);
    return this.unreachable.has(initCoord(id)) ? Math.min(delay, this.cfg.learnFromOthersMs) : delay;
  }

  /** The driver's 'reachable' hint (see Event): changes no state that is persisted or sent. */
  private setReachable(replicas: readonly ReplicaId[]): void {
    const reached = new Set(replicas);
    const before = this.unreachable;
    this.unreachable = new Set();
    for (let r = 0; r < this.cfg.n; r++) if (r !== this.self && !reached.has(r)) this.unreachable.add(r);
    // Ids of a coordinator that just became unreachable: ask the others soon, not at the full timeout.
    for (const [id, p] of this.pending) {
      const c = initCoord(id);
      if (p.attempt === 0 && this.unreachable.has(c) && !before.has(c)) p.deadlineMs = Math.min(p.deadlineMs, this.nowMs + this.cfg.learnFromOthersMs);
    }
    // Voters heard again (a heal): what waited on them need not wait out its backoff. Leads
    // retransmit at the next tick, and recoveries backed off while they were silent (up to
    // recoveryTimeoutMaxMs) start soon. Both may happen at any time anyway (lossy channels, §9).
    let returned = false;
    for (const r of before) if (!this.unreachable.has(r)) returned = true;
    if (returned) {
      for (const lead of this.leads.values()) lead.sentMs = Math.min(lead.sentMs, this.nowMs - this.cfg.retransmitMs);
      for (const p of this.pending.values()) {
        if (p.attempt > 0) p.deadlineMs = Math.min(p.deadlineMs, this.nowMs + this.cfg.learnFromOthersMs);
      }
    }
    // Own proposals waiting for answers that now cannot come: decide them now.
    for (const [id, lead] of [...this.leads]) {
      if (lead.kind !== 'preaccept') continue;
      const inst = this.instances.get(id);
      if (inst !== undefined && inst.bal === 0 && inst.phase === 'PREACCEPTED') this.decidePreAccept(inst, lead, false);
    }
  }

  private exchangeWatermarks(): void {
    this.raiseProposalFloor();
    // The index forgets several exchanges behind what proposals use, so a PreAccept made with an
    // older floor than ours (the coordinator heard fewer reports) still finds every id it asks
    // about: line 16 stays exact and the answer matches the fast path. Counted in exchanges, not in
    // busy reports, so the lag stays indexLagExchanges × watermarkEveryTicks ticks however busy.
    this.floorHistory.push(this.proposalFloor);
    if (this.floorHistory.length > this.cfg.indexLagExchanges) this.index.prune(this.floorHistory.shift()!);
    this.reportWatermark();
    if (this.closedBy !== null) {
      // A peer that missed the change may never see it in a watermark: the change can sit above
      // gaps in its coordinator's seqs (ids skipped at a restart) that nobody recovers once the
      // epoch is closed. So the change's Commit goes along, until the driver retires the epoch;
      // the peer recovers its dependencies from there (every one is committed here).
      const c = this.instances.get(this.closedBy)!;
      this.broadcastToOthers({ type: 'Commit', b: c.abal, id: c.id, cmd: c.cmd!, dep: c.dep });
    }
  }

  /**
   * The floor proposals carry: everything at or below it is applied by every voter. It is the
   * element-wise minimum of the reports, raised to the floors peers relayed: a voter this replica
   * does not hear (a one-way cut) sends it no reports, and its last one would hold the floor back
   * for good — and with it every proposal, whose floor the others' indexes stop covering (the slow
   * path on every instance; floor-relay.test.ts). A relayed floor is capped by this replica's own
   * prefix, which a floor never passes (it was reported to the peer, and a prefix only grows).
   */
  private raiseProposalFloor(): void {
    const n = this.cfg.n;
    const global = [...this.appliedPrefix];
    for (let r = 0; r < n; r++) {
      if (r === this.self) continue;
      for (let c = 0; c < n; c++) global[c] = Math.min(global[c], this.peerPrefix[r][c]);
    }
    for (let c = 0; c < n; c++) global[c] = Math.max(global[c], Math.min(this.relayedFloor[c], this.appliedPrefix[c]));
    if (!floorAtLeast(this.proposalFloor, global)) this.proposalFloor = maxFloor(this.proposalFloor, global);
    this.floorReportsNew = false;
  }

  /** This replica's applied prefix (and the floor it proposes with) to every peer. */
  private reportWatermark(): void {
    const executed = [...this.appliedPrefix];
    this.broadcastToOthers({ type: 'Watermark', executed, floor: [...this.proposalFloor] });
    this.prefixReported = executed;
    this.reportedAtTick = this.ticks;
  }

  /**
   * Whether a busy report is due between exchanges (ReplicaOptions.watermarkBusyEveryTicks): the
   * applied prefix moved since the last report, and that left at least the busy period ago.
   */
  private busyReportDue(): boolean {
    const every = this.cfg.watermarkBusyEveryTicks;
    return every < this.cfg.watermarkEveryTicks && this.ticks - this.reportedAtTick >= every && !arraysEqual(this.appliedPrefix, this.prefixReported);
  }

  // ---- snapshots, truncation and state transfer (Covey) --------------------------------------

  /**
   * An id not held here whose effect this replica already has (forgotten, or covered by an installed
   * snapshot) needs no recovery. One held uncommitted is still recovered, to learn its Commit: its
   * votes here must stay as they are.
   */
  private notNeeded(id: InstanceId): boolean {
    return this.forgotten(id) || (this.executor.isApplied(id) && !this.instances.has(id));
  }

  /** Is `id` at or below the truncation floor (applied by every voter, forgotten here)? */
  private forgotten(id: InstanceId): boolean {
    return belowFloor(id, this.truncated);
  }

  /**
   * Snapshot the state machine and forget the instances every voter has applied. What is forgotten
   * is bounded by the conflict index's floor, which lags the floor proposals carry: the index has
   * already let go of those ids, so every question about them (lines 10, 16, 81–87) is already
   * answered through a raised floor, and deleting the instances changes no answer the index gives.
   */
  private takeSnapshot(): void {
    const snapshot = this.sm.snapshot;
    if (snapshot === undefined || this.sm.restoreSnapshot === undefined) return;
    const prefix = this.appliedPrefix;
    const cap = this.index.floor.map((f, c) => Math.min(f, prefix[c]));
    // Keep every id a held, undecided proposal's D does not cover: should it be recovered, this
    // replica may be the member of Rmax whose Validate answer must still list them (lines 57–66).
    for (const inst of this.instances.values()) {
      if (inst.phase === 'COMMITTED' || inst.initCmd === null) continue;
      const f = inst.initDep.floor;
      for (let c = 0; c < cap.length; c++) if (f[c] < cap[c]) cap[c] = f[c];
    }
    const to = cap.map((x, c) => Math.max(this.truncated[c], x));
    this.forgetBelow(to);
    this.logRecords.push({
      kind: 'snapshot',
      snapshot: { machine: snapshot.call(this.sm), applied: [...prefix], appliedAbove: this.executor.appliedAbove(), truncated: this.truncated },
    });
    this.appliedSinceSnapshot = 0;
    this.stats.snapshots++;
  }

  /** Raise the truncation floor to `to` and drop every instance (and its bookkeeping) at or below it. */
  private forgetBelow(to: readonly number[]): void {
    if (floorAtLeast(this.truncated, to)) return;
    this.truncated = maxFloor(this.truncated, to);
    for (const id of this.instances.keys()) {
      if (!this.forgotten(id)) continue;
      this.instances.delete(id);
      this.dirty.delete(id); // the snapshot record drops its stored record anyway
      this.pending.delete(id);
      this.leads.delete(id);
      this.waitingLeads.delete(id);
      this.heldChanges.delete(id);
      this.stats.truncatedInstances++;
    }
    for (const id of this.waitingK.keys()) if (this.forgotten(id)) this.waitingK.delete(id);
    // The index must never answer above a floor whose instances are gone; proposals start there.
    this.index.prune(this.truncated);
    if (!floorAtLeast(this.proposalFloor, this.truncated)) this.proposalFloor = maxFloor(this.proposalFloor, this.truncated);
  }

  /** Own seqs covered by what is applied were allocated before (perhaps before a lost disk). */
  private bumpNextSeq(): void {
    this.nextSeq = Math.max(this.nextSeq, this.appliedPrefix[this.self] + 1);
    for (const id of this.executor.appliedAbove()) if (initCoord(id) === this.self) this.nextSeq = Math.max(this.nextSeq, instanceSeq(id) + 1);
  }

  /**
   * Is a peer that reports `executed` at least catchUpBySnapshotIds behind what is applied here?
   * Safe to act on at any lag: the receiver installs a snapshot only if it covers everything it
   * applied (onSnapshot), and ids it never voted for are, to every quorum, ids it never heard of.
   */
  private farBehind(from: ReplicaId, executed: readonly number[]): boolean {
    const threshold = this.cfg.catchUpBySnapshotIds;
    if (threshold === 0) return false;
    const lag = snapshotLag(this.appliedPrefix, executed);
    // The peer applied ids this replica has not: it would refuse the snapshot (onSnapshot), so do
    // not spend the snapshotResendMs allowance on it; it catches up instance by instance meanwhile.
    if (lag < 0) { this.peerLag[from] = 0; return false; }
    // A peer whose lag shrank since its last watermark is catching up by itself — after a heal, a
    // voter of the majority applying what waited on the minority's instances — and a snapshot would
    // only make it replace a state it is about to reach (issue 16: every voter sent every other one
    // snapshots for seconds after a heal). One whose lag stays or grows (cut off, stalled, slower
    // than the swarm) gets one.
    const shrinking = lag < this.peerLag[from];
    this.peerLag[from] = lag;
    return lag >= threshold && !shrinking;
  }

  /**
   * State transfer, sending side: at most once per snapshotResendMs per peer, unless the peer's
   * watermark shows an id the last one did not cover, so that it certainly refused it (onSnapshot):
   * a restarted voter reports the own seqs it skipped, which a snapshot sent just before lacked.
   */
  private sendSnapshot(to: ReplicaId, executed: readonly number[]): void {
    const snapshot = this.sm.snapshot;
    if (snapshot === undefined || to === this.self || this.closedBy !== null) return;
    const last = this.snapshotSentApplied[to];
    const refused = last !== null && executed.some((x, c) => x > last[c]);
    if (!refused && this.nowMs - this.snapshotSentMs[to] < this.cfg.snapshotResendMs) return;
    this.snapshotSentMs[to] = this.nowMs;
    this.snapshotSentApplied[to] = [...this.appliedPrefix];
    this.stats.snapshotsSent++;
    this.snapshots.push({
      from: this.self, to, peerExecuted: [...executed],
      msg: { type: 'Snapshot', machine: snapshot.call(this.sm), applied: [...this.appliedPrefix], appliedAbove: this.executor.appliedAbove(), truncated: this.truncated },
    });
  }

  /**
   * State transfer, receiving side. A snapshot is installed only if it covers everything applied
   * here and more: the state machine is replaced, so an id applied here and not in the snapshot
   * would lose its effect. It is persisted (a snapshot record) before anything it enables leaves.
   */
  private onSnapshot(m: SnapshotMessage): void {
    if (this.sm.restoreSnapshot === undefined || this.closedBy !== null) return;
    const n = this.cfg.n, prefix = this.appliedPrefix;
    const above = new Set(m.appliedAbove);
    const covers = (id: InstanceId): boolean => instanceSeq(id) <= m.applied[initCoord(id)] || above.has(id);
    let more = false;
    for (let c = 0; c < n; c++) {
      if (m.applied[c] > prefix[c]) more = true;
      if (prefix[c] - m.applied[c] > above.size) return; // cannot cover this replica's prefix
      for (let s = m.applied[c] + 1; s <= prefix[c]; s++) if (!above.has(instanceId(s, c))) return;
    }
    for (const id of this.executor.appliedAbove()) if (!covers(id)) return;
    for (const id of m.appliedAbove) if (!this.executor.isApplied(id)) more = true;
    if (!more) return;
    try {
      this.sm.restoreSnapshot(m.machine);
    } catch {
      return; // malformed state: ignore it (the state machine changed nothing)
    }
    this.executor.install(m.applied, m.appliedAbove);
    this.forgetBelow(m.truncated);
    this.bumpNextSeq();
    this.logRecords.push({
      kind: 'snapshot',
      snapshot: { machine: m.machine, applied: [...this.appliedPrefix], appliedAbove: this.executor.appliedAbove(), truncated: this.truncated },
    });
    this.appliedSinceSnapshot = 0;
    this.stats.snapshotsInstalled++;
    this.snapshotAwaitedSinceMs.fill(null); // the next watermarks say whether another is due
    // Own proposals the snapshot covers may or may not have taken effect (recovery may have made
    // them Nop); propose their commands again: request ids make a repeat take effect once.
    for (const [id, own] of [...this.ownProposals]) {
      if (!this.executor.isApplied(id)) continue;
      this.forgetOwn(id);
      this.queue.unshift(...own.commands);
    }
    for (const id of [...this.pending.keys()]) if (this.notNeeded(id)) this.pending.delete(id);
    for (const inst of this.instances.values()) if (inst.phase === 'COMMITTED' && !this.executor.isApplied(inst.id)) this.execute(inst.id);
    this.flushExecution();
    this.recheckWaiting();
    this.proposeQueued();
  }

  // ---- execution (§7) -----------------------------------------------------------------------

  private onCommitted(inst: Instance): void {
    const own = this.ownProposals.get(inst.id);
    if (own !== undefined && inst.cmd === NOP) {
      // Covey: recovery replaced our command by Nop; propose it again. The client request ids make
      // the second proposal take effect once even if the first had been executed elsewhere.
      this.forgetOwn(inst.id);
      this.queue.unshift(...own.commands);
    }
    this.execute(inst.id);
    this.recheckWaiting();
    this.proposeQueued();
  }

  private execute(id: InstanceId): void {
    if (this.closedBy !== null) return; // rule 4: nothing of this epoch executes after its change
    this.applyInOrder(this.executor.onCommit(id));
  }

  /** Resolve execution deferred behind cycles and out-of-order commits (once per tick). */
  private flushExecution(): void {
    if (!this.executor.hasDeferred || this.closedBy !== null) return;
    this.applyInOrder(this.executor.flush());
    this.recheckWaiting();
    this.proposeQueued();
  }

  private applyInOrder(order: readonly InstanceId[]): void {
    for (const ready of order) {
      const inst = this.instances.get(ready)!;
      const own = this.ownProposals.get(ready);
      if (this.closedBy !== null) {
        // Rule 4: every command of the epoch with an effect is in the change's dependencies, so
        // executed before it; after it come only Nops and changes that lost the race (rule 8: void,
        // their clients were handed on with the close). Diverging would be worse than stopping.
        // Counted (RC1 reports it), not applied: like a contradicting Commit (INV1), it is for the
        // checkers to show, and no replica applies it, so they stay alike.
        if (inst.cmd !== NOP && !isChange(inst.cmd)) this.stats.epochViolations++;
        continue; // not applied, not logged: the epoch is over here
      }
      if (inst.cmd !== NOP) {
        const commands = (inst.cmd as Batch).commands;
        const results: CommandResult[] = new Array(commands.length);
        for (let i = 0; i < commands.length; i++) {
          const command = commands[i];
          const result = (results[i] = this.sm.apply(command));
          if (own !== undefined) this.replies.push({ clientId: command.clientId, requestId: command.requestId, result });
          if (command.op === 'voters.change' && result.ok) this.closeAfterApplying(ready, command);
        }
        this.executed.push({ id: ready, commands, results });
      }
      this.forgetOwn(ready);
      this.logRecords.push({ kind: 'applied', id: ready });
      this.appliedSinceSnapshot++;
      this.stats.applied++;
    }
  }

  // ---- plumbing -----------------------------------------------------------------------------

  private getOrCreate(id: InstanceId): Instance {
    let inst = this.instances.get(id);
    if (inst === undefined) {
      const none = this.noDeps;
      inst = { id, bal: 0, abal: 0, phase: 'INITIAL', cmd: null, dep: none, initCmd: null, initDep: none };
      this.instances.set(id, inst);
    }
    return inst;
  }

  private markDirty(inst: Instance): void {
    // Every change that is persisted passes here: the record must be one load() would take.
    assert(inst.abal <= inst.bal, () => `INV3: instance ${inst.id} has abal ${inst.abal} above bal ${inst.bal}`);
    assert(inst.cmd !== null || (inst.phase !== 'ACCEPTED' && inst.phase !== 'COMMITTED'), () => `instance ${inst.id} is ${inst.phase} without a command`);
    this.noteHeldChange(inst);
    this.dirty.set(inst.id, inst);
  }

  // ---- reconfiguration (docs/reconfiguration.md) -------------------------------------------

  /**
   * Rule 3: a record holding a voters.change seals this replica, in the same group commit; a change
   * committed as Nop can never take effect, so it no longer seals.
   */
  private noteHeldChange(inst: Readonly<Instance>): void {
    if (!this.sealsOnHolding()) return;
    const holds = isChange(inst.cmd) || isChange(inst.initCmd);
    if (holds && !(inst.phase === 'COMMITTED' && inst.cmd === NOP)) this.heldChanges.add(inst.id);
    else this.heldChanges.delete(inst.id);
  }

  /** Rule 3: a PreAccept of `id` would be a first report made while holding a change other than `id`. */
  private refusesNewReport(id: InstanceId): boolean {
    if (this.closedBy !== null) return true;
    for (const c of this.heldChanges) if (c !== id) return true;
    return false;
  }

  /** The change that closed this epoch here, or null (status, tests). */
  closedByChange(): InstanceId | null {
    return this.closedBy;
  }

  /** Is this replica sealed by a change it holds (or closed)? (status, tests) */
  isSealed(): boolean {
    return this.sealed;
  }

  /**
   * Rules 4 and 5, in the turn that executes the change: the epoch is over here. Commands of this
   * replica's clients that did not execute before it never take effect in this epoch (they are not
   * in the change's dependencies, so they commit as Nop or never): they go to the next epoch.
   */
  private closeAfterApplying(id: InstanceId, command: Command): void {
    const requeue: Command[] = [];
    for (const [own, batch] of this.ownProposals) if (own !== id && !this.executor.isApplied(own)) requeue.push(...batch.commands);
    requeue.push(...this.queue);
    this.queue.length = 0;
    this.close(id, command, requeue);
  }

  private close(id: InstanceId, command: Command, requeue: Command[]): void {
    assert(this.closedBy === null, () => `epoch ${this.cfg.epoch} closed twice: by ${formatId(this.closedBy!)} and ${formatId(id)}`);
    this.closedBy = id;
    const snapshot = this.sm.snapshot;
    this.closeReady = { change: id, command, machine: snapshot === undefined ? null : snapshot.call(this.sm), requeue };
    for (const own of this.ownProposals.keys()) if (own !== id) this.forgetOwn(own);
    this.pending.clear();
    // Others finish or recover what is left of the epoch (rule 7); this replica still answers them.
    this.leads.clear();
    this.waitingLeads.clear();
  }

  /**
   * "Send to all" includes the sender, which applies its own handler at once (PROTOCOL.md §4).
   * `early`: the message may leave before this turn's records are durable (Ready.early).
   */
  private broadcast(msg: Message, early = false): void {
    this.broadcastToOthers(msg, early);
    this.deliverToSelf(msg);
  }

  // ---- seams for the model checker's test-only variants (sim/check/model/variants.ts) ------
  // The methods below exist only so that a subclass can reintroduce a known bug and the model
  // checker can be shown to catch it. The real core never overrides them; keep them trivial.

  /** A message this replica sends itself is applied at once (PROTOCOL.md §4). */
  protected deliverToSelf(msg: Message): void {
    this.receive(this.self, msg);
  }

  /**
   * The ballot a RecoverOK reports for recovery to judge by: abal, the last ballot voted in
   * (lines 52–55). `balBefore` is the ballot joined before this Recover, what an implementation
   * with a single ballot variable would report (§10 pitfall 1).
   */
  protected reportedBallot(inst: Readonly<Instance>, balBefore: Ballot): Ballot {
    void balBefore;
    return inst.abal;
  }

  /** This replica's own vote, handed back by the driver once the turn that cast it is durable. */
  protected deferOwnVote(msg: Message): void {
    this.messages.push({ from: this.self, to: this.self, msg });
  }

  /** Whether this turn already has a message for another replica that waits for the sync. */
  private sendsToPeersAfterSync(): boolean {
    for (const e of this.messages) if (e.to !== this.self) return true;
    return false;
  }

  /** Whether holding a voters.change seals this replica (rule 3): always. */
  protected sealsOnHolding(): boolean {
    return true;
  }

  /** Whether the coordinator's own fast commit may leave before its records are durable: never. */
  protected fastCommitLeavesEarly(): boolean {
    return false;
  }

  private broadcastToOthers(msg: Message, early = false): void {
    const out = early ? this.early : this.messages;
    for (let r = 0; r < this.cfg.n; r++) if (r !== this.self) out.push({ from: this.self, to: r, msg });
  }

  /** `msg` to each of `peers` (never this replica), early or after the turn's sync. */
  private sendToPeers(peers: readonly ReplicaId[], msg: Message, early: boolean): void {
    const out = early ? this.early : this.messages;
    for (const r of peers) out.push({ from: this.self, to: r, msg });
  }

  /**
   * A message to one process. To itself: a request's handler runs at once (§4), but a vote
   * (PreAcceptOK, AcceptOK, RecoverOK, ValidateOK) waits in `messages` until the turn's records are
   * durable — the driver hands it back then — so a decision counts this replica's vote only once
   * it survives a crash (Covey §12, "Votes count once durable").
   */
  private send(to: ReplicaId, msg: Message): void {
    if (to !== this.self) this.messages.push({ from: this.self, to, msg });
    else if (isVote(msg)) this.deferOwnVote(msg);
    else this.deliverToSelf(msg);
  }
}

/**
 * How many ids `ahead` applied that `behind` has not, summed over coordinators (contiguous applied
 * prefixes); -1 when `behind` applied one `ahead` has not, so it would refuse `ahead`'s snapshot.
 */
function snapshotLag(ahead: readonly number[], behind: readonly number[]): number {
  let lag = 0;
  for (let c = 0; c < ahead.length; c++) {
    if (behind[c] > ahead[c]) return -1;
    lag += ahead[c] - behind[c];
  }
  return lag;
}

/** The replies that are votes: a decision may count them only once the voter's state is durable. */
function isVote(msg: Message): boolean {
  return msg.type === 'PreAcceptOK' || msg.type === 'AcceptOK' || msg.type === 'RecoverOK' || msg.type === 'ValidateOK';
}

/** Does the payload carry a voters.change? (It then travels alone: validate.ts, batchTake.) */
function isChange(p: Payload | null): boolean {
  return p !== null && p !== NOP && conflictsWithEverything(p);
}

function recordOf(inst: Instance): InstanceRecord {
  return { id: inst.id, bal: inst.bal, abal: inst.abal, phase: inst.phase, cmd: inst.cmd, dep: inst.dep, initCmd: inst.initCmd, initDep: inst.initDep };
}

/** The empty list every Ready field holds when its turn produced none of it: shared, so frozen. */
const none = Object.freeze([]) as unknown as never[];
/** A turn that produced nothing and asks for no tick. */
const quietReady: Ready = Object.freeze({ persist: none, early: none, messages: none, snapshots: none, executed: none, replies: none, tickMs: null, closed: null });

/** The list itself for a Ready when it holds something (the replica then starts a new one), else `none`. */
function handOut<T>(xs: T[]): T[] {
  return xs.length === 0 ? none : xs;
}

/** A 32-bit mix of the driver's entropy and an id: jitter without a random source. */
function mix32(entropy: number, id: number): number {
  let h = (entropy ^ (id >>> 0) ^ Math.floor(id / 4294967296)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** An upper estimate of a command's encoded size: its strings' UTF-16 lengths ×3 plus overhead. */
function commandBytes(c: Command): number {
  let n = 64; // field tags, lengths and numbers; every string (clientId too) is counted below
  for (const v of Object.values(c)) if (typeof v === 'string') n += v.length * 3;
  return n;
}
