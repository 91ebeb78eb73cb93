// The client commands run as processes against an in-process API: their output (text and
// --json), and their exit codes (0 done, 1 refused or unreachable, 2 usage), as docs/agent.md says.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTasks } from './agent-commands.ts';
import { runCli, serveGroup } from './testing.ts';

test('kv ls lists a prefix across pages, as a table and as JSON', async () => {
  const s = await serveGroup();
  try {
    for (let i = 0; i < 12; i++) await s.client.put(`fleet/drone-${String(i).padStart(2, '0')}`, `battery ${90 - i}`);
    await s.client.put('other', 'x');
    const long = 'fleet/' + 'a-very-long-key-name-'.repeat(3);
    await s.client.put(long, 'v');
    await new Promise((r) => setTimeout(r, 50)); // voter 0 applies what the others committed
    const json = await runCli(['kv', 'ls', '--prefix', 'fleet/', '--json', '--agent', s.url]);
    assert.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout) as { entries: { key: string; value: string }[]; truncated: boolean; stale: boolean };
    assert.equal(doc.entries.length, 13);
    assert.equal(doc.entries[0].key, 'fleet/a-very-long-key-name-a-very-long-key-name-a-very-long-key-name-');
    assert.deepEqual(doc.entries[1], { key: 'fleet/drone-00', value: 'battery 90' });
    assert.equal(doc.truncated, false);
    assert.equal(doc.stale, true);
    assert.ok(!doc.entries.some((e) => e.key === 'other'));

    const limited = await runCli(['kv', 'ls', '--prefix', 'fleet/drone-', '--limit', '5', '--json', '--agent', s.url]);
    const ldoc = JSON.parse(limited.stdout) as { entries: { key: string }[]; truncated: boolean };
    assert.deepEqual(ldoc.entries.map((e) => e.key), ['fleet/drone-00', 'fleet/drone-01', 'fleet/drone-02', 'fleet/drone-03', 'fleet/drone-04']);
    assert.equal(ldoc.truncated, true);

    const text = await runCli(['kv', 'ls', '--prefix', 'fleet/', '--agent', s.url]);
    assert.equal(text.code, 0);
    const lines = text.stdout.trim().split('\n');
    assert.match(lines[0], /^KEY +VALUE$/);
    // The long key widens its column: every value starts in the same column.
    const col = lines[0].indexOf('VALUE');
    for (const l of lines.slice(1)) assert.match(l.slice(col), /^(battery \d+|v)$/, l);

    // The route itself: one page and its continuation; a bad query or method says what is wrong.
    const page = await (await fetch(`${s.url}/kv?prefix=fleet/drone-&limit=10`)).json() as { value: { key: string }[]; next: string | null; stale: boolean };
    assert.deepEqual([page.value.length, page.next, page.stale], [10, 'fleet/drone-09', true]);
    const rest = await (await fetch(`${s.url}/kv?prefix=fleet/drone-&limit=10&after=${encodeURIComponent(page.next!)}`)).json() as { value: { key: string }[]; next: string | null };
    assert.deepEqual([rest.value.map((e) => e.key), rest.next], [['fleet/drone-10', 'fleet/drone-11'], null]);
    const badLimit = await fetch(`${s.url}/kv?limit=abc`);
    assert.equal(badLimit.status, 400);
    assert.match(((await badLimit.json()) as { error: string }).error, /limit.*from 1 to 1000, got "abc"/);
    const post = await fetch(`${s.url}/kv`, { method: 'POST', body: '{}' });
    assert.equal(post.status, 405);

    const none = await runCli(['kv', 'ls', '--prefix', 'nothing/', '--agent', s.url]);
    assert.equal(none.code, 0);
    assert.equal(none.stdout, 'no keys under "nothing/"\n');
  } finally {
    await s.close();
  }
});

