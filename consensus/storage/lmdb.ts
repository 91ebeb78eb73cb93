// The lmdb adapter of the storage port (DESIGN.md: durable state on a device is lmdb).
//
// Layout, in one lmdb environment (a directory holding data.mdb and lock.mdb):
//   meta       'format'  → { magic, version }   what this store is, written when it is created
//   instances  id        → the instance's last record (last write wins)
//   applied    position  → id                   the execution log, append-only, positions 0, 1, …
//   meta       'snapshot' → ReplicaSnapshot     the latest snapshot (format 2); with it, the log
//                                              entries before it and the instances at or below its
//                                              truncation floor are deleted in the same transaction
// Every value is stored as   crc32 (4 bytes, big-endian) ‖ UTF-8 JSON   so that a damaged value is
// reported on load instead of being handed to the replica.
//
// Durability (checked in lmdb-js 3.5.6's source, write.js / open.js / src/writer.cpp):
// - lmdb-js defaults to `overlappingSync` on Linux and macOS. In that mode a write's promise
//   resolves when the transaction is *committed* (visible), and the flush to disk happens later
//   (README "Overlapping Sync Options": "The write actions return a promise for when they are
//   committed"; durability is `db.flushed`). That is not enough for a write-ahead log, so the
//   store is opened with `overlappingSync: false`: mdb_txn_commit then syncs before it returns
//   (strace shows one fdatasync per commit), and the promise of `batch` resolves after it.
// - `noSync` is left off (its default), and set to false explicitly; so is `noMetaSync`, except
//   behind a write-ahead log (`open(dir, { behindLog: true })`, wal-storage.ts), where the log
//   is what makes a commit durable and lmdb's data pages, synced every commit, keep its integrity.
// - `append` writes its records with `batch(callback)`: the writes are queued synchronously and
//   performed by lmdb-js's write thread as one transaction; if any write fails the thread aborts
//   the whole transaction (writer.cpp: "if (rc || resultCode) mdb_txn_abort") and the promise
//   rejects. Values are encoded before the batch starts, so nothing can throw half-way through.
//   After the batch, `append` also awaits `db.flushed` (a no-op without overlapping sync, kept so
//   that the guarantee survives a change of that option).
// - A *synchronous* throw inside a batch callback does not undo the writes queued before it: they
//   are committed with the next transaction (tried: put(64), then put(a 5000-byte key) throws;
//   64 is on disk after the next batch). So every key and value is built and checked before the
//   batch starts (keys are safe-integer ids and positions), and should lmdb still throw there,
//   the store refuses further appends: a prefix of one turn's records may reach the disk, which
//   is safe (the turn's messages were never sent: it is state persisted but never exposed, and
//   instance records precede applied records in a Ready), but it must not be mixed with more.
// - Async `transaction(callback)` is not used: it needs N-API thread-safe calls, and in this
//   environment its promise never settled (lmdb-js issue #259 describes the same dependency);
//   an async transaction callback that throws is also not rolled back (lmdb-js issue #115).

import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { open, type Database, type RootDatabase } from 'lmdb';
import {
  belowFloor, type InstanceId, type InstanceRecord, type PersistRecord, type ReplicaSnapshot, type ReplicaStorage,
  type StoredState,
} from '../index.ts';

/** Names what wrote a store; a directory without it is not a Covey store. */
export const lmdbStoreMagic = 'covey-replica-store';
/**
 * Bumped when the layout changes incompatibly; a newer store is refused, not misread. Format 2 adds
 * the snapshot (meta 'snapshot') and truncation: a format-1 reader would restore a truncated store
 * without its snapshot, so the first snapshot written raises a format-1 store to 2.
 */
export const lmdbFormatVersion = 2;

/** A record encoded for the store (what a write-ahead log in front of it carries; wal-storage.ts). */
export type Encoded =
  | { readonly kind: 'instance'; readonly id: InstanceId; readonly value: Buffer }
  | { readonly kind: 'applied'; readonly value: Buffer }
  | { readonly kind: 'snapshot'; readonly truncated: readonly number[]; readonly value: Buffer };

