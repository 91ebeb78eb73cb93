import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Command, CommandResult, Operation } from './commands.ts';
import { CoveyStateMachine, leaseMsMax, requestsRememberedPerClient } from './machine.ts';

/** A client that numbers its requests 1, 2, 3, ... and submits at a given time. */
function client(m: CoveyStateMachine, clientId = 'c') {
  let requestId = 0;
  return (op: Operation, timestampMs = 1000): CommandResult =>
    m.apply({ clientId, requestId: ++requestId, timestampMs, ...op } as Command);
}

function failure(r: CommandResult, pattern: RegExp): void {
  assert.equal(r.ok, false, `expected a failure, got ${JSON.stringify(r)}`);
  if (!r.ok) assert.match(r.error, pattern);
}

function setup() {
  const m = new CoveyStateMachine();
  return { m, run: client(m) };
}

describe('key-value store', () => {
  it('get, put, delete', () => {
    const { run } = setup();
    assert.deepEqual(run({ op: 'get', key: 'k' }), { ok: true, value: null });
    assert.deepEqual(run({ op: 'put', key: 'k', value: 'v' }), { ok: true });
    assert.deepEqual(run({ op: 'get', key: 'k' }), { ok: true, value: 'v' });
    assert.deepEqual(run({ op: 'put', key: 'k', value: '' }), { ok: true });
    assert.deepEqual(run({ op: 'get', key: 'k' }), { ok: true, value: '' }, 'empty string is a value, not absence');
    assert.deepEqual(run({ op: 'delete', key: 'k' }), { ok: true });
    assert.deepEqual(run({ op: 'get', key: 'k' }), { ok: true, value: null });
    assert.deepEqual(run({ op: 'delete', key: 'k' }), { ok: true }, 'deleting an absent key is fine');
  });

  it('cas swaps only when the current value equals expected; null means absent', () => {
    const { run } = setup();
    assert.deepEqual(run({ op: 'cas', key: 'k', expected: 'x', value: 'a' }), { ok: true, swapped: false, value: null });
    assert.deepEqual(run({ op: 'cas', key: 'k', expected: null, value: 'a' }), { ok: true, swapped: true });
    assert.deepEqual(run({ op: 'cas', key: 'k', expected: null, value: 'b' }), { ok: true, swapped: false, value: 'a' });
    assert.deepEqual(run({ op: 'cas', key: 'k', expected: 'z', value: 'b' }), { ok: true, swapped: false, value: 'a' });
    assert.deepEqual(run({ op: 'cas', key: 'k', expected: 'a', value: 'b' }), { ok: true, swapped: true });
    assert.deepEqual(run({ op: 'get', key: 'k' }), { ok: true, value: 'b' });
    assert.deepEqual(run({ op: 'cas', key: 'k', expected: 'b', value: null }), { ok: true, swapped: true });
    assert.deepEqual(run({ op: 'get', key: 'k' }), { ok: true, value: null }, 'value null deletes');
  });

  it('keys() lists present keys sorted by code unit', () => {
    const { m, run } = setup();
    for (const k of ['b', 'a', 'B', 'é', 'c']) run({ op: 'put', key: k, value: '1' });
    run({ op: 'delete', key: 'c' });
    assert.deepEqual(m.keys(), ['B', 'a', 'b', 'é']);
  });
});

