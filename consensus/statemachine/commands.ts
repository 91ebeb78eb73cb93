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

export type Operation = KvCommand | TaskCommand | RosterCommand;

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
    default: return { key: 'task/' + c.taskId, write: true };
  }
}
