// `covey verify` and the checker behind it: refutation before search, segments, search-only
// cases, Jepsen EDN input, bad input, exit codes.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseHistory } from '../history.ts';
import { parseHistoryText } from './history-input.ts';
import { verifyHistory, type VerifyReport } from './verify.ts';

const cli = fileURLToPath(new URL('../../agent/cli/covey.ts', import.meta.url));
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

interface Ev { process: number; type: string; f: string; key: string; value?: unknown; time: number }

/** Builds one key's events: w/r/cas with [from, to] windows; to = null leaves the operation open (info). */
class Builder {
  readonly events: Ev[] = [];
  readonly key: string;
  constructor(key = 'k') {
    this.key = key;
  }
  write(p: number, v: unknown, from: number, to: number | null): this {
    this.events.push({ process: p, type: 'invoke', f: 'write', key: this.key, value: v, time: from });
    if (to !== null) this.events.push({ process: p, type: 'ok', f: 'write', key: this.key, time: to });
    return this;
  }
  read(p: number, v: unknown, from: number, to: number): this {
    this.events.push({ process: p, type: 'invoke', f: 'read', key: this.key, time: from }, { process: p, type: 'ok', f: 'read', key: this.key, value: v, time: to });
    return this;
  }
  text(): string {
    return this.events.slice().sort((a, b) => a.time - b.time).map((e) => JSON.stringify(e)).join('\n') + '\n';
  }
}

const verify = (text: string, statesMax = 1_000_000): VerifyReport => verifyHistory(parseHistory(text), { statesMax });

/** CPU milliseconds `f` takes in this process: unlike wall time, it does not grow when the shared machine is busy. */
function cpuMs<T>(f: () => T): { result: T; ms: number } {
  const before = process.cpuUsage();
  const result = f();
  const used = process.cpuUsage(before);
  return { result, ms: (used.user + used.system) / 1000 };
}

/**
 * A linearizable stretch: `clients` processes each doing `rounds` write-then-read pairs with
 * overlapping windows, every read seeing the write of its own round's last writer. Returns the
 * builder and the time it ends.
 */
function busyPart(b: Builder, start: number, clients: number, rounds: number, tag: string): number {
  let t = start;
  for (let r = 0; r < rounds; r++) {
    // All clients write concurrently in [t, t+100]; then each reads, after every write completed,
    // the value of client 0's write (client 0 writes last: its window starts latest).
    for (let c = 0; c < clients; c++) b.write(c, `${tag}-${r}-${c}`, t + (clients - c), t + 100);
    for (let c = 0; c < clients; c++) b.read(c, `${tag}-${r}-0`, t + 200, t + 300);
    t += 400;
  }
  return t;
}

describe('covey verify: refutation before search', () => {
  it('refutes two linearizable parts, the second starting with a read of null after the first part\'s writes completed, in well under a second', () => {
    const b = new Builder();
    const end = busyPart(b, 0, 12, 20, 'first');
    b.read(0, null, end + 10, end + 20); // nothing ever writes null
    busyPart(b, end + 100, 12, 20, 'second');
    const text = b.text();
    const { result: r, ms } = cpuMs(() => verify(text));
    assert.equal(r.verdict, 'not-linearizable');
    const k = r.keys[0];
    assert.equal(k.method, 'refuted-before-search');
    assert.match(k.reason!, /read null .* null is the initial value and nothing writes it again/);
    // The shortest part that shows it: a completed write and the read of null after it.
    assert.equal(k.witness!.length, 2);
    assert.deepEqual(k.witness!.map((o) => o.f), ['write', 'read']);
    assert.ok(ms < 300, `took ${ms.toFixed(0)} ms of CPU`);
  });

  it('refutes a read of a value before its write was invoked, naming both', () => {
    const r = verify(new Builder().read(1, 'x', 0, 10).write(2, 'x', 20, 30).text());
    assert.equal(r.keys[0].method, 'refuted-before-search');
    assert.match(r.keys[0].reason!, /before any write of "x" was invoked/);
    assert.deepEqual(r.keys[0].witness!.map((o) => o.line), [1, 3]);
  });

  it('the same history without the bad read is linearizable (the refutation is not a false alarm)', () => {
    const b = new Builder();
    const end = busyPart(b, 0, 12, 20, 'first');
    busyPart(b, end + 100, 12, 20, 'second');
    const r = verify(b.text());
    assert.equal(r.verdict, 'linearizable');
    assert.ok(r.keys[0].segments >= 40, `${r.keys[0].segments} segments`);
  });
});

