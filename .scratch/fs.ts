import { openSync, writeSync, fdatasyncSync, mkdtempSync } from 'node:fs';
import { open } from 'lmdb';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const d = mkdtempSync(join(tmpdir(), 'fs-'));
const fd = openSync(join(d, 'wal'), 'a');
const buf = Buffer.alloc(300, 1);
const t: number[] = [];
for (let i = 0; i < 300; i++) { const s = performance.now(); writeSync(fd, buf); fdatasyncSync(fd); t.push(performance.now() - s); }
t.sort((a, b) => a - b); console.log('append+fdatasync p50', t[150].toFixed(3), 'p90', t[270].toFixed(3));
const db = open({ path: join(d, 'l'), overlappingSync: false, noSync: false });
const u: number[] = [];
for (let i = 0; i < 300; i++) { const s = performance.now(); await db.put(`k${i}`, buf); u.push(performance.now() - s); }
u.sort((a, b) => a - b); console.log('lmdb put (synced) p50', u[150].toFixed(3), 'p90', u[270].toFixed(3));
