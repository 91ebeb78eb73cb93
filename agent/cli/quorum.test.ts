import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { describeQuorum } from './quorum.ts';

const cli = new URL('./covey.ts', import.meta.url).pathname;

test('describeQuorum gives the §1 table for 3, 5 and 7 voters', () => {
  assert.deepEqual(describeQuorum({ voters: 3 }), { n: 3, f: 1, e: 1, slowQuorumSize: 2, fastQuorumSize: 2 });
  assert.deepEqual(describeQuorum({ voters: 5 }), { n: 5, f: 2, e: 2, slowQuorumSize: 3, fastQuorumSize: 3 });
  assert.deepEqual(describeQuorum({ voters: 7 }), { n: 7, f: 3, e: 2, slowQuorumSize: 4, fastQuorumSize: 5 });
  assert.deepEqual(describeQuorum({ voters: 5, e: 1 }), { n: 5, f: 2, e: 1, slowQuorumSize: 3, fastQuorumSize: 4 });
});

test('covey quorum prints JSON, and names the broken bound with exit code 2', () => {
  const out = execFileSync(process.execPath, [cli, 'quorum', '--voters', '7', '--json'], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), { n: 7, f: 3, e: 2, slowQuorumSize: 4, fastQuorumSize: 5 });
  const bad = spawnSync(process.execPath, [cli, 'quorum', '--voters', '4', '--f', '2'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /n=4 tolerates at most f=1/);
  const garbage = spawnSync(process.execPath, [cli, 'quorum', '--voters', 'many'], { encoding: 'utf8' });
  assert.notEqual(garbage.status, 0);
  assert.match(garbage.stderr, /--voters must be a whole number, got "many"/);
});