describe('covey verify: search', () => {
  it('decides a history only search can refute: 12 concurrent writes, then reads that see two of them in an impossible order', () => {
    // No cheap check applies (no write completes between the writes and the reads); the first
    // segment can end in any of the 12 values, and the reads need w1 after w0 and then w0 again.
    const b = new Builder();
    for (let i = 0; i < 12; i++) b.write(10 + i, i, 0, 100);
    b.read(1, 0, 200, 210).read(1, 1, 220, 230).read(1, 0, 240, 250);
    const r = verify(b.text());
    assert.equal(r.verdict, 'not-linearizable');
    const k = r.keys[0];
    assert.equal(k.method, 'search');
    assert.ok(k.states > 1, `${k.states} states`);
    // The witness: the two writes the reads saw (the other ten taken out) and the two reads that cannot both follow them.
    assert.deepEqual(k.witness!.map((o) => [o.f, o.value ?? o.output]), [['write', 0], ['write', 1], ['read', 0], ['read', 1]]);
  });

  it('refutes, segment by segment, a long history whose violation no cheap check sees, in well under a second', () => {
    // Two busy linearizable parts; between them 12 concurrent writes read back in an impossible
    // order. One search over the whole key would retry the first part's orders for each of the
    // second's; cut at quiescent points, each part is searched once.
    const b = new Builder();
    const t = busyPart(b, 0, 12, 20, 'first');
    for (let i = 0; i < 12; i++) b.write(10 + i, `mid-${i}`, t, t + 100);
    b.read(1, 'mid-0', t + 200, t + 210).read(1, 'mid-1', t + 220, t + 230).read(1, 'mid-0', t + 240, t + 250);
    busyPart(b, t + 300, 12, 20, 'second');
    const text = b.text();
    const { result: r, ms } = cpuMs(() => verify(text));
    assert.equal(r.verdict, 'not-linearizable');
    assert.equal(r.keys[0].method, 'search');
    assert.match(r.keys[0].reason!, /segment \d+ of \d+/);
    // The witness reaches back past the segment boundaries to show why: two of the concurrent
    // writes and the two reads that cannot both follow them.
    assert.deepEqual(r.keys[0].witness!.map((o) => [o.f, o.value ?? o.output]), [['write', 'mid-0'], ['write', 'mid-1'], ['read', 'mid-0'], ['read', 'mid-1']]);
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms of CPU`);
  });

  it('decides a history only search can accept: the same writes, read in a possible order', () => {
    const b = new Builder();
    for (let i = 0; i < 12; i++) b.write(10 + i, i, 0, 100);
    b.read(1, 0, 200, 210).read(1, 0, 220, 230);
    const r = verify(b.text());
    assert.equal(r.verdict, 'linearizable');
    assert.equal(r.keys[0].method, 'search');
  });

  it('reports a key the budget stops as undecided, with the reason', () => {
    const b = new Builder();
    for (let i = 0; i < 12; i++) b.write(10 + i, i, 0, 100);
    b.read(1, 0, 200, 210).read(1, 1, 220, 230).read(1, 0, 240, 250);
    const r = verify(b.text(), 200);
    assert.equal(r.verdict, 'unknown');
    assert.match(r.keys[0].reason!, /search stopped at its budget of 200 states/);
  });
});

describe('covey verify: Jepsen EDN', () => {
  it('reads a knossos-style cas-register history (info cas, failed cas, nemesis ops) and judges it linearizable', () => {
    const { history, format } = parseHistoryText(readFixture('jepsen-cas-register.edn'));
    assert.equal(format, 'edn');
    const r = verifyHistory(history, { statesMax: 1_000_000 });
    assert.equal(r.verdict, 'linearizable');
    assert.deepEqual(r.keys.map((k) => [k.key, k.operations, k.infoOperations]), [['register', 6, 1]]);
  });

  it('reads jepsen.independent [key value] tuples and finds the stale read on :x', () => {
    const r = verifyHistory(parseHistoryText(readFixture('jepsen-independent-stale.edn')).history, { statesMax: 1_000_000 });
    assert.equal(r.verdict, 'not-linearizable');
    assert.deepEqual(r.keys.map((k) => [k.key, k.verdict]), [[':x', 'not-linearizable'], [':y', 'linearizable']]);
    assert.deepEqual(r.keys[0].witness!.map((o) => o.line), [1, 5, 9]);
  });
});

describe('covey verify: the command', () => {
  const run = (args: string[], input?: string) => spawnSync(process.execPath, [cli, 'verify', ...args], { encoding: 'utf8', input });

  it('exits 0, 1 and 2 for linearizable, not, and undecided; --json carries the verdicts', () => {
    const ok = run([fixture('jepsen-cas-register.edn')]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^register\s+linearizable/m);
    assert.match(ok.stdout, /^linearizable: 1 key /m);
    const bad = run([fixture('jepsen-independent-stale.edn'), '--json']);
    assert.equal(bad.status, 1, bad.stderr);
    const json = JSON.parse(bad.stdout) as VerifyReport & { format: string };
    assert.equal(json.format, 'edn');
    assert.equal(json.verdict, 'not-linearizable');
    const b = new Builder();
    for (let i = 0; i < 12; i++) b.write(10 + i, i, 0, 100);
    b.read(1, 0, 200, 210).read(1, 1, 220, 230).read(1, 0, 240, 250);
    const undecided = run(['-', '--states-max', '200'], b.text());
    assert.equal(undecided.status, 2, undecided.stderr);
    assert.match(undecided.stdout, /undecided/);
  });

  it('names bad input with its line and exits 3', () => {
    const dir = mkdtempSync(join(tmpdir(), 'covey-verify-'));
    try {
      const jsonl = join(dir, 'bad.jsonl');
      writeFileSync(jsonl, new Builder().write(1, 'a', 0, 10).text() + '{"process":2,"type":"ok","f":"read","key":"k","value":null,"time":20}\n');
      const r1 = run([jsonl]);
      assert.equal(r1.status, 3);
      assert.match(r1.stderr, /bad\.jsonl: history line 3: ok of process 2 without an open invoke/);
      const edn = join(dir, 'bad.edn');
      writeFileSync(edn, '{:type :invoke, :f :read, :process 0, :time 1}\n{:type :ok, :f :read, :value 1 :process 0\n');
      const r2 = run([edn]);
      assert.equal(r2.status, 3);
      assert.match(r2.stderr, /history line 2: "\{" opened on line 2 is never closed/);
      const missing = run([join(dir, 'nope.jsonl')]);
      assert.equal(missing.status, 3);
      assert.match(missing.stderr, /cannot read .*nope\.jsonl/);
      const flag = run([jsonl, '--format', 'xml']);
      assert.equal(flag.status, 3);
      assert.match(flag.stderr, /accepted values are auto, jsonl and edn/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('checks the task board when the history has task operations', () => {
    const lines = [
      { process: 1, type: 'invoke', f: 'task-claim', key: 't1', time: 0 },
      { process: 1, type: 'ok', f: 'task-claim', key: 't1', value: 1, time: 10 },
      { process: 2, type: 'invoke', f: 'task-claim', key: 't1', time: 20 },
      { process: 2, type: 'ok', f: 'task-claim', key: 't1', value: 1, time: 30 },
    ].map((e) => JSON.stringify(e)).join('\n');
    const r = run(['-'], lines + '\n' + new Builder().write(3, 'a', 0, 5).text());
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /task board: VIOLATED/);
    assert.match(r.stdout, /fencing token 1 granted twice/);
  });
});

function readFixture(name: string): string {
  return readFileSync(fixture(name), 'utf8');
}
