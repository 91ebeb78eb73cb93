// Noise's cipher seals small frames with node's until the first busy second, then with WebAssembly.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asCrypto, nodeCrypto } from '@chainsafe/libp2p-noise/crypto';
import { Uint8ArrayList } from 'uint8arraylist';
import { fastBytesMax, keyedNodeCrypto, keyObjectFor, TieredNoiseCrypto } from './noise-crypto.ts';

const key = new Uint8Array(32).fill(3);
const nonce = new Uint8Array(12);
const ad = new Uint8Array(0);
const frame = (bytes: number): Uint8Array => new Uint8Array(bytes).map((_, i) => i % 251);

/** A cipher that counts its calls and seals as node does. */
function counted(): { cipher: typeof nodeCrypto; calls: () => number } {
  let calls = 0;
  return {
    cipher: {
      hashSHA256: nodeCrypto.hashSHA256,
      chaCha20Poly1305Encrypt: (...a) => { calls++; return nodeCrypto.chaCha20Poly1305Encrypt(...a); },
      chaCha20Poly1305Decrypt: (...a) => { calls++; return nodeCrypto.chaCha20Poly1305Decrypt(...a); },
    },
    calls: () => calls,
  };
}

describe('TieredNoiseCrypto', () => {
  it('switches to the fast cipher at the fastOpsPerSecondMin-th small frame within a second, once and for good', () => {
    const slow = counted(), fast = counted();
    let loads = 0, nowMs = 0;
    const c = new TieredNoiseCrypto({ slow: slow.cipher, loadFast: () => { loads++; return fast.cipher; }, fastOpsPerSecondMin: 10, nowMs: () => nowMs });
    for (let i = 0; i < 9; i++) c.chaCha20Poly1305Encrypt(frame(100), nonce, ad, key);
    assert.deepEqual([c.fast, slow.calls(), loads], [false, 9, 0]);
    c.chaCha20Poly1305Encrypt(frame(100), nonce, ad, key);
    assert.deepEqual([c.fast, loads, fast.calls()], [true, 1, 1]);
    nowMs += 60_000; // idle for a minute: it stays fast
    c.chaCha20Poly1305Decrypt(c.chaCha20Poly1305Encrypt(frame(100), nonce, ad, key), nonce, ad, key);
    assert.deepEqual([loads, fast.calls(), slow.calls()], [1, 3, 9]);
  });

  it('counts within one second only: a steady trickle below the rate never loads the fast cipher', () => {
    let loads = 0, nowMs = 0;
    const c = new TieredNoiseCrypto({ loadFast: () => { loads++; return asCrypto; }, fastOpsPerSecondMin: 10, nowMs: () => nowMs });
    for (let second = 0; second < 30; second++, nowMs += 1000) {
      for (let i = 0; i < 9; i++) c.chaCha20Poly1305Encrypt(frame(64), nonce, ad, key);
    }
    assert.deepEqual([c.fast, loads], [false, 0]);
  });

  it('seals frames of fastBytesMax bytes and more with the slow cipher, before and after the switch, without counting them', () => {
    const slow = counted(), fast = counted();
    const c = new TieredNoiseCrypto({ slow: slow.cipher, loadFast: () => fast.cipher, fastOpsPerSecondMin: 2, nowMs: () => 0 });
    for (let i = 0; i < 5; i++) c.chaCha20Poly1305Encrypt(frame(fastBytesMax), nonce, ad, key);
    assert.deepEqual([c.fast, slow.calls()], [false, 5]);
    c.chaCha20Poly1305Encrypt(frame(10), nonce, ad, key);
    c.chaCha20Poly1305Encrypt(frame(10), nonce, ad, key);
    c.chaCha20Poly1305Encrypt(frame(5000), nonce, ad, key);
    assert.deepEqual([c.fast, slow.calls(), fast.calls()], [true, 7, 1]);
  });

  it('frames sealed before the switch open after it, and the other way round (one cipher, two builds)', () => {
    const c = new TieredNoiseCrypto({ fastOpsPerSecondMin: 3, nowMs: () => 0 });
    const before = c.chaCha20Poly1305Encrypt(frame(200), nonce, ad, key);
    c.chaCha20Poly1305Encrypt(frame(200), nonce, ad, key);
    assert.equal(c.fast, false);
    const after = c.chaCha20Poly1305Encrypt(frame(200), nonce, ad, key);
    assert.equal(c.fast, true);
    assert.deepEqual(Buffer.from(before.subarray()), Buffer.from(after.subarray()), 'the same key, nonce and frame seal to the same bytes');
    assert.deepEqual(Buffer.from(c.chaCha20Poly1305Decrypt(before, nonce, ad, key).subarray()), Buffer.from(frame(200)));
    assert.deepEqual(Buffer.from(nodeCrypto.chaCha20Poly1305Decrypt(after, nonce, ad, key).subarray()), Buffer.from(frame(200)));
    const tampered = Uint8Array.from(after.subarray());
    tampered[0] ^= 1;
    assert.throws(() => c.chaCha20Poly1305Decrypt(tampered, nonce, ad, key));
  });

  it('refuses a rate below one', () => {
    assert.throws(() => new TieredNoiseCrypto({ fastOpsPerSecondMin: 0 }), /fastOpsPerSecondMin must be at least 1/);
  });
});

