// The EPaxos* replica's data: instance state (PROTOCOL.md §3), payloads, dependency sets, wire
// messages (§4), the events a driver feeds in and the effects (`Ready`) it gets back.

import type { Ballot, InstanceId, ReplicaId } from './ids.ts';
import type { Command, CommandResult } from '../statemachine/commands.ts';

export type Phase = 'INITIAL' | 'PREACCEPTED' | 'ACCEPTED' | 'COMMITTED';

/** A batch of client commands (§12: a payload is a batch), executed as one unit in order. */
export interface Batch {
  readonly commands: readonly Command[];
}
/** Recovery's placeholder for a command it gave up on; never executed (§2). */
export const NOP = 'NOP' as const;
export type Nop = typeof NOP;
export type Payload = Batch | Nop;

/**
 * A dependency set. `ids` are explicit; `floor[c]` says "and every conflicting id of coordinator c
 * with seq ≤ floor[c]". Those ids were executed by every voter when the set was made (§12,
 * bounded dependencies), so naming them is unnecessary. Canonical form: `ids` is sorted
 * ascending, holds no id at or below the floor, and `floor.length === n`.
 */
export interface Deps {
  readonly ids: readonly InstanceId[];
  readonly floor: readonly number[];
}

/** Per-process, per-identifier state (§3). `null` payload is ⊥. */
export interface Instance {
  readonly id: InstanceId;
  bal: Ballot;
  abal: Ballot;
  phase: Phase;
  cmd: Payload | null;
  dep: Deps;
  initCmd: Payload | null;
  initDep: Deps;
}

export type InstanceRecord = Readonly<Instance>;

// ---- messages (§4) -------------------------------------------------------------------------

export interface PreAccept { readonly type: 'PreAccept'; readonly id: InstanceId; readonly cmd: Batch; readonly dep: Deps }
export interface PreAcceptOK { readonly type: 'PreAcceptOK'; readonly id: InstanceId; readonly dep: Deps }
export interface Accept { readonly type: 'Accept'; readonly b: Ballot; readonly id: InstanceId; readonly cmd: Payload; readonly dep: Deps }
export interface AcceptOK { readonly type: 'AcceptOK'; readonly b: Ballot; readonly id: InstanceId }
export interface Commit { readonly type: 'Commit'; readonly b: Ballot; readonly id: InstanceId; readonly cmd: Payload; readonly dep: Deps }
export interface Recover { readonly type: 'Recover'; readonly b: Ballot; readonly id: InstanceId }
export interface RecoverOK {
  readonly type: 'RecoverOK'; readonly b: Ballot; readonly id: InstanceId;
  readonly abal: Ballot; readonly cmd: Payload | null; readonly dep: Deps; readonly initDep: Deps; readonly phase: Phase;
}
export interface Validate { readonly type: 'Validate'; readonly b: Ballot; readonly id: InstanceId; readonly cmd: Batch; readonly dep: Deps }
export interface ValidateOK { readonly type: 'ValidateOK'; readonly b: Ballot; readonly id: InstanceId; readonly I: readonly (readonly [InstanceId, Phase])[] }
export interface Waiting { readonly type: 'Waiting'; readonly id: InstanceId; readonly k: number }
/** Covey §12: a voter's executed watermark, seq per coordinator, for bounded dependencies. */
/**
 * Covey §12: the sender's applied prefix, and the floor its proposals carry (absent from agents
 * before 2026-12-07): the floor lets a voter that does not hear some other voter still follow
 * what every voter has applied.
 */
export interface Watermark { readonly type: 'Watermark'; readonly executed: readonly number[]; readonly floor?: readonly number[] }

export type Message =
  | PreAccept | PreAcceptOK | Accept | AcceptOK | Commit
  | Recover | RecoverOK | Validate | ValidateOK | Waiting | Watermark;

