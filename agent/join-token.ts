// Join tokens: how a new device gets onto an enforced roster without the operator's HTTP token.
// An admitted peer signs "peer P may join swarm S until T" with its identity key; a voter that
// is shown the token (POST /peers/join, `covey peers join`) checks it and admits P through
// consensus. The token names the joiner, so it is worthless to anyone without P's key, and it
// never re-admits a revoked peer: that takes an operator's `covey peers admit`.
//
// Format: base64url(JSON payload) "." base64url(Ed25519 signature over the domain prefix and the
// payload bytes). The issuer's public key is its peer id, so no key distribution is needed.

import { peerIdFromString } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdPattern } from '../consensus/index.ts';

const domain = new TextEncoder().encode('covey-join-token-v1\n');
export const joinTokenBytesMax = 2048;
/** Longest validity a token may claim: a token is a door left open, so not for long. */
export const joinTokenTtlMsMax = 7 * 24 * 3600 * 1000;

export interface JoinClaim {
  readonly v: 1;
  readonly swarm: string;
  /** The peer that may join. */
  readonly peer: string;
  /** The admitted peer that signed. */
  readonly issuer: string;
  readonly expiresMs: number;
}

export async function createJoinToken(key: PrivateKey, issuer: string, o: { swarm: string; peer: string; ttlMs: number; nowMs: number }): Promise<string> {
  if (!peerIdPattern.test(o.peer)) throw new Error(`--for: expected the joining device's peer id (12D3KooW…; \`covey init\` printed it), got ${JSON.stringify(o.peer)}`);
  if (!Number.isSafeInteger(o.ttlMs) || o.ttlMs < 1 || o.ttlMs > joinTokenTtlMsMax) throw new Error(`--ttl: a token is valid from 1 ms to 7 days, got ${o.ttlMs} ms`);
  const claim: JoinClaim = { v: 1, swarm: o.swarm, peer: o.peer, issuer, expiresMs: o.nowMs + o.ttlMs };
  const payload = new TextEncoder().encode(JSON.stringify(claim));
  const sig = await key.sign(signed(payload));
  return `${Buffer.from(payload).toString('base64url')}.${Buffer.from(sig).toString('base64url')}`;
}

/** The token's claim when it is well formed, signed by its issuer, for this swarm and not expired; else why not. */
export async function verifyJoinToken(token: unknown, o: { swarm: string; nowMs: number }): Promise<{ ok: true; claim: JoinClaim } | { ok: false; reason: string }> {
  if (typeof token !== 'string' || token.length > joinTokenBytesMax) return { ok: false, reason: `a join token is a string of at most ${joinTokenBytesMax} characters` };
  const parts = token.split('.');
  if (parts.length !== 2 || !/^[A-Za-z0-9_-]+$/.test(parts[0]) || !/^[A-Za-z0-9_-]+$/.test(parts[1])) return { ok: false, reason: 'not a join token (expected two base64url parts joined by a dot)' };
  const payload = Buffer.from(parts[0], 'base64url');
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    return { ok: false, reason: 'not a join token (its payload is not JSON)' };
  }
  const c = raw as Partial<Record<keyof JoinClaim, unknown>>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || Object.keys(raw).sort().join() !== 'expiresMs,issuer,peer,swarm,v' || c.v !== 1) {
    return { ok: false, reason: 'not a version-1 join token (unexpected fields)' };
  }
  if (typeof c.peer !== 'string' || !peerIdPattern.test(c.peer) || typeof c.issuer !== 'string' || !peerIdPattern.test(c.issuer)) return { ok: false, reason: 'the token\'s peer or issuer is not a peer id' };
  if (c.swarm !== o.swarm) return { ok: false, reason: `the token is for swarm ${JSON.stringify(c.swarm)}, not ${JSON.stringify(o.swarm)}` };
  if (typeof c.expiresMs !== 'number' || !Number.isSafeInteger(c.expiresMs)) return { ok: false, reason: 'the token\'s expiry is not a time' };
  if (c.expiresMs <= o.nowMs) return { ok: false, reason: `the token expired at ${new Date(c.expiresMs).toISOString()}; ask an admitted peer for a new one (covey peers token)` };
  let good: boolean;
  try {
    good = await peerIdFromString(c.issuer).publicKey!.verify(signed(payload), Buffer.from(parts[1], 'base64url'));
  } catch {
    good = false;
  }
  if (!good) return { ok: false, reason: `the token's signature is not ${c.issuer}'s` };
  return { ok: true, claim: c as JoinClaim };
}

function signed(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(domain.length + payload.length);
  out.set(domain);
  out.set(payload, domain.length);
  return out;
}