describe('keyedNodeCrypto: node\'s cipher with a key object kept per session key', () => {
  it('seals and opens what noise\'s node and WebAssembly builds do, whole frames and lists of chunks alike', () => {
    const k = Uint8Array.from(key);
    for (const bytes of [0, 60, 200, fastBytesMax, 5000]) {
      const sealed = keyedNodeCrypto.chaCha20Poly1305Encrypt(frame(bytes), nonce, ad, k);
      assert.deepEqual(Buffer.from(sealed.subarray()), Buffer.from(nodeCrypto.chaCha20Poly1305Encrypt(frame(bytes), nonce, ad, key).subarray()), `${bytes} bytes seal alike`);
      assert.deepEqual(Buffer.from(asCrypto.chaCha20Poly1305Decrypt(sealed.subarray(), nonce, ad, key).subarray()), Buffer.from(frame(bytes)));
      assert.deepEqual(Buffer.from(keyedNodeCrypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, k).subarray()), Buffer.from(frame(bytes)));
    }
    const chunks = new Uint8ArrayList(frame(700), frame(900));
    const sealed = keyedNodeCrypto.chaCha20Poly1305Encrypt(chunks, nonce, ad, k);
    assert.deepEqual(Buffer.from(keyedNodeCrypto.chaCha20Poly1305Decrypt(new Uint8ArrayList(sealed.subarray()), nonce, ad, k).subarray()), Buffer.from(chunks.subarray()));
    const tampered = Uint8Array.from(sealed.subarray());
    tampered[3] ^= 1;
    assert.throws(() => keyedNodeCrypto.chaCha20Poly1305Decrypt(tampered, nonce, ad, k));
  });

  it('makes one key object per key array, and a new one when the array\'s bytes change', () => {
    const k = Uint8Array.from(key);
    const first = keyObjectFor(k);
    assert.equal(keyObjectFor(k), first, 'kept for the same array');
    assert.notEqual(keyObjectFor(Uint8Array.from(key)), first, 'another array of the same bytes has its own');
    // A rekey written into the same array: the old key object would seal what the peer cannot open.
    k.fill(9);
    const sealed = keyedNodeCrypto.chaCha20Poly1305Encrypt(frame(100), nonce, ad, k);
    assert.notEqual(keyObjectFor(k), first);
    assert.deepEqual(Buffer.from(nodeCrypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, new Uint8Array(32).fill(9)).subarray()), Buffer.from(frame(100)));
  });
});

describe('TieredNoiseCrypto in noise', () => {
  it('works when its methods are called unbound, as noise calls them', () => {
    const c = new TieredNoiseCrypto({ fastOpsPerSecondMin: 2, nowMs: () => 0 });
    const { chaCha20Poly1305Encrypt: seal, chaCha20Poly1305Decrypt: open } = c;
    for (let i = 0; i < 3; i++) assert.deepEqual(Buffer.from(open(seal(frame(50), nonce, ad, key), nonce, ad, key).subarray()), Buffer.from(frame(50)));
    assert.equal(c.fast, true);
  });
});
