// The swarm roster as replicated state: which peers an operator (or a join token) admitted and
// which were revoked, changed only by committed `peer.admit` / `peer.revoke` commands.
//
// The machine keeps decisions, not the whole roster: the config's bootstrap list and the voters
// are admitted without a command (agent/roster.ts combines the three), and a revocation of a
// bootstrap peer must outlive the config that still lists it. Every change that alters a decision
// bumps `version`, so agents that learn the roster from different voters take the newest.

import type { CommandResult, RosterCommand } from './commands.ts';

export type RosterDecision = 'admitted' | 'revoked';

/** A libp2p peer id in its usual base58 text form (Ed25519 ids start with 12D3KooW). */
export const peerIdPattern = /^(12D3KooW|Qm|16U)[1-9A-HJ-NP-Za-km-z]{30,60}$/;

/** Decisions kept at most: a roster is a fleet's devices, not its traffic. */
export const rosterDecisionsMax = 10_000;

export interface RosterState {
  readonly decisions: Map<string, RosterDecision>;
  /** Changes applied so far (0: none). */
  version: number;
}

/** The roster as plain data, sorted by peer id: what `GET /peers` and the roster topic carry. */
export interface RosterView {
  readonly version: number;
  readonly decisions: readonly (readonly [string, RosterDecision])[];
}

export function applyRoster(roster: RosterState, c: RosterCommand): CommandResult {
  if (typeof c.peerId !== 'string' || !peerIdPattern.test(c.peerId)) {
    return { ok: false, error: `peerId must be a libp2p peer id such as 12D3KooW…, got ${JSON.stringify(String(c.peerId).slice(0, 80))}` };
  }
  const want: RosterDecision = c.op === 'peer.admit' ? 'admitted' : 'revoked';
  const now = roster.decisions.get(c.peerId);
  if (now === want) return { ok: true, value: String(roster.version) };
  if (now === undefined && roster.decisions.size >= rosterDecisionsMax) {
    return { ok: false, error: `the roster holds ${rosterDecisionsMax} decisions (every peer ever admitted or revoked is one), its limit; ${c.peerId} was not ${want}` };
  }
  roster.decisions.set(c.peerId, want);
  roster.version++;
  return { ok: true, value: String(roster.version) };
}
