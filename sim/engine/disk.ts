// A simulated disk for one agent, with the crash semantics of a real one: appended records sit
// in a volatile buffer until a sync makes them durable; a crash throws away whatever was not
// synced. What a restarting replica gets back (`load`) is only what was durable.

import type { InstanceId } from '../../consensus/core/ids.ts';
import type { InstanceRecord, PersistRecord, StoredState } from '../../consensus/core/types.ts';

export class SimDisk {
  /** Durable records, in the order they were appended. */
  private durable: PersistRecord[] = [];
  /** Appended, not yet synced. */
  private buffer: PersistRecord[] = [];
  /** How many records were ever appended; positions name sync points. */
  private appended = 0;
  syncs = 0;
  lostOnCrash = 0;

  /** Buffers records (not durable yet). Returns the position after them, for `sync(upTo)`. */
  append(records: readonly PersistRecord[]): number {
    for (const r of records) this.buffer.push(r);
    this.appended += records.length;
    return this.appended;
  }

  /**
   * Makes records durable: all appended so far, or only those before position `upTo` (a value
   * `append` returned), as one fsync that completes for earlier writes but not later ones.
   */
  sync(upTo: number = this.appended): void {
    const pendingFrom = this.appended - this.buffer.length;
    const count = Math.max(0, Math.min(this.buffer.length, upTo - pendingFrom));
    if (count === 0) return;
    for (const r of this.buffer.splice(0, count)) this.durable.push(r);
    this.syncs++;
  }

  /** Power loss: unsynced records are gone. */
  crash(): void {
    this.lostOnCrash += this.buffer.length;
    this.appended -= this.buffer.length;
    this.buffer = [];
  }

  /** The durable state: each instance's last durable record, and the applied log in order. */
  load(): StoredState {
    const instances = new Map<InstanceId, InstanceRecord>();
    const applied: InstanceId[] = [];
    for (const r of this.durable) {
      if (r.kind === 'instance') instances.set(r.instance.id, r.instance);
      else applied.push(r.id);
    }
    return { instances: [...instances.values()], applied };
  }

  get durableCount(): number {
    return this.durable.length;
  }

  get unsyncedCount(): number {
    return this.buffer.length;
  }
}
