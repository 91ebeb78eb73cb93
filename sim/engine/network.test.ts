// The simulated network on its own: each kind of cut blocks exactly what it should, bandwidth
// queues a burst behind itself, and loss, duplication and reordering happen at their rates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, defaultNetwork } from './network.ts';
import { Random } from './random.ts';

test('cuts: split, one-way, isolate and flap block exactly their links, and heal', () => {
  const net = new Network(5, defaultNetwork);
  const split = net.addCut({ kind: 'split', side: new Set([0, 1]) });
  assert.equal(net.blocked(0, 1, 0), false);
  assert.equal(net.blocked(0, 2, 0), true);
  assert.equal(net.blocked(3, 1, 0), true);
  assert.equal(net.blocked(3, 4, 0), false);
  net.removeCut(split);
  assert.equal(net.blocked(0, 2, 0), false);
  const one = net.addCut({ kind: 'oneway', from: 2, to: 3 });
  assert.equal(net.blocked(2, 3, 0), true);
  assert.equal(net.blocked(3, 2, 0), false);
  net.removeCut(one);
  net.addCut({ kind: 'isolate', agent: 4 });
  assert.equal(net.blocked(4, 0, 0), true);
  assert.equal(net.blocked(1, 4, 0), true);
  assert.equal(net.blocked(4, 4, 0), false, 'an agent always hears itself');
  net.clearCuts();
  net.addCut({ kind: 'flap', a: 0, b: 1, periodUs: 100, startUs: 1000 });
  assert.equal(net.blocked(0, 1, 1050), false, 'up in the first period');
  assert.equal(net.blocked(1, 0, 1150), true, 'down in the second, both ways');
  assert.equal(net.blocked(0, 1, 1250), false, 'up again in the third');
  assert.equal(net.blocked(0, 2, 1150), false, 'other links unaffected');
});

test('bandwidth: a burst on one link queues behind itself; other links are independent', () => {
  const net = new Network(3, { ...defaultNetwork, latencyMs: { min: 1, max: 1 }, bandwidthBytesPerMs: 1000 });
  const rng = new Random(1);
  const times = [0, 1, 2].map(() => net.send(0, 1, 10_000, 0, rng)[0]);
  // 10 kB at 1 kB/ms = 10 ms each, then 1 ms of latency.
  assert.deepEqual(times, [11_000, 21_000, 31_000]);
  assert.deepEqual(net.send(0, 2, 10_000, 0, rng), [11_000]);
  assert.deepEqual(net.send(1, 0, 10_000, 0, rng), [11_000]);
});

test('loss, duplication and reordering at their rates', () => {
  const net = new Network(2, { ...defaultNetwork, loss: 0.1, duplicate: 0.1, reorder: 0.1, bandwidthBytesPerMs: null });
  const rng = new Random(7);
  let copies = 0;
  let late = 0;
  for (let i = 0; i < 10_000; i++) {
    const t = net.send(0, 1, 100, 0, rng);
    copies += t.length;
    if (t.some((x) => x > defaultNetwork.latencyMs.max * 1000)) late++;
  }
  const s = net.stats;
  assert.ok(s.dropped > 850 && s.dropped < 1150, `dropped ${s.dropped}`);
  assert.ok(s.duplicated > 750 && s.duplicated < 1050, `duplicated ${s.duplicated}`);
  assert.ok(late > 750 && late < 1050 && s.reordered === late, `late ${late}, reordered ${s.reordered}`);
  assert.equal(copies, 10_000 - s.dropped + s.duplicated);
});
