// The edge of the core: untrusted input is validated before it can change anything, and the core
// itself reaches for no clock, timer, randomness, logger or I/O (DESIGN.md, the one rule).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Replica } from './replica.ts';
import { CoveyStateMachine } from '../statemachine/machine.ts';
import { instanceId } from './ids.ts';
import { emptyDeps } from './deps.ts';

const fresh = (): Replica => {
  const r = new Replica({ self: 0, n: 3, f: 1, e: 1 }, new CoveyStateMachine());
  r.takeReady(); // the initial tick request
  return r;
};
const put = { clientId: 'c', requestId: 1, timestampMs: 0, op: 'put', key: 'x', value: '1' };

test('malformed, ill-typed or misattributed messages are refused with a reason and change nothing', () => {
  const id = instanceId(1, 1);
  const cases: [number, unknown, RegExp][] = [
    [1, null, /./],
    [1, 'garbage', /./],
    [1, { type: 'PreAccept', id, cmd: { commands: [put] } }, /dep/],
    [1, { type: 'PreAccept', id: 'one', cmd: { commands: [put] }, dep: emptyDeps(3) }, /id/],
    [7, { type: 'PreAccept', id, cmd: { commands: [put] }, dep: emptyDeps(3) }, /sender|replica/i],
    [2, { type: 'PreAccept', id, cmd: { commands: [put] }, dep: emptyDeps(3) }, /initCoord|owner|coordinator/i],
    [2, { type: 'Accept', b: 4, id, cmd: 'NOP', dep: emptyDeps(3) }, /owner/i], // ballot 4 belongs to replica 1
    [1, { type: 'Recover', b: 0, id }, /b/],
    [1, { type: 'Commit', b: 0, id, cmd: { commands: [{ ...put, value: 42 }] }, dep: emptyDeps(3) }, /value/],
    [1, { type: 'Accept', b: 1, id, cmd: 'NOP', dep: { ids: [id, id], floor: [0, 0, 0] } }, /dep/],
    [0, { type: 'Watermark', executed: [0, 0, 0] }, /own/],
  ];
  for (const [from, raw, why] of cases) {
    const r = fresh();
    const res = r.receiveUntrusted(from, raw);
    assert.equal(res.ok, false, `accepted ${JSON.stringify(raw)}`);
    assert.match((res as { reason: string }).reason, why);
    const ready = r.takeReady();
    assert.deepEqual([ready.persist, ready.early, ready.messages, ready.executed, ready.replies], [[], [], [], [], []]);
    assert.equal(r.instance(id), undefined, 'no instance was created');
  }
  // The same message, well formed, is taken.
  const r = fresh();
  assert.deepEqual(r.receiveUntrusted(1, { type: 'PreAccept', id, cmd: { commands: [put] }, dep: emptyDeps(3) }), { ok: true });
  assert.equal(r.instance(id)?.phase, 'PREACCEPTED');
});

test('a malformed client command is refused with a reason and proposes nothing', () => {
  const r = fresh();
  const res = r.submitUntrusted({ ...put, requestId: -1 });
  assert.equal(res.ok, false);
  assert.match((res as { reason: string }).reason, /requestId/);
  const refused = r.takeReady();
  assert.deepEqual([refused.early, refused.messages], [[], []]);
  assert.deepEqual(r.submitUntrusted(put), { ok: true });
  // Thrifty: one peer is enough for a fast quorum of 2 with the coordinator's own vote.
  assert.equal(r.takeReady().early.filter((m) => m.msg.type === 'PreAccept').length, 1);
});

test('no file under consensus/core reaches for a clock, timer, randomness, logger or I/O', () => {
  const dir = new URL('./', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  assert.ok(files.length >= 10, 'the core files are where this test looks');
  const forbidden: [RegExp, string][] = [
    [/from\s+['"](node:)?(fs|net|dgram|child_process|timers|http|https|worker_threads|perf_hooks|os|crypto|readline|stream)(\/[^'"]*)?['"]/, 'an I/O, timer or randomness module'],
    [/from\s+['"](pino|lmdb|libp2p|@libp2p\/|@chainsafe\/|it-)/, 'a logger, storage or network package'],
    [/\bDate\.now\(|\bnew Date\(|\bperformance\.|\bprocess\.hrtime|\bMath\.random\(|\bcrypto\.getRandomValues/, 'a clock or randomness'],
    [/\bset(Timeout|Interval|Immediate)\(|\bqueueMicrotask\(|\bprocess\.nextTick\(/, 'a timer'],
    [/\bconsole\.|\bprocess\.(stdout|stderr|env)\b/, 'a logger or the environment'],
    [/\bimport\(/, 'a dynamic import'],
  ];
  const found: string[] = [];
  for (const f of files) {
    const text = readFileSync(new URL(f, dir), 'utf8');
    for (const [re, what] of forbidden) if (re.test(text)) found.push(`${f}: ${what} (${text.match(re)![0]})`);
    for (const m of text.matchAll(/from\s+['"]([^'"]+)['"]/g)) {
      const spec = m[1];
      if (!(spec.startsWith('./') || spec === '../statemachine/commands.ts' || spec === '../../kit/validate-kit.ts')) found.push(`${f}: imports ${spec}, outside the pure core`);
    }
  }
  assert.deepEqual(found, []);
});

test('payloads compare by content, whatever order a command\'s fields were written in', async () => {
  const { payloadsEqual } = await import('./conflicts.ts');
  const a = { commands: [{ clientId: 'c', requestId: 1, timestampMs: 0, op: 'put' as const, key: 'x', value: '1' }] };
  const b = { commands: [{ op: 'put' as const, value: '1', key: 'x', timestampMs: 0, requestId: 1, clientId: 'c' }] };
  const c = { commands: [{ clientId: 'c', requestId: 1, timestampMs: 0, op: 'put' as const, key: 'x', value: '2' }] };
  assert.equal(payloadsEqual(a, b), true);
  assert.equal(payloadsEqual(a, c), false);
  assert.equal(payloadsEqual(a, 'NOP'), false);
});

test('a Ready handed out is the caller\'s: later steps never add to its lists, and a quiet turn\'s is frozen and shared', () => {
  const r = fresh();
  assert.ok(r.submitUntrusted(put).ok);
  const proposal = r.takeReady();
  assert.deepEqual([proposal.early.length, proposal.messages.length, proposal.replies.length, proposal.executed.length], [1, 1, 0, 0], 'the proposal, the own vote held for durability, nothing answered yet');
  // The own vote and a peer's, both for the same dependencies: a fast commit, executed and answered.
  const vote = proposal.messages[0].msg;
  r.step({ type: 'message', from: 0, msg: vote });
  r.step({ type: 'message', from: 1, msg: vote });
  const commit = r.takeReady();
  assert.deepEqual([commit.replies.length, commit.executed.length], [1, 1], 'the later turn answered and executed');
  // A replica that kept the proposal's empty lists as its own would have filled them too.
  assert.deepEqual([proposal.early.length, proposal.messages.length, proposal.replies.length, proposal.executed.length], [1, 1, 0, 0]);
  const quiet = [r.takeReady(), r.takeReady()];
  assert.equal(quiet[0], quiet[1], 'quiet turns share one Ready');
  assert.ok(Object.isFrozen(quiet[0]) && Object.isFrozen(quiet[0].replies));
  assert.throws(() => (quiet[0].replies as unknown[]).push(1), TypeError);
});
