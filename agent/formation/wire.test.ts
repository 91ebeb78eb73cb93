import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeFrame, encodeFrame, frameBytesMax, replySchema, requestSchema, type Request } from './wire.ts';
import { formationStore } from './store.ts';
import { initialState } from './rule.ts';

const ids = ['12D3KooWDemdn6ajgFYf7xhSa8RZzD4kSqVqe2uUjn4ivpibigLG', '12D3KooWFb8hMMMXdCcAo1n5v77UzM4mwooBP1dUxqSXDD17hKTx', '12D3KooWQ4kSqVqe2uUjn4ivpibigLGDemdn6ajgFYf7xhSa8RZz'];
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

test('formation frames round-trip, and bad ones are refused with the reason, never thrown', () => {
  const propose: Request = { type: 'propose', swarm: 'field', expectVoters: 3, set: ids, attempt: 1 };
  assert.deepEqual(decodeFrame(encodeFrame(propose), requestSchema), { ok: true, frame: propose });
  const bad: [unknown, RegExp][] = [
    [{ ...propose, set: [ids[1], ids[0], ids[2]] }, /sorted and without repeats/],
    [{ ...propose, set: [ids[0], ids[0], ids[2]] }, /sorted and without repeats/],
    [{ ...propose, set: ['nope', ids[1], ids[2]] }, /set\.0/],
    [{ ...propose, attempt: 0 }, /attempt/],
    [{ ...propose, extra: 1 }, /unrecognized|extra/i],
    [{ type: 'hello', swarm: 'field', expectVoters: 3, addrs: ['not-a-multiaddr'] }, /addrs\.0: not a multiaddr/],
    [{ type: 'hello', swarm: 'field', expectVoters: 3, addrs: Array(9).fill('/ip4/1.2.3.4/tcp/1') }, /addrs/],
    [{ type: 'shout' }, /type/],
  ];
  for (const [frame, why] of bad) {
    const d = decodeFrame(enc(frame), requestSchema);
    assert.equal(d.ok, false, JSON.stringify(frame));
    assert.match((d as { reason: string }).reason, why);
  }
  assert.match((decodeFrame(new Uint8Array([0xff, 0xfe, 0x7b]), requestSchema) as { reason: string }).reason, /not UTF-8 JSON/);
  assert.match((decodeFrame(new Uint8Array(frameBytesMax + 1), requestSchema) as { reason: string }).reason, /exceeds/);
  const formedVoters = ids.map((id) => ({ id, addrs: ['/ip4/127.0.0.1/tcp/4001'] }));
  assert.equal(decodeFrame(enc({ type: 'hello', swarm: 'f', expectVoters: 3, addrs: [], formed: formedVoters }), replySchema).ok, true);
  assert.equal(decodeFrame(enc({ type: 'hello', swarm: 'f', expectVoters: 3, addrs: [], formed: [...formedVoters].reverse() }), replySchema).ok, false);
});

test('the formation state file reads back what was written, and refuses another swarm or a damaged file with the fix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-formation-store-'));
  try {
    const store = formationStore(dir, 'field', 3);
    assert.deepEqual(store.load(), initialState, 'no file: nothing accepted yet');
    const s = { formed: null, lock: { set: ids, attempt: 2 }, attempt: 0 };
    store.save(s);
    assert.deepEqual(formationStore(dir, 'field', 3).load(), s);
    assert.throws(() => formationStore(dir, 'field', 5).load(), /belongs to swarm "field" formed with expectVoters 3, but the config says "field" and 5; .*new data dir/);
    assert.throws(() => formationStore(dir, 'other', 3).load(), /belongs to swarm "field"/);
    writeFileSync(store.file, '{"version":1,');
    assert.throws(() => store.load(), /formation\.json: damaged \(not JSON\); restore it from a backup/);
    writeFileSync(store.file, JSON.stringify({ version: 1, swarm: 'field', expectVoters: 3, formed: null, lock: { set: ['x'], attempt: 1 }, attempt: 0 }));
    assert.throws(() => store.load(), /formation\.json: damaged \(lock\.set\.0: /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
