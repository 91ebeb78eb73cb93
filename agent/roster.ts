// The swarm roster as one agent sees it: who may connect, submit, gossip membership and publish
// telemetry here (docs/security.md). Three sources, combined:
//   - the voters of the config: always admitted (the voter set changes only by reconfiguration);
//   - the config's `swarm.roster`: peers admitted from the start (the bootstrap roster);
//   - the replicated decisions (consensus/statemachine/roster.ts): `peer.admit` / `peer.revoke`
//     committed through consensus, newest version wins. A revocation beats the config's list.
// With `swarm.roster` absent the swarm is open: everyone not revoked is admitted (and the agent
// warns when it listens beyond loopback, agent/exposure.ts).
//
// A voter reads the decisions from its own state machine; a worker learns them from the voters
// (agent/roster-sync.ts). Listeners hear of every change, e.g. to close a revoked peer's connections.

import type { RosterDecision, RosterView } from '../consensus/index.ts';

export type RosterRole = 'voter' | 'worker';

export interface RosterEntry {
  readonly peerId: string;
  readonly role: RosterRole;
  /** Why it is listed: a voter, the config's bootstrap roster, or a replicated decision. */
  readonly source: 'voters' | 'config' | 'consensus';
  readonly admitted: boolean;
}

export interface SwarmRosterOptions {
  readonly voters: readonly string[];
  /** The config's `swarm.roster`; undefined: an open swarm. */
  readonly bootstrap: readonly string[] | undefined;
}

export class SwarmRoster {
  #voters: ReadonlySet<string>;
  /** Voters of any epoch this agent knew: a removed voter stays admitted (as a worker) unless revoked. */
  readonly #formerVoters = new Set<string>();
  readonly #bootstrap: ReadonlySet<string>;
  readonly enforced: boolean;
  #decisions = new Map<string, RosterDecision>();
  #version = 0;
  readonly #listeners = new Set<(revoked: readonly string[]) => void>();

  constructor(o: SwarmRosterOptions) {
    this.#voters = new Set(o.voters);
    this.#bootstrap = new Set(o.bootstrap ?? []);
    this.enforced = o.bootstrap !== undefined;
  }

  get version(): number {
    return this.#version;
  }

  /**
   * The voters of the epoch this agent has moved to (docs/reconfiguration.md). A removed voter
   * stays admitted, as a worker, until the roster revokes it (rule 10).
   */
  setVoters(voters: readonly string[]): void {
    for (const v of this.#voters) this.#formerVoters.add(v);
    this.#voters = new Set(voters);
  }

  /** May `peerId` connect and speak here (as a worker at least)? */
  admits(peerId: string): boolean {
    if (this.#voters.has(peerId)) return true;
    const d = this.#decisions.get(peerId);
    if (d !== undefined) return d === 'admitted';
    return this.#formerVoters.has(peerId) || this.#bootstrap.has(peerId) || !this.enforced;
  }

  /** The role a peer holds in the swarm; null when it is not admitted. */
  roleOf(peerId: string): RosterRole | null {
    if (this.#voters.has(peerId)) return 'voter';
    return this.admits(peerId) ? 'worker' : null;
  }

  /** Revoked by a replicated decision (a join token does not undo that; an operator's admit does). */
  isRevoked(peerId: string): boolean {
    return !this.#voters.has(peerId) && this.#decisions.get(peerId) === 'revoked';
  }

  isVoter(peerId: string): boolean {
    return this.#voters.has(peerId);
  }

  /**
   * Takes the replicated decisions at `view.version` when newer than what this agent holds.
   * Returns whether anything changed; listeners hear which peers lost admission.
   */
  update(view: RosterView): boolean {
    if (view.version <= this.#version) return false;
    const before = new Map(this.#decisions);
    this.#decisions = new Map(view.decisions);
    this.#version = view.version;
    const revoked: string[] = [];
    for (const [peer, d] of this.#decisions) if (d === 'revoked' && before.get(peer) !== 'revoked' && !this.#voters.has(peer)) revoked.push(peer);
    for (const fn of this.#listeners) fn(revoked);
    return true;
  }

  /** Calls `fn` after every change with the peers that lost admission in it. */
  onChange(fn: (revoked: readonly string[]) => void): () => void {
    this.#listeners.add(fn);
    return () => { this.#listeners.delete(fn); };
  }

  /** Every peer the roster names (voters, config, decisions), sorted by role then peer id. */
  entries(): RosterEntry[] {
    const out = new Map<string, RosterEntry>();
    for (const id of this.#voters) out.set(id, { peerId: id, role: 'voter', source: 'voters', admitted: true });
    for (const id of this.#bootstrap) if (!out.has(id)) out.set(id, { peerId: id, role: 'worker', source: 'config', admitted: this.admits(id) });
    for (const [id, d] of this.#decisions) {
      if (this.#voters.has(id)) continue;
      out.set(id, { peerId: id, role: 'worker', source: 'consensus', admitted: d === 'admitted' });
    }
    return [...out.values()].sort((a, b) => (a.role === b.role ? (a.peerId < b.peerId ? -1 : 1) : a.role === 'voter' ? -1 : 1));
  }
}
