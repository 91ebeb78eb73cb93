// Regression from the first 7-voter sweeps (issue 15): the survey plugin on 20 agents with 7 voters
// and every fault, seed 3, ends with voters 2 and 6 in a different state from the other five
// (`agreement: voter 2's state machine differs from voter 0's`), with every protocol invariant
// holding. Replay: npm run covey -- sim --plugin examples/survey --voters 7 --agents 20 --seed 3 --faults all
//
// The cause is in the state machine, not the simulator: a client's requests do not conflict with
// each other unless they touch a common key, so voters may apply them in different orders; but
// apply refuses a request id below the client's 128 remembered ones as too old to deduplicate, and
// that decision depends on the order. Here client c0's request 1 timed out and c0 moved on; voter 2
// applied 128 later requests of c0 before request 1 and refused it, voter 0 applied it first. The
// fixture is c0's commands in both voters' orders. Marked todo until the core is fixed (reported,
// not changed here: the consensus core is outside the simulator).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { commandAccess, CoveyStateMachine, type Command } from '../../consensus/index.ts';

interface ClientOrders {
  readonly voter0: readonly number[];
  readonly voter2: readonly number[];
  readonly commands: readonly Command[];
}

const fixture = JSON.parse(readFileSync(new URL('../check/regressions/client-order-seed-3.json', import.meta.url), 'utf8')) as ClientOrders;
const byId = new Map(fixture.commands.map((c) => [c.requestId, c]));
const inOrder = (ids: readonly number[]): Command[] => ids.map((id) => byId.get(id)!);

/** Pairs of commands that conflict (a common key, one writes) and come in opposite orders. */
function conflictsOutOfOrder(a: readonly Command[], b: readonly Command[]): string[] {
  const at = new Map(b.map((c, i) => [c.requestId, i]));
  const out: string[] = [];
  for (let i = 0; i < a.length; i++) {
    for (let j = i + 1; j < a.length; j++) {
      const x = commandAccess(a[i]), y = commandAccess(a[j]);
      if (x.key === y.key && (x.write || y.write) && at.get(a[i].requestId)! > at.get(a[j].requestId)!) out.push(`${a[i].requestId}/${a[j].requestId}`);
    }
  }
  return out;
}

/** The machine's state after the commands, and what it answered to request 1. */
function run(commands: readonly Command[]): { state: string; request1: string } {
  const m = new CoveyStateMachine();
  let request1 = '';
  for (const c of commands) {
    const r = m.apply(c);
    if (c.requestId === 1) request1 = r.ok ? 'applied' : `refused: ${r.error}`;
  }
  return { state: m.digest(), request1 };
}

test('the fixture is the run\'s: the same commands in two orders, request 1 first at voter 0 and after 128 later ones at voter 2', () => {
  assert.deepEqual([...fixture.voter0].sort((x, y) => x - y), [...fixture.voter2].sort((x, y) => x - y));
  assert.equal(fixture.voter0.length, fixture.commands.length);
  assert.equal(fixture.voter0[0], 1);
  assert.equal(fixture.voter2.at(-1), 1);
  assert.ok(fixture.voter2.length > 128, 'more than the 128 remembered requests came before request 1 at voter 2');
  // Both orders are allowed: no two commands on a common key (one writing) come in opposite orders.
  assert.deepEqual(conflictsOutOfOrder(inOrder(fixture.voter0), inOrder(fixture.voter2)), []);
});

test('two execution orders that the conflict relation allows leave the state machine in the same state', { todo: 'core: per-client deduplication depends on the order of non-conflicting requests (issue 15, seed 3)' }, () => {
  const at0 = run(inOrder(fixture.voter0)), at2 = run(inOrder(fixture.voter2));
  // Compared whole, reported short: the states are tens of kilobytes of JSON.
  assert.ok(at2.state === at0.state, `different states; request 1 at voter 0: ${at0.request1}; at voter 2: ${at2.request1}`);
});
