// Busy watermarks (ReplicaOptions.watermarkBusyEveryTicks): a proposal names every conflicting id
// above the floor the voters' reports make (deps.ts), and a lone client's commands all conflict
// through its session, so the time a report takes to raise the floor sets how long dependency
// sets grow. Measured on the real swarm at 1 client: about 30 ids per command with a report every
// 100 ms (docs/benchmarks.md). A replica whose applied prefix moved reports again after a couple
// of ticks; one whose prefix stands still sends no more than the slow exchange.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../cluster.ts';
import type { Command } from '../statemachine/commands.ts';
import type { ReplicaOptions } from './config.ts';

let requestIds = 0;
const put = (key: string): Command => ({ clientId: 'lone', requestId: ++requestIds, timestampMs: 0, op: 'put', key, value: 'v' });

interface Run {
  /** Explicit dependency ids of each PreAccept voter 0 sent after the warm-up. */
  readonly depsLengths: number[];
  /** Watermarks each voter sent over the idle ticks after the load. */
  readonly idleWatermarks: number[];
}

/** One client at voter 0, one command a tick (10 ms) for `rounds` ticks, then `idleTicks` with nothing to do. */
function run(options: Partial<ReplicaOptions>, rounds: number, idleTicks: number): Run {
  const c = new Cluster({ n: 3, f: 1, e: 1, recoveryTimeoutMs: 1e9, recoveryTimeoutMaxMs: 1e9, ...options });
  const depsLengths: number[] = [];
  const drain = (onEach: (e: (typeof c.network)[number]) => void): void => {
    c.syncAll();
    while (c.network.length > 0) {
      onEach(c.network[0]);
      c.deliver(0);
      c.syncAll();
    }
  };
  for (let round = 0; round < rounds; round++) {
    c.submit(0, put(`k${round}`));
    drain((e) => { if (round >= rounds / 2 && e.from === 0 && e.msg.type === 'PreAccept') depsLengths.push(e.msg.dep.ids.length); });
    c.tickAll(10, round);
  }
  drain(() => {});
  // The load is over: ticks, and whatever they send, until the prefixes have settled.
  for (let t = 0; t < 30; t++) { c.tickAll(10, t); drain(() => {}); }
  const idleWatermarks = [0, 0, 0];
  for (let t = 0; t < idleTicks; t++) {
    c.tickAll(10, t);
    drain((e) => { if (e.msg.type === 'Watermark') idleWatermarks[e.from]++; });
  }
  assert.deepEqual(c.violations(), []);
  return { depsLengths, idleWatermarks };
}

describe('busy watermarks', () => {
  test('a lone client\'s dependency sets stay a few ids long, where the slow exchange let them grow', () => {
    const busy = run({}, 120, 0);
    const slow = run({ watermarkBusyEveryTicks: 10 }, 120, 0);
    const most = (a: number[]): number => Math.max(...a);
    assert.ok(busy.depsLengths.length >= 50, `PreAccepts seen: ${busy.depsLengths.length}`);
    // A command a tick, delivered at once; a report leaves every 2 ticks while the prefix moves and
    // raises the floor at the receiver's next tick: one or two commands stay above it.
    assert.ok(most(busy.depsLengths) <= 3, `busy reports: dependency sets of up to ${most(busy.depsLengths)} ids (${busy.depsLengths.join(',')})`);
    // With a report only every 10 ticks the floor trails by up to one period: ten commands.
    assert.ok(most(slow.depsLengths) >= 8, `slow exchange only: up to ${most(slow.depsLengths)} ids`);
  });

  test('an idle swarm sends no more watermarks than the slow exchange', () => {
    const { idleWatermarks } = run({}, 20, 100);
    // Every 10th tick, to each of the two peers: 10 exchanges.
    assert.deepEqual(idleWatermarks, [20, 20, 20]);
  });

  test('busy reports at or above the exchange period are the exchange alone', () => {
    const a = run({ watermarkBusyEveryTicks: 10 }, 40, 100);
    assert.deepEqual(a.idleWatermarks, [20, 20, 20]);
  });

  test('the option is checked', () => {
    assert.throws(() => new Cluster({ n: 3, f: 1, e: 1, watermarkBusyEveryTicks: 0 }), /watermarkBusyEveryTicks must be at least 1/);
  });
});
