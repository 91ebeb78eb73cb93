// The task-board checker on hand-made histories: each rule it enforces shown rejecting a history
// that breaks it, and accepting the legitimate histories that look close to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHistory } from '../history.ts';
import { checkTasks } from './tasks.ts';

type Line = [process: number, type: string, f: string, value: unknown, timeMs: number];

function check(lines: Line[], key = 't1') {
  const text = lines.map(([process, type, f, value, t]) => JSON.stringify({ process, type, f: `task-${f}`, key, ...(value === undefined ? {} : { value }), time: t * 1e6 })).join('\n') + '\n';
  return checkTasks(parseHistory(text));
}

test('a legitimate history: claim, renew, lease lost, reclaim, late report refused, completion', () => {
  const r = check([
    [1, 'invoke', 'create', undefined, 0], [1, 'ok', 'create', undefined, 1],
    [1, 'invoke', 'claim', undefined, 2], [1, 'ok', 'claim', 1, 3],
    [1, 'invoke', 'renew', 1, 4], [1, 'ok', 'renew', undefined, 5],
    [2, 'invoke', 'claim', undefined, 20], [2, 'ok', 'claim', 2, 21],
    [1, 'invoke', 'complete', 1, 30], [1, 'fail', 'complete', undefined, 31],
    [2, 'invoke', 'complete', 2, 32], [2, 'ok', 'complete', undefined, 33],
  ]);
  assert.deepEqual(r.violations, []);
  assert.deepEqual(r.stats, { tasksCreated: 1, claims: 2, completions: 1, refusedCompletions: 1 });
});

test('concurrent operations may linearize either way', () => {
  // Process 1's complete with token 1 overlaps process 2's claim of token 2: the complete may
  // have taken effect first, so accepting it breaks no fencing rule.
  const r = check([
    [1, 'invoke', 'claim', undefined, 0], [1, 'ok', 'claim', 1, 1],
    [2, 'invoke', 'claim', undefined, 10], [1, 'invoke', 'complete', 1, 11],
    [2, 'ok', 'claim', 2, 12], [1, 'ok', 'complete', undefined, 13],
  ]);
  assert.deepEqual(r.violations, []);
});

test('one fencing token granted to two workers is caught', () => {
  const r = check([
    [1, 'invoke', 'claim', undefined, 0], [2, 'invoke', 'claim', undefined, 0],
    [1, 'ok', 'claim', 1, 1], [2, 'ok', 'claim', 1, 2],
  ]);
  assert.match(r.violations.join('\n'), /fencing token 1 granted twice, to processes 1 and 2/);
});

test('a token that does not grow in real time is caught', () => {
  const r = check([
    [1, 'invoke', 'claim', undefined, 0], [1, 'ok', 'claim', 5, 1],
    [2, 'invoke', 'claim', undefined, 10], [2, 'ok', 'claim', 4, 11],
  ]);
  assert.match(r.violations.join('\n'), /process 2 was granted token 4 after process 1 had been granted 5/);
});

test('a superseded holder\'s late report accepted is caught (fencing)', () => {
  const r = check([
    [1, 'invoke', 'claim', undefined, 0], [1, 'ok', 'claim', 1, 1],
    [2, 'invoke', 'claim', undefined, 10], [2, 'ok', 'claim', 2, 11],
    [1, 'invoke', 'complete', 1, 20], [1, 'ok', 'complete', undefined, 21],
  ]);
  assert.match(r.violations.join('\n'), /complete with stale token 1 by process 1 was accepted after token 2 was granted to process 2/);
  const renew = check([
    [1, 'invoke', 'claim', undefined, 0], [1, 'ok', 'claim', 1, 1],
    [2, 'invoke', 'claim', undefined, 10], [2, 'ok', 'claim', 2, 11],
    [1, 'invoke', 'renew', 1, 20], [1, 'ok', 'renew', undefined, 21],
  ]);
  assert.match(renew.violations.join('\n'), /renew with stale token 1/);
});

test('a task completed twice is caught; info operations are not held against the board', () => {
  const twice = check([
    [1, 'invoke', 'claim', undefined, 0], [1, 'ok', 'claim', 1, 1],
    [1, 'invoke', 'complete', 1, 2], [1, 'ok', 'complete', undefined, 3],
    [2, 'invoke', 'complete', 1, 4], [2, 'ok', 'complete', undefined, 5],
  ]);
  assert.match(twice.violations.join('\n'), /completed 2 times/);
  const unknown = check([
    [1, 'invoke', 'claim', undefined, 0], [1, 'info', 'claim', undefined, 1],
    [2, 'invoke', 'claim', undefined, 2], [2, 'ok', 'claim', 2, 3],
    [1, 'invoke', 'claim', undefined, 4],
  ]);
  assert.deepEqual(unknown.violations, []);
});

test('an ok claim without a token is reported, not silently skipped', () => {
  const r = check([[1, 'invoke', 'claim', undefined, 0], [1, 'ok', 'claim', undefined, 1]]);
  assert.match(r.violations.join('\n'), /ok task-claim of process 1 has no fencing token/);
});
