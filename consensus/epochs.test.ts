// Voter sets that change, end to end in memory (consensus/epochs.ts): groups of successive epochs,
// each started from the state at the change that closed the one before. What a user relies on:
// every acknowledged write survives every change, crash and restart; the voters of the newest
// epoch agree on one state; and that state names them as its voters.

import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { EpochCluster } from './epochs.ts';
import type { Command } from './statemachine/commands.ts';
import type { CoveyStateMachine } from './statemachine/machine.ts';

const options = { pipelineInstancesMax: 2, recoveryTimeoutMs: 300, recoveryTimeoutMaxMs: 2000, retransmitMs: 100, watermarkEveryTicks: 1, indexLagExchanges: 1 } as const;
/** Peers a–e take part in the replacement schedules; f–h too once groups grow to 5 and 7. */
const peers = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

class Writes {
  private seq = 0;
  readonly sent = new Map<string, { key: string; value: string }>();
  put(): Command {
    const i = this.seq++;
    const w = { key: `k${i}`, value: `v${i}` };
    this.sent.set(`w${i}`, w);
    return { clientId: `w${i}`, requestId: 1, timestampMs: 0, op: 'put', ...w };
  }
  change(epoch: number, voters: readonly string[]): Command {
    return { clientId: `change${this.seq++}`, requestId: 1, timestampMs: 0, op: 'voters.change', epoch, voters: voters.join(','), reason: 'test' };
  }
}

/** The agreed state of the newest epoch's voters, after checking that they agree and that every acknowledged write is in it. */
function checkFinal(s: EpochCluster, writes: Writes): CoveyStateMachine {
  const group = s.current;
  for (let r = 0; r < group.voters.length; r++) assert.ok(group.joined[r] && group.cluster.up[r], `voter ${group.voters[r]} of epoch ${group.epoch} is running`);
  const machines = group.cluster.machines as CoveyStateMachine[];
  for (const m of machines) assert.ok(m.sameState(machines[0]), `the voters of epoch ${group.epoch} disagree`);
  const m = machines[0];
  if (group.epoch > 0) assert.deepEqual(m.voters(), { epoch: group.epoch, ids: group.voters });
  for (const replies of s.replies.values()) {
    for (const reply of replies) {
      const w = writes.sent.get(reply.clientId);
      if (w === undefined || !reply.result.ok) continue;
      assert.equal(m.get(w.key), w.value, `acknowledged write ${reply.clientId} is lost`);
    }
  }
  return m;
}

describe('a voter lost for good is replaced', () => {
  it('the swarm goes on in the next epoch with the replacement, and nothing acknowledged is lost', () => {
    const s = new EpochCluster(['a', 'b', 'c'], options);
    const writes = new Writes();
    for (const p of ['a', 'b', 'c']) s.submit(p, writes.put());
    s.run(3);
    s.crash('c'); // for good
    s.submit('a', writes.put());
    s.submit('b', writes.change(0, ['a', 'b', 'd']));
    s.run(20);
    assert.equal(s.current.epoch, 1);
    assert.deepEqual(s.current.voters, ['a', 'b', 'd']);
    for (const p of ['a', 'b', 'd']) s.submit(p, writes.put());
    s.run(10);
    assert.deepEqual(s.violations(), []);
    const m = checkFinal(s, writes);
    assert.equal(m.keys().length, 7, 'all seven writes took effect');
    const changeReply = s.replies.get('b')!.find((x) => x.clientId.startsWith('change'))!;
    assert.deepEqual(changeReply.result, { ok: true, value: '1' });
  });

  it('two replacements in a row leave none of the original voters but one, and the swarm still commits', () => {
    const s = new EpochCluster(['a', 'b', 'c'], options);
    const writes = new Writes();
    s.submit('a', writes.put());
    s.run(3);
    s.crash('c');
    s.submit('a', writes.change(0, ['a', 'b', 'd']));
    s.run(20);
    s.crash('b');
    s.submit('d', writes.change(1, ['a', 'e', 'd']));
    s.run(20);
    assert.equal(s.current.epoch, 2);
    s.submit('e', writes.put());
    s.run(10);
    assert.deepEqual(s.violations(), []);
    assert.equal(checkFinal(s, writes).keys().length, 2);
  });
});

// ---- random schedules ------------------------------------------------------------------------

type Action =
  | { t: 'put'; p: number }
  | { t: 'change'; p: number; out: number; in: number }
  | { t: 'resize'; p: number; size: 3 | 5 | 7; keep: number; from: number }
  | { t: 'deliver'; i: number }
  | { t: 'drop'; i: number }
  | { t: 'tick'; p: number; ms: number }
  | { t: 'sync'; p: number }
  | { t: 'crash'; p: number }
  | { t: 'restart'; p: number };

