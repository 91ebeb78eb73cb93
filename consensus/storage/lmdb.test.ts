import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { LmdbStorage, lmdbFormatVersion } from './lmdb.ts';
import {
  type Command, CoveyStateMachine, type InstanceRecord, MemoryStorage, type PersistRecord, Replica, type StoredState,
} from '../index.ts';
import { killWriterRepeatedly, recordedRun } from './testing.ts';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'covey-lmdb-'));
}

const none = { ids: [], floor: [0, 0, 0] };
function rec(id: number, phase: InstanceRecord['phase'] = 'COMMITTED', value = 'v'): InstanceRecord {
  return {
    id, bal: 0, abal: 0, phase,
    cmd: { commands: [{ clientId: 'c', requestId: id, timestampMs: 1, op: 'put', key: 'k', value }] },
    dep: { ids: [], floor: [0, 0, 0] }, initCmd: null, initDep: none,
  };
}

describe('LmdbStorage', () => {
  test('round trip: load returns exactly what MemoryStorage would', async () => {
    const dir = tempDir();
    const s = await LmdbStorage.open(dir);
    const mem = new MemoryStorage();
    const batches: PersistRecord[][] = [
      [{ kind: 'instance', instance: rec(16, 'PREACCEPTED') }],
      [{ kind: 'instance', instance: rec(16) }, { kind: 'instance', instance: { ...rec(33), cmd: 'NOP', dep: { ids: [], floor: [0, 0, 0] } } }, { kind: 'applied', id: 16 }],
      [{ kind: 'applied', id: 33 }, { kind: 'instance', instance: rec(48, 'ACCEPTED', 'é\u0000"') }],
    ];
    for (const b of batches) { await s.append(b); mem.appendSync(b); }
    assert.deepEqual(await s.load(), mem.loadSync());
    await s.close();
    rmSync(dir, { recursive: true });
  });

  test('every commit is synced: lmdb runs with neither noSync, noMetaSync nor overlappingSync', async () => {
    // kill -9 keeps the page cache, so the kill test below cannot see a missing flush; this can.
    const dir = tempDir();
    const s = await LmdbStorage.open(dir);
    assert.equal(s.syncsEveryCommit, true);
    await s.close();
    rmSync(dir, { recursive: true });
  });

  test('restart: close, reopen, same state, and the log goes on where it stopped', async () => {
    const dir = tempDir();
    const s = await LmdbStorage.open(dir);
    await s.append([{ kind: 'instance', instance: rec(16) }, { kind: 'applied', id: 16 }]);
    const before = await s.load();
    await s.close();
    const again = await LmdbStorage.open(dir);
    assert.deepEqual(await again.load(), before);
    await again.append([{ kind: 'instance', instance: rec(32) }, { kind: 'applied', id: 32 }]);
    assert.deepEqual((await again.load()).applied, [16, 32]);
    await again.close();
    await assert.rejects(again.append([]), /closed/);
    rmSync(dir, { recursive: true });
  });

  test('all or nothing: a group commit that fails leaves no part of itself behind', async () => {
    const dir = tempDir();
    const s = await LmdbStorage.open(dir);
    await s.append([{ kind: 'instance', instance: rec(16) }]);
    // A record that cannot be encoded (a BigInt has no JSON form) fails the commit before any write.
    const bad = { ...rec(32), bal: 10n as unknown as number };
    await assert.rejects(s.append([{ kind: 'instance', instance: rec(48) }, { kind: 'applied', id: 48 }, { kind: 'instance', instance: bad }]));
    assert.deepEqual(await s.load(), { instances: [rec(16)], applied: [] });
    await assert.rejects(s.append([{ kind: 'applied', id: 48 }, { kind: 'instance', instance: { ...rec(64), id: -1 } }]), /not an instance id/);
    assert.deepEqual(await s.load(), { instances: [rec(16)], applied: [] });
    // Paired checks: a record that load() would call corrupt is refused before it is written.
    await assert.rejects(s.append([{ kind: 'instance', instance: { ...rec(80), abal: 3, bal: 2 } }]), /assertion: refusing to persist .*instance 80: bad ballots/);
    await assert.rejects(s.append([{ kind: 'instance', instance: { ...rec(96, 'ACCEPTED'), cmd: null } }]), /assertion: refusing to persist .*ACCEPTED without a command/);
    await assert.rejects(s.append([{ kind: 'applied', id: 0 }]), /not an instance id in the execution log/);
    assert.deepEqual(await s.load(), { instances: [rec(16)], applied: [] });
    await s.append([{ kind: 'applied', id: 16 }]);
    assert.deepEqual((await s.load()).applied, [16], 'positions of the failed commit are reused: no gap');
    await s.close();
    rmSync(dir, { recursive: true });
  });

  test('refuses a directory that is not a Covey store', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    await assert.rejects(LmdbStorage.open(dir), /not a Covey store: it is not empty/);
    const dir2 = tempDir();
    writeFileSync(join(dir2, 'data.mdb'), 'this is not an lmdb file'.repeat(1000));
    await assert.rejects(LmdbStorage.open(dir2), /not a Covey store/);
    const dir3 = tempDir();
    const other = open({ path: dir3 });
    await other.put('someone-else', 'data');
    await other.close();
    await assert.rejects(LmdbStorage.open(dir3), /not a Covey store: its lmdb environment has no Covey format record/);
    for (const d of [dir, dir2, dir3]) rmSync(d, { recursive: true });
  });

  test('refuses a store written by a newer format version', async () => {
    const dir = tempDir();
    const s = await LmdbStorage.open(dir);
    await s.close();
    const root = open({ path: dir, encoding: 'binary', maxDbs: 8 });
    const meta = root.openDB('meta', { encoding: 'binary' });
    const json = Buffer.from(JSON.stringify({ magic: 'covey-replica-store', version: lmdbFormatVersion + 1 }));
    const { crc32 } = await import('node:zlib');
    const v = Buffer.alloc(4 + json.length); v.writeUInt32BE(crc32(json), 0); json.copy(v, 4);
    await meta.put('format', v);
    await root.close();
    await assert.rejects(LmdbStorage.open(dir), new RegExp(`newer Covey \\(store format ${lmdbFormatVersion + 1}`));
    rmSync(dir, { recursive: true });
  });

  test('a truncated data file is refused with the file and the fix, not a SIGBUS (by half, and by its last page)', async () => {
    const dir = tempDir();
    const s = await LmdbStorage.open(dir);
    for (let i = 1; i <= 200; i++) await s.append([{ kind: 'instance', instance: rec(i * 16, 'COMMITTED', 'x'.repeat(2000)) }, { kind: 'applied', id: i * 16 }]);
    await s.close();
    const file = join(dir, 'data.mdb');
    const whole = readFileSync(file);
    for (const keep of [Math.floor(whole.length / 2), whole.length - 4096]) {
      truncateSync(file, keep);
      await assert.rejects(LmdbStorage.open(dir), (err: Error) => {
        assert.match(err.message, new RegExp(`data\\.mdb is truncated: ${keep} bytes, but its meta page says \\d+ pages of 4096 bytes`));
        assert.match(err.message, /restore it from a backup, or remove this voter's data directory/i);
        return true;
      });
    }
    writeFileSync(file, whole);
    const again = await LmdbStorage.open(dir);
    assert.equal((await again.load()).applied.length, 200, 'the whole file opens as before');
    await again.close();
    rmSync(dir, { recursive: true });
  });

  test('detects corruption on load: a damaged value, and a gap in the execution log', async () => {
    const dir = tempDir();
    const s = await LmdbStorage.open(dir);
    await s.append([{ kind: 'instance', instance: rec(16) }, { kind: 'instance', instance: rec(32) }, { kind: 'applied', id: 16 }, { kind: 'applied', id: 32 }]);
    await s.close();
    const root = open({ path: dir, encoding: 'binary', maxDbs: 8 });
    const instances = root.openDB('instances', { encoding: 'binary' });
    const v = Buffer.from(instances.get(32) as Buffer);
    v[v.length - 3] ^= 0x20; // flip one bit of the JSON
    await instances.put(32, v);
    await root.close();
    const damaged = await LmdbStorage.open(dir);
    await assert.rejects(damaged.load(), /storage corrupt: instances\[32\]: checksum mismatch/);
    await damaged.close();

    const root2 = open({ path: dir, encoding: 'binary', maxDbs: 8 });
    await root2.openDB('instances', { encoding: 'binary' }).remove(32);
    await root2.openDB('applied', { encoding: 'binary' }).remove(0);
    await root2.openDB('applied', { encoding: 'binary' }).put(5, root2.openDB('applied', { encoding: 'binary' }).get(1) as Buffer);
    await root2.close();
    const gap = await LmdbStorage.open(dir);
    await assert.rejects(gap.load(), /storage corrupt: applied\[5\]: the execution log has a gap/);
    await gap.close();
    rmSync(dir, { recursive: true });
  });

  test('a killed writer loses nothing it acknowledged (kill -9 at random moments)', async () => {
    await killWriterRepeatedly(tempDir(), 'lmdb', (dir) => LmdbStorage.open(dir));
  });
});

