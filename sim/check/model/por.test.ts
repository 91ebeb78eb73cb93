// Partial-order reduction (`covey check --por`, por.ts, README.md "Partial-order reduction"): once
// the crash budget is spent, a state with a replica down or an unsynced step expands only that
// replica's restart or sync. These tests check the two claims the reduction rests on, over every
// state of small full searches (such a step commutes with every other enabled action; it never
// repairs a violation), and its effect: every known-bad variant is still found, the real core
// still passes, and the reduced search gives the full one's verdict with fewer states.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { type Action, ActionTable, check, clusterOptions, defaultModel, enabledIn, modelCommand, recoverable, replayTrace, tickMatters, type ModelConfig } from './model.ts';
import { Engine, type GState } from './engine.ts';

const model = (o: Partial<ModelConfig>): ModelConfig => ({
  ...defaultModel, commands: 1, crashes: 0, duplicates: 0, drops: 0, recoveries: 0, ticks: 0, unsynced: 0, ...o,
});

/**
 * Every state of the full search within `maxStates` (dead messages left out, violations or not),
 * with the engine that found them: what the claims below are checked over.
 */
function explore(cfg: ModelConfig, maxStates: number): { engine: Engine; acts: ActionTable; states: GState[] } {
  const engine = new Engine(cfg, clusterOptions(cfg), { tickMatters, recoverable, command: (i) => modelCommand(i, cfg) });
  const acts = new ActionTable(engine);
  const init = engine.initial();
  const seen = new Set([Engine.key(init)]);
  const states = [init];
  for (let i = 0; i < states.length && states.length < maxStates; i++) {
    for (const a of enabledIn(engine, states[i], acts)) {
      const t = engine.withoutDead(engine.successor(states[i], a));
      const k = Engine.key(t);
      if (!seen.has(k)) { seen.add(k); states.push(t); }
    }
  }
  return { engine, acts, states };
}

/** Restarts and syncs: the steps the reduction may expand alone. */
const alone = (a: Action): a is Action & { readonly kind: 'restart' | 'sync'; readonly r: number } => a.kind === 'restart' || a.kind === 'sync';

for (const [name, cfg] of [
  ['1 command, ≤2 unsynced steps, a tick, after a crash and a recovery', model({ crashes: 1, recoveries: 1, unsynced: 2, ticks: 1 })],
  ['2 commands, ≤1 unsynced step, a tick, after a crash', model({ commands: 2, crashes: 1, unsynced: 1, ticks: 1 })],
] as const) {
  test(`a restart or sync commutes with every other action once the crash budget is spent: ${name}`, () => {
    const { engine, acts, states } = explore(cfg, 60_000);
    let pairs = 0;
    const restarts = { seen: 0 };
    for (const s of states) {
      if (s.used[0] < cfg.crashes) continue;
      const enabled = enabledIn(engine, s, acts);
      for (const first of enabled) {
        if (!alone(first)) continue;
        if (first.kind === 'restart') restarts.seen++;
        const what = `${first.kind} r${first.r}`;
        const afterFirst = engine.withoutDead(engine.successor(s, first));
        const firstThen = enabledIn(engine, afterFirst, acts);
        for (const a of enabled) {
          if (a === first) continue;
          const aFirst = engine.withoutDead(engine.successor(s, a));
          assert.ok(enabledIn(engine, aFirst, acts).includes(first), `${what} disabled by ${a.kind}`);
          if (!firstThen.includes(a)) {
            // The one way such a step disables an action: the message it delivers becomes dead
            // (its id is now COMMITTED in the storage). Its delivery changes nothing now either
            // (a sync does not touch the replica object), so a path with it is a path without it.
            assert.equal(a.kind, 'deliver', `${a.kind} disabled by ${what}`);
            assert.ok(Engine.sameCore(aFirst, s), `a ${a.kind} that ${what} disables changes the state`);
            assert.equal(Engine.key(engine.withoutDead(engine.successor(aFirst, first))), Engine.key(afterFirst));
            pairs++;
            continue;
          }
          // Neither disables the other, and both orders end in the same state.
          const one = engine.withoutDead(engine.successor(afterFirst, a));
          const two = engine.withoutDead(engine.successor(aFirst, first));
          assert.equal(Engine.key(one), Engine.key(two), `${what} and ${a.kind} do not commute`);
          pairs++;
        }
      }
    }
    assert.ok(pairs > 1000, `only ${pairs} pairs checked`);
    assert.ok(restarts.seen > 100, `only ${restarts.seen} restarts checked`);
    console.log(`${name}: ${pairs} (step, action) pairs checked; ${restarts.seen} restarts tried`);
  });
}