/** One write of a group commit; a null value removes the key. */
interface Op {
  readonly db: Database<Buffer, Key>;
  readonly key: Key;
  readonly value: Buffer | null;
}

interface FormatRecord {
  readonly magic: string;
  readonly version: number;
}

type Key = number | string;

export class LmdbStorage implements ReplicaStorage {
  private readonly root: RootDatabase<Buffer, Key>;
  private readonly meta: Database<Buffer, Key>;
  private readonly instances: Database<Buffer, Key>;
  private readonly applied: Database<Buffer, Key>;
  /** Positions of the oldest kept and of the next execution-log entry. */
  private nextApplied: number;
  private firstApplied = 0;
  /** The store's format version (a format-1 store is raised to 2 by its first snapshot). */
  private version = lmdbFormatVersion;
  private closed = false;
  /** Set when a group commit failed in a way that may have left part of it queued (above). */
  private broken: Error | null = null;
  /** Appends in flight, so `close` can wait for them. */
  private pending: Promise<unknown> = Promise.resolve();
  readonly dir: string;

  /** Opened behind a write-ahead log (wal-storage.ts): meta pages are not synced per commit. */
  readonly behindLog: boolean;

  private constructor(dir: string, root: RootDatabase<Buffer, Key>, nextApplied: number, behindLog: boolean) {
    this.dir = dir;
    this.behindLog = behindLog;
    this.root = root;
    this.meta = root.openDB<Buffer, Key>('meta', { encoding: 'binary' });
    this.instances = root.openDB<Buffer, Key>('instances', { encoding: 'binary' });
    this.applied = root.openDB<Buffer, Key>('applied', { encoding: 'binary' });
    this.nextApplied = nextApplied;
    if (!this.syncsEveryCommit) throw new Error('LmdbStorage: the lmdb environment does not sync every commit; "persist before you promise" needs it');
  }

  /**
   * Whether every commit fdatasyncs its pages, and its meta page too unless the store is behind a
   * write-ahead log, before its promise resolves, as lmdb's effective settings say. A kill -9
   * cannot tell (the page cache survives it); power loss can, so the constructor refuses an
   * environment without it and a test checks it. Behind a log, a commit whose meta page is lost
   * to power loss leaves the store at the commit before (lmdb keeps its integrity: the pages are
   * synced) and the log still holds the frames (wal-storage.ts releases only what a later commit
   * made durable).
   */
  get syncsEveryCommit(): boolean {
    const env = this.root as unknown as { noSync?: boolean; noMetaSync?: boolean; overlappingSync?: boolean };
    return env.noSync !== true && env.overlappingSync !== true && (this.behindLog || env.noMetaSync !== true);
  }

