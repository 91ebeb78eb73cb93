// In-memory storage for tests and benchmarks: durable for as long as the object lives, which is
// exactly the "persisted state kept" of a simulated restart. The synchronous methods let pure
// harnesses use it without an event loop.
//
// A snapshot record replaces the stored snapshot and drops the execution log before it and the
// instance records at or below its truncation floor, like every ReplicaStorage. With
// `keepHistory`, what it drops is kept aside for checkers (never returned by load): the invariant
// checkers can then still see every instance and the whole execution log.

import { belowFloor } from '../core/deps.ts';
import type { InstanceId } from '../core/ids.ts';
import type { InstanceRecord, PersistRecord, ReplicaSnapshot, StoredState } from '../core/types.ts';
import type { ReplicaStorage } from './port.ts';

export interface MemoryStorageOptions {
  /** Keep truncated instance records and log entries aside for checkers (memory grows). */
  readonly keepHistory?: boolean;
}

export class MemoryStorage implements ReplicaStorage {
  private readonly instances = new Map<InstanceId, InstanceRecord>();
  private applied: InstanceId[] = [];
  private readonly appliedSet = new Set<InstanceId>();
  private snapshot: ReplicaSnapshot | undefined = undefined;
  private readonly history: { instances: Map<InstanceId, InstanceRecord>; applied: InstanceId[] } | null;
  private closed = false;

  constructor(options: MemoryStorageOptions = {}) {
    this.history = options.keepHistory === true ? { instances: new Map(), applied: [] } : null;
  }

  appendSync(records: readonly PersistRecord[]): void {
    if (this.closed) throw new Error('storage is closed');
    for (const r of records) {
      if (r.kind === 'instance') {
        this.instances.set(r.instance.id, r.instance);
      } else if (r.kind === 'applied') {
        if (this.appliedSet.has(r.id)) throw new Error(`assertion: instance ${r.id} applied twice`);
        this.appliedSet.add(r.id);
        this.applied.push(r.id);
      } else {
        const floor = r.snapshot.truncated;
        if (this.history !== null) for (const id of this.applied) this.history.applied.push(id);
        this.applied = [];
        this.appliedSet.clear();
        for (const [id, rec] of this.instances) {
          if (!belowFloor(id, floor)) continue;
          this.history?.instances.set(id, rec);
          this.instances.delete(id);
        }
        this.snapshot = r.snapshot;
      }
    }
  }

  loadSync(): StoredState {
    const state = { instances: [...this.instances.values()], applied: [...this.applied] };
    return this.snapshot === undefined ? state : { ...state, snapshot: this.snapshot };
  }

  /** The execution log (INV8): with `keepHistory`, all of it; else since the last snapshot. */
  appliedLog(): readonly InstanceId[] {
    return this.history === null ? this.applied : [...this.history.applied, ...this.applied];
  }

  /** With `keepHistory`: an instance's last record, even if truncation dropped it (checkers). */
  recordEver(id: InstanceId): InstanceRecord | undefined {
    return this.instances.get(id) ?? this.history?.instances.get(id);
  }

  /** Whether a snapshot record ever arrived (so records may have been dropped). */
  get truncatedAny(): boolean {
    return this.snapshot !== undefined;
  }

  /** With `keepHistory`: the ids of every instance ever stored (checkers). */
  everIds(): Iterable<InstanceId> {
    return this.history === null ? this.instances.keys() : new Set([...this.instances.keys(), ...this.history.instances.keys()]);
  }

  async append(records: readonly PersistRecord[]): Promise<void> {
    this.appendSync(records);
  }

  async load(): Promise<StoredState> {
    return this.loadSync();
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
