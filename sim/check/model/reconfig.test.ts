// `covey check --reconfig` (docs/reconfiguration.md): one put and a voters.change replacing r2,
// every interleaving within the bounds, RC1 beside INV1–INV8 in every state. The real core passes
// at issue 15's bound (≤1 crash, ≤1 unsynced step, ≤1 tick); with sealing switched off (the
// `no-seal` variant) the checker finds a command that executes after the change closed the epoch,
// with a shortest trace that replays.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { check, checkByReplay, defaultModel, replayTrace, type ModelConfig } from './model.ts';

const cli = new URL('../../../agent/cli/covey.ts', import.meta.url).pathname;

/** One put at r0 and the change at r1 (commands counts the change: model.ts, modelCommand). */
const model = (o: Partial<ModelConfig>): ModelConfig => ({
  ...defaultModel, commands: 2, reconfig: true, crashes: 0, duplicates: 0, drops: 0, recoveries: 0, ticks: 0, unsynced: 0, ...o,
});

test('the real core passes --reconfig at issue 15\'s bound: 1 command, 1 replace, ≤1 crash, ≤1 unsynced step, ≤1 tick', () => {
  const r = check(model({ crashes: 1, unsynced: 1, ticks: 1 }), { maxStates: 2_000_000 });
  assert.equal(r.verdict, 'pass', JSON.stringify(r.violation));
  assert.ok(r.states > 100_000, `explored ${r.states} states`);
});

test('without sealing (rule 3 off) a command executes after the change: RC1 after a shortest trace of 6 steps, and it replays', () => {
  const cfg = model({ variant: 'no-seal' });
  const r = check(cfg, { maxStates: 100_000 });
  assert.equal(r.verdict, 'violation');
  const v = r.violation!;
  assert.deepEqual(v.invariants, ['RC1'], v.messages.join('; '));
  assert.equal(v.trace.length, 6, v.steps.join('\n'));
  assert.match(v.steps[0], /^submit voters\.change→r0,r1,r3 at r1$/);
  assert.ok(replayTrace(cfg, v.trace).violations.some((m) => m.startsWith('RC1')));
  assert.deepEqual(replayTrace(cfg, v.trace.slice(0, -1)).violations, []);
  // The real core, the same bounds: nothing, exhaustively.
  const real = check({ ...cfg, variant: 'real' }, { maxStates: 100_000 });
  assert.equal(real.verdict, 'pass', JSON.stringify(real.violation));
  // The reference search agrees with the fast one on this model too.
  const reference = checkByReplay({ ...cfg, variant: 'real' }, { maxStates: 100_000 });
  assert.equal(reference.states, real.states);
  assert.equal(reference.transitions, real.transitions);
});

test('the no-seal variant is found at the full bound too, and the CLI reports it with exit code 1', () => {
  const r = check(model({ variant: 'no-seal', crashes: 1, unsynced: 1, ticks: 1 }), { maxStates: 2_000_000 });
  assert.equal(r.verdict, 'violation');
  assert.deepEqual(r.violation!.invariants, ['RC1']);
  const out = spawnSync(process.execPath, [cli, 'check', '--reconfig', '--commands', '1', '--crashes', '0', '--unsynced', '0', '--ticks', '0', '--variant', 'no-seal'], { encoding: 'utf8' });
  assert.equal(out.status, 1, out.stderr);
  assert.match(out.stdout, /VIOLATION of RC1 after 6 step\(s\)/);
  assert.match(out.stdout, /a voters\.change replacing r2/);
});