  /**
   * Opens the store in `dir`, creating the directory and an empty store if needed. Refuses a
   * directory that holds other files but no store, an lmdb environment Covey did not write, and a
   * store written by a newer format version.
   */
  static async open(dir: string, o: { behindLog?: boolean } = {}): Promise<LmdbStorage> {
    const behindLog = o.behindLog === true;
    mkdirSync(dir, { recursive: true });
    const entries = readdirSync(dir);
    const fresh = !entries.includes('data.mdb');
    if (fresh && entries.some((e) => e !== 'lock.mdb')) {
      throw new Error(`${dir} is not a Covey store: it is not empty and holds no data.mdb (point the agent at an empty or Covey-created directory)`);
    }
    if (!fresh) {
      // Checked here because lmdb itself crashes the process on such a file, with nothing logged:
      // SIGSEGV on one that is not lmdb, SIGBUS on the first page past the end of a truncated one.
      const problem = dataFileProblem(join(dir, 'data.mdb'));
      if (problem === 'not-lmdb') throw new Error(`${dir} is not a Covey store: data.mdb is not an lmdb file (no lmdb magic number in its first meta page)`);
      if (problem !== null) {
        throw new Error(`${join(dir, 'data.mdb')} is truncated: ${problem.truncated}. Restore it from a backup, or remove this voter's data directory (${dir}) and restart: it then rebuilds from its peers by state transfer`);
      }
    }
    let root: RootDatabase<Buffer, Key>;
    try {
      root = open<Buffer, Key>({
        path: dir,
        encoding: 'binary',
        maxDbs: 8,
        overlappingSync: false, // the commit itself syncs, so the promise means durable (above)
        noSync: false,
        noMetaSync: behindLog,
      });
    } catch (e) {
      throw new Error(`${dir} is not a Covey store: lmdb cannot open it (${(e as Error).message})`, { cause: e });
    }
    try {
      const store = new LmdbStorage(dir, root, 0, behindLog);
      const format = store.meta.get('format');
      if (format === undefined) {
        if (!fresh && (store.hasOtherData() || store.instances.getCount() > 0 || store.applied.getCount() > 0)) {
          throw new Error(`${dir} is not a Covey store: its lmdb environment has no Covey format record`);
        }
        const rec: FormatRecord = { magic: lmdbStoreMagic, version: lmdbFormatVersion };
        await store.meta.batch(() => { store.meta.put('format', encodeValue(rec)); });
        await store.root.flushed;
      } else {
        let f: FormatRecord;
        try {
          f = decodeValue(format, 'meta.format') as FormatRecord;
        } catch (e) {
          throw new Error(`${dir} is not a Covey store: ${(e as Error).message}`, { cause: e });
        }
        if (f === null || typeof f !== 'object' || f.magic !== lmdbStoreMagic) throw new Error(`${dir} is not a Covey store: its format record names ${JSON.stringify(f)}`);
        if (!Number.isInteger(f.version) || f.version > lmdbFormatVersion) {
          throw new Error(`${dir} was written by a newer Covey (store format ${f.version}, this one reads up to ${lmdbFormatVersion}); upgrade the agent`);
        }
        if (f.version < 1) throw new Error(`${dir}: unknown store format version ${f.version}`);
      }
      store.nextApplied = store.lastAppliedPosition() + 1;
      store.firstApplied = store.firstAppliedPosition() ?? store.nextApplied;
      if (format !== undefined) store.version = (decodeValue(format, 'meta.format') as FormatRecord).version;
      return store;
    } catch (e) {
      await root.close();
      throw e;
    }
  }

