// A simulated disk for one agent, with the crash semantics of a real one: appended records sit
// in a volatile buffer until a sync makes them durable; a crash throws away whatever was not
// synced. What a restarting replica gets back (`load`) is only what was durable.
//
// A snapshot record replaces the stored snapshot and drops the execution log before it and the
// instance records at or below its truncation floor (types.ts PersistRecord), atomically with the
// rest of its sync. Once it is durable the durable records are compacted, so memory follows what
// the replica keeps, not history. What compaction drops is kept aside for the checkers only
// (`fullLog`, `recordEver`), never returned by `load`.
//
// The durable records are not kept as a list: each sync folds its records, in order, into the
// state they load to (the snapshot, each instance's last record in first-written order, the log
// after the snapshot), which is exactly what replaying the list would give. So `load` (every
// voter restart) costs a copy of that state, not a replay of every record since the snapshot.

import {
  belowFloor, type InstanceId, type InstanceRecord, type PersistRecord, type ReplicaSnapshot, type StoredState,
} from '../../consensus/index.ts';

export class SimDisk {
  /** The durable state: what replaying the durable records in order gives (see the header). */
  private snapshot: ReplicaSnapshot | undefined = undefined;
  private instances = new Map<InstanceId, InstanceRecord>();
  private applied: InstanceId[] = [];
  /** How many durable records there are (compacted at each durable snapshot). */
  private durableRecords = 0;
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
    const b = this.buffer;
    for (let i = 0; i < count; i++) {
      const r = b[i];
      if (r.kind === 'instance') this.instances.set(r.instance.id, r.instance);
      else if (r.kind === 'applied') this.applied.push(r.id);
      else { this.install(r.snapshot); snapshot = true; }
    }
    if (count === b.length) this.buffer = [];
    else b.splice(0, count);
    this.durableRecords += count;
    this.syncs++;
    if (snapshot) {
      // Compaction: the records are rewritten as the state they load to.
      this.snapshots++;
      this.durableRecords = 1 + this.instances.size + this.applied.length;
    }
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
    this.snapshot = undefined;
    this.instances = new Map();
    this.applied = [];
    this.durableRecords = 0;
    this.archived = { instances: new Map(), applied: [] };
  }

  /** The durable state: the snapshot, each instance's last durable record, and the log after it. */
  load(): StoredState {
    const state = { instances: [...this.instances.values()], applied: this.applied.slice() };
    return this.snapshot === undefined ? state : { ...state, snapshot: this.snapshot };
  }

  /** Checkers: the whole durable execution log, including what snapshots dropped. */
  fullLog(): InstanceId[] {
    return [...this.archived.applied, ...this.applied];
  }

  /** Checkers: an instance's last durable record, including one a snapshot dropped. */
  recordEver(id: InstanceId): InstanceRecord | undefined {
    return this.instances.get(id) ?? this.archived.instances.get(id);
  }

  get durableCount(): number {
    return this.durableRecords;
  }

  /** Where the log stands: records ever appended and not lost (what `append` returns). */
  get position(): number {
    return this.appended;
  }

  get unsyncedCount(): number {
    return this.buffer.length;
  }

  /**
   * A durable snapshot record: it replaces the stored snapshot, and the log before it and the
   * instance records at or below its truncation floor are dropped (archived for the checkers).
   */
  private install(snapshot: ReplicaSnapshot): void {
    this.snapshot = snapshot;
    for (const id of this.applied) this.archived.applied.push(id);
    this.applied = [];
    for (const [id, rec] of this.instances) {
      if (!belowFloor(id, snapshot.truncated)) continue;
      this.archived.instances.set(id, rec);
      this.instances.delete(id);
    }
  }
}
