// The real agent's `Signer` (statement.ts): membership statements signed with the agent's libp2p
// identity key (Ed25519) and checked against the public key inside the subject's peer id
// (an Ed25519 peer id is the identity multihash of its public key, so no key exchange is needed).
// Not part of the pure core: the driver builds it and hands it in. Ed25519 signing is
// deterministic (RFC 8032), so the core still sees a function of its inputs.
//
// Signatures travel as base64url without padding (64 bytes → 86 characters). A peer id that does
// not carry its public key (RSA, or not a peer id at all) verifies nothing: its statements are
// dropped. Parsed public keys are cached (bounded): verification runs on every new statement.

import type { PrivateKey, PublicKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { type Signer, type Statement, statementBytes } from './index.ts';

/** Public keys kept parsed; beyond it the cache is reset (a swarm holds at most membersMax members). */
const keysCachedMax = 16_384;
/** An Ed25519 signature in base64url without padding. */
const sigChars = 86;
const sigPattern = /^[A-Za-z0-9_-]{86}$/;

/** A signer for `swarm` with `privateKey`, which must be Ed25519 and be the key of `selfId`. */
export function ed25519Signer(privateKey: PrivateKey, swarm: string, selfId: string): Signer {
  if (privateKey.type !== 'Ed25519') throw new TypeError(`membership: the identity key must be Ed25519 to sign membership statements, got ${privateKey.type}`);
  const self = peerIdFromString(selfId);
  if (self.publicKey === undefined || !self.publicKey.equals(privateKey.publicKey)) {
    throw new RangeError('membership: the identity key is not the key of this node\'s peer id');
  }
  const keys = new Map<string, PublicKey | null>();
  const publicKeyOf = (id: string): PublicKey | null => {
    let k = keys.get(id);
    if (k !== undefined) return k;
    try {
      const pk = peerIdFromString(id).publicKey;
      k = pk !== undefined && pk.type === 'Ed25519' ? pk : null;
    } catch {
      k = null;
    }
    if (keys.size >= keysCachedMax) keys.clear();
    keys.set(id, k);
    return k;
  };
  return {
    sign(statement: Statement): string {
      if (statement.id !== selfId) throw new RangeError('membership: signing a statement about another member (bug)');
      const sig = privateKey.sign(statementBytes(swarm, statement));
      if (sig instanceof Promise) throw new TypeError('membership: this Ed25519 key signs asynchronously; the core needs a synchronous signer');
      return Buffer.from(sig).toString('base64url');
    },
    verify(statement: Statement, sig: string): boolean {
      if (sig.length !== sigChars || !sigPattern.test(sig)) return false;
      const key = publicKeyOf(statement.id);
      if (key === null) return false;
      const bytes = Buffer.from(sig, 'base64url');
      // One spelling per signature (the last character has spare bits): what is relayed is what was signed.
      if (bytes.toString('base64url') !== sig) return false;
      try {
        const ok = key.verify(statementBytes(swarm, statement), bytes);
        return ok === true; // a promise (an asynchronous implementation) counts as not verified
      } catch {
        return false;
      }
    },
  };
}
