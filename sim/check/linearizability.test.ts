import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { parseHistory } from '../history.ts';
import { checkLinearizable } from './linearizability.ts';
import type { LinearizabilityResult } from './linearizability.ts';
import { generateRegisterOps, registerEvents, type RegisterOp } from '../workload/register-history.ts';

interface Ev {
  process: number;
  type: 'invoke' | 'ok' | 'fail' | 'info';
  f: string;
  key: string;
  value?: unknown;
  time: number;
}

const check = (events: Ev[]): LinearizabilityResult =>
  checkLinearizable(parseHistory(events.map((e) => JSON.stringify(e)).join('\n')));

/** One operation of a hand-made history on key `k`: its invoke and (unless open) completion. */
function op(process: number, f: string, value: unknown, from: number, to: number | null, type: Ev['type'] = 'ok', output?: unknown): Ev[] {
  const invoke: Ev = { process, type: 'invoke', f, key: 'k', time: from };
  if (f !== 'read') invoke.value = value;
  if (to === null) return [invoke];
  const done: Ev = { process, type, f, key: 'k', time: to };
  const out = f === 'read' ? value : output;
  if (type === 'ok' && out !== undefined) done.value = out;
  return [invoke, done];
}
const w = (p: number, v: unknown, from: number, to: number | null, type: Ev['type'] = 'ok') => op(p, 'write', v, from, to, type);
const r = (p: number, v: unknown, from: number, to: number, type: Ev['type'] = 'ok') => op(p, 'read', v, from, to, type);
const cas = (p: number, expected: unknown, next: unknown, swapped: boolean, from: number, to: number | null, type: Ev['type'] = 'ok') =>
  op(p, 'cas', [expected, next], from, to, type, swapped);
/** Events sorted by time, as a recorder would write them. */
const hist = (...ops: Ev[][]): Ev[] => ops.flat().sort((a, b) => a.time - b.time);

function accepted(events: Ev[]): void {
  const res = check(events);
  assert.deepEqual(res.violations, []);
  assert.equal(res.linearizable, true);
}
function rejected(events: Ev[], reason?: RegExp): void {
  const res = check(events);
  assert.equal(res.linearizable, false);
  assert.equal(res.violations.length, 1);
  assert.equal(res.violations[0].key, 'k');
  assert.notEqual(res.violations[0].unknown, true);
  if (reason) assert.match(res.violations[0].reason, reason);
}

describe('checkLinearizable: linearizable histories', () => {
  it('accepts a sequential history', () =>
    accepted(hist(r(1, null, 0, 1), w(1, 'a', 2, 3), r(1, 'a', 4, 5), cas(1, 'a', 'b', true, 6, 7), cas(1, 'a', 'c', false, 8, 9), r(1, 'b', 10, 11))));
  it('accepts reads seeing either of two overlapping writes', () => {
    accepted(hist(w(1, 'a', 0, 100), w(2, 'b', 10, 90), r(3, 'a', 20, 30), r(4, 'b', 40, 50)));
    accepted(hist(w(1, 'a', 0, 100), w(2, 'b', 10, 90), r(3, 'b', 20, 30), r(4, 'a', 40, 50)));
    accepted(hist(w(1, 'a', 0, 100), w(2, 'b', 10, 90), r(3, null, 20, 30), r(4, 'a', 120, 130)));
  });
  it('treats equal completion and invoke times as concurrent', () =>
    accepted(hist(w(1, 'a', 0, 10), w(2, 'b', 10, 20), r(3, 'a', 20, 30))));
  it('accepts a cas success and a concurrent cas failure', () =>
    accepted(hist(w(1, 'a', 0, 10), cas(2, 'a', 'b', false, 20, 30), cas(3, 'a', 'c', true, 20, 30), r(1, 'c', 40, 50))));
  it('accepts info writes that did or did not take effect, at any later time', () => {
    accepted(hist(w(1, 'a', 0, 10), w(2, 'b', 20, 25, 'info'), r(3, 'a', 30, 40), r(3, 'b', 50, 60)));
    accepted(hist(w(1, 'a', 0, 10), w(2, 'b', 20, 25, 'info'), r(3, 'a', 30, 40), r(3, 'a', 50, 60)));
    accepted(hist(w(1, 'a', 0, 10), w(2, 'b', 20, null), r(3, 'b', 50, 60)));
    accepted(hist(w(1, 'a', 0, 10), cas(2, 'a', 'b', false, 20, 25, 'info'), r(3, 'b', 50, 60)));
  });
  it('ignores fail operations, info reads and task-board operations', () => {
    const claim: Ev[] = [
      { process: 9, type: 'invoke', f: 'claim', key: 'k', time: 1 },
      { process: 9, type: 'ok', f: 'claim', key: 'k', value: 'zzz', time: 2 },
    ];
    accepted(hist(w(1, 'a', 0, 10), w(2, 'b', 20, 30, 'fail'), r(3, 'x', 40, 50, 'info'), r(3, 'a', 60, 70), claim));
  });
  it('compares JSON values canonically', () => accepted(hist(w(1, { x: 1, y: [2] }, 0, 10), r(2, { y: [2], x: 1 }, 20, 30))));
});