describe('the replica core rebuilds from LmdbStorage', () => {
  test('a replica restored from lmdb answers and executes like the one that wrote it', async () => {
    const dir = tempDir();
    const opts = { n: 3, f: 1, e: 1 } as const;
    const storages = [await LmdbStorage.open(dir + '/0'), new MemoryStorage(), new MemoryStorage()];
    const machines = [new CoveyStateMachine(), new CoveyStateMachine(), new CoveyStateMachine()];
    let replicas = [0, 1, 2].map((self) => new Replica({ ...opts, self }, machines[self]));
    const net: { from: number; to: number; msg: unknown }[] = [];
    const turn = async (r: number) => {
      const ready = replicas[r].takeReady();
      for (const e of ready.early) net.push(e);
      await storages[r].append(ready.persist);
      for (const e of ready.messages) net.push(e);
    };
    const drain = async () => {
      for (let i = 0; i < 10_000 && net.length > 0; i++) {
        const e = net.shift()!;
        replicas[e.to].step({ type: 'message', from: e.from, msg: e.msg as never });
        await turn(e.to);
      }
    };
    const cmd = (i: number): Command => ({ clientId: 'c', requestId: i, timestampMs: 0, op: 'put', key: `k${i % 3}`, value: `v${i}` });
    for (let i = 1; i <= 20; i++) {
      replicas[i % 3].step({ type: 'submit', command: cmd(i) });
      await turn(i % 3);
      if (i % 4 === 0) await drain();
    }
    await drain();
    for (const r of [0, 1, 2]) { replicas[r].step({ type: 'tick', nowMs: 100, entropy: 1 }); await turn(r); }
    await drain();
    // One client's commands all conflict (its session): concurrent ones miss the fast path and
    // take the slow one on this second tick's fast-path timeout.
    for (const r of [0, 1, 2]) { replicas[r].step({ type: 'tick', nowMs: 1000, entropy: 1 }); await turn(r); }
    await drain();
    const digest = machines[0].digest();
    assert.equal(digest, machines[1].digest());
    const written = [...replicas[0].instanceIds()].sort((a, b) => a - b).map((id) => ({ ...replicas[0].instance(id)! }));
    // Restart replica 0 from disk.
    await storages[0].close();
    storages[0] = await LmdbStorage.open(dir + '/0');
    machines[0] = new CoveyStateMachine();
    replicas = [Replica.restore({ ...opts, self: 0 }, await storages[0].load(), machines[0]), replicas[1], replicas[2]];
    assert.equal(machines[0].digest(), digest, 'the state machine is rebuilt from the execution log');
    assert.deepEqual([...replicas[0].instanceIds()].sort((a, b) => a - b).map((id) => ({ ...replicas[0].instance(id)! })), written);
    // It goes on: a new command from the restarted replica commits and executes everywhere.
    replicas[0].step({ type: 'submit', command: cmd(100) });
    await turn(0);
    await drain();
    for (const r of [0, 1, 2]) { replicas[r].step({ type: 'tick', nowMs: 1200, entropy: 2 }); await turn(r); }
    await drain();
    assert.equal(machines[0].digest(), machines[1].digest());
    assert.match(machines[0].digest(), /v100/);
    await storages[0].close();
    rmSync(dir, { recursive: true });
  });
});

