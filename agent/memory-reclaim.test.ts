import { spawnSync } from 'node:child_process';
import v8 from 'node:v8';
import vm from 'node:vm';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadMallocTrim, mallocTrimAddon } from './malloc-trim.ts';
import { MemoryReclaim, nextIntervalMs, reclaimedBytesMeaningful, shouldReclaim, shrinkV8Heap, type ReclaimSample } from './memory-reclaim.ts';
import { metricSum } from './fuzz/watch.ts';

const MiB = 1024 * 1024;
const limits = { intervalMsMin: 30_000, intervalMsMax: 600_000, growthBytesMin: 16 * MiB, busyMax: 0.2, settleAfterMs: 20_000 };

test('a reclaim needs growth over the smallest size, an idle event loop, and the interval since the last', () => {
  const at = (rssMiB: number, busy: number, nowMs: number): ReclaimSample => ({ rssBytes: rssMiB * MiB, busy, nowMs });
  assert.equal(shouldReclaim(at(116, 0.1, 60_000), 100 * MiB, 0, 30_000, limits), true);
  assert.equal(shouldReclaim(at(115.9, 0.1, 60_000), 100 * MiB, 0, 30_000, limits), false, 'grown by less than 16 MiB');
  assert.equal(shouldReclaim(at(200, 0.21, 60_000), 100 * MiB, 0, 30_000, limits), false, 'busy: the burst is not over');
  assert.equal(shouldReclaim(at(200, 0.2, 60_000), 100 * MiB, 0, 30_000, limits), true, 'at the idleness bound');
  assert.equal(shouldReclaim(at(200, 0, 29_999), 100 * MiB, 0, 30_000, limits), false, 'the last reclaim was too recent');
  assert.equal(shouldReclaim(at(200, 0, 59_999), 100 * MiB, 0, 60_000, limits), false, 'the interval is the one given');
});

test('once, the first idle look after start-up settles the agent: it reclaims without growth', () => {
  const at = (rssMiB: number, busy: number, nowMs: number): ReclaimSample => ({ rssBytes: rssMiB * MiB, busy, nowMs });
  const never = -Infinity;
  assert.equal(shouldReclaim(at(100, 0.1, 19_999), 100 * MiB, never, 30_000, limits), false, 'too soon after start');
  assert.equal(shouldReclaim(at(100, 0.5, 25_000), 100 * MiB, never, 30_000, limits), false, 'still busy starting');
  assert.equal(shouldReclaim(at(100, 0.1, 20_000), 100 * MiB, never, 30_000, limits), true, 'idle after start, no growth needed');
  assert.equal(shouldReclaim(at(100, 0.1, 90_000), 100 * MiB, 25_000, 30_000, limits), false, 'only once: then growth is needed again');
  const { p, sample, steps } = fakeProcess();
  const r = new MemoryReclaim({ logger: pino({ level: 'silent' }), registry: new Registry(), sample, steps, limits });
  assert.equal(r.check(), null, 'at start');
  p.nowMs = 20_000; p.rssMiB = 101;
  assert.equal(r.check(), 50 * MiB, 'settled: 101 → 51 MiB');
  p.nowMs = 60_000; p.rssMiB = 60;
  assert.equal(r.check(), null, 'grown 9 MiB over the settled size: not worth a pause');
  p.nowMs = 100_000; p.rssMiB = 90;
  assert.equal(r.check(), 50 * MiB, 'grown 39 MiB: reclaimed');
  assert.deepEqual(p.ran, ['v8 settling', 'malloc settling', 'v8', 'malloc'], 'only the first reclaim is the settling one');
});

test('reclaims that give little back come ever more rarely, up to the most; one that gives back resets the wait', () => {
  assert.equal(nextIntervalMs(30_000, reclaimedBytesMeaningful - 1, limits), 60_000);
  assert.equal(nextIntervalMs(480_000, 0, limits), 600_000);
  assert.equal(nextIntervalMs(600_000, 0, limits), 600_000);
  assert.equal(nextIntervalMs(600_000, reclaimedBytesMeaningful, limits), 30_000);
});

