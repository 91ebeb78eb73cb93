// The floor a proposal's dependency set carries (docs/consensus.md, "Bounded dependencies") is the
// element-wise minimum of every voter's executed watermark. A voter that does not hear another
// (a one-way cut kills TCP both ways) never gets its watermarks, so on its own it would propose
// with that voter's last report for ever; once the other voters' conflict indexes forget ids below
// their own floors, every answer raises the floor and no longer matches: the slow path on every
// instance (chaos:net, issue 16: the one-way pair committed 755 of 802 instances slow). Watermarks
// carry the sender's floor, so a voter's floor follows what the voters it hears know.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../cluster.ts';
import type { Envelope } from './types.ts';
import type { Command } from '../statemachine/commands.ts';

let requestIds = 0;
const put = (clientId: string, key: string): Command => ({ clientId, requestId: ++requestIds, timestampMs: 0, op: 'put', key, value: 'v' });

/** Five voters; 0 and 1 cannot reach each other; each round every voter proposes, then all tick. */
function run(rounds: number): { fast: number[]; slow: number[]; floors: number[][] } {
  const c = new Cluster({ n: 5, f: 2, e: 2, watermarkEveryTicks: 1, recoveryTimeoutMs: 1e9, recoveryTimeoutMaxMs: 1e9 });
  c.step(0, { type: 'reachable', replicas: [0, 2, 3, 4] });
  c.step(1, { type: 'reachable', replicas: [1, 2, 3, 4] });
  const cut = (e: Envelope): boolean => (e.from === 0 && e.to === 1) || (e.from === 1 && e.to === 0);
  const half = Math.floor(rounds / 2);
  const at: { fast: number; slow: number }[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round === half) for (const r of c.replicas) at.push({ fast: r.stats.fastCommits, slow: r.stats.slowCommits });
    for (let r = 0; r < c.n; r++) c.submit(r, put(`c${r}`, `k${r}-${round}`));
    c.syncAll();
    for (;;) {
      c.dropWhere(cut);
      if (c.network.length === 0) break;
      c.deliver(0);
      c.syncAll();
    }
    c.tickAll(10, round);
    c.syncAll();
  }
  c.dropWhere(cut);
  return {
    fast: c.replicas.map((r, i) => r.stats.fastCommits - at[i].fast),
    slow: c.replicas.map((r, i) => r.stats.slowCommits - at[i].slow),
    floors: c.replicas.map((r) => [...r.currentProposalFloor()]),
  };
}

describe('floors relayed in watermarks', () => {
  test('two voters that never hear each other keep the fast path once the others\' indexes moved on', () => {
    const { fast, slow } = run(60);
    for (const r of [0, 1]) {
      assert.ok(fast[r] >= 25 && slow[r] === 0, `voter ${r}: ${fast[r]} fast and ${slow[r]} slow commits in the last 30 rounds (all: fast ${fast.join(',')}, slow ${slow.join(',')})`);
    }
  });

  test('the floor of a voter that does not hear another still follows the others\' floors', () => {
    const { floors } = run(40);
    // Voter 1's own watermark reaches voter 0 only through the others' floors.
    assert.ok(floors[0][1] >= floors[2][1] - 2, `voter 0's floor ${floors[0].join(',')} against voter 2's ${floors[2].join(',')}`);
    assert.ok(floors[0][1] > 10, `voter 0's floor for voter 1's ids moved: ${floors[0].join(',')}`);
  });
});