  async load(): Promise<StoredState> {
    this.checkOpen();
    await this.pending;
    const rawSnapshot = this.meta.get('snapshot');
    const snapshot = rawSnapshot === undefined ? undefined : decodeValue(rawSnapshot, 'meta.snapshot') as ReplicaSnapshot;
    if (snapshot !== undefined) checkSnapshot(snapshot);
    const instances: InstanceRecord[] = [];
    for (const { key, value } of this.instances.getRange({})) {
      const where = `instances[${String(key)}]`;
      const rec = decodeValue(value, where) as InstanceRecord;
      checkInstanceRecord(rec, key, where);
      if (snapshot !== undefined && belowFloor(rec.id, snapshot.truncated)) corrupt(where, 'the instance is at or below the snapshot\'s truncation floor');
      instances.push(rec);
    }
    const applied: InstanceId[] = [];
    const seen = new Set<InstanceId>();
    let expect: number | null = null;
    for (const { key, value } of this.applied.getRange({})) {
      const where = `applied[${String(key)}]`;
      if (typeof key !== 'number' || !Number.isSafeInteger(key) || key < 0) corrupt(where, 'the key is not a log position');
      if (expect !== null && key !== expect) corrupt(where, `the execution log has a gap: expected position ${expect}`);
      expect = key + 1;
      const id = decodeValue(value, where);
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) corrupt(where, `not an instance id: ${JSON.stringify(id)}`);
      if (seen.has(id)) corrupt(where, `instance ${id} applied twice`);
      seen.add(id);
      applied.push(id);
    }
    return snapshot === undefined ? { instances, applied } : { instances, applied, snapshot };
  }

  async append(records: readonly PersistRecord[]): Promise<void> {
    this.checkOpen();
    if (records.length === 0) return;
    // Encode everything first: the batch below must not throw half-way.
    return this.appendEncoded(this.encode(records));
  }

  /** The records as the store writes them; throws on a record it cannot store. */
  encode(records: readonly PersistRecord[]): Encoded[] {
    return records.map((r): Encoded => {
      // Paired checks: what load() refuses is refused here first, so a core bug stops the write
      // (the agent fails the turn, nothing acknowledged) instead of a restart finding it corrupt.
      if (r.kind === 'instance') {
        if (!Number.isSafeInteger(r.instance.id) || r.instance.id <= 0) throw new Error(`storage: not an instance id: ${String(r.instance.id)}`);
        beforeWrite(() => checkInstanceRecord(r.instance, r.instance.id, `instance ${r.instance.id}`));
        return { kind: 'instance', id: r.instance.id, value: encodeValue(r.instance) };
      }
      if (r.kind === 'applied') {
        if (!Number.isSafeInteger(r.id) || r.id <= 0) throw new Error(`storage: not an instance id in the execution log: ${String(r.id)}`);
        return { kind: 'applied', value: encodeValue(r.id) };
      }
      if (r.kind === 'snapshot') {
        beforeWrite(() => checkSnapshot(r.snapshot));
        return { kind: 'snapshot', truncated: [...r.snapshot.truncated], value: encodeValue(r.snapshot) };
      }
      throw new Error(`storage: unknown record kind ${JSON.stringify((r as { kind: unknown }).kind)}`);
    });
  }

  /**
   * One group commit of encoded records, all or nothing, resolved once synced. With `walSeq`, the
   * same transaction records that the write-ahead log's frames up to that sequence number are in
   * the store (wal-storage.ts replays only the frames after it).
   */
  async appendEncoded(encoded: readonly Encoded[], walSeq?: number): Promise<void> {
    this.checkOpen();
    if (walSeq !== undefined && !(Number.isSafeInteger(walSeq) && walSeq > 0)) throw new Error(`storage: not a log sequence number: ${String(walSeq)}`);
    // Group commits are made one after the other, so each sees the keys the previous ones wrote.
    const previous = this.pending;
    const done = (async () => {
      await previous;
      this.checkOpen();
      const ops = this.plan(encoded);
      if (walSeq !== undefined) ops.push({ db: this.meta, key: 'walSeq', value: encodeValue(walSeq) });
      let queued = 0;
      try {
        const batch = this.root.batch(() => {
          for (const op of ops) {
            if (op.value === null) op.db.remove(op.key); else op.db.put(op.key, op.value);
            queued++;
          }
        });
        await batch;
        await this.root.flushed;
      } catch (e) {
        if (queued > 0 && queued < ops.length) this.broken = new Error(`a group commit failed after ${queued} of its ${ops.length} writes were queued`);
        throw new Error(`storage: group commit of ${encoded.length} records failed: ${(e as Error).message}`, { cause: e });
      }
      this.firstApplied = ops.firstApplied;
      this.nextApplied = ops.nextApplied;
      if (ops.version > this.version) this.version = ops.version;
    })();
    this.pending = done.catch(() => undefined);
    return done;
  }

  /**
   * The writes of one group commit, in order. A snapshot record becomes: the snapshot under
   * meta 'snapshot', removal of every execution-log entry before it (those on disk, and those of
   * this commit before it, which are then not written at all) and of every instance record at or
   * below its truncation floor (likewise), and, in a format-1 store, the format record raised to 2.
   */
  private plan(encoded: readonly Encoded[]): Op[] & { firstApplied: number; nextApplied: number; version: number } {
    const ops: (Op | null)[] = [];
    this.root.resetReadTxn(); // read what the previous group commits wrote
    let next = this.nextApplied, first = this.firstApplied, version = this.version;
    const instanceOp = new Map<InstanceId, number>(); // id → index in ops of this commit's put
    const appliedOps: number[] = [];
    for (const e of encoded) {
      if (e.kind === 'instance') {
        const i = instanceOp.get(e.id);
        if (i !== undefined) ops[i] = null; // last write wins within the commit too
        instanceOp.set(e.id, ops.length);
        ops.push({ db: this.instances, key: e.id, value: e.value });
      } else if (e.kind === 'applied') {
        appliedOps.push(ops.length);
        ops.push({ db: this.applied, key: next++, value: e.value });
      } else {
        for (const i of appliedOps) ops[i] = null;
        appliedOps.length = 0;
        for (let pos = first; pos < next; pos++) if (this.applied.doesExist(pos)) ops.push({ db: this.applied, key: pos, value: null });
        first = next;
        for (const [id, i] of instanceOp) if (belowFloor(id, e.truncated)) { ops[i] = null; instanceOp.delete(id); }
        for (const key of this.instances.getKeys({})) {
          if (typeof key === 'number' && belowFloor(key, e.truncated)) ops.push({ db: this.instances, key, value: null });
        }
        ops.push({ db: this.meta, key: 'snapshot', value: e.value });
        if (version < 2) {
          version = 2;
          ops.push({ db: this.meta, key: 'format', value: encodeValue({ magic: lmdbStoreMagic, version: 2 } satisfies FormatRecord) });
        }
      }
    }
    const out = ops.filter((o): o is Op => o !== null);
    return Object.assign(out, { firstApplied: first, nextApplied: next, version });
  }

  /** Forces everything committed so far to disk, meta page included (mdb_env_sync). */
  async sync(): Promise<void> {
    this.checkOpen();
    await this.pending;
    await new Promise<void>((resolve, reject) => {
      (this.root as unknown as { sync(cb: (err?: Error) => void): void }).sync((err) => { if (err) reject(err); else resolve(); });
    });
  }

  /** The last write-ahead-log frame in the store (appendEncoded), 0 when none. */
  get walSeq(): number {
    this.checkOpen();
    const raw = this.meta.get('walSeq');
    if (raw === undefined) return 0;
    const seq = decodeValue(raw, 'meta.walSeq');
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq <= 0) corrupt('meta.walSeq', `not a log sequence number: ${JSON.stringify(seq)}`);
    return seq;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pending;
    await this.root.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`storage ${this.dir} is closed`);
    if (this.broken !== null) throw new Error(`storage ${this.dir} is unusable (${this.broken.message}); close it and reopen`);
  }

  private firstAppliedPosition(): number | undefined {
    for (const key of this.applied.getKeys({ limit: 1 })) {
      if (typeof key !== 'number') corrupt(`applied[${String(key)}]`, 'the key is not a log position');
      return key;
    }
    return undefined;
  }

  private lastAppliedPosition(): number {
    for (const key of this.applied.getKeys({ reverse: true, limit: 1 })) {
      if (typeof key !== 'number') corrupt(`applied[${String(key)}]`, 'the key is not a log position');
      return key;
    }
    return -1;
  }

  /** Keys in the root database other than the named sub-databases this store creates. */
  private hasOtherData(): boolean {
    for (const key of this.root.getKeys({})) {
      if (key !== 'meta' && key !== 'instances' && key !== 'applied') return true;
    }
    return false;
  }
}

