// What a driver reads to serve clients while its replica is behind or stuck (issue 16): the
// 'withdraw' event, lagBehind() and ownInFlightSinceMs(). The agent forwards clients' commands by
// them and withdraws the queued commands nobody waits for; none of it changes what is decided.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Replica } from './replica.ts';
import { CoveyStateMachine } from '../statemachine/machine.ts';
import type { Command } from '../statemachine/commands.ts';

let requestIds = 0;
const put = (key: string): Command => ({ clientId: 'c-' + key, requestId: ++requestIds, timestampMs: 0, op: 'put', key, value: 'v' });

function bare(): Replica {
  const r = new Replica({ self: 0, n: 3, f: 1, e: 1, recoveryTimeoutMs: 1e9, recoveryTimeoutMaxMs: 1e9, fastPathTimeoutMs: 1e9 }, new CoveyStateMachine());
  r.takeReady();
  return r;
}

test('withdraw drops a command still queued, and leaves one already proposed in flight', () => {
  const r = bare();
  const [a, b, c] = [put('a'), put('b'), put('c')];
  for (const cmd of [a, b, c]) r.step({ type: 'submit', command: cmd });
  assert.equal(r.queuedCommands(), 2, 'a is proposed at once (one own instance in flight); b and c queue');
  r.step({ type: 'withdraw', clientId: b.clientId, requestId: b.requestId });
  assert.equal(r.queuedCommands(), 1, 'b is gone');
  r.step({ type: 'withdraw', clientId: a.clientId, requestId: a.requestId });
  r.step({ type: 'withdraw', clientId: c.clientId, requestId: c.requestId + 1000 });
  assert.equal(r.queuedCommands(), 1, 'a was proposed (nothing to drop), and another request id is another command');
  assert.notEqual(r.ownInFlightSinceMs(), null, 'a is still in flight');
});

test('ownInFlightSinceMs is the proposal time of the oldest own instance by the ticks\' clock, null when none', () => {
  const r = bare();
  assert.equal(r.ownInFlightSinceMs(), null);
  r.step({ type: 'tick', nowMs: 5_000, entropy: 1 });
  r.step({ type: 'submit', command: put('x') });
  r.step({ type: 'tick', nowMs: 7_000, entropy: 2 });
  assert.equal(r.ownInFlightSinceMs(), 5_000);
});

test('lagBehind counts what the peer furthest ahead applied and this replica did not', () => {
  const r = bare();
  assert.deepEqual(r.lagBehind(), { instances: 0, peer: null });
  r.step({ type: 'message', from: 1, msg: { type: 'Watermark', executed: [0, 300, 0] } });
  r.step({ type: 'message', from: 2, msg: { type: 'Watermark', executed: [0, 100, 250] } });
  assert.deepEqual(r.lagBehind(), { instances: 350, peer: 2 }, '100 + 250 from voter 2 beats 300 from voter 1');
});

test('peerApplied ranks peers by what their last watermark says they applied', () => {
  const r = bare();
  r.step({ type: 'message', from: 1, msg: { type: 'Watermark', executed: [5, 300, 0] } });
  r.step({ type: 'message', from: 2, msg: { type: 'Watermark', executed: [0, 100, 250] } });
  assert.equal(r.peerApplied(1), 305);
  assert.equal(r.peerApplied(2), 350);
});
