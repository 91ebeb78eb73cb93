// Automatic replacement of a lost voter (issue 15; docs/reconfiguration.md): the decision alone,
// as a pure function of what one voter sees, so that the simulator runs the very policy a field
// agent will (as agent/membership-recovery.ts does for recovery). It says whether this voter
// should submit a voters.change now, and which; the caller submits it and learns the outcome from
// the epoch's close. The rules:
// - only a voter confirmed dead by membership for `replaceAfterMs` is replaced;
// - one change at a time: nothing while a change is in flight;
// - never from a minority side: a majority of the current voters must be reachable;
// - one voter decides: the first live, reachable voter in the group's order (others wait; two
//   that both submit are safe anyway — the second change is void, rule 8 — but it is wasted work);
// - the replacement is an eligible, live roster member: a role allowed to vote, on mains power
//   (no battery) first, then the fullest battery above the floor; ties by peer id.

/** A roster member that could take a voter's seat, as membership advertises it. */
export interface ReplacementCandidate {
  readonly id: string;
  readonly role: string;
  /** 0..1, or null: no battery (a mains-powered ground station). */
  readonly battery: number | null;
  /** Membership holds it alive now. */
  readonly alive: boolean;
}

export interface ReplacementPolicy {
  /** How long membership must have held a voter dead before it is replaced (`voters.replaceAfter`). */
  readonly replaceAfterMs: number;
  /** Roles whose members may become voters. */
  readonly roles: readonly string[];
  /** A battery-powered candidate needs at least this charge (0..1). */
  readonly batteryFloor: number;
}

export const defaultReplacementPolicy: ReplacementPolicy = { replaceAfterMs: 30_000, roles: ['worker', 'voter'], batteryFloor: 0.3 };

export interface ReplacementView {
  /** The voter deciding (its peer id). */
  readonly self: string;
  readonly nowMs: number;
  /** The current epoch's voters, in replica order. */
  readonly voters: readonly string[];
  /** When membership declared each voter dead (voters it does not hold dead are absent). */
  readonly deadSinceMs: ReadonlyMap<string, number>;
  /** The voters this one reaches now, itself included. */
  readonly reachable: ReadonlySet<string>;
  readonly candidates: readonly ReplacementCandidate[];
  /** A voters.change of this epoch is in flight (submitted or held, not yet closed or void). */
  readonly changeInFlight: boolean;
}

export type ReplacementDecision =
  /** Nothing to replace. */
  | { readonly kind: 'none' }
  /** A voter should be replaced, but not now, or not by this voter: why (for the log and `GET /voters`). */
  | { readonly kind: 'wait'; readonly reason: string }
  /** Submit a voters.change to `voters` (the lost voter's seat taken by `in`). */
  | { readonly kind: 'replace'; readonly out: string; readonly in: string; readonly voters: readonly string[]; readonly reason: string };

export function decideReplacement(v: ReplacementView, policy: ReplacementPolicy = defaultReplacementPolicy): ReplacementDecision {
  const lost = v.voters
    .filter((id) => v.deadSinceMs.has(id) && v.nowMs - v.deadSinceMs.get(id)! >= policy.replaceAfterMs)
    .sort((a, b) => v.deadSinceMs.get(a)! - v.deadSinceMs.get(b)! || (a < b ? -1 : 1));
  if (lost.length === 0) return { kind: 'none' };
  const out = lost[0];
  if (v.changeInFlight) return { kind: 'wait', reason: `a voters.change is in flight; ${out} is replaced after it` };
  const majority = Math.floor(v.voters.length / 2) + 1;
  const reached = v.voters.filter((id) => v.reachable.has(id)).length;
  if (reached < majority) return { kind: 'wait', reason: `${reached} of ${v.voters.length} voters reachable, a majority needs ${majority}: never replaced from a minority side` };
  const decider = v.voters.find((id) => v.reachable.has(id) && !v.deadSinceMs.has(id));
  if (decider !== v.self) return { kind: 'wait', reason: `${decider ?? 'no live voter'} decides replacements` };
  const best = candidatesInOrder(v, policy)[0];
  if (best === undefined) {
    return { kind: 'wait', reason: `no eligible replacement for ${out}: a live roster member of role ${policy.roles.join(' or ')}, on mains power or with a battery of at least ${policy.batteryFloor * 100} %` };
  }
  const voters = v.voters.map((id) => (id === out ? best.id : id));
  return { kind: 'replace', out, in: best.id, voters, reason: `${out} dead for ${Math.round((v.nowMs - v.deadSinceMs.get(out)!) / 1000)} s; ${best.id} takes its seat` };
}

/** Eligible candidates, best first: mains power, then the fullest battery, then by id. */
export function candidatesInOrder(v: Pick<ReplacementView, 'voters' | 'candidates'>, policy: ReplacementPolicy): ReplacementCandidate[] {
  return v.candidates
    .filter((c) => c.alive && !v.voters.includes(c.id) && policy.roles.includes(c.role) && (c.battery === null || c.battery >= policy.batteryFloor))
    .sort((a, b) => rank(b) - rank(a) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Mains power above every battery; batteries by charge. */
function rank(c: ReplacementCandidate): number {
  return c.battery === null ? 2 : c.battery;
}