/** Violating states checked, by the kind of step tried on them (the tests run in order). */
const repairsChecked = { restart: 0, sync: 0 };

for (const [variant, o] of [
  ['vote-before-durable', { crashes: 1, recoveries: 1, unsynced: 2 }],
  ['delayed-self-delivery', { recoveries: 1, unsynced: 1 }],
  ['no-seal', { commands: 2, reconfig: true, crashes: 1, unsynced: 1 }],
] as const) {
  test(`a restart or sync never repairs a violation (${variant}: every violating state with one enabled)`, () => {
    const cfg = model({ ...o, variant });
    const { engine, acts, states } = explore(cfg, 60_000);
    const checked = repairsChecked;
    const before0 = checked.restart + checked.sync;
    for (const s of states) {
      const before = engine.violations(s);
      if (before.length === 0) continue;
      for (const a of enabledIn(engine, s, acts)) {
        if (!alone(a)) continue;
        const after = new Set(engine.violations(engine.withoutDead(engine.successor(s, a))));
        for (const v of before) assert.ok(after.has(v), `${a.kind} r${a.r} repairs "${v}"`);
        checked[a.kind]++;
      }
    }
    assert.ok(checked.restart + checked.sync > before0, 'no violating state with a restart or sync enabled: the test checks nothing');
  });
}

test('the claim that a restart or sync never repairs a violation was checked on both kinds of step', () => {
  assert.ok(repairsChecked.sync > 0 && repairsChecked.restart > 0, JSON.stringify(repairsChecked));
  console.log(`violating states tried with a step that may be expanded alone: ${JSON.stringify(repairsChecked)}`);
});

test('with the reduction the real core still passes within 14 steps: 1 command, 1 crash, ≤1 unsynced step, 1 recovery', () => {
  // Restarts and syncs taken alone cost no step (a level holds the states within that many of the
  // other actions), so the reduced levels reach further than the full ones: more states, not fewer.
  const cfg = model({ crashes: 1, recoveries: 1, unsynced: 1 });
  const full = check(cfg, { maxStates: 3_000_000, dropDead: true, maxDepth: 14 });
  const reduced = check(cfg, { maxStates: 3_000_000, dropDead: true, maxDepth: 14, por: true });
  assert.equal(full.verdict, 'depth-bounded', JSON.stringify(full.violation));
  assert.equal(reduced.verdict, 'depth-bounded', JSON.stringify(reduced.violation));
  assert.equal(reduced.por, true);
  assert.equal(reduced.checkedDepth, full.checkedDepth);
});

for (const [name, cfg] of [
  ['1 command, 1 crash, ≤1 unsynced step, 1 tick', model({ crashes: 1, unsynced: 1, ticks: 1 })],
  ['--reconfig: 1 put and the change, 1 crash, ≤1 unsynced step, 1 tick', model({ commands: 2, reconfig: true, crashes: 1, unsynced: 1, ticks: 1 })],
] as const) {
  test(`with the reduction the real core still passes exhaustively, with fewer states: ${name}`, () => {
    const full = check(cfg, { maxStates: 3_000_000, dropDead: true });
    const reduced = check(cfg, { maxStates: 3_000_000, dropDead: true, por: true });
    assert.equal(full.verdict, 'pass', JSON.stringify(full.violation));
    assert.equal(reduced.verdict, 'pass', JSON.stringify(reduced.violation));
    assert.ok(reduced.states < full.states * 0.9, `${reduced.states} states reduced, ${full.states} full`);
  });
}

