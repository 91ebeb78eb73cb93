// Child process of the storage crash test (testing.ts): appends group commits to the store in
// argv[2] (an LmdbStorage, or with argv[4] = wal a WalStorage) as fast as it can and prints
// "ack <n>" on stdout after the nth append resolved (was durable). The parent kills it with
// SIGKILL at a random moment and checks that every acknowledged append is loaded back. Record n is instance id n·16 (seq n, coordinator 0) plus applied-log entry n·16,
// with a second instance (seq n, coordinator 1) in the same commit to exercise all-or-nothing.
import { LmdbStorage } from './lmdb.ts';
import { WalStorage } from './wal-storage.ts';
import type { InstanceRecord } from '../index.ts';

const dir = process.argv[2];
const start = Number(process.argv[3] ?? '1');
const storage = process.argv[4] === 'wal' ? await WalStorage.open(dir, { segmentBytesMax: 64 * 1024 }) : await LmdbStorage.open(dir);
const none = { ids: [], floor: [0, 0] };
function record(id: number): InstanceRecord {
  return {
    id, bal: 0, abal: 0, phase: 'COMMITTED',
    cmd: { commands: [{ clientId: 'crash', requestId: id, timestampMs: 0, op: 'put', key: `k${id}`, value: 'x'.repeat(4000) }] },
    dep: none, initCmd: null, initDep: none,
  };
}
for (let n = start; ; n++) {
  await storage.append([
    { kind: 'instance', instance: record(n * 16) },
    { kind: 'instance', instance: record(n * 16 + 1) },
    { kind: 'applied', id: n * 16 },
  ]);
  process.stdout.write(`ack ${n}\n`);
}
