// The agent's storage: a write-ahead log (wal.ts) in front of the lmdb store (lmdb.ts), the way
// etcd keeps a WAL in front of bbolt. A group commit is durable, and its promise resolves, once
// its frame is appended to the log by one synced write (O_DSYNC): one sync, where an lmdb commit
// costs two (data pages, then the meta page). The same records are then written to lmdb off the path that waits,
// every `applyEveryMs` (100 ms; or at once when many have piled up), all group commits since the last in
// one lmdb transaction that also records the last frame it holds (meta 'walSeq'). lmdb runs
// without meta-page syncs here (its data pages are synced, so it keeps its integrity): a commit
// is certainly durable once the next one has synced, and only then are log segments whose frames
// it holds deleted.
//
// A group commit the driver marks deferrable (nothing outside the agent waits on it: a peer's
// Commit record, its execution) may wait up to the log's `deferHoldMs` (10 ms) for the next group
// that is not, and share its sync; `flush()` ends the hold at once. It is acknowledged only once
// written, like any other, so the rule above is unchanged: only when a sync happens moves.
//
// Opening replays the frames after lmdb's walSeq into lmdb (synced) before anything is loaded,
// so `load` always reads lmdb, and a crash at any point loses nothing acknowledged: an
// acknowledged group commit is in the log until lmdb holds it durably.
//
// On disk: the lmdb environment (data.mdb, lock.mdb) and the log's segments in `wal/`.

import { join } from 'node:path';
import type { AppendOptions, PersistRecord, ReplicaStorage, StoredState } from '../index.ts';
import { LmdbStorage, type Encoded } from './lmdb.ts';
import { WriteAheadLog, type WalOptions } from './wal.ts';

/** Records waiting for lmdb beyond which a group commit waits for lmdb too (memory bound). */
const lmdbBacklogRecordsMax = 50_000;
/** Records waiting for lmdb beyond which they are written at once rather than at the next interval. */
const lmdbBatchRecords = 4096;

export interface WalStorageOptions extends Pick<WalOptions, 'segmentBytesMax' | 'files' | 'deferHoldMs'> {
  /** How long acknowledged records may wait before they are written to lmdb (default 100 ms, etcd's backend batch interval). */
  readonly applyEveryMs?: number;
}

export class WalStorage implements ReplicaStorage {
  readonly dir: string;
  private readonly store: LmdbStorage;
  private readonly wal: WriteAheadLog;
  /** Acknowledged group commits not yet handed to lmdb, in order, with their frame numbers. */
  private backlog: { readonly seq: number; readonly encoded: readonly Encoded[] }[] = [];
  private backlogRecords = 0;
  private applying: Promise<void> | null = null;
  private applyTimer: NodeJS.Timeout | null = null;
  private readonly applyEveryMs: number;
  /** The last frame of the previous lmdb commit: durable in lmdb once a later commit synced. */
  private previousCommitSeq = 0;
  private lastAppend: Promise<void> = Promise.resolve();
  private broken: Error | null = null;
  private closed = false;

  private constructor(dir: string, store: LmdbStorage, wal: WriteAheadLog, applyEveryMs: number) {
    this.dir = dir;
    this.store = store;
    this.wal = wal;
    this.applyEveryMs = applyEveryMs;
  }

  /** Opens (creating) the store in `dir`, replaying the log's frames that lmdb does not hold yet. */
  static async open(dir: string, o: WalStorageOptions = {}): Promise<WalStorage> {
    const store = await LmdbStorage.open(dir, { behindLog: true });
    try {
      const inStore = store.walSeq;
      const { wal, frames } = await WriteAheadLog.open(join(dir, 'wal'), { ...o, firstSeq: inStore + 1 });
      let last = inStore;
      for (const f of frames) {
        if (f.seq <= inStore) continue;
        if (f.seq !== last + 1) throw new Error(`${dir}: the write-ahead log starts at frame ${f.seq} but the store holds frames only up to ${inStore}: frames were lost; restore the data directory from a peer (state transfer) or a backup`);
        let encoded: Encoded[];
        try {
          encoded = decodeBody(f.body);
        } catch (e) {
          throw new Error(`${dir}: write-ahead log frame ${f.seq} is unreadable (${(e as Error).message})`, { cause: e });
        }
        await store.appendEncoded(encoded, f.seq);
        last = f.seq;
      }
      // Everything read is in lmdb; made durable there (meta page included) before the log goes.
      await store.sync();
      await wal.discardRead(last + 1);
      return new WalStorage(dir, store, wal, o.applyEveryMs ?? 100);
    } catch (e) {
      await store.close();
      throw e;
    }
  }

  async load(): Promise<StoredState> {
    this.checkOpen();
    await this.applyNow();
    return this.store.load();
  }

  append(records: readonly PersistRecord[], o: AppendOptions = {}): Promise<void> {
    const done = this.appendInOrder(records, o.deferrable === true);
    this.lastAppend = done.catch(() => {});
    return done;
  }

  flush(): void {
    this.wal.endHold();
  }

  /** Synced writes of the log so far (one per group of group commits that reached the disk together). */
  get durableWrites(): number {
    return this.wal.syncs;
  }

