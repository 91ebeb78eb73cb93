import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { EntropyPool } from './entropy-pool.ts';

test('entropy pool: words are 32-bit, differ, and keep coming after the pool is spent', () => {
  const pool = new EntropyPool(4);
  const words = Array.from({ length: 4_000 }, () => pool.next());
  for (const w of words) assert.ok(Number.isInteger(w) && w >= 0 && w < 2 ** 32, `not a 32-bit word: ${w}`);
  // 4,000 draws over 1,000 refills: a pool that stopped refilling would repeat its 4 words.
  assert.ok(new Set(words).size > 3_990, `only ${new Set(words).size} distinct words of 4,000`);
  // Every bit is used: an unfilled or truncated pool leaves high bits at 0.
  assert.ok(words.some((w) => w >= 2 ** 31));
});

test('entropy pool: two pools draw different words (replicas must not jitter alike)', () => {
  const a = new EntropyPool(), b = new EntropyPool();
  const wa = Array.from({ length: 8 }, () => a.next()), wb = Array.from({ length: 8 }, () => b.next());
  assert.notDeepEqual(wa, wb);
});

test('entropy pool: a size out of range is refused with the accepted range', () => {
  assert.throws(() => new EntropyPool(0), /from 1 to 65536, got 0/);
  assert.throws(() => new EntropyPool(1.5), /got 1.5/);
});
