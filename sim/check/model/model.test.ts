// The model checker: it passes the real core exhaustively on small configurations, finds the
// delayed self-delivery bug (PROTOCOL.md §4) and the single-ballot bug (§10) with shortest traces
// that replay, explores exactly the states of the reference replay search, tells the single-ballot
// bug apart from the real core on the scripted §10 trace, and `covey check` refuses bad arguments
// with exit code 2.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  applyAction, check, checkByReplay, defaultModel, enabledActions, ModelState, replayTrace, stateHash, type Action, type ModelConfig,
} from './model.ts';
import { count, parseReplicas, parseVariant } from './command.ts';
import type { MessageType } from '../../../consensus/index.ts';

const cli = new URL('../../../agent/cli/covey.ts', import.meta.url).pathname;
const covey = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

const model = (o: Partial<ModelConfig>): ModelConfig => ({
  ...defaultModel, commands: 1, crashes: 0, duplicates: 0, drops: 0, recoveries: 0, ticks: 0, unsynced: 0, ...o,
});

test('the real core passes exhaustively: 1 command with a crash, a restart and a duplicate', () => {
  const r = check(model({ crashes: 1, duplicates: 1 }), { maxStates: 100_000 });
  assert.equal(r.verdict, 'pass', JSON.stringify(r.violation));
  assert.ok(r.states > 500, `explored ${r.states} states`);
  assert.ok(r.depth >= 8);
});

test('the real core passes exhaustively: 2 conflicting commands at two coordinators', () => {
  const r = check(model({ commands: 2 }), { maxStates: 200_000 });
  assert.equal(r.verdict, 'pass', JSON.stringify(r.violation));
  assert.ok(r.states > 1000, `explored ${r.states} states`);
});

test('delayed self-delivery (§4) is caught: shortest trace of 8 steps violating INV7, and it replays', () => {
  const cfg = model({ recoveries: 1, variant: 'delayed-self-delivery' });
  const r = check(cfg, { maxStates: 200_000 });
  assert.equal(r.verdict, 'violation');
  const v = r.violation!;
  assert.ok(v.invariants.includes('INV7'), v.messages.join('; '));
  assert.equal(v.trace.length, 8, v.steps.join('\n'));
  assert.match(v.steps[0], /^submit put x=v0 at r0$/);
  assert.ok(v.steps.some((s) => /^recover\(1\.0\)/.test(s)), 'the trace recovers the committed id');
  // Replayed on a fresh cluster, the trace ends in the violation, and not one step earlier.
  assert.ok(replayTrace(cfg, v.trace).violations.some((m) => m.startsWith('INV7')));
  assert.deepEqual(replayTrace(cfg, v.trace.slice(0, -1)).violations, []);
  // Shortest: nothing is violated within 7 steps.
  assert.equal(check(cfg, { maxStates: 200_000, maxDepth: 7 }).verdict, 'depth-bounded');
  // The real core, same bounds, the same depth and one more: no violation.
  const real = check({ ...cfg, variant: 'real' }, { maxStates: 200_000, maxDepth: 9 });
  assert.equal(real.verdict, 'depth-bounded', JSON.stringify(real.violation));
});

test('votes count once durable: with unsynced steps and crashes the real core passes exhaustively (1 command)', () => {
  const r = check(model({ crashes: 1, unsynced: 2 }), { maxStates: 200_000 });
  assert.equal(r.verdict, 'pass', JSON.stringify(r.violation));
  assert.ok(r.states > 1000, `explored ${r.states} states`);
});

test('counting its own vote before it is durable is caught: a shortest trace of 12 steps violating INV7', () => {
  const cfg = model({ crashes: 1, recoveries: 1, unsynced: 2, variant: 'vote-before-durable' });
  const r = check(cfg, { maxStates: 200_000 });
  assert.equal(r.verdict, 'violation');
  const v = r.violation!;
  assert.ok(v.invariants.includes('INV7'), v.messages.join('; '));
  assert.equal(v.trace.length, 12, v.steps.join('\n'));
  // The coordinator counts r1's vote and its own unsynced one, commits, and the crash takes its vote back.
  assert.deepEqual(v.steps.slice(0, 5), [
    'submit put x=v0 at r0',
    'deliver PreAccept 1.0 r0→r1 (put x=v0, D={})',
    'sync r1 (its oldest unsynced step becomes durable; what waited for it is sent)',
    'deliver PreAcceptOK 1.0 r1→r0 (D={})',
    'crash r0',
  ]);
  assert.ok(replayTrace(cfg, v.trace).violations.some((m) => m.startsWith('INV7')));
  assert.deepEqual(replayTrace(cfg, v.trace.slice(0, -1)).violations, []);
  // The real core, same bounds, one step deeper: no violation.
  const real = check({ ...cfg, variant: 'real' }, { maxStates: 500_000, maxDepth: 13 });
  assert.equal(real.verdict, 'depth-bounded', JSON.stringify(real.violation));
});

