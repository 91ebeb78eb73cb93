// The event hub: filters, the listener bound, a listener that throws; the query parser's
// messages; what an applied batch turns into.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command, CommandResult } from '../../consensus/index.ts';
import { changesOf } from './changes.ts';
import { EventQueryError, listenersMax, LiveEvents, LiveLimitError, parseEventFilter, type LiveEvent } from './events.ts';

test('listeners get what their filter passes; a throwing listener does not stop the others; the bound holds', () => {
  const hub = new LiveEvents();
  const got: LiveEvent[] = [];
  hub.subscribe(parseEventFilter(new URLSearchParams('kinds=telemetry&topic=a')), (e) => got.push(e));
  hub.subscribe(parseEventFilter(new URLSearchParams('')), () => { throw new Error('broken listener'); });
  hub.emit({ kind: 'telemetry', topic: 'b', from: 'p', value: 1, atMs: 0 });
  hub.emit({ kind: 'telemetry', topic: 'a', from: 'p', value: 2, atMs: 0 });
  hub.emit({ kind: 'kv', key: 'a', value: 'x', atMs: 0 });
  assert.deepEqual(got.map((e) => (e as { value: unknown }).value), [2]);
  assert.equal(hub.emitted.telemetry, 2);
  for (let i = hub.listeners; i < listenersMax; i++) hub.subscribe(parseEventFilter(new URLSearchParams('')), () => {});
  assert.throws(() => hub.subscribe(parseEventFilter(new URLSearchParams('')), () => {}), LiveLimitError);
});

test('parseEventFilter: every kind by default; bad names are refused with the list of good ones', () => {
  assert.equal(parseEventFilter(new URLSearchParams('')).kinds.size, 7);
  assert.deepEqual([...parseEventFilter(new URLSearchParams('kinds=kv, task')).kinds], ['kv', 'task']);
  assert.throws(() => parseEventFilter(new URLSearchParams('kinds=kv,tasks')), (e: Error) => e instanceof EventQueryError && /unknown kind\(s\) "tasks"/.test(e.message));
  assert.throws(() => parseEventFilter(new URLSearchParams('since=3')), /unknown query parameter "since"/);
});

test('changesOf: writes and task changes that took effect, not reads or refusals', () => {
  const env = { clientId: 'c', requestId: 1, timestampMs: 0 };
  const task = { taskId: 't', spec: '', status: 'claimed' as const, owner: 'w', token: 3, leaseExpiresMs: 10, result: null };
  const commands = [
    { ...env, op: 'put', key: 'k', value: 'v' },
    { ...env, op: 'get', key: 'k' },
    { ...env, op: 'cas', key: 'k', expected: 'v', value: 'w' },
    { ...env, op: 'cas', key: 'k', expected: 'nope', value: 'z' },
    { ...env, op: 'delete', key: 'k' },
    { ...env, op: 'task.claim', taskId: 't', worker: 'w', leaseMs: 10 },
    { ...env, op: 'task.claim', taskId: 't', worker: 'x', leaseMs: 10 },
  ] as Command[];
  const results: CommandResult[] = [
    { ok: true }, { ok: true, value: 'v' }, { ok: true, swapped: true }, { ok: true, swapped: false, value: 'w' }, { ok: true },
    { ok: true, task }, { ok: false, error: 'held', task },
  ];
  const out = changesOf({ id: { replica: 0, instance: 1 } as never, commands, results }, 5);
  assert.deepEqual(out, [
    { kind: 'kv', key: 'k', value: 'v', atMs: 5 },
    { kind: 'kv', key: 'k', value: 'w', atMs: 5 },
    { kind: 'kv', key: 'k', value: null, atMs: 5 },
    { kind: 'task', op: 'task.claim', task, atMs: 5 },
  ]);
});
