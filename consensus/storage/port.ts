// The storage port (DESIGN.md persistence rule): what a driver needs from durable storage to honour
// a replica's Ready. MemoryStorage, the lmdb adapter and the simulator's crash-prone disk implement
// it. Records apply in order: an instance record replaces that instance's record, an applied record
// extends the execution log, and a snapshot record replaces the stored snapshot and drops the log
// before it and the instance records at or below its truncation floor (types.ts PersistRecord).

import type { PersistRecord, StoredState } from '../core/types.ts';

export interface AppendOptions {
  readonly deferrable?: boolean;
}

export interface ReplicaStorage {
  /** Everything that survived: the replica is rebuilt from it with `Replica.restore`. */
  load(): Promise<StoredState>;
  /**
   * Make `records` durable, all or nothing (one group commit). The promise resolves only once they
   * would survive a crash; the driver sends the turn's messages after that.
   *
   * `deferrable`: nothing but the caller's own bookkeeping waits on this group (no message, no
   * answer), so the storage may hold its write back a little, for the next group to carry it in
   * the same sync. Order is kept either way: a later group is never durable before an earlier one.
   * A storage without a use for it writes at once.
   */
  append(records: readonly PersistRecord[], o?: AppendOptions): Promise<void>;
  /**
   * Start writing the deferrable groups held back, now: the caller has something to release that
   * waits on them (every release waits for all earlier groups). Storages that hold nothing back
   * need not have it.
   */
  flush?(): void;
  /** Durable writes (syncs) made since it was opened; several groups may share one. Absent where not counted. */
  readonly durableWrites?: number;
  close(): Promise<void>;
}