/**
 * Covey state transfer: a snapshot of the sender's state machine and what it covers, sent to a voter
 * whose watermark shows it has not applied instances the sender has already forgotten. It travels
 * beside the protocol's messages (`Ready.snapshots`, the `snapshot` event), not in `Message`: it is
 * large, rare, and no part of the paper's protocol, so drivers that never truncate (the model
 * checker) need not know it.
 */
export interface SnapshotMessage extends ReplicaSnapshot { readonly type: 'Snapshot' }

export interface SnapshotEnvelope {
  readonly from: ReplicaId;
  readonly to: ReplicaId;
  readonly msg: SnapshotMessage;
  /** The peer's executed watermark that made this replica send it (for the driver's logs). */
  readonly peerExecuted: readonly number[];
}

export type MessageType = Message['type'];

export interface Envelope {
  readonly from: ReplicaId;
  readonly to: ReplicaId;
  readonly msg: Message;
}

// ---- events in ------------------------------------------------------------------------------

export type Event =
  /** A message from a peer, already validated (see validate.ts). */
  | { readonly type: 'message'; readonly from: ReplicaId; readonly msg: Message }
  /** A client submits a command at this replica. */
  | { readonly type: 'submit'; readonly command: Command }
  /**
   * The periodic tick timer fired. `nowMs` is the driver's clock (virtual in the simulator);
   * `entropy` is a random 32-bit integer the driver drew, so the core can jitter recovery
   * timeouts without a random source of its own.
   */
  | { readonly type: 'tick'; readonly nowMs: number; readonly entropy: number }
  /**
   * Recover `id` now (line 43) instead of waiting for its timeout: membership reports its
   * coordinator dead and execution is blocked on it (§12 recovery policy), or a test says so.
   */
  | { readonly type: 'recover'; readonly id: InstanceId }
  /**
   * The driver's view of which peers answer now (its link health, membership): a hint that never
   * bears on safety. The coordinator goes to the slow path at once when the fast quorum can only be
   * made of peers it does not reach, and an instance whose coordinator it does not reach is asked of
   * the others after `learnFromOthersMs` instead of the full recovery timeout (the coordinator
   * cannot send it the Commit). Until the first such event every peer counts as reachable.
   */
  | { readonly type: 'reachable'; readonly replicas: readonly ReplicaId[] }
  /** A state-transfer snapshot from a peer, already validated (validateSnapshotMessage). */
  | { readonly type: 'snapshot'; readonly from: ReplicaId; readonly msg: SnapshotMessage }
  /**
   * The client of a submitted command stopped waiting (the driver's deadline passed). If the
   * command is still queued, not yet proposed, it is dropped: it never takes effect, which the
   * deadline's answer allowed ("may still take effect"). One already proposed is left alone.
   */
  | { readonly type: 'withdraw'; readonly clientId: string; readonly requestId: number };

// ---- effects out ----------------------------------------------------------------------------

/**
 * A state-machine snapshot and exactly which instances it covers (Covey: snapshots and truncation).
 * The machine state is the result of applying, in this replica's execution order, every id with
 * seq ≤ applied[initCoord(id)] plus the ids in `appliedAbove`, and nothing else. `truncated` (at
 * or below `applied`, per coordinator) says which instances the replica has forgotten: every voter
 * had applied them.
 */
export interface ReplicaSnapshot {
  /** The state machine's own snapshot (CoveyStateMachine: a MachineSnapshot), plain JSON data. */
  readonly machine: unknown;
  readonly applied: readonly number[];
  /** Applied ids above `applied`, ascending. */
  readonly appliedAbove: readonly InstanceId[];
  readonly truncated: readonly number[];
}

