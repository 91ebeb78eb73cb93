// The write-ahead log and the storage built on it: group commits resolve only after their
// durable write (segments opened O_DSYNC), many appends share one, a torn tail is cut off while
// damage before it or a missing segment is refused, and WalStorage loads exactly what MemoryStorage would — across restarts,
// segment rotation and kill -9.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, constants as fsConstants, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { WriteAheadLog, type WalFiles } from './wal.ts';
import { WalStorage, decodeBody, encodeBody } from './wal-storage.ts';
import { MemoryStorage, type PersistRecord, type StoredState } from '../index.ts';
import { killWriterRepeatedly, recordedRun } from './testing.ts';

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'covey-wal-'));
const body = (s: string): Buffer => Buffer.from(s);

/** O_DSYNC in the flags of an open file descriptor, as the kernel reports them (octal). */
function openedDsync(fd: number): boolean {
  const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  assert.ok(flags !== null, 'fdinfo lists the flags');
  return (parseInt(flags[1], 8) & fsConstants.O_DSYNC) === fsConstants.O_DSYNC;
}

/**
 * Real writes whose completion waits until the test lets it go (or fails it). Each write notes
 * whether its segment was opened O_DSYNC: the real writeDurable is a plain write, durable only so.
 */
function heldFiles(): WalFiles & { syncs: number; writes: number; everyWriteDsync: boolean; release(): void; failNext(e: Error): void; waiting(): boolean } {
  let held: { resolve: () => void; reject: (e: Error) => void } | null = null;
  let failure: Error | null = null;
  const f = {
    syncs: 0,
    writes: 0,
    everyWriteDsync: true,
    async writeDurable(h: FileHandle, data: Buffer) {
      f.writes++;
      f.everyWriteDsync &&= openedDsync(h.fd);
      await h.write(data, 0, data.length);
      await new Promise<void>((resolve, reject) => { held = { resolve, reject }; });
      f.syncs++;
    },
    release() { const h = held; held = null; if (failure !== null) { const e = failure; failure = null; h?.reject(e); } else h?.resolve(); },
    failNext(e: Error) { failure = e; },
    waiting: () => held !== null,
  };
  return f;
}

const until = async (cond: () => boolean): Promise<void> => { while (!cond()) await new Promise((r) => setImmediate(r)); };

