// The memo of explored search states: it must remember every state it was given, however small
// the caller's estimate and however often it grows, or the search would re-explore (slow) or,
// worse, a hash collision would be taken for a match (a state skipped, a verdict wrong).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SearchMemo } from './search-memo.ts';

describe('SearchMemo', () => {
  it('remembers every (bitset, value) it was given, from a start far below the states added, against a Set', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 5 })), { maxLength: 400 }),
        (words, expected, states) => {
          const memo = new SearchMemo(words, expected);
          const seen = new Set<string>();
          for (const [seed, value] of states) {
            const bits = new Uint32Array(words).map((_, i) => (seed * (i + 7)) % 13);
            // A deliberately poor bitset hash: collisions must still be told apart by the bits.
            const hash = bits[0] & 3;
            const id = `${bits.join(',')}/${value}`;
            assert.equal(memo.add(hash, value, bits), !seen.has(id), `state ${id}`);
            seen.add(id);
          }
          assert.equal(memo.size, seen.size);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('starts small when asked to: a one-operation search does not allocate kilobytes', () => {
    const memo = new SearchMemo(1, 2);
    assert.ok(memo.bytes <= 256, `${memo.bytes} bytes`);
    for (let i = 0; i < 10_000; i++) assert.ok(memo.add(i, 0, new Uint32Array([i])));
    assert.equal(memo.size, 10_000);
  });
});
