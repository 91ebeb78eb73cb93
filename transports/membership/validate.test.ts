import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { validateMessage, validateMeta } from './validate.ts';
import { metaBytesMax, gossipItemsPerMessageMax } from './config.ts';

const meta = { role: 'worker', devices: ['gps'], plugins: ['survey'], battery: 0.5 };
const alive = { kind: 'alive', id: 'm1', addr: 'sim://1', incarnation: 3, meta, sig: 'c2ln' };

test('well-formed messages of every type pass and come back as fresh copies', () => {
  const msgs: unknown[] = [
    { type: 'ping', seq: 1, target: 'm2', gossip: [alive, { kind: 'suspect', id: 'm3', incarnation: 0, from: 'm1' }] },
    { type: 'ack', seq: 1, gossip: [{ kind: 'dead', id: 'm3', incarnation: 2, from: 'm3', sig: 'c2ln' }] },
    { type: 'pingReq', seq: 7, target: 'm4', targetAddr: 'sim://4', gossip: [] },
    { type: 'nack', seq: 7 },
    { type: 'gossip', gossip: [alive, { ...alive, incarnation: 2 ** 40 }] },
    { type: 'pushPull', reply: false, members: [{ state: 'left', alive, leave: { kind: 'dead', id: 'm1', incarnation: 3, from: 'm1', sig: 'c2ln' } }] },
    { type: 'pushPull', reply: true, members: [{ state: 'suspect', alive, leave: null }] },
  ];
  for (const m of msgs) {
    const v = validateMessage(m);
    assert.ok(v.ok, `${JSON.stringify(m)}: ${v.ok ? '' : v.reason}`);
    assert.deepEqual(v.msg, m);
    assert.notEqual(v.msg, m);
  }
});

