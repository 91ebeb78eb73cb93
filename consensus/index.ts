// consensus's door: what every other room imports (lint/layout.ts keeps them to it). The pure
// EPaxos* replica and its types, ids and quorum arithmetic; the dependency and conflict helpers
// and the protocol invariants (PROTOCOL.md §8) that the simulator checks runs with; validation of
// decoded messages; the replicated state machine and its commands; the storage port with its
// in-memory adapter; the in-memory cluster. The durable adapters are consensus-storage's
// (storage/wal-storage.ts), the property-test kit consensus-testing's (testing/index.ts).

export { Replica, type StateMachine } from './core/replica.ts';
export type { ReplicaOptions } from './core/config.ts';
export {
  ballotOwner, formatId, initCoord, instanceId, instanceSeq, replicasMax, seqMax,
  type Ballot, type InstanceId, type ReplicaId,
} from './core/ids.ts';
export {
  epochBaseRecord, NOP,
  type Batch, type ClientReply, type Commit, type Deps, type Envelope, type EpochClose, type Event, type ExecutedBatch, type Instance,
  type InstanceRecord, type Message, type MessageType, type Payload, type PersistRecord, type Phase, type PreAccept,
  type Ready, type ReplicaSnapshot, type SnapshotEnvelope, type SnapshotMessage, type StoredState,
} from './core/types.ts';
export { defaultFastTolerance, defaultQuorumConfig, quorums, type QuorumConfig, type Quorums } from './core/quorum.ts';
export { belowFloor, depsEqual, emptyDeps } from './core/deps.ts';
export { payloadsConflict, payloadsEqual } from './core/conflicts.ts';
export { checkAgreementAndVisibility, checkExecution, type ReplicaView } from './core/invariants.ts';
export {
  batchCommandsMax, depsIdsMax, validateCommand, validateEntriesMax, validateMessage, validateSnapshotMessage,
  type ValidationContext,
} from './core/validate.ts';
export { changeVoters, commandAccess, type Command, type CommandResult, type Operation, type TaskStatus, type TaskView } from './statemachine/commands.ts';
export { isVotersChange, voterCounts, voterNamePattern, votersListError, type VotersCommand } from './statemachine/commands.ts';
export { CoveyStateMachine, leaseMsMax, timestampMsMax } from './statemachine/machine.ts';
export { freezeResult } from './statemachine/results.ts';
export { peerIdPattern, rosterDecisionsMax, type RosterDecision, type RosterView } from './statemachine/roster.ts';
export type { AppendOptions, ReplicaStorage } from './storage/port.ts';
export { MemoryStorage } from './storage/memory.ts';
export { Cluster, type ClusterOptions, type Ghost } from './cluster.ts';