test('the fast search finds exactly the states, transitions and traces of the reference replay search', () => {
  for (const cfg of [
    model({ crashes: 1, duplicates: 1, ticks: 1 }),
    model({ commands: 2 }),
    model({ recoveries: 1, variant: 'delayed-self-delivery' }),
    model({ unsynced: 1 }),
  ]) {
    const fast = check(cfg, { maxStates: 100_000 });
    const ref = checkByReplay(cfg, { maxStates: 100_000 });
    const summary = (r: typeof fast) => ({ verdict: r.verdict, states: r.states, transitions: r.transitions, subsumed: r.subsumed, depth: r.depth, trace: r.violation?.trace, messages: r.violation?.messages });
    assert.deepEqual(summary(fast), summary(ref), JSON.stringify(cfg));
    assert.ok(fast.states > 100, `${JSON.stringify(cfg)}: ${fast.states} states`);
  }
});

/** Apply the enabled action matching `kind`, and for messages `type`, `from` → `to`. */
function act(s: ModelState, path: Action[], kind: Action['kind'], type?: MessageType, from?: number, to?: number, r?: number, b?: number): void {
  const a = enabledActions(s).find((x) => {
    if (x.kind !== kind) return false;
    if (x.kind === 'deliver' || x.kind === 'duplicate' || x.kind === 'drop') {
      return x.msg.startsWith(`${from}>${to} `) && x.msg.includes(`"type":"${type}"`) && (b === undefined || x.msg.includes(`"b":${b},`));
    }
    if (x.kind === 'recover' || x.kind === 'crash' || x.kind === 'restart' || x.kind === 'tick') return x.r === r;
    return true;
  });
  assert.ok(a !== undefined, `no enabled ${kind} ${type ?? ''} ${from ?? ''}→${to ?? r ?? ''}`);
  applyAction(s, a);
  path.push(a);
}

/** PROTOCOL.md §10 pitfall 1, as model actions: r0 coordinates, r1 and r2 recover. */
function singleBallotScenario(cfg: ModelConfig): { path: Action[]; violations: string[] } {
  const s = new ModelState(cfg);
  const path: Action[] = [];
  act(s, path, 'submit');
  act(s, path, 'deliver', 'PreAccept', 0, 1);
  act(s, path, 'recover', undefined, undefined, undefined, 1); // ballot 1: Q = {r1, r2}, Validate, Accept(1, c)
  act(s, path, 'deliver', 'Recover', 1, 2);
  act(s, path, 'deliver', 'RecoverOK', 2, 1);
  act(s, path, 'deliver', 'Validate', 1, 2);
  act(s, path, 'deliver', 'ValidateOK', 2, 1); // r1 accepts c at ballot 1; its Accepts stay in flight
  act(s, path, 'recover', undefined, undefined, undefined, 2); // ballot 2: Q = {r2, r0} → Nop (line 56)
  act(s, path, 'deliver', 'Recover', 2, 0, undefined, 2);
  act(s, path, 'deliver', 'Recover', 2, 1, undefined, 2); // r1 joins ballot 2 without voting in it
  act(s, path, 'deliver', 'RecoverOK', 0, 2, undefined, 2);
  act(s, path, 'deliver', 'Accept', 2, 0, undefined, 2);
  act(s, path, 'deliver', 'AcceptOK', 0, 2, undefined, 2); // Nop is chosen at ballot 2
  act(s, path, 'recover', undefined, undefined, undefined, 1); // ballot 4: Q = {r1, r0}
  act(s, path, 'deliver', 'Recover', 1, 0, undefined, 4);
  act(s, path, 'deliver', 'RecoverOK', 0, 1, undefined, 4);
  return { path, violations: s.cluster.violations() };
}

test('single-ballot recovery (§10): the §10 trace violates INV7 on the variant and nothing on the real core', () => {
  const bad = singleBallotScenario(model({ recoveries: 3, variant: 'single-ballot' }));
  assert.ok(bad.violations.some((m) => /^INV7: Accept for 1\.0 at ballot 4 > commit ballot 2/.test(m)), bad.violations.join('; '));
  assert.deepEqual(replayTrace(model({ recoveries: 3, variant: 'single-ballot' }), bad.path).violations, bad.violations);
  const real = singleBallotScenario(model({ recoveries: 3 }));
  assert.deepEqual(real.violations, []);
});

test('single-ballot recovery (§10) is found by the search: a shortest trace of 12 steps violating INV7, with three recoveries', () => {
  const cfg = model({ recoveries: 3, variant: 'single-ballot' });
  const r = check(cfg, { maxStates: 1_000_000 });
  assert.equal(r.verdict, 'violation');
  const v = r.violation!;
  assert.ok(v.messages.some((m) => /^INV7: Accept for 1\.0 at ballot 4 > commit ballot/.test(m)), v.messages.join('; '));
  assert.equal(v.trace.length, 12, v.steps.join('\n'));
  assert.equal(v.trace.filter((a) => a.kind === 'recover').length, 3, v.steps.join('\n'));
  assert.ok(replayTrace(cfg, v.trace).violations.some((m) => m.startsWith('INV7')));
  assert.deepEqual(replayTrace(cfg, v.trace.slice(0, -1)).violations, []);
  // Breadth first, every state within 11 steps was checked before this one was reached: no
  // violation is shorter. The real core, same bounds, has none within 12 steps.
  const real = check({ ...cfg, variant: 'real' }, { maxStates: 1_000_000, maxDepth: 12 });
  assert.equal(real.verdict, 'depth-bounded', JSON.stringify(real.violation));
});