/**
 * What is wrong with an existing data.mdb before lmdb maps it: not an lmdb file, or shorter than
 * the pages its newest meta page says are in use; null when neither (or when the meta pages are
 * not the layout checked here: then lmdb's own checks apply). Layout of lmdb-js 3.5's LMDB (checked
 * against files it wrote; little-endian on the x64 and arm64 hosts Covey runs on): pages 0 and 1
 * are meta pages; in each, after a 24-byte page header, MDB_meta: magic 0xBEEFC0DE u32 @24, format
 * version u32 @28 (2), the free-page database's md_pad @48 holding the page size, mm_last_pg u64
 * @144 (the last page in use) and mm_txnid u64 @152. LMDB uses the meta page with the larger txnid.
 */
function dataFileProblem(file: string): 'not-lmdb' | { truncated: string } | null {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const read = (at: number): Buffer => {
      const b = Buffer.alloc(160);
      return b.subarray(0, readSync(fd, b, 0, b.length, at));
    };
    const first = read(0);
    if (first.length < 28 || first.readUInt32LE(24) !== 0xbeefc0de) return 'not-lmdb';
    if (first.length < 160) return { truncated: `${size} bytes, less than one meta page` };
    const meta = (b: Buffer): { lastPage: number; txn: number; pageSize: number } | null =>
      b.length === 160 && b.readUInt32LE(24) === 0xbeefc0de && b.readUInt32LE(28) === 2
        ? { pageSize: b.readUInt32LE(48), lastPage: Number(b.readBigUInt64LE(144)), txn: Number(b.readBigUInt64LE(152)) }
        : null;
    const m0 = meta(first);
    if (m0 === null || m0.pageSize < 512 || m0.pageSize > 65536 || (m0.pageSize & (m0.pageSize - 1)) !== 0) return null;
    const second = read(m0.pageSize);
    if (second.length < 160) return { truncated: `${size} bytes, less than its two meta pages of ${m0.pageSize} bytes` };
    const m1 = meta(second);
    const newest = m1 !== null && m1.txn > m0.txn ? m1 : m0;
    const needed = (newest.lastPage + 1) * m0.pageSize;
    return size < needed ? { truncated: `${size} bytes, but its meta page says ${newest.lastPage + 1} pages of ${m0.pageSize} bytes (${needed} bytes) are in use` } : null;
  } finally {
    closeSync(fd);
  }
}