describe('WriteAheadLog', () => {
  test('an append resolves only after its durable write; appends made meanwhile share the next one', async () => {
    const dir = tempDir();
    const files = heldFiles();
    const { wal, frames } = await WriteAheadLog.open(dir, { files });
    assert.deepEqual(frames, []);
    const done: number[] = [];
    const a = wal.append(body('a'));
    void a.durable.then(() => done.push(a.seq));
    await until(files.waiting);
    const rest = [wal.append(body('b')), wal.append(body('c')), wal.append(body('d'))];
    for (const r of rest) void r.durable.then(() => done.push(r.seq));
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(done, [], 'nothing is acknowledged while its sync is held');
    files.release();
    await a.durable;
    assert.deepEqual(done, [1]);
    await until(files.waiting);
    assert.equal(files.writes, 2, 'the three queued appends leave in one write');
    files.release();
    await Promise.all(rest.map((r) => r.durable));
    assert.deepEqual(done, [1, 2, 3, 4]);
    assert.equal(files.syncs, 2);
    assert.ok(files.everyWriteDsync, 'segments are open with O_DSYNC, so a write returns only once durable');
    await wal.close();
    const again = await WriteAheadLog.open(dir);
    assert.deepEqual(again.frames.map((f) => [f.seq, f.body.toString()]), [[1, 'a'], [2, 'b'], [3, 'c'], [4, 'd']]);
    await again.wal.close();
    rmSync(dir, { recursive: true });
  });

  test('deferrable frames wait for the next frame that is not, or for their hold, and leave in its write', async () => {
    const dir = tempDir();
    const files = heldFiles();
    const { wal } = await WriteAheadLog.open(dir, { files, deferHoldMs: 200 });
    const done: number[] = [];
    const track = (r: { seq: number; durable: Promise<void> }) => { void r.durable.then(() => done.push(r.seq)); return r; };
    const a = track(wal.append(body('a'), true));
    const b = track(wal.append(body('b'), true));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(files.writes, 0, 'deferrable frames alone are held back');
    const c = track(wal.append(body('c'))); // someone waits on this one
    await until(files.waiting);
    assert.equal(files.writes, 1, 'the frame that is not deferrable takes the held ones along: one write');
    files.release();
    await c.durable;
    assert.deepEqual(done, [a.seq, b.seq, c.seq], 'in order');
    // Alone, a deferrable frame is written once its hold is over.
    const t0 = performance.now();
    const d = track(wal.append(body('d'), true));
    await until(files.waiting);
    assert.ok(performance.now() - t0 >= 150, `held for its hold (${(performance.now() - t0).toFixed(0)} ms)`);
    files.release();
    await d.durable;
    // ... or at once when the owner flushes it, or closes the log.
    const e = track(wal.append(body('e'), true));
    wal.endHold();
    await until(files.waiting);
    files.release();
    await e.durable;
    const f = track(wal.append(body('f'), true));
    const closing = wal.close();
    await until(files.waiting);
    files.release();
    await closing;
    await f.durable;
    assert.equal(files.writes, 4);
    const again = await WriteAheadLog.open(dir);
    assert.deepEqual(again.frames.map((x) => x.body.toString()), ['a', 'b', 'c', 'd', 'e', 'f']);
    await again.wal.close();
    rmSync(dir, { recursive: true });
  });

  test('a deferrable frame queued behind a write in flight waits no longer than its hold after it', async () => {
    const dir = tempDir();
    const files = heldFiles();
    const { wal } = await WriteAheadLog.open(dir, { files, deferHoldMs: 300 });
    const a = wal.append(body('a'));
    await until(files.waiting);
    const b = wal.append(body('b'), true);
    await new Promise((r) => setTimeout(r, 350)); // its hold ends while a's write is held
    files.release();
    await a.durable;
    const t0 = performance.now();
    await until(files.waiting);
    assert.ok(performance.now() - t0 < 150, `b leaves right after a, not after another hold (${(performance.now() - t0).toFixed(0)} ms)`);
    assert.equal(files.writes, 2);
    files.release();
    await b.durable;
    await wal.close();
    rmSync(dir, { recursive: true });
  });

  test('a failed sync fails its appends and every later one: nothing is acknowledged after it', async () => {
    const dir = tempDir();
    const files = heldFiles();
    const { wal } = await WriteAheadLog.open(dir, { files });
    const a = wal.append(body('a'));
    await until(files.waiting);
    const b = wal.append(body('b'));
    files.failNext(new Error('EIO'));
    files.release();
    await assert.rejects(a.durable, /unusable after a failed write \(EIO\)/);
    await assert.rejects(b.durable, /unusable/);
    await assert.rejects(wal.append(body('c')).durable, /unusable/);
    await wal.close();
    rmSync(dir, { recursive: true });
  });

  test('a torn tail is cut off; damage before the last segment, or a missing segment, is refused', async () => {
    const dir = tempDir();
    const { wal } = await WriteAheadLog.open(dir, { segmentBytesMax: 40 });
    for (const s of ['one', 'two', 'three', 'four', 'five']) await wal.append(body(s.repeat(8))).durable;
    await wal.close();
    const segments = readdirSync(dir).sort();
    assert.ok(segments.length >= 3, `segments rotate: ${segments.join(', ')}`);
    const last = join(dir, segments[segments.length - 1]);
    const size = statSync(last).size;
    appendFileSync(last, Buffer.from([0, 0, 1, 0, 9, 9])); // a frame whose write did not complete
    const torn = await WriteAheadLog.open(dir);
    assert.deepEqual(torn.frames.map((f) => f.seq), [1, 2, 3, 4, 5]);
    assert.equal(statSync(last).size, size, 'the partial frame is cut off');
    assert.equal(torn.wal.next, 6);
    await torn.wal.close();
    // A flipped byte in an earlier segment: acknowledged data is gone; say so, do not guess.
    const first = join(dir, segments[0]);
    const orig = readFileSync(first);
    const bad = Buffer.from(orig); bad[bad.length - 1] ^= 0xff;
    writeFileSync(first, bad);
    await assert.rejects(WriteAheadLog.open(dir), /is damaged at byte 0 \(a checksum mismatch\) and later segments follow/);
    writeFileSync(first, orig);
    unlinkSync(join(dir, segments[1]));
    await assert.rejects(WriteAheadLog.open(dir), /frame \d+ where \d+ was expected: frames were lost/);
    rmSync(dir, { recursive: true });
  });

  test('release deletes the segments below a frame, never the one being written', async () => {
    const dir = tempDir();
    const { wal } = await WriteAheadLog.open(dir, { segmentBytesMax: 40 });
    for (let i = 0; i < 6; i++) await wal.append(body('x'.repeat(30))).durable;
    assert.equal(readdirSync(dir).length, 6);
    await wal.release(4);
    assert.deepEqual(readdirSync(dir).sort(), ['00000000000000000005.wal', '00000000000000000006.wal']);
    await wal.release(100);
    assert.deepEqual(readdirSync(dir), ['00000000000000000006.wal']);
    await wal.close();
    rmSync(dir, { recursive: true });
  });
});