describe('LmdbStorage with snapshots and truncation', () => {
  test('loads exactly what MemoryStorage loads, and the replica restores from it to the same state', async () => {
    const { batches, cluster } = recordedRun();
    const dir = tempDir();
    const s = await LmdbStorage.open(dir);
    const mem = new MemoryStorage();
    for (const b of batches) { await s.append(b); mem.appendSync(b); }
    const loaded = await s.load();
    const byId = (st: StoredState) => ({ ...st, instances: [...st.instances].sort((a, b) => a.id - b.id) });
    assert.deepEqual(byId(loaded), byId(mem.loadSync()), 'the same state (instances in id order, as lmdb keeps them)');
    assert.ok(loaded.snapshot !== undefined);
    assert.ok(loaded.instances.length < [...cluster.storages[0].everIds()].length, 'instances were truncated on disk');
    await s.close();
    const again = await LmdbStorage.open(dir);
    const machine = new CoveyStateMachine();
    Replica.restore({ n: 3, f: 1, e: 1, self: 0 }, await again.load(), machine);
    assert.equal(machine.digest(), (cluster.machines[0] as CoveyStateMachine).digest());
    await again.close();
    rmSync(dir, { recursive: true });
  });

  test('a snapshot drops the log before it and the instances below its floor in the same commit', async () => {
    const dir = tempDir();
    const s = await LmdbStorage.open(dir);
    await s.append([{ kind: 'instance', instance: rec(16) }, { kind: 'instance', instance: rec(17) }, { kind: 'applied', id: 16 }, { kind: 'applied', id: 17 }]);
    const snapshot = { machine: { any: 'state' }, applied: [1, 1, 0], appliedAbove: [], truncated: [1, 0, 0] };
    await s.append([{ kind: 'instance', instance: rec(32) }, { kind: 'applied', id: 32 }, { kind: 'snapshot', snapshot }, { kind: 'instance', instance: rec(48) }, { kind: 'applied', id: 48 }]);
    assert.deepEqual(await s.load(), { instances: [rec(17), rec(32), rec(48)], applied: [48], snapshot });
    await s.close();
    const again = await LmdbStorage.open(dir);
    await again.append([{ kind: 'applied', id: 49 }]);
    assert.deepEqual((await again.load()).applied, [48, 49], 'the log goes on after the snapshot across a reopen');
    await again.close();
    rmSync(dir, { recursive: true });
  });
});
