import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStorage } from '../consensus/storage/lmdb.ts';
import { WalStorage } from '../consensus/storage/wal-storage.ts';
const rec = (id: number) => ({ kind: 'instance' as const, instance: { id, bal: 0, abal: 0, phase: 'PREACCEPTED', cmd: { commands: [{ op: 'put', key: 'k' + id, value: 'v'.repeat(100), clientId: 'c', requestId: id, timestampMs: 1 }] }, dep: { ids: [], floor: [0, 0, 0] }, initCmd: null, initDep: { ids: [], floor: [0, 0, 0] } } as any });
for (const [name, s] of [['lmdb', await LmdbStorage.open(mkdtempSync(join(tmpdir(), 'ap-')))], ['wal', await WalStorage.open(mkdtempSync(join(tmpdir(), 'ap-')))]] as const) {
  const t: number[] = [];
  for (let i = 1; i <= 400; i++) { const a = performance.now(); await s.append([rec(i * 3)]); t.push(performance.now() - a); }
  t.sort((a, b) => a - b); console.log(name, 'append p50', t[200].toFixed(3), 'p90', t[360].toFixed(3));
  await s.close();
}