/** The actions of the replacement schedules; `sized` adds changes between 3, 5 and 7 voters. */
const actionOf = (sized: boolean): fc.Arbitrary<Action> => fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('put' as const), p: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('change' as const), p: fc.nat(4), out: fc.nat(2), in: fc.nat(4) }) },
  { weight: sized ? 1 : 0, arbitrary: fc.record({ t: fc.constant('resize' as const), p: fc.nat(7), size: fc.constantFrom(3 as const, 5 as const, 7 as const), keep: fc.nat(7), from: fc.nat(7) }) },
  { weight: 14, arbitrary: fc.record({ t: fc.constant('deliver' as const), i: fc.nat(200) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('drop' as const), i: fc.nat(200) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('tick' as const), p: fc.nat(4), ms: fc.integer({ min: 10, max: 400 }) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('sync' as const), p: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('crash' as const), p: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restart' as const), p: fc.nat(4) }) },
);

/**
 * The voter set a resize asks for: `size` voters, keeping `keep` (at most all, at least one) of the
 * current ones in order, then peers not yet voting, from peer `from` on round the list.
 */
function resized(current: readonly string[], a: Extract<Action, { t: 'resize' }>): string[] {
  const next = current.slice(0, Math.max(1, Math.min(a.keep, current.length, a.size)));
  for (let i = 0; next.length < a.size && i < peers.length; i++) {
    const p = peers[(a.from + i) % peers.length];
    if (!next.includes(p)) next.push(p);
  }
  return next;
}

/** Play a schedule over peers a–h (voters a, b, c at first); returns the epoch reached and the sizes its groups had. */
function play(actions: Action[], sync: 'immediate' | 'explicit'): { epoch: number; sizes: number[] } {
  const s = new EpochCluster(['a', 'b', 'c'], { ...options, sync });
  const writes = new Writes();
  for (const a of actions) {
    switch (a.t) {
      case 'put': case 'change': case 'resize': {
        const peer = peers[a.p];
        const at = s.groupOf(peer);
        if (at === null || !s.isUp(peer)) break;
        if (a.t === 'put') { s.submit(peer, writes.put()); break; }
        if (a.t === 'resize') { s.submit(peer, writes.change(at.group.epoch, resized(at.group.voters, a))); break; }
        const voters = [...at.group.voters];
        const newcomer = peers[a.in];
        if (voters.includes(newcomer)) break;
        voters[a.out] = newcomer;
        s.submit(peer, writes.change(at.group.epoch, voters));
        break;
      }
      case 'deliver': case 'drop': {
        const inFlight = s.groups.map((g) => g.cluster.network.length);
        const total = inFlight.reduce((x, y) => x + y, 0);
        if (total === 0) break;
        let i = a.i % total, g = 0;
        while (i >= inFlight[g]) { i -= inFlight[g]; g++; }
        if (a.t === 'deliver') s.deliver(g, i); else s.groups[g].cluster.drop(i);
        break;
      }
      case 'tick': if (s.isUp(peers[a.p])) s.tick(peers[a.p], a.ms); break;
      case 'sync': if (s.isUp(peers[a.p])) s.sync(peers[a.p]); break;
      case 'crash': if (s.isUp(peers[a.p])) s.crash(peers[a.p]); break;
      case 'restart': if (!s.isUp(peers[a.p])) s.restart(peers[a.p]); break;
    }
    const v = s.violations();
    assert.deepEqual(v, [], `after ${JSON.stringify(a)}: ${v.join('; ')}`);
  }
  for (const p of peers) if (!s.isUp(p)) s.restart(p);
  s.run(100);
  assert.deepEqual(s.violations(), []);
  checkFinal(s, writes);
  return { epoch: s.current.epoch, sizes: s.groups.map((g) => g.voters.length) };
}

// Schedules the property once failed on: regressions/epochs/*.json, each naming what was wrong.
const regressionDir = new URL('./regressions/epochs/', import.meta.url);
for (const file of readdirSync(regressionDir).filter((f) => f.endsWith('.json')).sort()) {
  const fx = JSON.parse(readFileSync(new URL(file, regressionDir), 'utf8')) as { bug: string; sync: 'immediate' | 'explicit'; actions: Action[] };
  test(`regression epochs/${file}: ${fx.bug}`, () => { play(fx.actions, fx.sync); });
}

const scale = Number(process.env.COVEY_PROPERTY_RUNS ?? 10);

for (const sync of ['immediate', 'explicit'] as const) {
  test(`random schedules over changing voter sets (sync ${sync}): nothing acknowledged is lost and the newest voters agree`, () => {
    const epochs: number[] = [];
    fc.assert(fc.property(fc.array(actionOf(false), { minLength: 20, maxLength: 250, size: 'max' }), (actions) => { epochs.push(play(actions, sync).epoch); }), {
      numRuns: Math.ceil(10 * scale),
    });
    // Exercised both ways: runs that changed voters (once or more) and runs that never did.
    assert.ok(epochs.some((e) => e >= 1) && epochs.some((e) => e === 0), `epochs reached: ${[...new Set(epochs)].join(', ')}`);
  });
}

test('random schedules moving between 3, 5 and 7 voters (issue 15): nothing acknowledged is lost and the newest voters agree', () => {
  const sizes = new Set<number>();
  const moves = new Set<string>();
  const shrank = (): boolean => [...moves].some((m) => Number(m.split('→')[0]) > Number(m.split('→')[1]));
  // Batches of random schedules until groups of every size were reached and the voter count moved
  // both up and down; a shrink needs a resize committed in a run that already grew, which ten runs
  // alone missed on CI once (a stop's CI run failed on it), so coverage is sought, within a bound.
  for (let batch = 0; batch < 20 && !(sizes.has(5) && sizes.has(7) && shrank()); batch++) {
    fc.assert(fc.property(fc.array(actionOf(true), { minLength: 20, maxLength: 300, size: 'max' }), fc.constantFrom('immediate' as const, 'explicit' as const), (actions, sync) => {
      const r = play(actions, sync);
      for (let g = 1; g < r.sizes.length; g++) { sizes.add(r.sizes[g]); moves.add(`${r.sizes[g - 1]}→${r.sizes[g]}`); }
    }), { numRuns: Math.ceil(10 * scale) });
  }
  assert.ok(sizes.has(5) && sizes.has(7), `sizes reached: ${[...sizes].join(', ')}`);
  assert.ok(shrank(), `moves: ${[...moves].join(', ')}`);
});
