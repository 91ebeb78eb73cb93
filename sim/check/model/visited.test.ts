// The search's compact memory (visited.ts): the exact tuple set behaves as a set through its
// growth, the 128-bit hash separates close inputs, and a search with hashed visited states
// explores exactly what the search with exact ones does, and finds a known bug with the same
// shortest trace.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, defaultModel, type ModelConfig } from './model.ts';
import { murmur128, TupleSet } from './visited.ts';

const model = (o: Partial<ModelConfig>): ModelConfig => ({
  ...defaultModel, commands: 1, crashes: 0, duplicates: 0, drops: 0, recoveries: 0, ticks: 0, unsynced: 0, ...o,
});

test('TupleSet: an exact set of tuples through many doublings, including the all-zero tuple', () => {
  const set = new TupleSet(3);
  const tuple = new Int32Array(3);
  const reference = new Set<string>();
  // Deterministic pseudo-random tuples with many repeats, so both "new" and "already there" occur.
  let x = 12345;
  for (let i = 0; i < 200_000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    tuple[0] = x & 0xff; tuple[1] = (x >>> 8) & 0x3f; tuple[2] = (x >> 14) & 0x7;
    const key = tuple.join(',');
    assert.equal(set.add(tuple, set.hashOf(tuple)), !reference.has(key), key);
    reference.add(key);
  }
  assert.equal(set.size, reference.size);
  tuple.fill(0);
  const zeroKnown = reference.has('0,0,0');
  assert.equal(set.has(tuple, set.hashOf(tuple)), zeroKnown);
  assert.equal(set.add(tuple, set.hashOf(tuple)), !zeroKnown);
  assert.equal(set.has(tuple, set.hashOf(tuple)), true);
  tuple[2] = 99; // never added: out of the range above
  assert.equal(set.has(tuple, set.hashOf(tuple)), false);
});

test('murmur128: inputs one bit, one word or one length apart hash apart, in all four words', () => {
  const out = new Int32Array(4);
  const seen = new Set<string>();
  const words = new Int32Array(9);
  for (let len = 0; len <= 9; len++) {
    for (let bit = -1; bit < 32 * len; bit++) {
      words.fill(0);
      if (bit >= 0) words[bit >> 5] = 1 << (bit & 31);
      murmur128(words, len, out);
      seen.add(out.join(','));
      // Every word of the hash takes part: none is stuck at its value for the empty input.
      assert.ok(out.every((w) => w !== 0), `${len} ${bit}: ${out.join(',')}`);
    }
  }
  let inputs = 0;
  for (let len = 0; len <= 9; len++) inputs += 32 * len + 1;
  assert.equal(seen.size, inputs);
});

// The same search with exact and with hashed visited states, on a bound with a crash and a
// recovery: the counts (and so the states expanded) are the same.
test('hashed visited states explore exactly the states the exact store does (1 command, 1 crash, 1 recovery)', () => {
  const cfg = model({ crashes: 1, recoveries: 1 });
  const hashed = check(cfg, { maxStates: 2_000_000, maxDepth: 13 });
  const exact = check(cfg, { maxStates: 2_000_000, maxDepth: 13, exactStates: true });
  const summary = (r: typeof hashed) => ({ verdict: r.verdict, states: r.states, transitions: r.transitions, subsumed: r.subsumed, depth: r.depth });
  assert.deepEqual(summary(hashed), summary(exact));
  assert.equal(hashed.exactStates, false);
  assert.equal(exact.exactStates, true);
  assert.ok(hashed.states > 50_000, `${hashed.states} states`);
});

test('a known bug (vote-before-durable) is found with the same shortest trace by both stores', () => {
  const cfg = model({ crashes: 1, recoveries: 1, unsynced: 2, variant: 'vote-before-durable' });
  const hashed = check(cfg, { maxStates: 200_000 });
  const exact = check(cfg, { maxStates: 200_000, exactStates: true });
  assert.equal(hashed.verdict, 'violation');
  assert.equal(exact.verdict, 'violation');
  assert.equal(hashed.violation!.trace.length, 12, hashed.violation!.steps.join('\n'));
  assert.deepEqual(hashed.violation!.steps, exact.violation!.steps);
  assert.deepEqual(hashed.violation!.invariants, exact.violation!.invariants);
  assert.equal(hashed.states, exact.states);
});