test('tasks get, claim, renew, release and ls --json as processes, with exit code 1 on a refusal', async () => {
  const s = await serveGroup();
  try {
    const id = 'survey/cell-with-a-rather-long-name-0001';
    const created = await runCli(['tasks', 'create', id, 'spec', '--json', '--agent', s.url]);
    assert.equal(created.code, 0, created.stderr);
    const claim = await runCli(['tasks', 'claim', id, '--worker', 'drone-7', '--lease', '60000', '--agent', s.url]);
    assert.equal(claim.code, 0);
    const token = (JSON.parse(claim.stdout) as { task: { token: number } }).task.token;
    assert.equal(token, 1);

    const got = await runCli(['tasks', 'get', id, '--json', '--agent', s.url]);
    assert.equal(got.code, 0);
    const task = (JSON.parse(got.stdout) as { task: Record<string, unknown> }).task;
    assert.equal(task.owner, 'drone-7');
    assert.equal(task.status, 'claimed');

    const renewed = await runCli(['tasks', 'renew', id, '--worker', 'drone-7', '--token', '1', '--lease', '120000', '--agent', s.url]);
    assert.equal(renewed.code, 0, renewed.stdout);
    assert.ok((JSON.parse(renewed.stdout) as { task: { leaseExpiresMs: number } }).task.leaseExpiresMs > Number(task.leaseExpiresMs));

    const staleRenew = await runCli(['tasks', 'renew', id, '--worker', 'drone-7', '--token', '9', '--agent', s.url]);
    assert.equal(staleRenew.code, 1, 'a refused command exits 1');
    assert.equal((JSON.parse(staleRenew.stdout) as { ok: boolean }).ok, false);

    const ls = await runCli(['tasks', 'ls', '--json', '--agent', s.url]);
    assert.equal(ls.code, 0);
    const listed = JSON.parse(ls.stdout) as Record<string, unknown>[];
    assert.deepEqual(listed.map((t) => [t.taskId, t.status, t.owner, t.token]), [[id, 'claimed', 'drone-7', 1]]);

    const released = await runCli(['tasks', 'release', id, '--worker', 'drone-7', '--token', '1', '--agent', s.url]);
    assert.equal(released.code, 0);
    assert.equal((JSON.parse(released.stdout) as { task: { status: string } }).task.status, 'open');
    const open = await runCli(['tasks', 'ls', '--status', 'open', '--agent', s.url]);
    assert.match(open.stdout, /^TASK +STATUS +OWNER +TOKEN +LEASE LEFT +RESULT\n/);
    assert.match(open.stdout, new RegExp(`^${id} +open +- +1 +- +-$`, 'm'));

    const missing = await runCli(['tasks', 'get', 'no-such-task', '--agent', s.url]);
    assert.equal(missing.code, 1);
    assert.deepEqual(JSON.parse(missing.stdout), { ok: false, error: 'unknown task "no-such-task"' });
  } finally {
    await s.close();
  }
});

test('usage errors exit 2 and an unreachable agent exits 1, naming the fix', async () => {
  const badStatus = await runCli(['tasks', 'ls', '--status', 'lost', '--agent', 'http://127.0.0.1:9']);
  assert.equal(badStatus.code, 2);
  assert.match(badStatus.stderr, /--status must be open, claimed or done, got "lost"/);
  const missingToken = await runCli(['tasks', 'renew', 'x', '--worker', 'w', '--agent', 'http://127.0.0.1:9']);
  assert.equal(missingToken.code, 2);
  assert.match(missingToken.stderr, /--token/);
  const badLimit = await runCli(['kv', 'ls', '--limit', '0', '--agent', 'http://127.0.0.1:9']);
  assert.equal(badLimit.code, 2);
  const unreachable = await runCli(['kv', 'ls', '--json', '--agent', 'http://127.0.0.1:9']);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /cannot reach the agent at http:\/\/127\.0\.0\.1:9.*is it running\?/);
  assert.equal(unreachable.stdout, '');
});

test('the tasks table keeps its columns in line whatever the lengths, and shows the lease left', () => {
  const now = 1_000_000;
  const out = formatTasks([
    { taskId: 'a', status: 'claimed', owner: '12D3KooWLongPeerIdOfAWorkerThatIsWide', token: 3, leaseExpiresMs: now + 2500, result: null },
    { taskId: 'a-much-longer-task-id-than-twenty-chars', status: 'done', owner: 'w', token: 12, leaseExpiresMs: 0, result: 'ok' },
    { taskId: 'b', status: 'claimed', owner: 'w', token: 1, leaseExpiresMs: now - 1, result: null },
  ], now);
  const lines = out.trimEnd().split('\n');
  for (const h of ['STATUS', 'OWNER', 'TOKEN', 'LEASE LEFT']) {
    const col = lines[0].indexOf(h);
    // Two spaces before every cell of the column: no cell of the column before ran into it.
    for (const l of lines.slice(1)) assert.equal(l.slice(col - 2, col), '  ', `${h} column out of line in: ${l}`);
  }
  assert.match(lines[1], /2\.5 s/);
  assert.match(lines[3], /expired/);
});