function encodeValue(v: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(v), 'utf8');
  const out = Buffer.allocUnsafe(4 + json.length);
  out.writeUInt32BE(crc32(json), 0);
  json.copy(out, 4);
  return out;
}

function decodeValue(buf: Buffer | undefined, where: string): unknown {
  if (buf === undefined || buf.length < 4) corrupt(where, 'the value is truncated');
  const json = buf.subarray(4);
  if (crc32(json) !== buf.readUInt32BE(0)) corrupt(where, 'checksum mismatch');
  try {
    return JSON.parse(json.toString('utf8'));
  } catch {
    return corrupt(where, 'the value is not JSON');
  }
}

const phases = new Set(['INITIAL', 'PREACCEPTED', 'ACCEPTED', 'COMMITTED']);

/** The shape the core relies on; a record failing it was not written by this adapter. */
function checkInstanceRecord(r: InstanceRecord, key: Key, where: string): void {
  if (r === null || typeof r !== 'object') corrupt(where, 'not an instance record');
  if (r.id !== key) corrupt(where, `the record names instance ${JSON.stringify(r.id)}`);
  if (!Number.isSafeInteger(r.bal) || !Number.isSafeInteger(r.abal) || r.abal > r.bal) corrupt(where, 'bad ballots');
  if (!phases.has(r.phase)) corrupt(where, `bad phase ${JSON.stringify(r.phase)}`);
  for (const d of [r.dep, r.initDep]) {
    if (d === null || typeof d !== 'object' || !Array.isArray(d.ids) || !Array.isArray(d.floor)) corrupt(where, 'bad dependency set');
  }
  if ((r.phase === 'ACCEPTED' || r.phase === 'COMMITTED') && r.cmd === null) corrupt(where, `${r.phase} without a command`);
}

function checkSnapshot(s: ReplicaSnapshot): void {
  const nat = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;
  if (s === null || typeof s !== 'object' || !('machine' in s)) corrupt('meta.snapshot', 'not a snapshot');
  if (!Array.isArray(s.applied) || !s.applied.every(nat)) corrupt('meta.snapshot', 'bad applied prefix');
  if (!Array.isArray(s.truncated) || s.truncated.length !== s.applied.length || !s.truncated.every((t, c) => nat(t) && t <= s.applied[c])) {
    corrupt('meta.snapshot', 'bad truncation floor');
  }
  if (!Array.isArray(s.appliedAbove) || !s.appliedAbove.every((id) => nat(id) && id > 0)) corrupt('meta.snapshot', 'bad applied ids');
}

/** Runs a load check on a record about to be written; its failure is a bug in the writer, said so. */
function beforeWrite(check: () => void): void {
  try {
    check();
  } catch (e) {
    throw new Error(`assertion: refusing to persist a record that loading would refuse (${(e as Error).message.replace(/^storage corrupt: /, '')})`, { cause: e });
  }
}

function corrupt(where: string, what: string): never {
  throw new Error(`storage corrupt: ${where}: ${what}`);
}
