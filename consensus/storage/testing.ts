// What the storage adapters' tests share (lmdb.test.ts, wal.test.ts).
//
// recordedRun: the group commits of one replica in a run that snapshots and truncates, to append
// to an adapter and compare with MemoryStorage.
//
// killWriterRepeatedly: the kill -9 test. A child process (crash-child.ts) appends
// group commits as fast as it can and prints "ack <n>" after the nth resolved; it is killed with
// SIGKILL at random moments, five times over, and after each kill every acknowledged commit must
// load back, whole, with the execution log matching. (kill -9 keeps the page cache, so this checks
// ordering and atomicity, not the flush itself: each adapter also checks that it syncs.)

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, type PersistRecord, type ReplicaStorage } from '../index.ts';

/** A replica group that snapshots often; replica 0's group commits are recorded as they happen. */
export function recordedRun(): { batches: PersistRecord[][]; cluster: Cluster } {
  const cluster = new Cluster({ n: 3, f: 1, e: 1, snapshotEveryApplied: 4, watermarkEveryTicks: 1, indexLagExchanges: 1 });
  const batches: PersistRecord[][] = [];
  const s0 = cluster.storages[0];
  const original = s0.appendSync.bind(s0);
  s0.appendSync = (records) => { if (records.length > 0) batches.push([...records]); original(records); };
  let req = 1;
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 8; i++) cluster.submit(i % 3, { clientId: 'c', requestId: req++, timestampMs: 0, op: 'put', key: `k${i % 3}`, value: `v${req}` });
    assert.ok(cluster.settle(400));
    for (let t = 0; t < 4; t++) { cluster.tickAll(20); cluster.runUntilQuiet(); }
  }
  assert.ok(batches.some((b) => b.some((r) => r.kind === 'snapshot')), 'snapshots were taken');
  return { batches, cluster };
}

export async function killWriterRepeatedly(dir: string, kind: 'lmdb' | 'wal', open: (dir: string) => Promise<ReplicaStorage>): Promise<void> {
  const child = join(import.meta.dirname, 'crash-child.ts');
  let next = 1;
  for (let round = 0; round < 5; round++) {
    const acked = await new Promise<number>((resolve, reject) => {
      const p = spawn(process.execPath, [child, dir, String(next), kind], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '', err = '', last = next - 1, killed = false;
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const lines = out.split('\n'); out = lines.pop()!;
        for (const l of lines) { const m = /^ack (\d+)$/.exec(l); if (m) last = Number(m[1]); }
        // Kill after a random number of acknowledged appends (5..60), at whatever point it is.
        if (!killed && last - next >= 5 + Math.floor(Math.random() * 55)) {
          killed = true;
          // Half the time at once (the ack just read may be the last commit), else a little later.
          if (Math.random() < 0.5) p.kill('SIGKILL'); else setTimeout(() => p.kill('SIGKILL'), Math.floor(Math.random() * 5));
        }
      });
      p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      p.on('exit', (code, signal) => {
        if (signal === 'SIGKILL') resolve(last); else reject(new Error(`child exited ${code}: ${err}`));
      });
    });
    const s = await open(dir);
    const st = await s.load();
    await s.close();
    const ids = new Set(st.instances.map((r) => r.id));
    for (let n = 1; n <= acked; n++) {
      assert.ok(ids.has(n * 16) && ids.has(n * 16 + 1), `${kind} round ${round}: acknowledged append ${n} lost`);
    }
    // All or nothing: no commit is half there, and the log is exactly the commits that are.
    const whole = [...ids].filter((id) => id % 16 === 0).sort((a, b) => a - b);
    for (const id of whole) assert.ok(ids.has(id + 1), `${kind} round ${round}: append ${id / 16} half-written`);
    assert.deepEqual(st.applied, whole, `${kind} round ${round}: execution log matches the instances`);
    assert.ok(whole.length >= acked);
    next = whole.length + 1;
  }
  rmSync(dir, { recursive: true });
}