describe('task board', () => {
  const create = { op: 'task.create', taskId: 't', spec: 'do it' } as const;

  it('create makes an open task; a second create fails and changes nothing', () => {
    const { m, run } = setup();
    const r = run(create);
    assert.deepEqual(r, { ok: true, task: { taskId: 't', spec: 'do it', status: 'open', owner: null, token: 0, leaseExpiresMs: 0, result: null } });
    const before = m.listTasks();
    failure(run({ ...create, spec: 'other' }), /task "t" already exists/);
    assert.deepEqual(m.listTasks(), before);
  });

  it('get returns the task, or fails for an unknown one', () => {
    const { run } = setup();
    failure(run({ op: 'task.get', taskId: 't' }), /unknown task "t"/);
    run(create);
    assert.equal(run({ op: 'task.get', taskId: 't' }).task?.status, 'open');
  });

  it('every task operation on an unknown task fails naming it', () => {
    const { run } = setup();
    const ops: Operation[] = [
      { op: 'task.claim', taskId: 'x', worker: 'w', leaseMs: 10 },
      { op: 'task.renew', taskId: 'x', worker: 'w', token: 1, leaseMs: 10 },
      { op: 'task.complete', taskId: 'x', worker: 'w', token: 1, result: 'r' },
      { op: 'task.release', taskId: 'x', worker: 'w', token: 1 },
    ];
    for (const op of ops) failure(run(op), /unknown task "x"/);
  });

  it('claim sets owner, token and a lease computed from the command timestamp', () => {
    const { run } = setup();
    run(create);
    const r = run({ op: 'task.claim', taskId: 't', worker: 'w1', leaseMs: 500 }, 10_000);
    assert.deepEqual(r.task, { taskId: 't', spec: 'do it', status: 'claimed', owner: 'w1', token: 1, leaseExpiresMs: 10_500, result: null });
  });

  it('claim fails while the lease runs and succeeds from the moment it expires', () => {
    const { run } = setup();
    run(create);
    run({ op: 'task.claim', taskId: 't', worker: 'w1', leaseMs: 500 }, 10_000);
    const held = run({ op: 'task.claim', taskId: 't', worker: 'w2', leaseMs: 500 }, 10_499);
    failure(held, /held by worker "w1" until 10500/);
    assert.equal(held.task?.token, 1, 'a failed claim does not bump the token');
    failure(run({ op: 'task.claim', taskId: 't', worker: 'w1', leaseMs: 500 }, 10_100), /already holds it, renew with token 1/);
    const taken = run({ op: 'task.claim', taskId: 't', worker: 'w2', leaseMs: 300 }, 10_500);
    assert.equal(taken.ok, true);
    assert.deepEqual([taken.task?.owner, taken.task?.token, taken.task?.leaseExpiresMs], ['w2', 2, 10_800]);
  });

  it('claim of a done task fails', () => {
    const { run } = setup();
    run(create);
    run({ op: 'task.claim', taskId: 't', worker: 'w', leaseMs: 500 });
    run({ op: 'task.complete', taskId: 't', worker: 'w', token: 1, result: 'r' });
    failure(run({ op: 'task.claim', taskId: 't', worker: 'w2', leaseMs: 500 }, 99_999), /task "t" is already done/);
  });

  it('leaseMs must be a positive integer of at most 24h, for claim and renew', () => {
    const { run } = setup();
    run(create);
    for (const leaseMs of [0, -1, 1.5, NaN, Infinity, leaseMsMax + 1]) {
      failure(run({ op: 'task.claim', taskId: 't', worker: 'w', leaseMs }), /leaseMs must be a positive integer/);
    }
    assert.equal(run({ op: 'task.claim', taskId: 't', worker: 'w', leaseMs: leaseMsMax }).ok, true);
    failure(run({ op: 'task.renew', taskId: 't', worker: 'w', token: 1, leaseMs: 0 }), /leaseMs/);
    assert.equal(run({ op: 'task.renew', taskId: 't', worker: 'w', token: 1, leaseMs: 1 }).ok, true);
  });

  it('renew extends the lease of the current holder only, before it expires', () => {
    const { run } = setup();
    run(create);
    failure(run({ op: 'task.renew', taskId: 't', worker: 'w1', token: 0, leaseMs: 500 }), /not claimed/);
    run({ op: 'task.claim', taskId: 't', worker: 'w1', leaseMs: 500 }, 1000);
    const renewed = run({ op: 'task.renew', taskId: 't', worker: 'w1', token: 1, leaseMs: 800 }, 1400);
    assert.equal(renewed.ok, true);
    assert.equal(renewed.task?.leaseExpiresMs, 2200);
    failure(run({ op: 'task.renew', taskId: 't', worker: 'w2', token: 1, leaseMs: 500 }, 1500), /held by worker "w1", not "w2"/);
    failure(run({ op: 'task.renew', taskId: 't', worker: 'w1', token: 7, leaseMs: 500 }, 1500), /never issued/);
    failure(run({ op: 'task.renew', taskId: 't', worker: 'w1', token: 1, leaseMs: 500 }, 2200), /expired at 2200/);
    run({ op: 'task.claim', taskId: 't', worker: 'w2', leaseMs: 500 }, 2300);
    failure(run({ op: 'task.renew', taskId: 't', worker: 'w1', token: 1, leaseMs: 500 }, 2300), /stale token 1/);
    run({ op: 'task.complete', taskId: 't', worker: 'w2', token: 2, result: 'r' }, 2400);
    failure(run({ op: 'task.renew', taskId: 't', worker: 'w2', token: 2, leaseMs: 500 }, 2400), /already done/);
  });

  it('complete by the holder marks the task done with its result', () => {
    const { run } = setup();
    run(create);
    run({ op: 'task.claim', taskId: 't', worker: 'w', leaseMs: 500 }, 1000);
    failure(run({ op: 'task.complete', taskId: 't', worker: 'x', token: 1, result: 'r' }), /not "x"/);
    const done = run({ op: 'task.complete', taskId: 't', worker: 'w', token: 1, result: 'r' }, 1200);
    assert.deepEqual(done.task, { taskId: 't', spec: 'do it', status: 'done', owner: 'w', token: 1, leaseExpiresMs: 0, result: 'r' });
    failure(run({ op: 'task.complete', taskId: 't', worker: 'w', token: 1, result: 'again' }), /already done/);
  });

  it('complete after the lease expired is accepted while nobody has claimed the task again', () => {
    const { run } = setup();
    run(create);
    run({ op: 'task.claim', taskId: 't', worker: 'w', leaseMs: 500 }, 1000);
    assert.equal(run({ op: 'task.complete', taskId: 't', worker: 'w', token: 1, result: 'late' }, 9000).ok, true);
  });

  it('a late completion from a superseded lease is rejected as a stale token', () => {
    const { run } = setup();
    run(create);
    run({ op: 'task.claim', taskId: 't', worker: 'slow', leaseMs: 500 }, 1000);
    run({ op: 'task.claim', taskId: 't', worker: 'fast', leaseMs: 500 }, 1600);
    const late = run({ op: 'task.complete', taskId: 't', worker: 'slow', token: 1, result: 'late' }, 1700);
    failure(late, /stale token 1 for task "t": it was claimed again with token 2/);
    assert.equal(late.task?.status, 'claimed');
    run({ op: 'task.complete', taskId: 't', worker: 'fast', token: 2, result: 'ok' }, 1800);
    // Even after the task is done, the late worker is told its token is stale.
    failure(run({ op: 'task.complete', taskId: 't', worker: 'slow', token: 1, result: 'late' }, 1900), /stale token/);
  });

  it('complete on an open task fails', () => {
    const { run } = setup();
    run(create);
    failure(run({ op: 'task.complete', taskId: 't', worker: 'w', token: 0, result: 'r' }), /not claimed/);
  });

  it('release reopens the task and keeps the token, so the next claim outnumbers it', () => {
    const { run } = setup();
    run(create);
    run({ op: 'task.claim', taskId: 't', worker: 'w', leaseMs: 500 }, 1000);
    failure(run({ op: 'task.release', taskId: 't', worker: 'x', token: 1 }), /not "x"/);
    failure(run({ op: 'task.release', taskId: 't', worker: 'w', token: 0 }), /stale token 0/);
    const released = run({ op: 'task.release', taskId: 't', worker: 'w', token: 1 }, 1100);
    assert.deepEqual(released.task, { taskId: 't', spec: 'do it', status: 'open', owner: null, token: 1, leaseExpiresMs: 0, result: null });
    failure(run({ op: 'task.release', taskId: 't', worker: 'w', token: 1 }), /not claimed \(its lease was released\)/);
    failure(run({ op: 'task.complete', taskId: 't', worker: 'w', token: 1, result: 'r' }), /not claimed/);
    assert.equal(run({ op: 'task.claim', taskId: 't', worker: 'w2', leaseMs: 500 }, 1100).task?.token, 2);
  });

  it('the fencing token only grows across claim, expiry, takeover and release', () => {
    const { run } = setup();
    run(create);
    const tokens: number[] = [];
    const claim = (worker: string, at: number) => {
      const r = run({ op: 'task.claim', taskId: 't', worker, leaseMs: 100 }, at);
      assert.equal(r.ok, true);
      tokens.push(r.task!.token);
    };
    claim('a', 0);
    claim('b', 100); // a's lease expired exactly now
    claim('b', 250); // b's own lease expired; reclaiming still gets a new token
    run({ op: 'task.release', taskId: 't', worker: 'b', token: 3 }, 260);
    claim('a', 270);
    assert.deepEqual(tokens, [1, 2, 3, 4]);
  });

  it('listTasks() returns copies sorted by taskId', () => {
    const { m, run } = setup();
    for (const id of ['b', 'a', 'c']) run({ op: 'task.create', taskId: id, spec: '' });
    const list = m.listTasks();
    assert.deepEqual(list.map((t) => t.taskId), ['a', 'b', 'c']);
    run({ op: 'task.claim', taskId: 'a', worker: 'w', leaseMs: 5 });
    assert.equal(list[0].status, 'open', 'an earlier listing does not change with the state');
  });
});

