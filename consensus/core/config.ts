// Replica configuration: quorum parameters plus the limits and timeouts of PROTOCOL.md §9/§12.
// Every limit is a named constant with its unit (STYLE.md).

import { quorums, type Quorums } from './quorum.ts';
import { batchCommandsMax } from './validate.ts';

export interface ReplicaOptions {
  readonly self: number;
  /**
   * The epoch of this consensus group (docs/reconfiguration.md; default 0, the config's voters).
   * A `voters.change` is proposed and accepted only in the group of the epoch it names.
   */
  readonly epoch?: number;
  readonly n: number;
  readonly f: number;
  readonly e: number;
  /** Most client commands in one payload (§12 batching). 1 disables batching. */
  readonly batchCommandsMax?: number;
  /**
   * Most bytes (estimated) of commands in one payload, so a payload fits in one network frame
   * (transports/wire: 4 MiB). A single larger command still goes alone.
   */
  readonly batchBytesMax?: number;
  /**
   * Own instances in flight before new commands wait to be batched (adaptive batch size). Default
   * 1: on the real path each instance costs far more (messages, syncs) than each command in it,
   * so commands that wait for the one in flight and leave together in the next are cheaper than
   * more instances in parallel (bench:vs-etcd put, docs/benchmarks.md: 64 clients 2.3×, 256
   * clients 2.2× the throughput of 4), and a lone command never waits.
   */
  readonly pipelineInstancesMax?: number;
  /** Most commands queued for batching; beyond it a submit is refused with an error (back-pressure). */
  readonly submitQueueCommandsMax?: number;
  /**
   * Own proposals whose PreAccept may be out on the network while this replica's record of them is
   * not yet known durable (PROTOCOL.md §12, "Votes count once durable"). A restart skips this many
   * seqs after the last own id it finds on disk, and recovers them, so no id is ever proposed twice.
   * It must never be lowered across a restart of the same data directory: the agent keeps the
   * default; the model checker lowers it for a smaller state space.
   */
  readonly earlyProposalsMax?: number;
  /** How often the driver should tick the replica. */
  readonly tickMs?: number;
  /** How long the coordinator waits for a fast quorum of matching answers before the slow path. */
  readonly fastPathTimeoutMs?: number;
  /**
   * Send a proposal's PreAccept first to just enough heard peers for a fast quorum (EPaxos's
   * thrifty choice), the others only if one of them is silent past fastPathTimeoutMs. Default on.
   */
  readonly thriftyPreAccept?: boolean;
  /** How long a coordinator or recoverer waits for answers before retransmitting. */
  readonly retransmitMs?: number;
  /** First recovery timeout for a pending id; doubles per attempt up to the max (§9, §12). */
  readonly recoveryTimeoutMs?: number;
  readonly recoveryTimeoutMaxMs?: number;
  /**
   * How long an instance whose coordinator this replica does not reach (the 'reachable' event) may
   * stay uncommitted here before it is asked of the others by recovery, which they answer with the
   * Commit when they hold it. Short, because the coordinator cannot send it; not zero, so that an
   * instance still in flight is rarely pre-empted.
   */
  readonly learnFromOthersMs?: number;
  /** Send the executed watermark every this many ticks (§12 bounded dependencies). */
  readonly watermarkEveryTicks?: number;
  /**
   * While this replica's applied prefix moves, send its watermark every this many ticks instead
   * (default 2; at or above watermarkEveryTicks, never sooner than that). Proposals name every
   * conflicting id above the floor the reports make, so on a busy swarm the floor's lag sets how
   * long dependency sets are: a lone client's commands all conflict through its session, and at
   * 100 ms a report each listed about 30 ids (docs/benchmarks.md). An idle replica's prefix does
   * not move, so it keeps the slow exchange and sends nothing more.
   */
  readonly watermarkBusyEveryTicks?: number;
  /**
   * How many watermark exchanges the conflict index lags behind the floor proposals carry, so a
   * peer's PreAccept made with an older floor is still answered exactly (and matches the fast path).
   */
  readonly indexLagExchanges?: number;
  /**
   * Take a state-machine snapshot, and forget the instances every voter has applied, after this
   * many instances were applied since the last one. 0 never snapshots (memory grows with history).
   */
  readonly snapshotEveryApplied?: number;
  /** Least time between two snapshots sent to the same lagging peer (state transfer). */
  readonly snapshotResendMs?: number;
  /**
   * Catch a peer up by state transfer when its executed watermark is at least this many ids behind
   * what this replica has applied (summed over coordinators): after a long partition, one snapshot
   * instead of one recovery round per instance it missed. 0: only across truncated history.
   * Default 1024: at 128, voters a few seconds behind after a restart were sent snapshots they had
   * to refuse (they applied on while it travelled; docs/consensus.md, "State transfer").
   */
  readonly catchUpBySnapshotIds?: number;
}

