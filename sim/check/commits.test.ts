import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommitWatch } from './commits.ts';
import type { Command, Commit } from '../../consensus/index.ts';

const put = (value: string): Command => ({ clientId: 'c1', requestId: 1, timestampMs: 0, op: 'put', key: 'k', value });
const commit = (b: number, value: string, ids: number[] = []): Commit => ({ type: 'Commit', b, id: 17, cmd: { commands: [put(value)] }, dep: { ids, floor: [0, 0, 0] } });

test('INV7 during the run: equal Commits (even rebuilt, at other ballots) pass; a different one is caught', () => {
  const w = new CommitWatch();
  w.see(commit(0, 'a'), 1);
  w.see(commit(0, 'a'), 2);
  w.see(commit(4, 'a'), 3);
  assert.deepEqual(w.violations, []);
  w.see(commit(5, 'b'), 4);
  w.see(commit(7, 'a', [33]), 5);
  assert.equal(w.violations.length, 2);
  assert.match(w.violations[0], /^INV7: at 4 ms a Commit for .* \(ballot 5\) differs from the one sent at ballot 0$/);
});