/** A process whose RSS and idleness the test sets, and steps that each give back what the test says. */
function fakeProcess() {
  const p = { rssMiB: 100, busy: 0, nowMs: 0, ran: [] as string[], gives: { v8: 30, malloc: 20 } as Record<string, number> };
  const step = (name: string) => ({ name, run: (settling: boolean) => { p.ran.push(settling ? `${name} settling` : name); p.rssMiB -= p.gives[name]; } });
  return { p, sample: () => ({ rssBytes: p.rssMiB * MiB, busy: p.busy, nowMs: p.nowMs }), steps: [step('v8'), step('malloc')] };
}

test('after a burst, an idle agent gives memory back, and counts what each step gave', async () => {
  const { p, sample, steps } = fakeProcess();
  const registry = new Registry();
  const r = new MemoryReclaim({ logger: pino({ level: 'silent' }), registry, sample, steps, limits });
  assert.equal(r.check(), null, 'the first look only records the size');
  p.rssMiB = 180; p.busy = 0.9; p.nowMs = 40_000;
  assert.equal(r.check(), null, 'no reclaim while the burst goes on');
  p.busy = 0.05; p.nowMs = 50_000;
  assert.equal(r.check(), 50 * MiB, 'both steps ran: 180 → 130 MiB');
  assert.deepEqual(p.ran, ['v8 settling', 'malloc settling'], 'V8 first: its collection frees the chunks malloc then trims');
  const text = await registry.metrics();
  assert.equal(metricSum(text, 'covey_memory_reclaims_total'), 1);
  assert.equal(metricSum(text, 'covey_memory_reclaimed_rss_bytes_total', { step: 'v8' }), 30 * MiB);
  assert.equal(metricSum(text, 'covey_memory_reclaimed_rss_bytes_total', { step: 'malloc' }), 20 * MiB);
  assert.equal(metricSum(text, 'covey_memory_reclaim_pause_seconds_count'), 1, 'its pause is timed');
});

test('a reclaim during a slow flood does not raise the mark: the rest of the flood is reclaimed too', () => {
  const { p, sample, steps } = fakeProcess();
  const r = new MemoryReclaim({ logger: pino({ level: 'silent' }), registry: new Registry(), sample, steps, limits });
  r.check(); // 100 MiB
  p.rssMiB = 200; p.busy = 0.1; p.nowMs = 40_000;
  assert.equal(r.check(), 50 * MiB, 'mid-flood, idle enough: 200 → 150 MiB');
  p.rssMiB = 140; p.nowMs = 80_000; // the flood over, some of it freed by V8 alone
  assert.equal(r.check(), 50 * MiB, '140 MiB is 40 over the smallest size seen, though below the last reclaim\'s result');
});

test('while the memory is in use, reclaims back off to once per intervalMsMax', () => {
  const { p, sample, steps } = fakeProcess();
  const r = new MemoryReclaim({ logger: pino({ level: 'silent' }), registry: new Registry(), sample, steps, limits });
  r.check(); // 100 MiB
  p.rssMiB = 140; p.gives = { v8: 0, malloc: 0 }; // grown, and nothing to give back
  const reclaimedAt: number[] = [];
  for (p.nowMs = 10_000; p.nowMs <= 2_200_000; p.nowMs += 10_000) if (r.check() !== null) reclaimedAt.push(p.nowMs / 1000);
  assert.deepEqual(reclaimedAt.slice(0, 7), [10, 70, 190, 430, 910, 1510, 2110], '60, 120, 240, 480 s apart, then 600');
  p.gives = { v8: 20, malloc: 0 };
  p.nowMs = reclaimedAt.at(-1)! * 1000 + 600_000;
  assert.equal(r.check(), 20 * MiB);
  p.rssMiB = 140; p.nowMs += 30_000;
  assert.notEqual(r.check(), null, 'one that gave memory back makes the next wait the least again');
});

test('no reclaim while the agent holds off (cut off from a majority); the first look after it may', () => {
  const { p, sample, steps } = fakeProcess();
  let cutOff = true;
  const r = new MemoryReclaim({ logger: pino({ level: 'silent' }), registry: new Registry(), sample, steps, limits, holdOff: () => cutOff });
  r.check(); // 100 MiB
  p.rssMiB = 150; p.nowMs = 60_000;
  assert.equal(r.check(), null, 'grown and idle, but cut off');
  assert.deepEqual(p.ran, []);
  cutOff = false;
  p.nowMs = 70_000;
  assert.notEqual(r.check(), null, 'back with a majority');
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
  assert.deepEqual(p.ran, ['malloc settling']);
  assert.equal(warnings.length, 1);
  const logged = JSON.parse(warnings[0]) as { msg: string; step: string; err: { message: string } };
  assert.deepEqual([logged.msg, logged.step, logged.err.message], ['could not reclaim memory', 'v8', 'no heap today']);
});

