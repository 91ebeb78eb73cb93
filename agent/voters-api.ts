// The operator's side of the voter set (issue 15, docs/reconfiguration.md): what `GET /voters`
// shows, what `POST /voters` asks for, and the plan that turns such a request into the voter list
// of the next epoch. Pure: the agent hands in the current voters and its roster, and submits the
// `voters.change` this module makes through consensus, which decides whether it takes effect.

import { voterCounts, votersListError, type VotersCommand } from '../consensus/index.ts';

/** One voter of the current epoch, as one agent sees it. */
export interface VoterEntry {
  readonly peerId: string;
  /** Its seat: the replica id it votes under in this epoch. */
  readonly index: number;
  /** This agent. */
  readonly self: boolean;
  /** Whether this agent reaches it now (agent/agent.ts reachableVoters); null where this agent does not track it. */
  readonly reachable: boolean | null;
}

export interface VotersView {
  readonly epoch: number;
  /** In seat order. */
  readonly voters: VoterEntry[];
  /** This agent's seat, or null when it does not vote. */
  readonly self: number | null;
  /** How long a dead voter waits before it is replaced automatically; null while nothing replaces voters. */
  readonly replaceAfterMs: number | null;
  /**
   * The automatic replacement policy's latest word where this agent runs it (a voter): a voter to
   * replace and why it is not replaced yet (`wait`), or the change being made (`replace`). Absent
   * elsewhere, and while no voter is to be replaced.
   */
  readonly replacement?: { readonly kind: 'wait' | 'replace'; readonly reason: string };
}

/** What an operator asks for; the plan below turns it into the next epoch's voter list. */
export type VotersRequest = (
  | { readonly op: 'add'; readonly peers: readonly string[] }
  | { readonly op: 'remove'; readonly peers: readonly string[] }
  | { readonly op: 'replace'; readonly out: string; readonly in: string }
) & { readonly reason?: string };

export type VotersPlan = { readonly ok: true; readonly voters: string[] } | { readonly ok: false; readonly error: string };

/** The largest voter set, and so the most peers one request can name. */
export const votersMax = Math.max(...voterCounts);
/** A change's reason is kept in the replicated log: a sentence, not a document. */
export const reasonCharsMax = 256;

/** The seats of epoch `epoch` as `GET /voters` answers them. `reachable` null: this agent does not track it. */
export function votersView(o: { epoch: number; ids: readonly string[]; selfId: string; reachable: ReadonlySet<number> | null; replaceAfterMs: number | null }): VotersView {
  const voters = o.ids.map((peerId, index) => ({ peerId, index, self: peerId === o.selfId, reachable: o.reachable === null ? null : o.reachable.has(index) }));
  const self = o.ids.indexOf(o.selfId);
  return { epoch: o.epoch, voters, self: self < 0 ? null : self, replaceAfterMs: o.replaceAfterMs };
}

/**
 * The voter list `req` leads to from `current`, or why it cannot: add appends (new seats at the
 * end), remove drops (the seats after it move up), replace puts `in` in `out`'s seat. A peer that
 * joins must be admitted to the roster, and the result must be a voter set consensus accepts.
 */
export function plannedVoters(current: readonly string[], req: VotersRequest, admitted: (peerId: string) => boolean): VotersPlan {
  const problem = requestProblem(current, req, admitted);
  if (problem !== null) return { ok: false, error: problem };
  const next = req.op === 'add' ? [...current, ...req.peers]
    : req.op === 'remove' ? current.filter((id) => !req.peers.includes(id))
    : current.map((id) => (id === req.out ? req.in : id));
  if (!voterCounts.includes(next.length)) return { ok: false, error: `a voter set has ${countsText}; this would leave ${next.length}: ${sizeFix(current.length, next.length, req.op)}` };
  // The consensus edge's own check (names, duplicates), so nothing is proposed that it would refuse.
  const invalid = votersListError(next.join(','));
  if (invalid !== null) return { ok: false, error: `this change would be refused: ${invalid}` };
  return { ok: true, voters: next };
}

/**
 * Why a `voters.change` may not be proposed, whatever door it came through (an operator's plan, a
 * client's stream, a forward), or null: every voter it names must be on the roster.
 */
export function votersChangeProblem(command: VotersCommand, admitted: (peerId: string) => boolean): string | null {
  const off = command.voters.split(',').filter((id) => !admitted(id));
  if (off.length === 0) return null;
  return `voters.change refused: ${off.join(', ')} ${off.length === 1 ? 'is' : 'are'} not on the swarm roster; admit ${off.length === 1 ? 'it' : 'them'} first (covey peers admit <peer id>)`;
}

/** The `voters.change` that makes `voters` the voters of epoch `epoch` + 1, proposed in epoch `epoch`. */
export function votersCommand(epoch: number, voters: readonly string[], reason: string): VotersCommand {
  return { op: 'voters.change', epoch, voters: voters.join(','), reason };
}

/** The reason recorded when the operator gave none: the request itself. */
export function requestReason(req: VotersRequest): string {
  return req.op === 'replace' ? `covey voters replace ${req.out} ${req.in}` : `covey voters ${req.op} ${req.peers.join(' ')}`;
}

const countsText = `${voterCounts.slice(0, -1).join(', ')} or ${voterCounts[voterCounts.length - 1]} voters`;

function requestProblem(current: readonly string[], req: VotersRequest, admitted: (peerId: string) => boolean): string | null {
  const seat = (id: string) => current.indexOf(id);
  const notVoting = (id: string) => `${id} is not a voter (covey voters ls lists them)`;
  const joins = (id: string): string | null => {
    if (seat(id) >= 0) return `${id} is already voter ${seat(id)}`;
    return admitted(id) ? null : `${id} is not on the swarm roster; admit it first (covey peers admit ${id})`;
  };
  if (req.op === 'replace') {
    if (req.out === req.in) return `replace names ${req.out} twice; name the voter that leaves, then the peer that takes its seat`;
    return seat(req.out) < 0 ? notVoting(req.out) : joins(req.in);
  }
  if (req.peers.length === 0) return `${req.op} names no peer`;
  const twice = req.peers.find((id, i) => req.peers.indexOf(id) !== i);
  if (twice !== undefined) return `${twice} is named twice`;
  for (const id of req.peers) {
    const p = req.op === 'add' ? joins(id) : seat(id) < 0 ? notVoting(id) : null;
    if (p !== null) return p;
  }
  return null;
}

const numbers = ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven'];

/** How to reach an allowed size instead, in the request's own direction. */
function sizeFix(from: number, to: number, op: VotersRequest['op']): string {
  const min = voterCounts[0];
  if (to > votersMax) return `at most ${votersMax}: remove one first (covey voters remove A), or replace one (covey voters replace OLD NEW)`;
  if (to < min) return `at least ${min}: replace a voter instead of removing it (covey voters replace OLD NEW)`;
  const up = voterCounts.find((n) => n > from && n >= to);
  const down = [...voterCounts].reverse().find((n) => n < from && n <= to);
  if (op === 'add' && up !== undefined) return `add ${peersText(up - from)} at once (covey voters add ${placeholders(up - from)})`;
  if (op === 'remove' && down !== undefined) return `remove ${peersText(from - down)} at once (covey voters remove ${placeholders(from - down)})`;
  return `add or remove peers to reach ${countsText} first (covey voters add|remove)`;
}

function peersText(k: number): string {
  return `${numbers[k] ?? k} peer${k === 1 ? '' : 's'}`;
}

function placeholders(k: number): string {
  return Array.from({ length: k }, (_, i) => String.fromCharCode(65 + i)).join(' ');
}
