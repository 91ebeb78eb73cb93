// The storage port (DESIGN.md persistence rule): what a driver needs from durable storage to honour
// a replica's Ready. The lmdb adapter (issue 4) and the simulator's crash-prone disk implement it.

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