describe('exactly-once for retried requests', () => {
  const at = (requestId: number, op: Operation, clientId = 'c', timestampMs = 1000) =>
    ({ clientId, requestId, timestampMs, ...op }) as Command;

  it('a retried put after a later put returns the first result and does not overwrite', () => {
    const m = new CoveyStateMachine();
    const first = m.apply(at(1, { op: 'put', key: 'k', value: 'old' }));
    m.apply(at(2, { op: 'put', key: 'k', value: 'new' }));
    assert.equal(m.apply(at(1, { op: 'put', key: 'k', value: 'old' })), first);
    assert.deepEqual(m.apply(at(3, { op: 'get', key: 'k' })), { ok: true, value: 'new' });
  });

  it('a retried claim returns the same token and does not claim again', () => {
    const m = new CoveyStateMachine();
    m.apply(at(1, { op: 'task.create', taskId: 't', spec: '' }));
    const claim = at(2, { op: 'task.claim', taskId: 't', worker: 'w', leaseMs: 100 });
    const first = m.apply(claim);
    const digest = m.digest();
    assert.deepEqual(m.apply({ ...claim, timestampMs: 5000 }), first);
    assert.equal(m.digest(), digest);
    assert.equal(m.listTasks()[0].token, 1);
  });

  it('a retried failure stays a failure even if the command would now succeed', () => {
    const m = new CoveyStateMachine();
    m.apply(at(1, { op: 'task.create', taskId: 't', spec: '' }));
    m.apply(at(1, { op: 'task.claim', taskId: 't', worker: 'a', leaseMs: 100 }, 'a'));
    const claim = at(1, { op: 'task.claim', taskId: 't', worker: 'b', leaseMs: 100 }, 'b', 1050);
    failure(m.apply(claim), /held by/);
    failure(m.apply({ ...claim, timestampMs: 2000 }), /held by/);
  });

  it('request ids are per client', () => {
    const m = new CoveyStateMachine();
    m.apply(at(1, { op: 'put', key: 'k', value: 'a' }, 'x'));
    m.apply(at(1, { op: 'put', key: 'k', value: 'b' }, 'y'));
    assert.deepEqual(m.apply(at(2, { op: 'get', key: 'k' }, 'x')), { ok: true, value: 'b' });
  });

  it(`remembers the ${requestsRememberedPerClient} most recent ids and refuses older ones`, () => {
    const m = new CoveyStateMachine();
    const n = requestsRememberedPerClient;
    // Ids arrive out of order: 1000 first, then 1..n. While fewer than n are remembered, a small id
    // is new, not old, and must be applied.
    m.apply(at(1000, { op: 'put', key: 'last', value: '1000' }));
    for (let id = 1; id <= n; id++) m.apply(at(id, { op: 'put', key: 'k', value: String(id) }));
    const remembered = () => m.snapshot().clients[0][1].map(([id]) => id);
    assert.equal(remembered().length, n);
    assert.deepEqual(remembered().slice(0, 2), [2, 3], 'the smallest id was evicted, not the first inserted');
    assert.ok(remembered().includes(1000));

    const digest = m.digest();
    const old = m.apply(at(1, { op: 'put', key: 'k', value: 'replayed' }));
    failure(old, /^request id 1 of client "c" is too old to deduplicate; /);
    assert.equal(m.digest(), digest, 'refused without effect and without being remembered');
    assert.deepEqual(m.apply(at(2, { op: 'put', key: 'k', value: '2' })), { ok: true }, 'id 2 is still remembered');
    assert.deepEqual(m.apply(at(n + 1, { op: 'get', key: 'k' })), { ok: true, value: String(n) });
    failure(m.apply(at(2, { op: 'get', key: 'k' })), /too old/);
  });

  it('refuses a malformed envelope without touching state', () => {
    const m = new CoveyStateMachine();
    const digest = m.digest();
    const put = { op: 'put', key: 'k', value: 'v' } as const;
    failure(m.apply({ ...at(1, put), clientId: '' }), /clientId/);
    for (const requestId of [-1, 1.5, NaN]) failure(m.apply({ ...at(1, put), requestId }), /requestId/);
    for (const timestampMs of [-1, NaN, Infinity, Number.MAX_SAFE_INTEGER]) failure(m.apply(at(1, put, 'c', timestampMs)), /timestampMs/);
    assert.equal(m.digest(), digest);
  });

  // Issue 13, finding 5: a client that restarted and numbered its requests from 1 again got the
  // remembered answer of an earlier, different command (a cas on another key) for its put, which
  // never took effect.
  const reused = /^request id 7 of client "c" was already used for a different command \(.*\); use a new request id$/;

  it('a reused request id with a different command is refused, changes nothing, and the true retry still gets its answer', () => {
    const m = new CoveyStateMachine();
    m.apply(at(1, { op: 'put', key: 'other', value: 'v' }));
    const cas = at(7, { op: 'cas', key: 'other', expected: 'x', value: 'y' });
    const first = m.apply(cas);
    assert.deepEqual(first, { ok: true, swapped: false, value: 'v' });
    const digest = m.digest();
    for (const op of [
      { op: 'put', key: 'dupprobe', value: 'dup-probe' },
      { op: 'cas', key: 'other', expected: 'x', value: 'z' }, // one argument differs
      { op: 'cas', key: 'other2', expected: 'x', value: 'y' },
      { op: 'get', key: 'other' },
      { op: 'delete', key: 'other' },
    ] as Operation[]) {
      const r = m.apply(at(7, op, 'c', 5000));
      failure(r, reused);
      assert.notDeepEqual(r, first);
      assert.equal(m.digest(), digest, `${op.op} refused without effect and without being remembered`);
    }
    assert.equal(m.get('dupprobe'), null);
    assert.equal(m.get('other'), 'v');
    // The true retry, through another agent (another clock) and with its fields in another order.
    assert.equal(m.apply({ value: 'y', expected: 'x', key: 'other', op: 'cas', timestampMs: 9, requestId: 7, clientId: 'c' }), first);
    // Same for a task command: a claim's id reused for a claim by another worker.
    m.apply(at(8, { op: 'task.create', taskId: 't', spec: '' }));
    const claim = m.apply(at(9, { op: 'task.claim', taskId: 't', worker: 'w1', leaseMs: 100 }));
    failure(m.apply(at(9, { op: 'task.claim', taskId: 't', worker: 'w2', leaseMs: 100 })), /request id 9 .* already used for a different command/);
    failure(m.apply(at(9, { op: 'task.claim', taskId: 't', worker: 'w1', leaseMs: 101 })), /already used for a different command/);
    assert.equal(m.apply(at(9, { op: 'task.claim', taskId: 't', worker: 'w1', leaseMs: 100 }, 'c', 1234)), claim);
    assert.equal(m.listTasks()[0].owner, 'w1');
  });

  it('machines sharing a fingerprint memo (the simulator\'s voters) answer exactly as machines without one', () => {
    const fingerprintMemo = new WeakMap<Command, string>();
    const shared = [new CoveyStateMachine({ fingerprintMemo }), new CoveyStateMachine({ fingerprintMemo })];
    const plain = new CoveyStateMachine();
    const cas = at(7, { op: 'cas', key: 'k', expected: null, value: 'y' });
    const commands = [
      at(1, { op: 'put', key: 'k', value: 'v' }), cas, { ...cas, timestampMs: 5 }, // a true retry, another object
      at(7, { op: 'put', key: 'k', value: 'other' }), // a reused id: refused, with or without the memo
      at(8, { op: 'task.create', taskId: 't', spec: '' }), cas, // the same object again: answered from memory
    ];
    for (const c of commands) {
      const expected = plain.apply(c);
      for (const m of shared) assert.deepEqual(m.apply(c), expected);
    }
    assert.ok(commands.every((c) => fingerprintMemo.has(c)), 'every applied command was fingerprinted once, into the memo');
    for (const m of shared) assert.equal(m.digest(), plain.digest());
    // A restore keeps the machine's memo (the simulator's voters replay their log through it).
    const restored = new CoveyStateMachine({ fingerprintMemo });
    restored.restoreSnapshot(JSON.parse(JSON.stringify(plain.snapshot())));
    const fresh = at(9, { op: 'get', key: 'k' });
    restored.apply(fresh);
    assert.ok(fingerprintMemo.has(fresh));
  });

  it('a reused request id is still refused after a snapshot and restore, and the true retry still answered', () => {
    const m = new CoveyStateMachine();
    m.apply(at(1, { op: 'put', key: 'other', value: 'v' }));
    const cas = at(7, { op: 'cas', key: 'other', expected: 'x', value: 'y' });
    const first = m.apply(cas);
    const snap = JSON.parse(JSON.stringify(m.snapshot()));
    for (const restored of [CoveyStateMachine.fromSnapshot(snap), (() => { const r = new CoveyStateMachine(); r.restoreSnapshot(snap); return r; })()]) {
      const digest = restored.digest();
      assert.equal(digest, m.digest());
      failure(restored.apply(at(7, { op: 'put', key: 'dupprobe', value: 'dup-probe' })), reused);
      assert.equal(restored.digest(), digest);
      assert.equal(restored.get('dupprobe'), null);
      assert.deepEqual(restored.apply({ ...cas, timestampMs: 4242 }), first);
      assert.equal(restored.digest(), digest);
    }
  });

  it('a version-1 snapshot (no fingerprints) still loads; its entries answer a repeat from memory as before', () => {
    const v1 = {
      version: 1, kv: [['other', 'v']], tasks: [],
      clients: [['c', [[7, { ok: true, swapped: false, value: 'v' }]]]],
    };
    const m = CoveyStateMachine.fromSnapshot(v1);
    // Unknown fingerprint: the old behaviour, documented in machine.ts.
    assert.deepEqual(m.apply(at(7, { op: 'put', key: 'dupprobe', value: 'x' })), { ok: true, swapped: false, value: 'v' });
    // New entries are fingerprinted, and the snapshot is written as version 4 with null for the old entry.
    m.apply(at(8, { op: 'put', key: 'k', value: 'a' }));
    failure(m.apply(at(8, { op: 'put', key: 'k', value: 'b' })), /request id 8 .* already used for a different command/);
    const snap = m.snapshot();
    assert.equal(snap.version, 4);
    assert.equal(snap.clients[0][1][0][2], null);
    assert.match(snap.clients[0][1][1][2]!, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(CoveyStateMachine.fromSnapshot(JSON.parse(JSON.stringify(snap))).digest(), m.digest());
  });

  it('returned results are frozen, so a caller cannot alter what a retry receives', () => {
    const m = new CoveyStateMachine();
    m.apply(at(1, { op: 'task.create', taskId: 't', spec: '' }));
    const r = m.apply(at(2, { op: 'task.get', taskId: 't' })) as { ok: boolean; task: { status: string } };
    assert.throws(() => { r.ok = false; }, TypeError);
    assert.throws(() => { r.task.status = 'done'; }, TypeError);
  });
});

describe('snapshots', () => {
  function busyMachine(): CoveyStateMachine {
    const m = new CoveyStateMachine();
    const run = client(m);
    run({ op: 'put', key: 'a', value: '1' });
    run({ op: 'put', key: '__proto__', value: 'data, not a prototype' });
    run({ op: 'cas', key: 'z', expected: 'no', value: 'x' });
    run({ op: 'task.create', taskId: 't2', spec: 's' });
    run({ op: 'task.create', taskId: 't1', spec: 's' });
    run({ op: 'task.claim', taskId: 't1', worker: 'w', leaseMs: 100 });
    run({ op: 'task.claim', taskId: 't2', worker: 'w', leaseMs: 100 });
    run({ op: 'peer.admit', peerId: peerB });
    run({ op: 'peer.revoke', peerId: peerA });
    run({ op: 'task.complete', taskId: 't2', worker: 'w', token: 1, result: 'r' });
    run({ op: 'task.claim', taskId: 't2', worker: 'w', leaseMs: 100 });
    client(m, 'other')({ op: 'get', key: 'a' });
    return m;
  }

  it('round-trips through JSON with the same digest and the same future behaviour', () => {
    const m = busyMachine();
    const copy = CoveyStateMachine.fromSnapshot(JSON.parse(JSON.stringify(m.snapshot())));
    assert.equal(copy.digest(), m.digest());
    assert.deepEqual(copy.keys(), m.keys());
    for (const c of [
      { clientId: 'c', requestId: 6, timestampMs: 0, op: 'put', key: 'a', value: 'retry' },
      { clientId: 'c', requestId: 11, timestampMs: 2000, op: 'task.claim', taskId: 't1', worker: 'v', leaseMs: 5 },
      { clientId: 'c', requestId: 12, timestampMs: 2000, op: 'get', key: '__proto__' },
    ] as Command[]) {
      assert.deepEqual(copy.apply(c), m.apply(c));
    }
    assert.equal(copy.digest(), m.digest());
  });

  it('restoreOwnSnapshot (the replica\'s own disk) rebuilds the same machine as restoreSnapshot, from the object or its JSON', () => {
    const m = busyMachine();
    const snap = m.snapshot();
    const json = JSON.stringify(snap);
    const later = [
      { clientId: 'c', requestId: 6, timestampMs: 0, op: 'put', key: 'a', value: 'retry' }, // a retry: answered from memory
      { clientId: 'c', requestId: 6, timestampMs: 0, op: 'put', key: 'a', value: 'other' }, // a reused id: refused
      { clientId: 'c', requestId: 10, timestampMs: 3000, op: 'task.claim', taskId: 't2', worker: 'v', leaseMs: 5 },
      { clientId: 'c', requestId: 13, timestampMs: 3000, op: 'get', key: '__proto__' },
      { clientId: 'other', requestId: 2, timestampMs: 3000, op: 'cas', key: 'a', expected: '1', value: '2' },
    ] as Command[];
    const expected = later.map((c) => m.apply(c));
    // The same object twice (the simulated disk hands it back on every restart) and parsed JSON
    // (a real disk): neither restore may share mutable state with the snapshot or with the other.
    for (const input of [snap, snap, JSON.parse(json)]) {
      const r = new CoveyStateMachine();
      r.restoreOwnSnapshot(input);
      assert.equal(r.digest(), json);
      assert.deepEqual(later.map((c) => r.apply(c)), expected);
      assert.equal(r.digest(), m.digest());
      const remembered = r.apply(later[0]);
      assert.ok(Object.isFrozen(remembered) && (remembered.task === undefined || Object.isFrozen(remembered.task)));
    }
    assert.equal(JSON.stringify(snap), json, 'restoring and applying left the stored snapshot as it was');
    const withTask = JSON.parse(json);
    const r = new CoveyStateMachine();
    r.restoreOwnSnapshot(withTask);
    const claim = r.apply({ clientId: 'c', requestId: 6, timestampMs: 0, op: 'task.claim', taskId: 't1', worker: 'w', leaseMs: 100 });
    assert.ok(Object.isFrozen(claim), 'a result parsed from disk is frozen like one apply made');
  });

  it('restoreOwnSnapshot reads an older version through the checked path', () => {
    const v2 = { version: 2, kv: [['a', 1]], tasks: [], clients: [] };
    assert.throws(() => new CoveyStateMachine().restoreOwnSnapshot(v2), /snapshot\.kv\[0\]\[1\] must be a string/);
    const m = new CoveyStateMachine();
    m.restoreOwnSnapshot({ version: 2, kv: [['a', '1']], tasks: [], clients: [['c', [[3, { ok: true }, null]]]] });
    assert.equal(m.get('a'), '1');
    assert.deepEqual(m.apply({ clientId: 'c', requestId: 3, timestampMs: 0, op: 'put', key: 'a', value: 'x' }), { ok: true });
    assert.equal(m.get('a'), '1', 'the restored entry answered the repeat from memory');
  });

  it('restoreOwnSnapshot of a current-version snapshot not of the shape it writes fails with the checked path\'s message, and changes nothing', () => {
    const m = new CoveyStateMachine();
    m.apply({ clientId: 'c', requestId: 1, timestampMs: 0, op: 'put', key: 'a', value: '1' });
    const broken = { ...JSON.parse(JSON.stringify(m.snapshot())), clients: 7 };
    assert.throws(() => m.restoreOwnSnapshot(broken), /snapshot\.clients/);
    assert.equal(m.get('a'), '1', 'the machine kept its state');
  });

  it('sameState tells apart states that differ in any one field, as the digest does', () => {
    const good = JSON.parse(JSON.stringify(busyMachine().snapshot()));
    const base = CoveyStateMachine.fromSnapshot(good);
    const results = good.clients.find(([id]: [string]) => id === 'c')[1];
    const withTask = results.findIndex((e: [number, { task?: unknown }]) => e[1].task !== undefined);
    const edits: [string, (s: typeof good) => void][] = [
      ['a kv value', (s) => { s.kv[0][1] += '!'; }],
      ['a task lease', (s) => { s.tasks[0].leaseExpiresMs += 1; }],
      ['a task token', (s) => { s.tasks[0].token += 1; }],
      ['the roster version', (s) => { s.rosterVersion += 1; }],
      ['a fingerprint', (s) => { s.clients[0][1][0][2] = 'A'.repeat(22); }],
      ['a result value', (s) => { s.clients.find(([id]: [string]) => id === 'other')[1][0][1].value = 'changed'; }],
      ['a result task token', (s) => { s.clients.find(([id]: [string]) => id === 'c')[1][withTask][1].task.token += 1; }],
      ['a result swapped flag', (s) => { const r = s.clients.find(([id]: [string]) => id === 'c')[1][2][1]; r.swapped = !r.swapped; }],
      ['a missing request', (s) => { s.clients[0][1].pop(); }],
    ];
    for (const [what, edit] of edits) {
      const changed = structuredClone(good);
      edit(changed);
      const m = CoveyStateMachine.fromSnapshot(changed);
      assert.notEqual(m.digest(), base.digest(), what);
      assert.equal(m.sameState(base), false, what);
      assert.equal(base.sameState(m), false, what);
    }
    assert.equal(CoveyStateMachine.fromSnapshot(structuredClone(good)).sameState(base), true);
  });

  it('the digest does not depend on the order state was built in', () => {
    const a = new CoveyStateMachine();
    const b = new CoveyStateMachine();
    a.apply({ clientId: 'c', requestId: 1, timestampMs: 0, op: 'put', key: 'x', value: '1' });
    a.apply({ clientId: 'c', requestId: 2, timestampMs: 0, op: 'put', key: 'y', value: '2' });
    b.apply({ clientId: 'c', requestId: 2, timestampMs: 0, op: 'put', key: 'y', value: '2' });
    b.apply({ clientId: 'c', requestId: 1, timestampMs: 0, op: 'put', key: 'x', value: '1' });
    assert.equal(a.digest(), b.digest());
    assert.notEqual(a.digest(), new CoveyStateMachine().digest());
  });

  it('a snapshot does not change when the machine does', () => {
    const m = busyMachine();
    const snap = m.snapshot();
    const json = JSON.stringify(snap);
    client(m, 'late')({ op: 'task.claim', taskId: 't1', worker: 'x', leaseMs: 5 }, 99_999);
    client(m, 'late2')({ op: 'put', key: 'a', value: 'changed' });
    assert.equal(JSON.stringify(snap), json);
  });

  it('fromSnapshot rejects malformed input, naming the problem', () => {
    const good = JSON.parse(JSON.stringify(busyMachine().snapshot()));
    const task = good.tasks[0];
    const cases: [unknown, RegExp][] = [
      [null, /snapshot must be an object/],
      [[], /snapshot must be an object/],
      [{ ...good, version: 5 }, /snapshot\.version must be 1 or 2 or 3 or 4/],
      [{ ...good, voters: undefined }, /snapshot\.voters must be an object/],
      [{ ...good, voters: { epoch: 0, ids: ['a', 'b', 'c'] } }, /snapshot\.voters\.epoch must be at least 1/],
      [{ ...good, voters: { epoch: 1, ids: ['a', 'b'] } }, /snapshot\.voters\.ids must hold 3, 5, 7 voters/],
      [{ ...good, voters: { epoch: 1, ids: ['a', 'b', 'a'] } }, /snapshot\.voters\.ids lists a voter twice/],
      [{ ...good, voters: { epoch: 1, ids: ['a', 'b', 'c,d'] } }, /snapshot\.voters\.ids\[2\] must be a peer id/],
      [{ ...good, roster: [['not-a-peer', 'admitted']] }, /snapshot\.roster\[0\]\[0\] must be a libp2p peer id/],
      [{ ...good, roster: [[peerA, 'maybe']] }, /snapshot\.roster\[0\]\[1\] must be 'admitted' or 'revoked'/],
      [{ ...good, roster: [[peerA, 'admitted'], [peerA, 'revoked']], rosterVersion: 5 }, /snapshot\.roster\[1\] repeats/],
      [{ ...good, roster: [[peerA, 'admitted']], rosterVersion: 0 }, /snapshot\.rosterVersion must be at least/],
      [{ ...good, rosterVersion: -1 }, /snapshot\.rosterVersion must be a non-negative/],
      [{ ...good, clients: [['c', [[1, { ok: true }]]]] }, /snapshot\.clients\[0\]\[1\]\[0\] must be a triple/],
      [{ ...good, clients: [['c', [[1, { ok: true }, 'short']]]] }, /snapshot\.clients\[0\]\[1\]\[0\]\[2\] must be a command fingerprint/],
      [{ ...good, version: 1, clients: [['c', [[1, { ok: true }, null]]]] }, /snapshot\.clients\[0\]\[1\]\[0\] must be a pair/],
      [{ ...good, kv: {} }, /snapshot\.kv must be an array/],
      [{ ...good, kv: [['a']] }, /snapshot\.kv\[0\] must be a pair/],
      [{ ...good, kv: [['a', 1]] }, /snapshot\.kv\[0\]\[1\] must be a string/],
      [{ ...good, kv: [['a', '1'], ['a', '2']] }, /snapshot\.kv\[1\] repeats/],
      [{ ...good, tasks: [{ ...task, status: 'lost' }] }, /snapshot\.tasks\[0\]\.status must be/],
      [{ ...good, tasks: [{ ...task, token: -1 }] }, /snapshot\.tasks\[0\]\.token must be a non-negative/],
      [{ ...good, tasks: [{ ...task, spec: undefined }] }, /snapshot\.tasks\[0\]\.spec must be a string/],
      [{ ...good, tasks: [{ ...task, status: 'open' }] }, /is open but has an owner/],
      [{ ...good, tasks: [task, task] }, /snapshot\.tasks\[1\] repeats/],
      [{ ...good, clients: [['c', [[1.5, { ok: true }, null]]]] }, /snapshot\.clients\[0\]\[1\]\[0\]\[0\] must be a non-negative/],
      [{ ...good, clients: [['c', [[1, { ok: true }, null], [1, { ok: true }, null]]]] }, /repeats an earlier entry/],
      [{ ...good, clients: [['c', [[1, { ok: 'yes' }, null]]]] }, /\.ok must be a boolean/],
      [{ ...good, clients: [['c', [[1, { ok: false }, null]]]] }, /\.error must be a string/],
      [{ ...good, clients: [['c', [[1, { ok: true, extra: 1 }, null]]]] }, /unexpected field "extra"/],
      [{ ...good, clients: [['c', Array.from({ length: 129 }, (_, i) => [i, { ok: true }, null])]] }, /at most 128 requests/],
    ];
    for (const [input, pattern] of cases) {
      assert.throws(() => CoveyStateMachine.fromSnapshot(input), (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.match(e.message, pattern);
        return true;
      }, `for ${JSON.stringify(input)?.slice(0, 100)}`);
    }
    assert.equal(CoveyStateMachine.fromSnapshot(good).digest(), JSON.stringify(good));
  });
});

describe('properties', () => {
  // Small universes so that commands collide: the same keys, tasks, workers and request ids recur.
  const str = (...xs: string[]) => fc.constantFrom(...xs);
  const key = str('a', 'b', 'c');
  const val = str('1', '2', '');
  const taskId = str('t1', 't2');
  const worker = str('w1', 'w2');
  const token = fc.integer({ min: 0, max: 5 });
  const leaseMs = fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.constantFrom(0, -5, 2.5, leaseMsMax + 1));
  const operation: fc.Arbitrary<Operation> = fc.oneof(
    fc.record({ op: fc.constant('get' as const), key }),
    fc.record({ op: fc.constant('put' as const), key, value: val }),
    fc.record({ op: fc.constant('delete' as const), key }),
    fc.record({ op: fc.constant('cas' as const), key, expected: fc.option(val), value: fc.option(val) }),
    fc.record({ op: fc.constant('task.create' as const), taskId, spec: val }),
    fc.record({ op: fc.constant('task.claim' as const), taskId, worker, leaseMs }),
    fc.record({ op: fc.constant('task.renew' as const), taskId, worker, token, leaseMs }),
    fc.record({ op: fc.constant('task.complete' as const), taskId, worker, token, result: val }),
    fc.record({ op: fc.constant('task.release' as const), taskId, worker, token }),
    fc.record({ op: fc.constant('task.get' as const), taskId }),
  );
  // Like real clients, each numbers its requests upwards and now and then retries an earlier id,
  // sometimes one so old that it has been evicted. size 'max' matters: fast-check's default size
  // keeps arrays to about ten elements, too few to reach the eviction bound.
  // A retry usually repeats the earlier command (at a new timestamp, as through another agent);
  // sometimes it reuses the id for a different command, as a restarted client would.
  const retry = fc.oneof({ arbitrary: fc.constant(null), weight: 4 }, { arbitrary: fc.nat({ max: 200 }), weight: 1 });
  const reuse = fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 });
  const step = fc.tuple(str('x', 'y'), retry, fc.nat({ max: 20_000 }), operation, reuse);
  const commands: fc.Arbitrary<Command[]> = fc.array(step, { maxLength: 600, size: 'max' }).map((steps) => {
    const counters = new Map<string, number>();
    const sent = new Map<string, Operation>();
    return steps.map(([clientId, retryBack, timestampMs, fresh, reuseId]) => {
      const latest = counters.get(clientId) ?? 0;
      const requestId = retryBack === null ? latest + 1 : Math.max(1, latest - retryBack);
      counters.set(clientId, Math.max(latest, requestId));
      const earlier = sent.get(`${clientId}/${requestId}`);
      const op = earlier !== undefined && !reuseId ? earlier : fresh;
      if (earlier === undefined) sent.set(`${clientId}/${requestId}`, op);
      return { clientId, requestId, timestampMs, ...op } as Command;
    });
  });
  /** The operation fields of a command, in a fixed order: what makes two commands the same one. */
  const operationOf = (c: Command): string => {
    const { clientId: _c, requestId: _r, timestampMs: _t, ...op } = c;
    return JSON.stringify(Object.entries(op).sort(([a], [b]) => (a < b ? -1 : 1)));
  };

  it('replicas fed the same commands return the same results and reach the same state, even across a snapshot', () => {
    fc.assert(fc.property(commands, fc.nat(), (cs, cutSeed) => {
      const a = new CoveyStateMachine();
      const b = new CoveyStateMachine();
      const cut = cs.length === 0 ? 0 : cutSeed % (cs.length + 1);
      cs.slice(0, cut).forEach((c) => assert.deepEqual(a.apply(c), b.apply(c)));
      const restored = CoveyStateMachine.fromSnapshot(JSON.parse(JSON.stringify(a.snapshot())));
      assert.equal(restored.digest(), a.digest());
      for (const c of cs.slice(cut)) {
        const r = a.apply(c);
        assert.deepEqual(b.apply(c), r);
        assert.deepEqual(restored.apply(c), r);
      }
      assert.equal(b.digest(), a.digest());
      assert.equal(restored.digest(), a.digest());
    }));
  });

  it('sameState holds exactly when the digests are equal', () => {
    // Two machines fed prefixes of one sequence, or one of them a sequence with one command
    // dropped or changed: some pairs end equal, some differ in one field of one result or task.
    let equal = 0, different = 0;
    fc.assert(fc.property(commands, fc.nat(), fc.nat(), fc.constantFrom('prefix', 'drop', 'same'), (cs, x, y, how) => {
      const a = new CoveyStateMachine(), b = new CoveyStateMachine();
      for (const c of cs) a.apply(c);
      const k = cs.length === 0 ? 0 : x % cs.length;
      const other = how === 'prefix' ? cs.slice(0, cs.length - (y % 3)) : how === 'drop' ? cs.filter((_, i) => i !== k) : cs;
      for (const c of other) b.apply(c);
      const digestsEqual = a.digest() === b.digest();
      if (digestsEqual) equal++; else different++;
      assert.equal(a.sameState(b), digestsEqual);
      assert.equal(b.sameState(a), digestsEqual);
      // The same state restored from a snapshot (results rebuilt, not shared) compares equal too.
      assert.equal(CoveyStateMachine.fromSnapshot(JSON.parse(JSON.stringify(a.snapshot()))).sameState(a), true);
    }));
    assert.ok(equal > 0 && different > 0, `both outcomes were tried (${equal} equal, ${different} different)`);
  });

  it('tokens never decrease, each claim gets a fresh token, and done is final', () => {
    fc.assert(fc.property(commands, (cs) => {
      const m = new CoveyStateMachine();
      const last = new Map<string, { token: number; status: string }>();
      const submitted = new Set<string>();
      for (const c of cs) {
        const r = m.apply(c);
        const retried = submitted.has(`${c.clientId}/${c.requestId}`); // answered from memory
        submitted.add(`${c.clientId}/${c.requestId}`);
        if (c.op === 'task.claim' && r.ok && !retried) {
          assert.ok(r.task!.token > (last.get(c.taskId)?.token ?? 0), 'a successful claim issues a new, larger token');
        }
        for (const t of m.listTasks()) {
          const before = last.get(t.taskId);
          if (before) {
            assert.ok(t.token >= before.token, `token of ${t.taskId} went from ${before.token} to ${t.token}`);
            if (before.status === 'done') assert.equal(t.status, 'done');
          }
          last.set(t.taskId, { token: t.token, status: t.status });
        }
      }
    }));
  });

  it('a repeated (client, request id) gets the first result if it is the same command, a refusal if not, or a too-old refusal, and never changes state', () => {
    let repeats = 0;
    let tooOld = 0;
    let reused = 0;
    fc.assert(fc.property(commands, (cs) => {
      const m = new CoveyStateMachine();
      const first = new Map<string, { result: CommandResult; op: string }>();
      for (const c of cs) {
        const id = `${c.clientId}/${c.requestId}`;
        const earlier = first.get(id);
        const before = earlier === undefined ? '' : m.digest();
        const r = m.apply(c);
        if (earlier === undefined) {
          // A first-time id can only be refused as too old if it is below every remembered one.
          if (!r.ok && /too old/.test(r.error)) continue;
          first.set(id, { result: r, op: operationOf(c) });
        } else {
          if (!r.ok && /too old to deduplicate/.test(r.error)) tooOld++;
          else if (earlier.op === operationOf(c)) { assert.equal(r, earlier.result); repeats++; }
          else { failure(r, /was already used for a different command .*; use a new request id$/); reused++; }
          assert.equal(m.digest(), before);
        }
      }
    }), { numRuns: 50 });
    // Guards the generator: the property means little unless every case actually occurs.
    assert.ok(repeats > 0 && tooOld > 0 && reused > 0, `repeats ${repeats}, too old ${tooOld}, reused ${reused}`);
  });
});

