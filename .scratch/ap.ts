import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStorage } from '../consensus/storage/lmdb.ts';
import { open } from 'lmdb';
const s = await LmdbStorage.open(mkdtempSync(join(tmpdir(), 'ap-')));
const rec = (id: number) => ({ kind: 'instance' as const, instance: { id, bal: 0, abal: 0, phase: 'PREACCEPTED', cmd: { commands: [{ op: 'put', key: 'k' + id, value: 'v'.repeat(100), clientId: 'c', requestId: id, timestampMs: 1 }] }, dep: [0, 0, 0], initDep: [0, 0, 0] } as any });
const t: number[] = [];
for (let i = 1; i <= 300; i++) { const a = performance.now(); await s.append([rec(i * 3)]); t.push(performance.now() - a); }
t.sort((a, b) => a - b); console.log('LmdbStorage.append p50', t[150].toFixed(3), 'p90', t[270].toFixed(3));
const db = open({ path: mkdtempSync(join(tmpdir(), 'ap2-')), overlappingSync: false, noSync: false });
const u: number[] = [];
for (let i = 0; i < 300; i++) { const a = performance.now(); await db.batch(() => { db.put('k' + i, Buffer.alloc(300)); }); u.push(performance.now() - a); }
u.sort((a, b) => a - b); console.log('root.batch p50', u[150].toFixed(3), 'p90', u[270].toFixed(3));
const w: number[] = [];
for (let i = 0; i < 300; i++) { const a = performance.now(); await db.batch(() => { db.put('k' + i, Buffer.alloc(300)); }); await db.flushed; w.push(performance.now() - a); }
w.sort((a, b) => a - b); console.log('root.batch+flushed p50', w[150].toFixed(3), 'p90', w[270].toFixed(3));