test('shrinking V8\'s heap frees garbage that a quiet process would keep, and exposes gc() to no context', async () => {
  // 32 MiB made and dropped at once: garbage only a collection frees.
  (function makeGarbage(): void {
    const garbage = Array.from({ length: 2000 }, () => new Uint8Array(16 * 1024));
    garbage.push(new Uint8Array(1));
  })();
  const warned: string[] = [];
  const onWarning = (w: Error) => warned.push(w.message);
  process.on('warning', onWarning);
  const external = process.memoryUsage().arrayBuffers;
  shrinkV8Heap();
  shrinkV8Heap(); // the second time with the gc() it kept
  await new Promise((r) => setImmediate(r)); // warnings are emitted on a later tick
  process.off('warning', onWarning);
  assert.ok(process.memoryUsage().arrayBuffers < external - 16 * MiB, `the 32 MiB of dropped buffers are freed (${external} → ${process.memoryUsage().arrayBuffers} bytes)`);
  assert.deepEqual(warned, []);
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'the agent\'s own context has no gc()');
  assert.equal(vm.runInNewContext('typeof gc'), 'undefined', 'nor has a context made later (a plugin\'s vm)');
});

test('the settling reclaim drops the bytecode of functions that ran once; they still run, and later reclaims keep bytecode', () => {
  const trustedUsed = () => v8.getHeapSpaceStatistics().find((sp) => sp.space_name === 'trusted_space')?.space_used_size ?? NaN;
  // 2,000 functions, each compiled and run once, and kept alive: start-up code an agent never calls again.
  const source = Array.from({ length: 2000 }, (_, i) => `function f${i}(a) { let s = a; for (let k = 0; k < 3; k++) s = (s * 31 + ${i}) % 1000003; return s + ${i}; }`).join('\n')
    + `\nreturn [${Array.from({ length: 2000 }, (_, i) => `f${i}`).join(',')}];`;
  const fns = new Function(source)() as ((a: number) => number)[];
  const results = () => fns.map((f) => f(7)).join(',');
  const first = results();
  shrinkV8Heap();
  const kept = trustedUsed();
  assert.ok(Number.isFinite(kept), 'V8 reports its trusted space (where bytecode lives)');
  shrinkV8Heap();
  assert.ok(trustedUsed() > kept - 64 * 1024, `a plain reclaim keeps the bytecode (${kept} → ${trustedUsed()} bytes)`);
  shrinkV8Heap({ flushCode: true });
  const flushed = trustedUsed();
  assert.ok(flushed < kept - 256 * 1024, `the settling reclaim drops it (${kept} → ${flushed} bytes)`);
  assert.equal(results(), first, 'the functions compile again on their next call');
  const recompiled = trustedUsed();
  shrinkV8Heap();
  assert.ok(trustedUsed() > recompiled - 64 * 1024, `the flushing flag was cleared: the next reclaim keeps bytecode (${recompiled} → ${trustedUsed()} bytes)`);
});

/** Whether this machine has the C compiler agent/native/build.ts uses. */
function compilerFound(): boolean {
  return spawnSync(process.env.CC ?? 'cc', ['--version']).status === 0;
}

test('the malloc-trim addon loads where it was built, and says why not where it cannot', () => {
  const loaded = loadMallocTrim({});
  // Where npm run build could build it, it must have: a silent build failure would leave every agent untrimmed.
  if (process.platform === 'linux' && compilerFound() && loaded.trim === null) assert.fail(`npm run build should have built ${mallocTrimAddon}: ${loaded.unavailable}`);
  if (loaded.trim !== null) assert.equal(typeof loaded.trim(), 'boolean');
  assert.deepEqual(loadMallocTrim({ COVEY_MALLOC_TRIM: '0' }), { trim: null, unavailable: 'COVEY_MALLOC_TRIM=0' });
  const missing = loadMallocTrim({}, '/nonexistent/malloc-trim.node');
  assert.match(missing.unavailable ?? '', process.platform === 'linux' ? /not built \(npm run build needs a C compiler/ : /not Linux/);
});