describe('WalStorage', () => {
  const byId = (st: StoredState) => ({ ...st, instances: [...st.instances].sort((a, b) => a.id - b.id) });

  test('loads exactly what MemoryStorage loads, with pipelined appends, segment rotation and restarts', async () => {
    const { batches } = recordedRun();
    const dir = tempDir();
    const mem = new MemoryStorage();
    let s = await WalStorage.open(dir, { segmentBytesMax: 4096 });
    // Half the run pipelined (as the driver does: appends in flight together), half one by one.
    const half = Math.floor(batches.length / 2);
    await Promise.all(batches.slice(0, half).map((b) => s.append(b)));
    for (const b of batches.slice(0, half)) mem.appendSync(b);
    assert.ok(s.durableWrites < half, `group commit: ${half} appends in ${s.durableWrites} syncs`);
    await s.close();
    s = await WalStorage.open(dir, { segmentBytesMax: 4096 });
    assert.deepEqual(byId(await s.load()), byId(mem.loadSync()));
    for (const b of batches.slice(half)) { await s.append(b); mem.appendSync(b); }
    assert.deepEqual(byId(await s.load()), byId(mem.loadSync()));
    await s.close();
    assert.ok(readdirSync(join(dir, 'wal')).length <= 2, 'segments whose frames lmdb holds are deleted');
    s = await WalStorage.open(dir);
    assert.deepEqual(byId(await s.load()), byId(mem.loadSync()));
    await s.close();
    rmSync(dir, { recursive: true });
  });

  test('a record it cannot store is refused before the log, and the store goes on', async () => {
    const dir = tempDir();
    const s = await WalStorage.open(dir);
    const bad = { kind: 'instance', instance: { id: -1 } } as unknown as PersistRecord;
    await assert.rejects(s.append([bad]), /not an instance id/);
    await s.append([{ kind: 'applied', id: 16 }]);
    assert.deepEqual((await s.load()).applied, [16]);
    await s.close();
    rmSync(dir, { recursive: true });
  });

  test('frame bodies round-trip every record kind, and a short body is an error', () => {
    const recs = [
      { kind: 'instance' as const, id: 48, value: Buffer.from('abc') },
      { kind: 'applied' as const, value: Buffer.from('7') },
      { kind: 'snapshot' as const, truncated: [3, 0, 9], value: Buffer.alloc(100, 1) },
    ];
    assert.deepEqual(decodeBody(encodeBody(recs)), recs);
    assert.throws(() => decodeBody(encodeBody(recs).subarray(0, 20)), /ends at byte 20/);
  });

  test('a killed writer loses nothing it acknowledged (kill -9 at random moments, small segments)', async () => {
    await killWriterRepeatedly(tempDir(), 'wal', (dir) => WalStorage.open(dir));
  });
});
