import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStorage } from '../consensus/storage/lmdb.ts';
const dir = mkdtempSync(join(tmpdir(), 'meta-'));
const s = await LmdbStorage.open(dir);
for (let i = 1; i < 300; i++) await s.append([{ kind: 'applied', id: i * 16 }, { kind: 'instance', instance: { id: i * 16, bal: 0, abal: 0, phase: 'COMMITTED', cmd: { commands: [{ clientId: 'c', requestId: i, timestampMs: 1, op: 'put', key: 'k' + i, value: 'x'.repeat(2000) }] }, dep: { ids: [], floor: [0, 0, 0] }, initCmd: null, initDep: { ids: [], floor: [0, 0, 0] } } as any }]);
await s.close();
const buf = readFileSync(join(dir, 'data.mdb'));
for (const off of [0, 4096]) {
  console.log('meta@', off, 'magic', buf.readUInt32LE(off + 16).toString(16), 'version', buf.readUInt32LE(off + 20), 'psize', buf.readUInt32LE(off + 40), 'last_pg', Number(buf.readBigUInt64LE(off + 136)), 'txnid', Number(buf.readBigUInt64LE(off + 144)));
}
console.log('file size', statSync(join(dir, 'data.mdb')).size);