const peerA = '12D3KooWAb1zmS3Lr8e3UEtNXPh1Tq5bzCuWQcZZzCtQ9jdYSkUv';
const peerB = '12D3KooWKz3HqNbmrmHnj3ahvUNNx5rYAUDpMgTwGbDQzwEFrsxh';

describe('roster', () => {
  it('admit and revoke are decisions with a version that grows only when a decision changes', () => {
    const m = new CoveyStateMachine();
    const run = client(m);
    assert.deepEqual(m.roster(), { version: 0, decisions: [] });
    assert.deepEqual(run({ op: 'peer.admit', peerId: peerB }), { ok: true, value: '1' });
    assert.deepEqual(run({ op: 'peer.admit', peerId: peerB }), { ok: true, value: '1' }); // no change
    assert.deepEqual(run({ op: 'peer.revoke', peerId: peerA }), { ok: true, value: '2' }); // a revocation of a peer never admitted is kept
    assert.deepEqual(run({ op: 'peer.revoke', peerId: peerB }), { ok: true, value: '3' });
    assert.deepEqual(m.roster(), { version: 3, decisions: [[peerA, 'revoked'], [peerB, 'revoked']] });
    assert.equal(m.rosterVersion(), 3);
    failure(run({ op: 'peer.admit', peerId: 'alice' }), /peerId must be a libp2p peer id/);
    assert.equal(m.roster().version, 3);
  });

  it('the roster travels in snapshots (format 3) and a format-2 snapshot loads with an empty roster', () => {
    const m = new CoveyStateMachine();
    client(m)({ op: 'peer.admit', peerId: peerB });
    const snap = JSON.parse(JSON.stringify(m.snapshot()));
    assert.deepEqual(snap.roster, [[peerB, 'admitted']]);
    assert.equal(snap.rosterVersion, 1);
    assert.deepEqual(CoveyStateMachine.fromSnapshot(snap).roster(), m.roster());
    const v2 = { version: 2, kv: [], tasks: [], clients: [] };
    assert.deepEqual(CoveyStateMachine.fromSnapshot(v2).roster(), { version: 0, decisions: [] });
  });
});