test('with the reduction the real core still passes exhaustively: 2 commands, no crash, ≤1 unsynced step, 1 tick', () => {
  const cfg = model({ commands: 2, unsynced: 1, ticks: 1 });
  const full = check(cfg, { maxStates: 3_000_000, dropDead: true });
  const reduced = check(cfg, { maxStates: 3_000_000, dropDead: true, por: true });
  assert.equal(full.verdict, 'pass', JSON.stringify(full.violation));
  assert.equal(reduced.verdict, 'pass', JSON.stringify(reduced.violation));
  assert.ok(reduced.states < full.states * 0.9, `${reduced.states} states reduced, ${full.states} full`);
});

/**
 * The known-bad variants, each at the bounds it is known by and with unsynced steps or a crash,
 * where the reduction has steps to move: found with and without it, and the reduced trace, which
 * replays on the reference, is no shorter than the full search's shortest one and has no more
 * actions but restarts and syncs than that one has actions.
 */
for (const [variant, o] of [
  ['delayed-self-delivery', { recoveries: 1 }],
  ['delayed-self-delivery', { recoveries: 1, unsynced: 1 }],
  ['vote-before-durable', { crashes: 1, recoveries: 1, unsynced: 2 }],
  ['single-ballot', { recoveries: 3 }],
  ['no-seal', { commands: 2, reconfig: true }],
  ['no-seal', { commands: 2, reconfig: true, unsynced: 1 }],
  ['no-seal', { commands: 2, reconfig: true, crashes: 1, unsynced: 1, ticks: 1 }],
] as const) {
  test(`with the reduction ${variant} (${JSON.stringify(o)}) is still found, with a trace that replays`, () => {
    const cfg = model({ ...o, variant });
    const full = check(cfg, { maxStates: 3_000_000, dropDead: true });
    const reduced = check(cfg, { maxStates: 3_000_000, dropDead: true, por: true });
    assert.equal(full.verdict, 'violation');
    assert.equal(reduced.verdict, 'violation');
    const f = full.violation!, r = reduced.violation!;
    assert.deepEqual(r.invariants, f.invariants, `${r.messages.join('; ')} / ${f.messages.join('; ')}`);
    assert.ok(replayTrace(cfg, r.trace).violations.length > 0);
    assert.ok(r.trace.length >= f.trace.length, `reduced ${r.trace.length} steps, full ${f.trace.length}`);
    // The argument's bound: restarts and syncs taken alone cost no step, so the reduced trace has at
    // most as many other actions as the full search's shortest trace has actions.
    const others = r.trace.filter((a) => a.kind !== 'restart' && a.kind !== 'sync').length;
    assert.ok(others <= f.trace.length, `reduced:\n${r.steps.join('\n')}\nfull:\n${f.steps.join('\n')}`);
    console.log(`${variant} ${JSON.stringify(o)}: full ${f.trace.length} steps, ${full.states} states; reduced ${r.trace.length} steps, ${reduced.states} states`);
  });
}

test('covey check reduces by default; --no-por switches it off and explores more states', () => {
  const cli = new URL('../../../agent/cli/covey.ts', import.meta.url).pathname;
  const run = (...args: string[]) => {
    const out = spawnSync(process.execPath, [cli, 'check', '--commands', '1', '--crashes', '1', '--unsynced', '1', '--ticks', '0', '--json', ...args], { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    return JSON.parse(out.stdout) as { verdict: string; states: number; por: boolean };
  };
  const byDefault = run(), on = run('--por'), off = run('--no-por');
  assert.equal(byDefault.por, true);
  assert.equal(off.por, false);
  assert.equal(byDefault.states, on.states);
  assert.equal(off.verdict, 'pass');
  assert.equal(byDefault.verdict, 'pass');
  assert.ok(byDefault.states < off.states, `${byDefault.states} states reduced, ${off.states} without`);
});

