import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDuration, parseFaults, parseSeeds } from './command.ts';
import { parseHistory } from './history.ts';
import { checkLinearizable } from './check/linearizability.ts';

const cli = new URL('../agent/cli/covey.ts', import.meta.url).pathname;
const covey = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

test('arguments: durations, fault lists and seed ranges, with errors that name the accepted values', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('10m'), 600_000);
  assert.throws(() => parseDuration('10'), /500ms, 10s or 10m/);
  assert.deepEqual([...parseFaults('crash,dup')], ['crash', 'dup']);
  assert.deepEqual([...parseFaults('all')], ['crash', 'partition', 'pause', 'loss', 'dup', 'reorder', 'skew']);
  assert.throws(() => parseFaults('meteor'), /unknown fault "meteor"; accepted: crash, partition, pause, loss, dup, reorder, skew/);
  assert.deepEqual(parseSeeds('3..6'), [3, 4, 5, 6]);
  assert.deepEqual(parseSeeds('9'), [9]);
  assert.throws(() => parseSeeds('6..3'), /empty/);
});

test('covey sim --json: one JSON summary; the same seed gives the same trace hash; --history is a checkable history', () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-sim-'));
  const file = join(dir, 'h.jsonl');
  const args = ['sim', '--voters', '5', '--seed', '11', '--duration', '1s', '--faults', 'crash,partition,loss,dup', '--json'];
  const a = covey(...args, '--history', file);
  const b = covey(...args);
  assert.equal(a.status, 0, a.stderr);
  const sa = JSON.parse(a.stdout), sb = JSON.parse(b.stdout);
  for (const k of ['traceHash', 'ops', 'linearizable', 'violations']) assert.ok(k in sa, `summary has ${k}`);
  assert.equal(sa.traceHash, sb.traceHash);
  assert.equal(sa.linearizable, true);
  assert.deepEqual(sa.violations, []);
  assert.ok(sa.ops > 0);
  assert.equal(checkLinearizable(parseHistory(readFileSync(file, 'utf8'))).linearizable, true);
  const other = JSON.parse(covey('sim', '--voters', '5', '--seed', '12', '--duration', '1s', '--json').stdout);
  assert.notEqual(other.traceHash, sa.traceHash);
});

test('covey sim refuses bad arguments with a message naming the argument', () => {
  // Exit 2 for every usage error, as for every covey command (commander's own default is 1).
  const r = covey('sim', '--voters', '4');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--voters: accepted values are 3 and 5/);
  const h = covey('sim', '--seeds', '1..3', '--history', '/tmp/x.jsonl');
  assert.equal(h.status, 2);
  assert.match(h.stderr, /--history writes one run/);
  const w = covey('sim', '--workload', 'chess');
  assert.equal(w.status, 2);
  assert.match(w.stderr, /--workload: accepted values are kv and tasks/);
  const c = covey('sim', '--conflict', '1.5');
  assert.match(c.stderr, /--conflict must be a number from 0 to 1/);
  const ag = covey('sim', '--voters', '5', '--agents', '4');
  assert.equal(ag.status, 2);
  assert.match(ag.stderr, /--agents \(4\) counts the voters too/);
});

test('covey sim with agents beyond the voters, the task workload and every fault: passes and reports the task board', () => {
  const r = covey('sim', '--voters', '3', '--agents', '12', '--clients', '9', '--workload', 'tasks', '--seed', '4', '--duration', '2s', '--faults', 'all', '--json');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.agents, 12);
  assert.ok(s.tasks.claims > 0, JSON.stringify(s.tasks));
  assert.equal(s.settled, true);
  for (const k of ['crashes', 'partitions', 'pauses', 'skews', 'dropped', 'duplicated', 'reordered']) assert.ok(k in s.injected, k);
});