export type PersistRecord =
  | { readonly kind: 'instance'; readonly instance: InstanceRecord }
  /** The execution log: this replica applied `id` (executed it, or skipped it as a Nop). */
  | { readonly kind: 'applied'; readonly id: InstanceId }
  /**
   * A snapshot replaces the stored one. Storage then forgets every execution-log entry before it
   * (the snapshot covers them) and every instance record at or below `truncated` — in the same
   * all-or-nothing group commit. Records after it in the same append come after it.
   */
  | { readonly kind: 'snapshot'; readonly snapshot: ReplicaSnapshot };

/**
 * The record a replica of a new epoch's group starts from (docs/reconfiguration.md, rule 6): the
 * state machine at the change that opened the epoch, and nothing of the new group applied yet.
 */
export function epochBaseRecord(n: number, machine: unknown): PersistRecord {
  const zeros = new Array<number>(n).fill(0);
  return { kind: 'snapshot', snapshot: { machine, applied: zeros, appliedAbove: [], truncated: zeros } };
}

/** One applied instance: its batch and each command's result, in execution order. */
export interface ExecutedBatch {
  readonly id: InstanceId;
  readonly commands: readonly Command[];
  readonly results: readonly CommandResult[];
}

export interface ClientReply {
  readonly clientId: string;
  readonly requestId: number;
  readonly result: CommandResult;
}

/**
 * This replica executed the `voters.change` that closes its epoch (docs/reconfiguration.md rules
 * 4 and 5): nothing of this epoch takes effect after it. The driver starts the next epoch's group
 * from `machine` (the state machine right after the change) once `persist` is durable, and proposes
 * `requeue` there: the commands of this replica's clients that had not taken effect in this epoch
 * and never will (own proposals not executed before the change, and the queue).
 */
export interface EpochClose {
  readonly change: InstanceId;
  /** The executed change: the next epoch's number (`epoch + 1`) and voters (`voters`). */
  readonly command: Command;
  /** The state machine's snapshot right after the change; null when it has no snapshots. */
  readonly machine: unknown;
  readonly requeue: readonly Command[];
}

/**
 * What one or more steps produced, in the order the driver must honour it (etcd raft's Ready,
 * with its asynchronous storage writes):
 * 0. `early` may be sent at once, before `persist` is durable: it exposes nothing `persist` holds
 *    (PROTOCOL.md §12, "Votes count once durable") — the coordinator's own proposals at ballot 0
 *    (PreAccept, Accept at b = 0) and Commits of values chosen by durable votes.
 * 1. make `persist` durable (one group commit),
 * 2. then send `messages` and `snapshots` — they may expose the state just persisted. A message
 *    in `messages` addressed to the replica itself is its own vote (PreAcceptOK, AcceptOK,
 *    RecoverOK, ValidateOK): the driver hands it back as a `message` event from itself, which is
 *    how the replica learns that its vote is durable and may count it.
 * 3. then deliver `replies` to clients and hand `executed` to observers.
 * Turns are durable in order: a driver that pipelines turns releases steps 2 and 3 of a turn only
 * after every earlier turn's `persist` is durable too.
 * `tickMs`, when set, asks for the next tick event after that many milliseconds.
 */
export interface Ready {
  readonly persist: PersistRecord[];
  /** Sent before `persist` is durable (see above). Never addressed to the replica itself. */
  readonly early: Envelope[];
  readonly messages: Envelope[];
  /** State-transfer snapshots to send, like `messages` (after `persist` is durable). */
  readonly snapshots: SnapshotEnvelope[];
  readonly executed: ExecutedBatch[];
  readonly replies: ClientReply[];
  readonly tickMs: number | null;
  /** Set once: the turn in which this replica executed the change that closes its epoch. */
  readonly closed: EpochClose | null;
}

/** What a restarting replica is given back from its storage. */
export interface StoredState {
  readonly instances: readonly InstanceRecord[];
  /** The execution log since the snapshot (or since the start), in the order the ids were applied. */
  readonly applied: readonly InstanceId[];
  /** The latest snapshot; absent when none was taken. Restore starts from it. */
  readonly snapshot?: ReplicaSnapshot;
}