describe('checkLinearizable: non-linearizable histories', () => {
  it('rejects a stale read after a completed write', () => {
    const res = check(hist(w(1, 'a', 0, 10), w(2, 'b', 20, 30), r(3, 'a', 40, 50)));
    assert.equal(res.linearizable, false);
    assert.match(res.violations[0].reason, /stale read: process 3 read "a" .* after write "b" completed at 30 ns/);
    // The witness: the write of "a", the write of "b" that followed it, the read that still saw "a".
    assert.deepEqual(res.violations[0].operations.map((o) => [o.f, o.value ?? o.output]), [['write', 'a'], ['write', 'b'], ['read', 'a']]);
  });
  it('rejects a read of a value never written', () =>
    rejected(hist(w(1, 'a', 0, 10), r(2, 'q', 20, 30)), /never written/));
  it('rejects reads in real-time order seeing new then old', () =>
    rejected(hist(w(1, 'a', 0, 10), w(2, 'b', 20, 100), r(3, 'b', 30, 40), r(4, 'a', 50, 60))));
  it('rejects a cas that succeeded against a value that could not be current', () =>
    rejected(hist(w(1, 'a', 0, 10), w(2, 'b', 20, 30), cas(3, 'a', 'c', true, 40, 50))));
  it('rejects a cas that failed when its expected value had to be current', () =>
    rejected(hist(w(1, 'a', 0, 10), cas(3, 'a', 'c', false, 40, 50))));
  it('rejects a lost acknowledged write', () => rejected(hist(w(1, 'a', 0, 10), r(2, null, 20, 30))));
  it('names each bad key and leaves the good ones alone', () => {
    const good = hist(w(1, 'a', 0, 10), r(2, 'a', 20, 30)).map((e) => ({ ...e, key: 'good' }));
    const res = check([...hist(w(3, 'a', 0, 10), r(4, null, 20, 30)), ...good]);
    assert.equal(res.keys, 2);
    assert.equal(res.operations, 4);
    assert.deepEqual(res.violations.map((v) => v.key), ['k']);
  });
  it('reports the search limit as unknown rather than hanging', () => {
    // 12 concurrent writes then inconsistent reads: refuting it means visiting ~2^12 subsets.
    const writes = Array.from({ length: 12 }, (_, i) => w(10 + i, i, 0, 100));
    const events = hist(...writes, r(1, 0, 200, 210), r(1, 1, 220, 230));
    const res = checkLinearizable(parseHistory(events.map((e) => JSON.stringify(e)).join('\n')), { searchStatesMax: 500 });
    assert.equal(res.linearizable, false);
    assert.equal(res.violations[0].unknown, true);
    assert.match(res.violations[0].reason, /search stopped at its budget of 500 states/);
    rejected(events); // with the default limit it is refuted outright
  });
});

// ---- Generated histories from a real sequential register --------------------------------------

type GenOp = RegisterOp;

/** Generated histories of a real register (sim/workload/register-history.ts): linearizable by construction. */
function generate(seed: number, keys: number, opsPerKey: number, clients: number, unknownShare = 0.05): GenOp[] {
  return generateRegisterOps({ seed, keys, opsPerKey, clientsPerKey: clients, unknownShare });
}

const toEvents = (ops: GenOp[]): Ev[] => registerEvents(ops);

const params = fc.record({
  seed: fc.integer(),
  keys: fc.integer({ min: 1, max: 3 }),
  opsPerKey: fc.integer({ min: 1, max: 80 }),
  clients: fc.integer({ min: 1, max: 6 }),
});
const okReads = (ops: GenOp[]) => ops.filter((o) => o.f === 'read' && o.outcome === 'ok');

