// The agreement rule of a swarm that forms by itself (`swarm.expectVoters: k`), as pure functions
// of one agent's state: no clock, no I/O. agent/formation/formation.ts drives it over libp2p and
// persists every state it returns before anything that depends on it leaves the agent.
//
// The rule (docs/agent.md, "A swarm that forms by itself", gives the argument):
//   - an agent's choice is the k smallest peer ids among itself and the candidates it hears (peers
//     with the same swarm name and the same k); with fewer than k there is no choice yet;
//   - only the smallest id of a choice proposes it (its coordinator), numbered by an attempt
//     counter that only grows; proposing locks the coordinator on it;
//   - a member accepts a proposal only if the set is its own current choice and it holds no lock on
//     another proposal, and then locks on it (persisted before it answers);
//   - with every member's acceptance the coordinator persists "formed" and tells them; with any
//     refusal or silence it persists the abort and tells them, and they release the lock. A lock
//     is released only by its coordinator's abort (or its answer that the attempt is not pending):
//     never by a timeout, since the coordinator may have formed the set meanwhile;
//   - an agent without a lock (or locked on that very set) adopts a formed set it hears of from a
//     member of it: as a voter if it is in it, else as a worker. Formed never changes afterwards.
// Safety: a formed set had every member locked on it, and a member holds one lock at a time and is
// never released from a formed one, so two formed sets share no member.

/** A voter as a formed set records it: its id and the addresses it announced (dial hints). */
export interface FormedVoter {
  readonly id: string;
  readonly addrs: readonly string[];
}

/** One proposal: a set of k ids, sorted, and its coordinator's attempt number. */
export interface Proposal {
  readonly set: readonly string[];
  readonly attempt: number;
}

/** What an agent persists (agent/formation/store.ts). */
export interface FormationState {
  /** The voters once formed, sorted by id (index = replica id); never changes afterwards. */
  readonly formed: readonly FormedVoter[] | null;
  /** The one proposal this agent has accepted (as a member) or made (as its coordinator). */
  readonly lock: Proposal | null;
  /** The last attempt number this agent used as a coordinator. */
  readonly attempt: number;
}

export const initialState: FormationState = { formed: null, lock: null, attempt: 0 };

export type Answer = { readonly accept: true } | { readonly accept: false; readonly reason: string };

export type AttemptStatus = 'formed' | 'aborted' | 'pending';

export function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A proposal's coordinator: the smallest id of its set. */
export function coordinatorOf(set: readonly string[]): string {
  return [...set].sort()[0];
}

/** The k smallest ids among `self` and `candidates`, sorted; null with fewer than k. */
export function choose(self: string, candidates: Iterable<string>, k: number): string[] | null {
  const all = [...new Set([self, ...candidates])].sort();
  return all.length < k ? null : all.slice(0, k);
}

/** Whether this agent should propose `choice` now: nothing formed or held, and it is the coordinator. */
export function shouldPropose(s: FormationState, self: string, choice: readonly string[] | null): choice is string[] {
  return s.formed === null && s.lock === null && choice !== null && choice[0] === self;
}

/** The coordinator's new attempt on `set`: it locks itself on it first. */
export function propose(s: FormationState, set: readonly string[]): { state: FormationState; proposal: Proposal } {
  const proposal = { set: [...set], attempt: s.attempt + 1 };
  return { state: { ...s, attempt: proposal.attempt, lock: proposal }, proposal };
}

/** A member's answer to `p` from `from`, given its own current choice. */
export function onPropose(s: FormationState, self: string, choice: readonly string[] | null, p: Proposal, from: string): { state: FormationState; answer: Answer } {
  const no = (reason: string) => ({ state: s, answer: { accept: false, reason } as Answer });
  if (from !== coordinatorOf(p.set)) return no('only the smallest id of a set proposes it');
  if (!p.set.includes(self)) return no('this agent is not in the proposed set');
  if (s.formed !== null) return no('this agent already belongs to a formed swarm');
  if (s.lock !== null) {
    if (!sameSet(s.lock.set, p.set)) return no(`this agent holds a proposal of ${s.lock.set.join(', ')} (attempt ${s.lock.attempt})`);
    // The same set again: a newer attempt takes the lock over; an older one is a stale message.
    if (p.attempt < s.lock.attempt) return no(`attempt ${p.attempt} is older than attempt ${s.lock.attempt} of the same set`);
    return { state: { ...s, lock: { set: [...p.set], attempt: p.attempt } }, answer: { accept: true } };
  }
  if (choice === null || !sameSet(choice, p.set)) return no(`this agent's own choice is ${choice === null ? 'not made yet (too few agents found)' : choice.join(', ')}`);
  return { state: { ...s, lock: { set: [...p.set], attempt: p.attempt } }, answer: { accept: true } };
}

/** The coordinator got every member's acceptance of its pending `p`: formed. */
export function form(s: FormationState, p: Proposal, voters: readonly FormedVoter[]): FormationState {
  if (s.lock === null || !sameSet(s.lock.set, p.set) || s.lock.attempt !== p.attempt) throw new Error('form: the proposal is not this coordinator\'s pending one');
  if (!sameSet(voters.map((v) => v.id), p.set)) throw new Error('form: the voters are not the proposal\'s set');
  return { ...s, formed: voters.map((v) => ({ id: v.id, addrs: [...v.addrs] })) };
}

/** The coordinator gives its pending `p` up (a refusal, a silent member, or a restart). */
export function abort(s: FormationState, p: Proposal): FormationState {
  if (s.formed !== null || s.lock === null || !sameSet(s.lock.set, p.set) || s.lock.attempt !== p.attempt) return s;
  return { ...s, lock: null };
}

/**
 * After a restart: a proposal this agent coordinated and had not decided is aborted (nobody can
 * have heard "formed" for it, since formed is persisted before it is told).
 */
export function onRestart(s: FormationState, self: string): FormationState {
  if (s.formed === null && s.lock !== null && coordinatorOf(s.lock.set) === self) return { ...s, lock: null };
  return s;
}

/** The coordinator's answer to "what became of attempt `p`?". */
export function statusOf(s: FormationState, self: string, p: Proposal): AttemptStatus {
  if (s.formed !== null && sameSet(s.formed.map((v) => v.id), p.set)) return 'formed';
  if (s.formed === null && s.lock !== null && coordinatorOf(s.lock.set) === self && sameSet(s.lock.set, p.set) && s.lock.attempt === p.attempt) return 'pending';
  return 'aborted';
}

/** A member hears from `from` that attempt `p` was aborted (or is not pending): it releases that lock. */
export function onAborted(s: FormationState, p: Proposal, from: string): FormationState {
  if (from !== coordinatorOf(p.set) || s.formed !== null || s.lock === null) return s;
  if (!sameSet(s.lock.set, p.set) || s.lock.attempt !== p.attempt) return s;
  return { ...s, lock: null };
}

/**
 * `from` says `voters` formed. Adopted when `from` is one of them and this agent holds no lock on
 * another set (a lock is released only by its coordinator, whose set may yet form).
 */
export function onFormed(s: FormationState, voters: readonly FormedVoter[], from: string, k: number): FormationState {
  if (s.formed !== null) return s;
  const ids = voters.map((v) => v.id);
  if (ids.length !== k || !ids.includes(from)) return s;
  if (s.lock !== null && !sameSet(s.lock.set, ids)) return s;
  return { ...s, formed: voters.map((v) => ({ id: v.id, addrs: [...v.addrs] })) };
}