  private async appendInOrder(records: readonly PersistRecord[], deferrable: boolean): Promise<void> {
    this.checkOpen();
    if (records.length === 0) return;
    const encoded = this.store.encode(records); // throws on a record it cannot store, before the log
    const { seq, durable } = this.wal.append(encodeBody(encoded), deferrable);
    await durable;
    this.backlog.push({ seq, encoded });
    this.backlogRecords += encoded.length;
    this.scheduleApply();
    if (this.backlogRecords > lmdbBacklogRecordsMax) await this.applyNow();
    if (this.broken !== null) throw this.unusable();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.wal.close();
    await this.lastAppend; // appends resolve in order: the last one done means all are
    await this.applyNow();
    if (this.broken === null) {
      await this.store.sync();
      await this.wal.release(this.previousCommitSeq); // all of lmdb is durable now
    }
    await this.store.close();
  }

  /** Writes to lmdb at the next interval, or at once when many records wait. */
  private scheduleApply(): void {
    if (this.applying !== null || this.applyTimer !== null) return;
    if (this.backlogRecords >= lmdbBatchRecords) { void this.applyNow(); return; }
    this.applyTimer = setTimeout(() => { this.applyTimer = null; void this.applyNow(); }, this.applyEveryMs);
  }

  /** Writes everything waiting to lmdb now; resolves when nothing is left. */
  private async applyNow(): Promise<void> {
    if (this.applyTimer !== null) { clearTimeout(this.applyTimer); this.applyTimer = null; }
    while (this.applying !== null) await this.applying;
    if (this.backlog.length === 0 || this.broken !== null) return;
    this.applying = this.applyBacklog();
    await this.applying;
  }

  /** Writes what piled up to lmdb, one transaction at a time, until nothing is left. */
  private async applyBacklog(): Promise<void> {
    try {
      while (this.backlog.length > 0 && this.broken === null) {
        const batch = this.backlog.splice(0);
        this.backlogRecords = 0;
        const encoded = batch.length === 1 ? batch[0].encoded : batch.flatMap((b) => b.encoded);
        const seq = batch[batch.length - 1].seq;
        await this.store.appendEncoded(encoded, seq);
        // This commit's sync made the previous commit's meta page durable: its frames may go.
        if (this.previousCommitSeq > 0) await this.wal.release(this.previousCommitSeq);
        this.previousCommitSeq = seq;
      }
    } catch (err) {
      // The log still holds every acknowledged commit; a restart replays them. Stop taking more.
      this.broken = err as Error;
    } finally {
      this.applying = null;
    }
  }

  private unusable(): Error {
    return new Error(`storage ${this.dir}: writing to lmdb failed (${this.broken!.message}); the write-ahead log holds everything acknowledged — restart the agent to replay it`);
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`storage ${this.dir} is closed`);
    if (this.broken !== null) throw this.unusable();
  }
}

// ---- frame bodies: the encoded records of one group commit ------------------------------------
//   u32 count, then per record: u8 kind (1 instance, 2 applied, 3 snapshot),
//   instance: f64 id; snapshot: u32 n, n × f64 truncation floor; then u32 length ‖ value bytes.

const kindCode = { instance: 1, applied: 2, snapshot: 3 } as const;

export function encodeBody(records: readonly Encoded[]): Buffer {
  let size = 4;
  for (const r of records) size += 1 + (r.kind === 'instance' ? 8 : r.kind === 'snapshot' ? 4 + 8 * r.truncated.length : 0) + 4 + r.value.length;
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt32BE(records.length, 0);
  for (const r of records) {
    at = out.writeUInt8(kindCode[r.kind], at);
    if (r.kind === 'instance') at = out.writeDoubleBE(r.id, at);
    if (r.kind === 'snapshot') {
      at = out.writeUInt32BE(r.truncated.length, at);
      for (const t of r.truncated) at = out.writeDoubleBE(t, at);
    }
    at = out.writeUInt32BE(r.value.length, at);
    at += r.value.copy(out, at);
  }
  if (at !== size) throw new Error(`write-ahead log: encoded ${at} bytes of ${size} (bug)`);
  return out;
}

export function decodeBody(buf: Buffer): Encoded[] {
  let at = 0;
  const need = (n: number): void => { if (buf.length - at < n) throw new Error(`the body ends at byte ${buf.length}, ${n} more expected at ${at}`); };
  const int = (x: number, what: string): number => { if (!Number.isSafeInteger(x) || x < 0) throw new Error(`${what} ${x} is not a whole number`); return x; };
  need(4);
  const count = buf.readUInt32BE(at); at += 4;
  const out: Encoded[] = [];
  for (let i = 0; i < count; i++) {
    need(1);
    const kind = buf.readUInt8(at); at += 1;
    let id = 0;
    let truncated: number[] = [];
    if (kind === kindCode.instance) { need(8); id = int(buf.readDoubleBE(at), 'instance id'); at += 8; }
    else if (kind === kindCode.snapshot) {
      need(4);
      const n = buf.readUInt32BE(at); at += 4;
      need(8 * n);
      truncated = Array.from({ length: n }, (_, k) => int(buf.readDoubleBE(at + 8 * k), 'truncation floor'));
      at += 8 * n;
    } else if (kind !== kindCode.applied) throw new Error(`unknown record kind ${kind}`);
    need(4);
    const len = buf.readUInt32BE(at); at += 4;
    need(len);
    const value = Buffer.from(buf.subarray(at, at + len)); // its own memory: lmdb may keep it queued
    at += len;
    out.push(kind === kindCode.instance ? { kind: 'instance', id, value } : kind === kindCode.applied ? { kind: 'applied', value } : { kind: 'snapshot', truncated, value });
  }
  if (at !== buf.length) throw new Error(`${buf.length - at} bytes after the last record`);
  return out;
}
