// Noise's ChaCha20-Poly1305, with its WebAssembly loaded only once the traffic pays for it.
//
// @chainsafe/libp2p-noise seals frames under 1,200 bytes (all of Covey's consensus and membership
// traffic) with an AssemblyScript build of ChaCha20-Poly1305 in WebAssembly, 5 to 10 times faster
// than node's cipher for such frames on this machine (3–7 against 29–34 µs a seal and open). But
// WebAssembly costs an idle agent 2.5–3 MiB of RSS it never gives back (V8's wasm decoder and
// compilers in node's binary, the compiled code, the module's memory; docs/benchmarks.md), and an
// idle agent seals a few dozen frames a second, where the speed is worth nothing.
//
// So the agent seals with node's cipher until it seals and opens `fastOpsPerSecondMin` small frames
// within one second, and then with the WebAssembly build for good (a swarm that was busy once is
// likely to be busy again; switching back would load it again). Both are the same cipher, so a
// frame sealed by one opens with the other: the switch needs no coordination with peers.
//
// The bundle (agent/cli/bundle-plugins.ts, `lazyNoiseWasm`) keeps noise's own crypto module from
// compiling its WebAssembly when the agent starts; from the sources it is compiled at import, and
// only this switch differs.

import { asCrypto, defaultCrypto, nodeCrypto } from '@chainsafe/libp2p-noise/crypto';
import type { ICryptoInterface } from '@chainsafe/libp2p-noise';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';

/** Frames below this many bytes are where the WebAssembly build is faster (noise's own bound). */
export const fastBytesMax = 1200;
/** Small-frame seals and opens within one second that make the agent load the WebAssembly build. */
export const fastOpsPerSecondMinDefault = 500;

type Cipher = Pick<ICryptoInterface, 'chaCha20Poly1305Encrypt' | 'chaCha20Poly1305Decrypt'>;

/** A session key's bytes as last seen, and node's key object made of them. */
interface KeyEntry { readonly bytes: Uint8Array; readonly key: KeyObject }
const keyObjects = new WeakMap<Uint8Array, KeyEntry>();

/**
 * Node's key object for a noise session key. Noise's node cipher hands node the raw key bytes, and
 * node makes a key object of them for every frame: three quarters of a seal and open (40 against
 * 11 µs for a 200-byte frame on this machine). A session's key is one array for its whole life, so
 * its key object is kept beside it, and made again if the bytes ever differ from those it was made
 * of (a rekey that wrote the array in place): a stale key would seal frames the peer cannot open.
 */
export function keyObjectFor(k: Uint8Array): KeyObject {
  const entry = keyObjects.get(k);
  if (entry !== undefined && sameBytes(entry.bytes, k)) return entry.key;
  const fresh = { bytes: Uint8Array.from(k), key: createSecretKey(k) };
  keyObjects.set(k, fresh);
  return fresh.key;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Noise's node cipher, given node's key object for the session key instead of its bytes (createCipheriv takes either). */
export const keyedNodeCrypto: Cipher = {
  chaCha20Poly1305Encrypt: (plaintext, nonce, ad, k) => nodeCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, keyObjectFor(k) as unknown as Uint8Array),
  chaCha20Poly1305Decrypt: (ciphertext, nonce, ad, k, dst) => nodeCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, keyObjectFor(k) as unknown as Uint8Array, dst),
};

export interface TieredCipherOptions {
  /** The cipher used until the switch, and for large frames always (default: node's, with the key objects kept). */
  readonly slow?: Cipher;
  /** The cipher for small frames after the switch; called once, at the switch (default: noise's WebAssembly build). */
  readonly loadFast?: () => Cipher;
  readonly fastOpsPerSecondMin?: number;
  readonly nowMs?: () => number;
}

/** Noise's crypto, with small frames sealed by node until the first busy second, then by WebAssembly. */
export class TieredNoiseCrypto implements ICryptoInterface {
  readonly #slow: Cipher;
  readonly #loadFast: () => Cipher;
  readonly #opsMin: number;
  readonly #nowMs: () => number;
  #fast: Cipher | null = null;
  #windowStartMs = -Infinity;
  #windowOps = 0;

  constructor(o: TieredCipherOptions = {}) {
    this.#slow = o.slow ?? keyedNodeCrypto;
    this.#loadFast = o.loadFast ?? (() => asCrypto);
    this.#opsMin = o.fastOpsPerSecondMin ?? fastOpsPerSecondMinDefault;
    this.#nowMs = o.nowMs ?? (() => performance.now());
    if (!(this.#opsMin >= 1)) throw new Error(`fastOpsPerSecondMin must be at least 1, got ${this.#opsMin}`);
  }

  /** Whether small frames are sealed by the WebAssembly build now. */
  get fast(): boolean {
    return this.#fast !== null;
  }

  readonly hashSHA256 = defaultCrypto.hashSHA256;
  readonly getHKDF = defaultCrypto.getHKDF;
  readonly generateX25519KeyPair = defaultCrypto.generateX25519KeyPair;
  readonly generateX25519KeyPairFromSeed = defaultCrypto.generateX25519KeyPairFromSeed;
  readonly generateX25519SharedKey = defaultCrypto.generateX25519SharedKey;

  // Arrow functions: noise takes these methods off the object (its wrapCrypto) and calls them unbound.
  readonly chaCha20Poly1305Encrypt: Cipher['chaCha20Poly1305Encrypt'] = (plaintext, nonce, ad, k) =>
    this.#cipherFor(plaintext.byteLength).chaCha20Poly1305Encrypt(plaintext, nonce, ad, k);

  readonly chaCha20Poly1305Decrypt: Cipher['chaCha20Poly1305Decrypt'] = (ciphertext, nonce, ad, k, dst) =>
    this.#cipherFor(ciphertext.byteLength).chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst);

  #cipherFor(bytes: number): Cipher {
    if (bytes >= fastBytesMax) return this.#slow;
    if (this.#fast !== null) return this.#fast;
    const now = this.#nowMs();
    if (now - this.#windowStartMs >= 1000) {
      this.#windowStartMs = now;
      this.#windowOps = 0;
    }
    this.#windowOps++;
    if (this.#windowOps < this.#opsMin) return this.#slow;
    this.#fast = this.#loadFast();
    return this.#fast;
  }
}
