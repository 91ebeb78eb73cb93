// In-memory storage for tests and benchmarks: durable for as long as the object lives, which is
// exactly the "persisted state kept" of a simulated restart. The synchronous methods let pure
// harnesses use it without an event loop.

import type { InstanceId } from '../core/ids.ts';
import type { InstanceRecord, PersistRecord, StoredState } from '../core/types.ts';
import type { ReplicaStorage } from './port.ts';

export class MemoryStorage implements ReplicaStorage {
  private readonly instances = new Map<InstanceId, InstanceRecord>();
  private readonly applied: InstanceId[] = [];
  private readonly appliedSet = new Set<InstanceId>();
  private closed = false;

  appendSync(records: readonly PersistRecord[]): void {
    if (this.closed) throw new Error('storage is closed');
    for (const r of records) {
      if (r.kind === 'instance') {
        this.instances.set(r.instance.id, r.instance);
      } else {
        if (this.appliedSet.has(r.id)) throw new Error(`assertion: instance ${r.id} applied twice`);
        this.appliedSet.add(r.id);
        this.applied.push(r.id);
      }
    }
  }

  loadSync(): StoredState {
    return { instances: [...this.instances.values()], applied: [...this.applied] };
  }

  /** The execution log, for checkers (INV8). */
  appliedLog(): readonly InstanceId[] {
    return this.applied;
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
