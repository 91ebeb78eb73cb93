// Client commands of the replicated state machine: a key-value store and a task board.
//
// Every command carries the submitting client's id and request id (so a retried command takes
// effect once, PROTOCOL.md §12) and the submitter's timestamp, which is the only notion of time
// the state machine has: lease expiry is computed from it, never from a clock, so every replica
// computes the same result.

export type KvCommand =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string | null };

export type TaskCommand =
  | { readonly op: 'task.create'; readonly taskId: string; readonly spec: string }
  | { readonly op: 'task.claim'; readonly taskId: string; readonly worker: string; readonly leaseMs: number }
  | { readonly op: 'task.renew'; readonly taskId: string; readonly worker: string; readonly token: number; readonly leaseMs: number }
  | { readonly op: 'task.complete'; readonly taskId: string; readonly worker: string; readonly token: number; readonly result: string }
  | { readonly op: 'task.release'; readonly taskId: string; readonly worker: string; readonly token: number }
  | { readonly op: 'task.get'; readonly taskId: string };

/**
 * Changes to the swarm roster (the peers admitted to the swarm; docs/security.md). Only voters
 * accept them from the network, and only from a voter or their own HTTP API (agent/roster.ts).
 */
export type RosterCommand =
  | { readonly op: 'peer.admit'; readonly peerId: string }
  | { readonly op: 'peer.revoke'; readonly peerId: string };

/**
 * A change of the voter set (docs/reconfiguration.md): proposed in epoch `epoch`, it closes that
 * epoch and makes `voters` (peer ids, comma-separated, in replica-index order) the voters of epoch
 * `epoch + 1`. It conflicts with every command (conflicts.ts) and always travels alone in its batch.
 * One flat string rather than an array: command fields are strings, numbers or null everywhere
 * (the codec, payloadsEqual, fingerprints).
 */
export interface VotersCommand {
  readonly op: 'voters.change';
  readonly epoch: number;
  readonly voters: string;
  readonly reason: string;
}

export type Operation = KvCommand | TaskCommand | RosterCommand | VotersCommand;

export interface CommandEnvelope {
  /** Names one client; request ids are unique per client. */
  readonly clientId: string;
  readonly requestId: number;
  /** The submitting agent's clock when the command was made (ms). Leases are computed from it. */
  readonly timestampMs: number;
}

export type Command = CommandEnvelope & Operation;

export type CommandResult =
  | { readonly ok: true; readonly value?: string | null; readonly swapped?: boolean; readonly task?: TaskView }
  | { readonly ok: false; readonly error: string; readonly task?: TaskView };

export type TaskStatus = 'open' | 'claimed' | 'done';

export interface TaskView {
  readonly taskId: string;
  readonly spec: string;
  readonly status: TaskStatus;
  /** Worker holding the current lease, or null when none ever claimed it or it was released. */
  readonly owner: string | null;
  /** Fencing token of the latest claim; only grows. 0 until the first claim. */
  readonly token: number;
  /** When the current lease ends, in the submitters' clock (ms); 0 when not claimed. */
  readonly leaseExpiresMs: number;
  readonly result: string | null;
}

/** How a command touches the state: which key it reads or writes (PROTOCOL.md §12). */
export interface Access {
  readonly key: string;
  readonly write: boolean;
}

export function commandAccess(c: Operation): Access {
  switch (c.op) {
    case 'get': return { key: 'kv/' + c.key, write: false };
    case 'put': case 'delete': case 'cas': return { key: 'kv/' + c.key, write: true };
    case 'task.get': return { key: 'task/' + c.taskId, write: false };
    // One key for the whole roster: its changes are rare and each bumps the roster's version.
    case 'peer.admit': case 'peer.revoke': return { key: 'roster', write: true };
    // It conflicts with everything anyway (conflicts.ts); the key is for the footprint's sake.
    case 'voters.change': return { key: 'voters', write: true };
    default: return { key: 'task/' + c.taskId, write: true };
  }
}

/** Voters a group may have: 3, 5 or 7 (f = 1, 2, 3). */
export const voterCounts: readonly number[] = [3, 5, 7];

/** A voter's name in a change: a libp2p peer id, or a test's name for one. No commas. */
export const voterNamePattern = /^[A-Za-z0-9._-]{1,128}$/;

/** Why a change's voter list is malformed, or null. Shape only; the roster is the agent's to check. */
export function votersListError(voters: string): string | null {
  const ids = voters.split(',');
  if (!voterCounts.includes(ids.length)) return `a voter set has ${voterCounts.join(', ')} voters, this one ${ids.length}`;
  for (const id of ids) if (!voterNamePattern.test(id)) return `voter ${JSON.stringify(id.slice(0, 80))} is not a peer id`;
  if (new Set(ids).size !== ids.length) return 'a voter is listed twice';
  return null;
}

/** The peer ids of a `voters.change`, in order. */
export function changeVoters(c: VotersCommand): string[] {
  return c.voters.split(',');
}

export function isVotersChange(c: Command): c is CommandEnvelope & VotersCommand {
  return c.op === 'voters.change';
}
