// A simulated disk for one agent, with the crash semantics of a real one: appended records sit
// in a volatile buffer until a sync makes them durable; a crash throws away whatever was not
// synced. What a restarting replica gets back (`load`) is only what was durable.
//
// A snapshot record replaces the stored snapshot and drops the execution log before it and the
// instance records at or below its truncation floor (types.ts PersistRecord), atomically with the
// rest of its sync. Once it is durable the durable records are compacted, so memory follows what
// the replica keeps, not history. What compaction drops is kept aside for the checkers only
// (`fullLog`, `recordEver`), never returned by `load`.

import { belowFloor } from '../../consensus/core/deps.ts';
import type { InstanceId } from '../../consensus/core/ids.ts';
import type { InstanceRecord, PersistRecord, ReplicaSnapshot, StoredState } from '../../consensus/core/types.ts';

export class SimDisk {
  /** Durable records, in the order they were appended (compacted at each durable snapshot). */
  private durable: PersistRecord[] = [];
  /** Appended, not yet synced. */
  private buffer: PersistRecord[] = [];
  /** How many records were ever appended; positions name sync points. */
  private appended = 0;
  /** Checker-only: instance records and log entries that snapshots dropped. */
  private archived = { instances: new Map<InstanceId, InstanceRecord>(), applied: [] as InstanceId[] };
  syncs = 0;
  lostOnCrash = 0;
  snapshots = 0;

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
    let snapshot = false;
    for (const r of this.buffer.splice(0, count)) {
      this.durable.push(r);
      if (r.kind === 'snapshot') snapshot = true;
    }
    this.syncs++;
    if (snapshot) this.compact();
  }

  /** Power loss: unsynced records are gone. */
  crash(): void {
    this.lostOnCrash += this.buffer.length;
    this.appended -= this.buffer.length;
    this.buffer = [];
  }

  /**
   * The disk is lost (replaced by an empty one): nothing durable is left. The checkers' archive
   * goes too: the voter's execution log starts again from here.
   */
  wipe(): void {
    this.crash();
    this.durable = [];
    this.archived = { instances: new Map(), applied: [] };
  }

  /** The durable state: the snapshot, each instance's last durable record, and the log after it. */
  load(): StoredState {
    const { instances, applied, snapshot } = this.replay();
    const state = { instances: [...instances.values()], applied };
    return snapshot === undefined ? state : { ...state, snapshot };
  }

  /** Checkers: the whole durable execution log, including what snapshots dropped. */
  fullLog(): InstanceId[] {
    return [...this.archived.applied, ...this.replay().applied];
  }

  /** Checkers: an instance's last durable record, including one a snapshot dropped. */
  recordEver(id: InstanceId): InstanceRecord | undefined {
    return this.replay().instances.get(id) ?? this.archived.instances.get(id);
  }

  get durableCount(): number {
    return this.durable.length;
  }

  get unsyncedCount(): number {
    return this.buffer.length;
  }

  private replay(): { instances: Map<InstanceId, InstanceRecord>; applied: InstanceId[]; snapshot: ReplicaSnapshot | undefined } {
    const instances = new Map<InstanceId, InstanceRecord>();
    let applied: InstanceId[] = [];
    let snapshot: ReplicaSnapshot | undefined;
    for (const r of this.durable) {
      if (r.kind === 'instance') instances.set(r.instance.id, r.instance);
      else if (r.kind === 'applied') applied.push(r.id);
      else {
        snapshot = r.snapshot;
        applied = [];
        for (const id of instances.keys()) if (belowFloor(id, snapshot.truncated)) instances.delete(id);
      }
    }
    return { instances, applied, snapshot };
  }

  /** Rewrite the durable records as the state they load to, archiving what the snapshot dropped. */
  private compact(): void {
    this.snapshots++;
    const instances = new Map<InstanceId, InstanceRecord>();
    let snapshot: ReplicaSnapshot | undefined;
    let applied: InstanceId[] = [];
    for (const r of this.durable) {
      if (r.kind === 'instance') instances.set(r.instance.id, r.instance);
      else if (r.kind === 'applied') applied.push(r.id);
      else {
        snapshot = r.snapshot;
        for (const id of applied) this.archived.applied.push(id);
        applied = [];
        for (const [id, rec] of instances) {
          if (!belowFloor(id, snapshot.truncated)) continue;
          this.archived.instances.set(id, rec);
          instances.delete(id);
        }
      }
    }
    const out: PersistRecord[] = [];
    if (snapshot !== undefined) out.push({ kind: 'snapshot', snapshot });
    for (const instance of instances.values()) out.push({ kind: 'instance', instance });
    for (const id of applied) out.push({ kind: 'applied', id });
    this.durable = out;
  }
}