export interface ReplicaConfig extends Quorums {
  readonly self: number;
  readonly epoch: number;
  readonly batchCommandsMax: number;
  readonly batchBytesMax: number;
  readonly pipelineInstancesMax: number;
  readonly submitQueueCommandsMax: number;
  readonly earlyProposalsMax: number;
  readonly tickMs: number;
  readonly fastPathTimeoutMs: number;
  readonly thriftyPreAccept: boolean;
  readonly retransmitMs: number;
  readonly recoveryTimeoutMs: number;
  readonly recoveryTimeoutMaxMs: number;
  readonly learnFromOthersMs: number;
  readonly watermarkEveryTicks: number;
  readonly watermarkBusyEveryTicks: number;
  readonly indexLagExchanges: number;
  readonly snapshotEveryApplied: number;
  readonly snapshotResendMs: number;
  readonly catchUpBySnapshotIds: number;
}

/** The default of `earlyProposalsMax`: room for a pipeline of 8 (the default is 1), and a cheap skip at restart. */
export const earlyProposalsMaxDefault = 8;

export function replicaConfig(o: ReplicaOptions): ReplicaConfig {
  const q = quorums(o);
  if (!Number.isInteger(o.self) || o.self < 0 || o.self >= o.n) {
    throw new RangeError(`replica config: self must be a replica id in 0..${o.n - 1}, got ${o.self}`);
  }
  const c: ReplicaConfig = {
    ...q,
    self: o.self,
    epoch: o.epoch ?? 0,
    batchCommandsMax: o.batchCommandsMax ?? 100,
    batchBytesMax: o.batchBytesMax ?? 1024 * 1024,
    pipelineInstancesMax: o.pipelineInstancesMax ?? 1,
    submitQueueCommandsMax: o.submitQueueCommandsMax ?? 100_000,
    earlyProposalsMax: o.earlyProposalsMax ?? earlyProposalsMaxDefault,
    tickMs: o.tickMs ?? 10,
    fastPathTimeoutMs: o.fastPathTimeoutMs ?? 50,
    thriftyPreAccept: o.thriftyPreAccept ?? true,
    retransmitMs: o.retransmitMs ?? 200,
    recoveryTimeoutMs: o.recoveryTimeoutMs ?? 1000,
    recoveryTimeoutMaxMs: o.recoveryTimeoutMaxMs ?? 16_000,
    learnFromOthersMs: o.learnFromOthersMs ?? 50,
    watermarkEveryTicks: o.watermarkEveryTicks ?? 10,
    watermarkBusyEveryTicks: o.watermarkBusyEveryTicks ?? 2,
    indexLagExchanges: o.indexLagExchanges ?? 8,
    snapshotEveryApplied: o.snapshotEveryApplied ?? 10_000,
    snapshotResendMs: o.snapshotResendMs ?? 2000,
    catchUpBySnapshotIds: o.catchUpBySnapshotIds ?? 1024,
  };
  for (const [k, v] of Object.entries(c)) {
    if (typeof v === 'number' && !(Number.isInteger(v) && v >= 0)) throw new RangeError(`replica config: ${k} must be a non-negative integer, got ${v}`);
  }
  if (c.batchCommandsMax < 1 || c.batchCommandsMax > batchCommandsMax) {
    throw new RangeError(`replica config: batchCommandsMax must be between 1 and ${batchCommandsMax} (what peers accept in one message), got ${c.batchCommandsMax}`);
  }
  if (c.pipelineInstancesMax < 1) throw new RangeError('replica config: pipelineInstancesMax must be at least 1');
  if (c.watermarkEveryTicks < 1) throw new RangeError('replica config: watermarkEveryTicks must be at least 1');
  if (c.watermarkBusyEveryTicks < 1) throw new RangeError('replica config: watermarkBusyEveryTicks must be at least 1');
  if (c.tickMs < 1) throw new RangeError('replica config: tickMs must be at least 1');
  if (c.recoveryTimeoutMaxMs < c.recoveryTimeoutMs) throw new RangeError('replica config: recoveryTimeoutMaxMs must be ≥ recoveryTimeoutMs');
  return c;
}
