// Membership statements: what an agent says about itself (its alive record, its leave), the one
// canonical byte encoding that is signed, and the two interfaces the core is handed to check them
// (`Signer`) and to ask the roster (`Trust`). DESIGN.md, "Trust": an agent's statements about
// itself are signed; claims about others come only from roster members and never outrank the
// subject's own refutation.
//
// Pure: the core calls `sign` and `verify` as functions of their arguments. The real signer
// (ed25519.ts, Ed25519 with the libp2p identity key: deterministic, RFC 8032) lives in the
// driver; the simulator uses `digestSigner`, a keyless stand-in that keeps runs reproducible.

import type { AliveItem, DeadItem, MemberId, Meta, Role } from './types.ts';

/** Domain separation: these bytes are signed for nothing else, in no other protocol version. */
export const statementDomain = 'covey-membership-v1';

/** What a member signs: its alive record, or its leave. */
export type Statement =
  | { readonly kind: 'alive'; readonly id: MemberId; readonly addr: string; readonly incarnation: number; readonly meta: Meta }
  | { readonly kind: 'left'; readonly id: MemberId; readonly incarnation: number };

export interface Signer {
  /** This agent's signature of its own statement (`statement.id` is this agent). Deterministic. */
  sign(statement: Statement): string;
  /** Whether `sig` is `statement.id`'s signature of `statement`. Never throws. */
  verify(statement: Statement, sig: string): boolean;
}

/** The roster as the core sees it: who may take part, and in which role. */
export interface Trust {
  /** Whether `id` is on the roster (may send frames, be listed, make claims). */
  isAdmitted(id: MemberId): boolean;
  /** The roster's role for `id`; null: none on record (not on the roster, or no roster), the claim stands. */
  roleOf(id: MemberId): Role | null;
}

/** No roster: everyone admitted, every role as claimed (the default; signatures still apply). */
export const trustEveryone: Trust = { isAdmitted: () => true, roleOf: () => null };

/**
 * The canonical text of a statement: a JSON array (ECMAScript's JSON.stringify of strings,
 * integers and finite numbers is fully specified, so every implementation produces the same
 * text). Signed as its UTF-8 bytes.
 *   alive: ["covey-membership-v1", swarm, "alive", id, addr, incarnation, role, devices, plugins, battery]
 *   left:  ["covey-membership-v1", swarm, "left", id, incarnation]
 */
export function statementText(swarm: string, s: Statement): string {
  if (s.kind === 'left') return JSON.stringify([statementDomain, swarm, 'left', s.id, s.incarnation]);
  const m = s.meta;
  return JSON.stringify([statementDomain, swarm, 'alive', s.id, s.addr, s.incarnation, m.role, m.devices, m.plugins, m.battery]);
}

const utf8 = new TextEncoder();

export function statementBytes(swarm: string, s: Statement): Uint8Array {
  return utf8.encode(statementText(swarm, s));
}

/** The statement an alive item carries (the item without its signature). */
export function aliveStatement(item: AliveItem): Statement {
  return { kind: 'alive', id: item.id, addr: item.addr, incarnation: item.incarnation, meta: item.meta };
}

/** The statement a leave carries. */
export function leaveStatement(item: DeadItem): Statement {
  return { kind: 'left', id: item.id, incarnation: item.incarnation };
}

/**
 * A keyless stand-in for the simulator and unit tests: the "signature" is a 64-bit digest
 * (two FNV-1a lanes) of the statement text, which names the subject. It catches a tampered field,
 * a statement re-attributed to another member and a missing or made-up signature, and is
 * deterministic; anyone can compute it, so it proves nothing against an adversary. Never use it
 * on a real network.
 */
export function digestSigner(swarm: string): Signer {
  const digest = (s: Statement): string => digestHex(statementText(swarm, s));
  return {
    sign: digest,
    verify: (s, sig) => sig === digest(s),
  };
}

function digestHex(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}
