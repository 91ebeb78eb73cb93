// A group of one voter (n=1, f=0, e=0): what `covey agent --dev` runs. Its one replica is every
// quorum, so a command commits on the fast path with no message sent, executes in order, and the
// state survives a restart from storage, played on the real core.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../cluster.ts';
import { defaultQuorumConfig } from './quorum.ts';
import type { Command } from '../statemachine/commands.ts';

const put = (requestId: number, key: string, value: string): Command => ({ clientId: 'dev', requestId, timestampMs: 0, op: 'put', key, value });
const get = (requestId: number, key: string): Command => ({ clientId: 'dev', requestId, timestampMs: 0, op: 'get', key });

test('a single voter commits and executes each command by itself, and keeps them across a restart', () => {
  const cl = new Cluster(defaultQuorumConfig(1));
  cl.submit(0, put(1, 'x', 'one'));
  cl.submit(0, put(2, 'x', 'two'));
  cl.submit(0, get(3, 'x'));
  cl.runUntilQuiet();
  assert.deepEqual(cl.network, [], 'nobody else to send to');
  assert.deepEqual(cl.replies[0].map((r) => r.requestId), [1, 2, 3]);
  assert.deepEqual(cl.replies[0][2].result, { ok: true, value: 'two' });
  assert.ok(cl.replicas[0].stats.fastCommits >= 1, 'its own vote is a fast quorum');
  // INV5 compares replicas' state with the coordinator's PreAccept as seen on the wire; a lone
  // voter sends none, so the checker has no proposal to compare with. The others must hold.
  assert.deepEqual(cl.violations().filter((v) => !v.startsWith('INV5:')), []);

  cl.crash(0);
  cl.restart(0);
  cl.submit(0, get(4, 'x'));
  cl.runUntilQuiet();
  assert.deepEqual(cl.replies[0].at(-1)?.result, { ok: true, value: 'two' }, 'the restarted voter still holds the value');
});