test('state hashing: the same state reached by two interleavings is one state; a different one is not', () => {
  const cfg = model({ commands: 2 });
  const a = new ModelState(cfg), b = new ModelState(cfg);
  applyAction(a, { kind: 'submit', command: 0 }); applyAction(a, { kind: 'submit', command: 1 });
  applyAction(b, { kind: 'submit', command: 1 }); applyAction(b, { kind: 'submit', command: 0 });
  assert.equal(stateHash(a), stateHash(b));
  const c = new ModelState(cfg);
  applyAction(c, { kind: 'submit', command: 0 });
  assert.notEqual(stateHash(a), stateHash(c));
  const deliver = enabledActions(a).find((x) => x.kind === 'deliver')!;
  applyAction(a, deliver);
  assert.notEqual(stateHash(a), stateHash(b));
});

test('a state limit that is reached makes the run incomplete, not a pass', () => {
  const r = check(model({ crashes: 1 }), { maxStates: 20 });
  assert.equal(r.verdict, 'incomplete');
  assert.equal(r.states, 20);
});

test('a time limit that is reached makes the run incomplete, and says within which depth every state was checked', () => {
  const r = check(model({ crashes: 1, recoveries: 1 }), { maxStates: 10_000_000, maxMs: 300 });
  assert.equal(r.verdict, 'incomplete');
  assert.ok(r.wallMs < 5_000, `${r.wallMs} ms`);
  assert.ok(r.checkedDepth !== undefined && r.checkedDepth >= 1 && r.checkedDepth <= r.depth, JSON.stringify(r));
  // Every state within checkedDepth steps was checked: a depth-bounded run to that depth finds no more states than it.
  const bounded = check(model({ crashes: 1, recoveries: 1 }), { maxStates: 10_000_000, maxDepth: r.checkedDepth });
  assert.equal(bounded.verdict, 'depth-bounded');
  assert.ok(bounded.states <= r.states, `${bounded.states} within ${r.checkedDepth} steps, ${r.states} found in 300 ms`);
});

test('covey check: arguments are refused with the argument and the accepted values, exit code 2', () => {
  assert.equal(parseReplicas('3'), 3);
  assert.throws(() => parseReplicas('5'), /--replicas: only 3 is accepted/);
  assert.equal(count('--commands', 1, 3)('2'), 2);
  assert.throws(() => count('--commands', 1, 3)('4'), /--commands: accepted values are whole numbers from 1 to 3; got "4"/);
  assert.throws(() => count('--crashes', 0, 1)('x'), /--crashes: accepted values/);
  assert.equal(parseVariant('single-ballot'), 'single-ballot');
  assert.throws(() => parseVariant('buggy'), /--variant: accepted values are real, single-ballot, delayed-self-delivery/);
  for (const [args, pattern] of [
    [['--replicas', '5'], /--replicas: only 3 is accepted for now/],
    [['--commands', '0'], /--commands: accepted values are whole numbers from 1 to 3/],
    [['--crashes', '2'], /--crashes: accepted values are whole numbers from 0 to 1/],
    [['--variant', 'nope'], /--variant: accepted values are real, single-ballot, delayed-self-delivery/],
    [['--frobnicate'], /unknown option '--frobnicate'/],
  ] as const) {
    const r = covey('check', ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
  }
});

test('covey check: exit 0 on a pass (with the state count), 1 on a violation (with the trace), 3 when incomplete', () => {
  const pass = covey('check', '--commands', '1', '--crashes', '0', '--duplicates', '0', '--recoveries', '0', '--json');
  assert.equal(pass.status, 0, pass.stderr);
  const j = JSON.parse(pass.stdout);
  assert.equal(j.verdict, 'pass');
  assert.ok(j.states > 10);
  const bad = covey('check', '--commands', '1', '--crashes', '0', '--duplicates', '0', '--recoveries', '1', '--unsynced', '0', '--variant', 'delayed-self-delivery');
  assert.equal(bad.status, 1, bad.stderr);
  assert.match(bad.stdout, /distinct states explored: \d+/);
  assert.match(bad.stdout, /VIOLATION of INV7 after 8 step\(s\)/);
  assert.match(bad.stdout, / 1\. submit put x=v0 at r0\n/);
  assert.match(bad.stdout, / 8\. deliver RecoverOK 1\.0 b=3/);
  const partial = covey('check', '--commands', '1', '--max-states', '5');
  assert.equal(partial.status, 3);
  assert.match(partial.stdout, /INCOMPLETE/);
});
