// The storage port (DESIGN.md persistence rule): what a driver needs from durable storage to honour
// a replica's Ready. MemoryStorage, the lmdb adapter and the simulator's crash-prone disk implement
// it. Records apply in order: an instance record replaces that instance's record, an applied record
// extends the execution log, and a snapshot record replaces the stored snapshot and drops the log
// before it and the instance records at or below its truncation floor (types.ts PersistRecord).

import type { PersistRecord, StoredState } from '../core/types.ts';

export interface ReplicaStorage {
  /** Everything that survived: the replica is rebuilt from it with `Replica.restore`. */
  load(): Promise<StoredState>;
  /**
   * Make `records` durable, all or nothing (one group commit). The promise resolves only once they
   * would survive a crash; the driver sends the turn's messages after that.
   */
  append(records: readonly PersistRecord[]): Promise<void>;
  close(): Promise<void>;
}