describe('checkLinearizable: generated histories', () => {
  it('accepts histories of a real register with random concurrency', () => {
    fc.assert(
      fc.property(params, ({ seed, keys, opsPerKey, clients }) => {
        const res = check(toEvents(generate(seed, keys, opsPerKey, clients)));
        assert.deepEqual(res.violations, []);
      }),
      { numRuns: 200 },
    );
  });

  it('rejects them once one read returns a never-written value', () => {
    fc.assert(
      fc.property(params, fc.nat(), ({ seed, keys, opsPerKey, clients }, pick) => {
        const ops = generate(seed, keys, opsPerKey, clients);
        const reads = okReads(ops);
        fc.pre(reads.length > 0);
        const read = reads[pick % reads.length];
        read.output = 'never-written';
        const res = check(toEvents(ops));
        assert.equal(res.linearizable, false);
        assert.deepEqual(res.violations.map((v) => v.key), [read.key]);
      }),
      { numRuns: 100 },
    );
  });

  it('rejects them once one read returns a value written only after the read completed', () => {
    fc.assert(
      fc.property(params, fc.nat(), ({ seed, keys, opsPerKey, clients }, pick) => {
        const ops = generate(seed, keys, opsPerKey, clients);
        const pairs = okReads(ops).flatMap((rd) =>
          ops.filter((o) => o.f === 'write' && o.key === rd.key && o.invoke > rd.complete).map((wr) => [rd, wr]),
        );
        fc.pre(pairs.length > 0);
        const [read, write] = pairs[pick % pairs.length];
        read.output = write.value;
        const res = check(toEvents(ops));
        assert.equal(res.linearizable, false);
        assert.deepEqual(res.violations.map((v) => [v.key, v.unknown]), [[read.key, undefined]]);
      }),
      { numRuns: 100 },
    );
  });

  it('checks 100,000 operations (100 keys x 1,000, 5 clients each): all decided, none illegal (the time is printed; bench:verify judges speed)', () => {
    const history = parseHistory(toEvents(generate(42, 100, 1000, 5)).map((e) => JSON.stringify(e)).join('\n'));
    const start = performance.now();
    const res = checkLinearizable(history);
    const ms = performance.now() - start;
    assert.deepEqual(res.violations, []);
    assert.equal(res.linearizable, true, 'every key decided linearizable (none stopped at the state budget)');
    assert.equal(res.keys, 100);
    assert.ok(res.operations > 90_000, `${res.operations} operations`);
    console.log(`checked ${res.operations} operations on ${res.keys} keys in ${ms.toFixed(0)} ms`);
  });
});

describe('checkLinearizable: operations of unknown outcome', () => {
  it('accepts an info write that only explains a cas reporting another value (the pruned pass fails, the full one holds)', () =>
    accepted(hist(w(1, 'a', 0, 1), w(2, 'b', 2, null, 'info'), cas(3, 'a', 'c', false, 10, 11), r(3, 'a', 12, 13, 'info'))));
  it('still rejects a stale read when unobserved info writes are around', () =>
    rejected(hist(w(1, 'a', 0, 1), w(2, 'x', 2, null, 'info'), w(1, 'b', 3, 4), r(3, 'a', 10, 11), w(4, 'y', 12, null, 'info'))));
  it('decides many concurrent unobserved info writes quickly, where the full search gives up', () => {
    // 24 clients write and never hear back; a read that overlaps them all saw the initial value
    // and a write that follows is then read. The full search tries the info writes in many
    // orders and subsets before the read; without them the history is plainly linearizable.
    const ops: Ev[][] = [];
    for (let p = 0; p < 24; p++) ops.push(w(100 + p, `lost-${p}`, 1 + p, null, 'info'));
    ops.push(r(1, null, 30, 200), w(2, 'a', 300, 310), r(3, 'a', 320, 330));
    const res = check(hist(...ops));
    assert.deepEqual(res.violations, []);
  });
});

describe('checkLinearizable: reads and failed cas are linearized greedily', () => {
  it('decides a real hot-key history from a faulty simulation that the plain search could not', () => {
    // Key k1 of `covey sim --voters 5 --agents 1000 --clients 995 --rate 0.5 --conflict 0.1
    // --keys 10 --duration 2m --faults all` (seed 1): 563
    // operations, up to 22 ok ones concurrent, 125 failed cas, 39 info writes. It is
    // linearizable; the search without the greedy rule needed about 4 million states.
    const text = readFileSync(new URL('./regressions/hot-key-under-faults.jsonl', import.meta.url), 'utf8');
    const res = checkLinearizable(parseHistory(text));
    assert.deepEqual(res.violations, []);
    assert.equal(res.operations, 563);
  });
  it('merges written values no operation can observe: another hot key of the same run', () => {
    // Key k0 of the same run, 577 operations: still past the 250k-state limit with the greedy
    // rule alone, because each order of the unobserved writes left a different value behind.
    const text = readFileSync(new URL('./regressions/hot-key-unobserved-writes.jsonl', import.meta.url), 'utf8');
    const res = checkLinearizable(parseHistory(text));
    assert.deepEqual(res.violations, []);
    assert.equal(res.operations, 577);
  });
  it('merging unobservable values keeps a violation a violation', () =>
    rejected(hist(w(1, 'a', 0, 1), w(2, 'hidden', 2, 3), r(3, 'a', 4, 5))));
  it('still rejects a failed cas that must have found its expected value', () =>
    rejected(hist(w(1, 'a', 0, 1), cas(2, 'a', 'b', false, 2, 3))));
});
