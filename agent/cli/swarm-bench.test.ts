import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { countLost } from '../../bench/swarm-bench.ts';
import { parseHistory } from '../../sim/history.ts';

const cli = new URL('./covey.ts', import.meta.url).pathname;

const w = (process: number, value: string, invoke: number, complete: number | null) => [
  { process, type: 'invoke', f: 'write', key: 'k', value, time: invoke },
  complete === null ? { process, type: 'info', f: 'write', key: 'k', time: invoke + 1 } : { process, type: 'ok', f: 'write', key: 'k', time: complete },
];

test('countLost: an acknowledged write that began after the final value\'s write ended is lost', () => {
  const lines = [...w(1, 'a', 0, 10), ...w(2, 'b', 20, 30)];
  assert.equal(countLost(lines, new Map([['k', 'b']])), 0);
  assert.equal(countLost(lines, new Map([['k', 'a']])), 1, 'b was acknowledged after a finished, yet a won');
  assert.equal(countLost(lines, new Map([['k', null]])), 2, 'the key ended absent: both acknowledged writes lost');
  // Concurrent writes may end either way.
  const concurrent = [...w(1, 'a', 0, 30), ...w(2, 'b', 10, 20)];
  assert.equal(countLost(concurrent, new Map([['k', 'a']])), 0);
  assert.equal(countLost(concurrent, new Map([['k', 'b']])), 0);
  // A write of unknown outcome may be the last one at any time after its invoke.
  const unknown = [...w(1, 'a', 0, null), ...w(2, 'b', 20, 30)];
  assert.equal(countLost(unknown, new Map([['k', 'a']])), 0);
});

test('covey swarm bench: kills voters, writes a history the checker accepts, prints the summary', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-bench-test-'));
  try {
    const history = join(dir, 'history.jsonl');
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'swarm', 'bench', '--voters', '3', '--clients', '8', '--ops', '800', '--keys', '8',
      '--kill-every', '1s', '--down', '500ms', '--history', history, '--seed', '7', '--json'], { timeout: 200_000 });
    const s = JSON.parse(stdout) as Record<string, unknown>;
    for (const k of ['ops', 'acked', 'lost', 'linearizable', 'throughput', 'p50Ms', 'p99Ms']) assert.ok(k in s, `summary has ${k}`);
    assert.equal(s.ops, 800);
    assert.equal(s.lost, 0);
    assert.equal(s.linearizable, true);
    assert.ok((s.kills as number) >= 1, 'at least one voter was killed');
    assert.ok((s.acked as number) > 600);
    const h = parseHistory(readFileSync(history, 'utf8'));
    assert.equal(h.events.filter((e) => e.type === 'invoke').length, 800 + 8, 'every operation and the final reads are in the history');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
