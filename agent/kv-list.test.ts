import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { kvListBytesMax, pageKeys, parseKvListQuery, type KvSource } from './kv-list.ts';

function source(entries: Record<string, string>): KvSource {
  const m = new Map(Object.entries(entries));
  return { keys: () => [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), get: (k) => m.get(k) ?? null };
}

test('following next through every page lists exactly the keys under the prefix, in order, once', () => {
  fc.assert(fc.property(
    fc.dictionary(fc.string({ unit: fc.constantFrom('a', 'b', '/', 'é'), maxLength: 4 }), fc.string({ maxLength: 3 }), { maxKeys: 40 }),
    fc.string({ unit: fc.constantFrom('a', 'b', '/'), maxLength: 2 }),
    fc.integer({ min: 1, max: 7 }),
    (kv, prefix, limit) => {
      const src = source(kv);
      const seen: string[] = [];
      let after: string | null = null;
      for (let pages = 0; ; pages++) {
        assert.ok(pages <= 40, 'the continuation must make progress');
        const p = pageKeys(src, { prefix, after, limit });
        assert.ok(p.entries.length <= limit);
        for (const e of p.entries) { seen.push(e.key); assert.equal(e.value, kv[e.key]); }
        if (p.next === null) break;
        after = p.next;
      }
      assert.deepEqual(seen, src.keys().filter((k) => k.startsWith(prefix)));
    },
  ));
});

test('a page stops once it passes the byte bound, but always holds one entry', () => {
  const big = 'x'.repeat(kvListBytesMax);
  const p = pageKeys(source({ 'a/1': big, 'a/2': big, 'a/3': 'small' }), { prefix: 'a/', after: null, limit: 100 });
  assert.deepEqual(p.entries.map((e) => e.key), ['a/1']);
  assert.equal(p.next, 'a/1');
  const rest = pageKeys(source({ 'a/1': big, 'a/2': big, 'a/3': 'small' }), { prefix: 'a/', after: 'a/1', limit: 100 });
  assert.deepEqual(rest.entries.map((e) => e.key), ['a/2']);
});

test('the query is checked: limit bounds and unknown parameters are named', () => {
  assert.deepEqual(parseKvListQuery(new URLSearchParams('prefix=a/&after=a/1&limit=5')), { prefix: 'a/', after: 'a/1', limit: 5 });
  assert.match(String(parseKvListQuery(new URLSearchParams('limit=0'))), /limit.*1 to 1000.*"0"/);
  assert.match(String(parseKvListQuery(new URLSearchParams('limit=5000'))), /1 to 1000/);
  assert.match(String(parseKvListQuery(new URLSearchParams('prefx=a'))), /unknown query parameter "prefx"/);
});
