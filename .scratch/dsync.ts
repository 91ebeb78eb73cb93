import { open } from 'node:fs/promises';
import { constants, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const d = mkdtempSync(join(tmpdir(), 'ds-'));
const buf = Buffer.alloc(400, 1);
for (let round = 0; round < 2; round++) {
  const h1 = await open(join(d, 'a' + round), 'a');
  const t1: number[] = [];
  for (let i = 0; i < 400; i++) { const s = performance.now(); await h1.write(buf); await h1.datasync(); t1.push(performance.now() - s); }
  await h1.close();
  const h2 = await open(join(d, 'b' + round), constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC);
  const t2: number[] = [];
  for (let i = 0; i < 400; i++) { const s = performance.now(); await h2.write(buf); t2.push(performance.now() - s); }
  await h2.close();
  const med = (t: number[]) => t.sort((a, b) => a - b)[200].toFixed(3);
  console.log('write+datasync', med(t1), 'O_DSYNC write', med(t2));
}
