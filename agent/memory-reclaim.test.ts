import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadMallocTrim, mallocTrimAddon } from './malloc-trim.ts';
import { MemoryReclaim, shouldReclaim, shrinkV8Heap, type ReclaimSample } from './memory-reclaim.ts';
import { metricSum } from './fuzz/watch.ts';

const MiB = 1024 * 1024;
const limits = { intervalMsMin: 30_000, growthBytesMin: 16 * MiB, busyMax: 0.2 };

test('a reclaim needs growth over the settled size, an idle event loop, and the interval since the last', () => {
  const at = (rssMiB: number, busy: number, nowMs: number): ReclaimSample => ({ rssBytes: rssMiB * MiB, busy, nowMs });
  assert.equal(shouldReclaim(at(116, 0.1, 60_000), 100 * MiB, 0, limits), true);
  assert.equal(shouldReclaim(at(115.9, 0.1, 60_000), 100 * MiB, 0, limits), false, 'grown by less than 16 MiB');
  assert.equal(shouldReclaim(at(200, 0.21, 60_000), 100 * MiB, 0, limits), false, 'busy: the burst is not over');
  assert.equal(shouldReclaim(at(200, 0.2, 60_000), 100 * MiB, 0, limits), true, 'at the idleness bound');
  assert.equal(shouldReclaim(at(200, 0, 29_999), 100 * MiB, 0, limits), false, 'the last reclaim was too recent');
});

/** A process whose RSS the test sets, and steps that each give back a set amount. */
function fakeProcess() {
  const p = { rssMiB: 100, busy: 0, nowMs: 0, ran: [] as string[] };
  const step = (name: string, gives: number) => ({ name, run: () => { p.ran.push(name); p.rssMiB -= gives; } });
  return { p, sample: () => ({ rssBytes: p.rssMiB * MiB, busy: p.busy, nowMs: p.nowMs }), steps: [step('v8', 30), step('malloc', 20)] };
}

test('after a burst, an idle agent gives memory back once, settles there, and counts what each step gave', async () => {
  const { p, sample, steps } = fakeProcess();
  const registry = new Registry();
  const r = new MemoryReclaim({ logger: pino({ level: 'silent' }), registry, sample, steps, limits });
  assert.equal(r.check(), null, 'the first look only records where the agent settled');
  p.rssMiB = 180; p.busy = 0.9; p.nowMs = 40_000;
  assert.equal(r.check(), null, 'no reclaim while the burst goes on');
  p.busy = 0.05; p.nowMs = 50_000;
  assert.equal(r.check(), 50 * MiB, 'both steps ran: 180 → 130 MiB');
  assert.deepEqual(p.ran, ['v8', 'malloc'], 'V8 first: its collection frees the chunks malloc then trims');
  p.nowMs = 200_000;
  assert.equal(r.check(), null, 'settled at 130 MiB: what is still held is not reclaimed again and again');
  p.rssMiB = 146; p.nowMs = 210_000;
  assert.equal(r.check(), 50 * MiB, 'grown 16 MiB over the new settled size: reclaimed again');
  const text = await registry.metrics();
  assert.equal(metricSum(text, 'covey_memory_reclaims_total'), 2);
  assert.equal(metricSum(text, 'covey_memory_reclaimed_rss_bytes_total', { step: 'v8' }), 60 * MiB);
  assert.equal(metricSum(text, 'covey_memory_reclaimed_rss_bytes_total', { step: 'malloc' }), 40 * MiB);
});

test('a step that throws is logged and the others still run', () => {
  const { p, sample, steps } = fakeProcess();
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => { warnings.push(line); } });
  const failing = { name: 'v8', run: () => { throw new Error('no heap today'); } };
  const r = new MemoryReclaim({ logger, registry: new Registry(), sample, steps: [failing, steps[1]], limits });
  r.check();
  p.rssMiB = 150; p.nowMs = 60_000;
  assert.equal(r.check(), 20 * MiB);
  assert.deepEqual(p.ran, ['malloc']);
  assert.equal(warnings.length, 1);
  const logged = JSON.parse(warnings[0]) as { msg: string; step: string; err: { message: string } };
  assert.deepEqual([logged.msg, logged.step, logged.err.message], ['could not reclaim memory', 'v8', 'no heap today']);
});

test('shrinking V8\'s heap frees garbage that a quiet process would keep, and prints no warning', async () => {
  let garbage: Uint8Array[] | null = Array.from({ length: 2000 }, () => new Uint8Array(16 * 1024));
  garbage.push(new Uint8Array(1));
  garbage = null;
  const warned: string[] = [];
  const onWarning = (w: Error) => warned.push(w.message);
  process.on('warning', onWarning);
  const external = process.memoryUsage().arrayBuffers;
  shrinkV8Heap();
  await new Promise((r) => setImmediate(r)); // warnings are emitted on a later tick
  process.off('warning', onWarning);
  assert.ok(process.memoryUsage().arrayBuffers < external - 16 * MiB, `the 32 MiB of dropped buffers are freed (${external} → ${process.memoryUsage().arrayBuffers} bytes)`);
  assert.deepEqual(warned, [], 'v8.queryObjects\' experimental warning is not the operator\'s concern');
});

test('the malloc-trim addon loads where it was built, and says why not where it cannot', () => {
  const loaded = loadMallocTrim({});
  if (process.platform === 'linux' && loaded.trim === null) assert.fail(`npm run build should have built ${mallocTrimAddon}: ${loaded.unavailable}`);
  if (loaded.trim !== null) assert.equal(typeof loaded.trim(), 'boolean');
  assert.deepEqual(loadMallocTrim({ COVEY_MALLOC_TRIM: '0' }), { trim: null, unavailable: 'COVEY_MALLOC_TRIM=0' });
  const missing = loadMallocTrim({}, '/nonexistent/malloc-trim.node');
  assert.match(missing.unavailable ?? '', process.platform === 'linux' ? /not built \(npm run build needs a C compiler/ : /not Linux/);
});
