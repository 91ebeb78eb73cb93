// The deterministic replicated state machine: a key-value store and a task board (PROTOCOL.md §12).
//
// Every replica applies the same commands in the same order and must reach the same state and
// return the same results. So apply reads no clock (time is the command's timestampMs), draws no
// random numbers, does no I/O, and never lets the iteration order of a container decide anything:
// the only order-dependent work (snapshot, digest, listings) sorts first.
//
// Clients retry a command at another voter under the same request id, so the same command can be
// committed twice. The machine remembers the results of each client's most recent requests and
// answers a repeat from memory, which makes a retried command take effect once.

import type { Command, CommandResult, TaskView } from './commands.ts';
import { freezeResult, freezeView } from './results.ts';
import { compareStrings, fromSnapshot, isNat, toSnapshot, type MachineSnapshot, type MachineState } from './snapshot.ts';
import { applyTask, leaseMsMax, type Task } from './tasks.ts';

export { leaseMsMax };
export type { MachineSnapshot };

/** How many recent request ids per client have their results remembered for deduplication. */
export const requestsRememberedPerClient = 128;

/** Latest timestamp accepted, so that timestamp + any lease is still a safe integer. */
export const timestampMsMax = Number.MAX_SAFE_INTEGER - leaseMsMax;

export interface StateMachine {
  apply(command: Command): CommandResult;
}

export class CoveyStateMachine implements StateMachine {
  #kv = new Map<string, string>();
  #tasks = new Map<string, Task>();
  /** clientId → requestId → result. Never empty for a client that is present. */
  #clients = new Map<string, Map<number, CommandResult>>();
  /** clientId → its remembered request ids, ascending (built lazily, e.g. after a snapshot). */
  #orders = new Map<string, number[]>();

  apply(c: Command): CommandResult {
    // A malformed envelope cannot be deduplicated, so it is refused without touching any state.
    const invalid = envelopeError(c);
    if (invalid !== null) return freezeResult({ ok: false, error: invalid });

    const seen = this.#clients.get(c.clientId);
    const earlier = seen?.get(c.requestId);
    if (earlier !== undefined) return earlier; // a retry: same answer, no second effect
    if (seen !== undefined && seen.size >= requestsRememberedPerClient) {
      // Ids below the smallest remembered one may have been applied and forgotten; applying such
      // an id again could repeat its effect, so it is refused instead.
      const oldest = this.#orderOf(c.clientId, seen)[0];
      if (c.requestId < oldest) {
        return freezeResult({
          ok: false,
          error: `request id ${c.requestId} of client ${JSON.stringify(c.clientId)} is too old to deduplicate; ` +
            `only ids from ${oldest} on are remembered, so check whether it took effect and resubmit under a new request id`,
        });
      }
    }

    const result = freezeResult(this.#execute(c));
    this.#remember(c.clientId, c.requestId, result);
    return result;
  }

  /** Stale local read of the keys present, sorted. */
  keys(): string[] {
    return [...this.#kv.keys()].sort(compareStrings);
  }

  /** Stale local read of every task, sorted by taskId. */
  listTasks(): TaskView[] {
    return [...this.#tasks.values()].map(freezeView).sort((a, b) => compareStrings(a.taskId, b.taskId));
  }

  /** The whole state as plain JSON-serializable data; equal states give equal JSON. */
  snapshot(): MachineSnapshot {
    return toSnapshot(this.#state());
  }

  /** Rebuilds a machine from snapshot(), throwing an Error naming the first malformed field. */
  static fromSnapshot(s: unknown): CoveyStateMachine {
    const state = fromSnapshot(s, requestsRememberedPerClient);
    const m = new CoveyStateMachine();
    m.#kv = state.kv;
    m.#tasks = state.tasks;
    m.#clients = state.clients;
    return m;
  }

  /** A stable summary of the state for comparing replicas: the canonical JSON of the snapshot. */
  digest(): string {
    return JSON.stringify(this.snapshot());
  }

  #state(): MachineState {
    return { kv: this.#kv, tasks: this.#tasks, clients: this.#clients };
  }

  #execute(c: Command): CommandResult {
    switch (c.op) {
      case 'get':
        return { ok: true, value: this.#kv.get(c.key) ?? null };
      case 'put':
        this.#kv.set(c.key, c.value);
        return { ok: true };
      case 'delete':
        this.#kv.delete(c.key);
        return { ok: true };
      case 'cas': {
        const current = this.#kv.get(c.key) ?? null;
        if (current !== c.expected) return { ok: true, swapped: false, value: current };
        if (c.value === null) this.#kv.delete(c.key);
        else this.#kv.set(c.key, c.value);
        return { ok: true, swapped: true };
      }
      case 'task.create': case 'task.claim': case 'task.renew':
      case 'task.complete': case 'task.release': case 'task.get':
        return applyTask(this.#tasks, c, c.timestampMs);
      default: {
        // Unreachable for a well-typed command; a decoder bug must not crash every replica alike.
        const unknown: never = c;
        return { ok: false, error: `unknown operation ${JSON.stringify((unknown as { op: unknown }).op)}` };
      }
    }
  }

  #remember(clientId: string, requestId: number, result: CommandResult): void {
    let seen = this.#clients.get(clientId);
    if (seen === undefined) this.#clients.set(clientId, (seen = new Map()));
    const order = this.#orderOf(clientId, seen); // before the set: a lazily built order must not see the new id
    seen.set(requestId, result);
    insertSorted(order, requestId);
    // Evict by smallest id, not by insertion: ids may commit out of order, and "everything below
    // the smallest remembered id is forgotten" is what makes the too-old check above sound.
    if (seen.size > requestsRememberedPerClient) seen.delete(order.shift()!);
  }

  // The remembered ids of each client in ascending order, kept beside its map so finding the
  // smallest is O(1) on the apply path (a scan of 128 ids per command showed in bench:core).
  #orderOf(clientId: string, seen: Map<number, CommandResult>): number[] {
    let order = this.#orders.get(clientId);
    if (order === undefined) {
      order = [...seen.keys()].sort((a, b) => a - b);
      this.#orders.set(clientId, order);
    }
    return order;
  }
}

function insertSorted(a: number[], x: number): void {
  let i = a.length;
  if (i > 0 && a[i - 1] > x) { // out of order: find the place (rare: ids mostly grow)
    let lo = 0, hi = a.length;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (a[mid] < x) lo = mid + 1; else hi = mid; }
    i = lo;
  }
  a.splice(i, 0, x);
}

function envelopeError(c: Command): string | null {
  if (typeof c.clientId !== 'string' || c.clientId === '') return 'clientId must be a non-empty string';
  if (!isNat(c.requestId)) return `requestId must be a non-negative safe integer, got ${String(c.requestId)}`;
  if (!isNat(c.timestampMs) || c.timestampMs > timestampMsMax) {
    return `timestampMs must be an integer between 0 and ${timestampMsMax}, got ${String(c.timestampMs)}`;
  }
  return null;
}