test('malformed messages are refused with a reason naming the field, never thrown', () => {
  const cases: [unknown, RegExp][] = [
    [null, /^message: expected an object/],
    [{ type: 'pong', seq: 1 }, /^message\.type: expected ping/],
    [{ type: 'nack', seq: -1 }, /^nack\.seq: expected a non-negative safe integer/],
    [{ type: 'nack', seq: 1.5 }, /^nack\.seq/],
    [{ type: 'nack', seq: 1, extra: true }, /^nack\.extra: unknown field/],
    [{ type: 'ping', seq: 1, target: '', gossip: [] }, /^ping\.target: must not be empty/],
    [{ type: 'ping', seq: 1, target: 'x'.repeat(129), gossip: [] }, /^ping\.target: expected at most 128 bytes/],
    [{ type: 'ping', seq: 1, target: 'm1', gossip: [{ kind: 'alive', id: 'm1' }] }, /^ping\.gossip\[0\]: unknown|ping\.gossip\[0\]\.addr: missing/],
    [{ type: 'gossip', gossip: [{ ...alive, meta: { ...meta, role: 'king' } }] }, /^gossip\.gossip\[0\]\.meta\.role: expected "voter" or "worker"/],
    [{ type: 'gossip', gossip: [{ ...alive, meta: { ...meta, battery: 2 } }] }, /meta\.battery: expected null or a number in 0\.\.1/],
    [{ type: 'gossip', gossip: [{ ...alive, meta: { ...meta, plugins: Array.from({ length: 30 }, (_, i) => `plugin-${i}-${'p'.repeat(20)}`) } }] }, /over the 512-byte limit/],
    [{ type: 'gossip', gossip: new Array(gossipItemsPerMessageMax + 1).fill(alive) }, /^gossip\.gossip: expected at most 256 entries/],
    // eslint-disable-next-line no-sparse-arrays -- the hole is the input under test
    [{ type: 'gossip', gossip: [, alive] }, /missing entry \(sparse array\)/],
    [{ type: 'gossip', gossip: [{ kind: 'suspect', id: 'm1', incarnation: 1, from: 'm2', why: 'x' }] }, /unknown field/],
    [{ type: 'pushPull', reply: 'yes', members: [] }, /^pushPull\.reply: expected a boolean/],
    [{ type: 'pushPull', reply: true, members: [{ state: 'zombie', alive, leave: null }] }, /state: expected one of alive, suspect, dead, left/],
    [{ type: 'pushPull', reply: true, members: [{ state: 'alive', alive, leave: null }, { state: 'alive', alive: { ...alive, addr: 'b' }, leave: null }] }, /duplicate member/],
    [{ type: 'ping', seq: 1, target: '\ud800', gossip: [] }, /lone surrogate/],
    // Incarnations are bounded far below 2^53 (config.ts, incarnationMax = 2^40).
    [{ type: 'gossip', gossip: [{ kind: 'dead', id: 'm1', incarnation: 2 ** 53 - 1, from: 'm2' }] }, /^gossip\.gossip\[0\]\.incarnation: expected an integer in 0\.\.1099511627776/],
    [{ type: 'gossip', gossip: [{ ...alive, incarnation: 2 ** 40 + 1 }] }, /incarnation: expected an integer/],
    // A self-statement carries a signature; a claim about another member does not.
    [{ type: 'gossip', gossip: [{ kind: 'dead', id: 'm1', incarnation: 1, from: 'm1' }] }, /\.sig: missing \(a leave is signed/],
    [{ type: 'gossip', gossip: [{ kind: 'dead', id: 'm1', incarnation: 1, from: 'm2', sig: 'c2ln' }] }, /only a leave \(from === id\) is signed/],
    [{ type: 'gossip', gossip: [{ kind: 'suspect', id: 'm1', incarnation: 1, from: 'm2', sig: 'c2ln' }] }, /sig: unknown field/],
    [{ type: 'gossip', gossip: [{ kind: 'alive', id: 'm1', addr: 'a', incarnation: 1, meta }] }, /\.sig: missing/],
    [{ type: 'gossip', gossip: [{ ...alive, sig: 'x'.repeat(129) }] }, /\.sig: expected at most 128 bytes/],
    // A push-pull member: its signed record; its signed leave exactly when left.
    [{ type: 'pushPull', reply: true, members: [{ state: 'left', alive, leave: null }] }, /leave: missing: a left member is carried with its signed leave/],
    [{ type: 'pushPull', reply: true, members: [{ state: 'alive', alive, leave: { kind: 'dead', id: 'm1', incarnation: 3, from: 'm1', sig: 'c2ln' } }] }, /only a left member carries a leave/],
    [{ type: 'pushPull', reply: true, members: [{ state: 'left', alive, leave: { kind: 'dead', id: 'm2', incarnation: 3, from: 'm2', sig: 'c2ln' } }] }, /the member's own leave/],
    [{ type: 'pushPull', reply: true, members: [{ state: 'left', alive, leave: { kind: 'dead', id: 'm1', incarnation: 2, from: 'm1', sig: 'c2ln' } }] }, /below the alive record's/],
    [{ type: 'pushPull', reply: true, members: [{ id: 'm1', addr: 'a', incarnation: 0, state: 'alive', meta }] }, /unknown field/],
  ];
  for (const [raw, reason] of cases) {
    const v = validateMessage(raw);
    assert.equal(v.ok, false, `accepted ${JSON.stringify(raw)?.slice(0, 80)}`);
    if (!v.ok) assert.match(v.reason, reason);
  }
});

test('getters are refused without being called, and a throwing proxy is a refusal', () => {
  let called = false;
  const withGetter = { type: 'nack', get seq() { called = true; return 1; } };
  const v = validateMessage(withGetter);
  assert.equal(v.ok, false);
  assert.equal(called, false);
  const hostile = new Proxy({}, { ownKeys() { throw new Error('boom'); }, getPrototypeOf() { return Object.prototype; } });
  const w = validateMessage(hostile);
  assert.equal(w.ok, false);
});

test('validateMeta enforces the size bound with a clear message', () => {
  const big = { role: 'voter', devices: [], plugins: Array.from({ length: 32 }, (_, i) => `p${i}`.padEnd(20, 'x')), battery: null };
  const v = validateMeta(big);
  assert.equal(v.ok, false);
  if (!v.ok) assert.match(v.reason, new RegExp(`over the ${metaBytesMax}-byte limit`));
  assert.ok(validateMeta(meta).ok);
});

test('no input makes the validator throw (property)', () => {
  fc.assert(fc.property(fc.anything({ withObjectString: true, withNullPrototype: true, withSparseArray: true }), (raw) => {
    const v = validateMessage(raw);
    return typeof v.ok === 'boolean';
  }), { numRuns: 2000 });
  fc.assert(fc.property(fc.record({ type: fc.constantFrom('ping', 'ack', 'gossip', 'pushPull', 'nack', 'pingReq'), seq: fc.anything(), gossip: fc.anything(), members: fc.anything(), target: fc.anything() }, { requiredKeys: ['type'] }), (raw) => {
    return typeof validateMessage(raw).ok === 'boolean';
  }), { numRuns: 2000 });
});
