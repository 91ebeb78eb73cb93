// The deterministic replicated state machine: a key-value store and a task board (PROTOCOL.md §12).
//
// Every replica applies the same commands in the same order and must reach the same state and
// return the same results. So apply reads no clock (time is the command's timestampMs), draws no
// random numbers, does no I/O, and never lets the iteration order of a container decide anything:
// the only order-dependent work (snapshot, digest, listings) sorts first.
//
// Clients retry a command at another voter under the same request id, so the same command can be
// committed twice. The machine remembers the results of each client's most recent requests and
// answers a repeat from memory, which makes a retried command take effect once. Beside each result
// it keeps a fingerprint of the command (fingerprint.ts): a different command under a used id (a
// client that restarted and numbers its requests from 1 again) is refused, never given the other
// command's answer. Entries restored from a version-1 snapshot have no fingerprint ("unknown");
// for those a repeat is answered from memory as before, until they are evicted.

import type { Command, CommandResult, TaskView } from './commands.ts';
import { freezeResult, freezeView } from './results.ts';
import { commandFingerprint } from './fingerprint.ts';
import {
  compareStrings, fromOwnSnapshot, fromSnapshot, isNat, toSnapshot, type MachineSnapshot, type MachineState, type RememberedEntry,
} from './snapshot.ts';
import { applyTask, leaseMsMax, type Task } from './tasks.ts';
import { applyRoster, type RosterState, type RosterView } from './roster.ts';
import { applyVotersChange, type VotersState } from './voters.ts';

export { leaseMsMax };
export type { MachineSnapshot };

/** How many recent request ids per client have their results remembered for deduplication. */
export const requestsRememberedPerClient = 128;

/** Latest timestamp accepted, so that timestamp + any lease is still a safe integer. */
export const timestampMsMax = Number.MAX_SAFE_INTEGER - leaseMsMax;

export interface StateMachine {
  apply(command: Command): CommandResult;
  /** The whole state as plain JSON data (enables snapshots and truncation in the core). */
  snapshot?(): unknown;
  /** Replaces the whole state, in place, by a snapshot; throws (changing nothing) if malformed. */
  restoreSnapshot?(s: unknown): void;
  /** Like restoreSnapshot, for a snapshot from this replica's own durable storage (see the core's StateMachine). */
  restoreOwnSnapshot?(s: unknown): void;
}

export interface MachineOptions {
  /**
   * A memo of command fingerprints, for machines that are handed the very same command objects:
   * the simulator's voters (messages travel as objects there), which also apply every command of
   * the log again on each restart. A fingerprint is a pure function of the command's operation,
   * so sharing the memo changes no result; it only skips hashing (a SHA-256 per apply was a
   * twentieth of the 1,000-agent simulation). Commands must not change after they are applied.
   * An agent's machine has none: its commands arrive as bytes, a fresh object each.
   */
  readonly fingerprintMemo?: WeakMap<Command, string>;
}

export class CoveyStateMachine implements StateMachine {
  readonly #fingerprints: WeakMap<Command, string> | null;
  #kv = new Map<string, string>();
  #tasks = new Map<string, Task>();
  /**
   * clientId → its remembered requests, ids ascending (never empty for a client that is present).
   * A list rather than a map: a new id is an append, a retry a binary search, eviction a shift
   * (bench:core showed map-based bookkeeping at ten times the cost of the write it guards); and
   * in the snapshot's own layout, so a snapshot or a restore copies lists, not entries. A null
   * fingerprint is unknown (the entry came from a version-1 snapshot).
   */
  #clients = new Map<string, RememberedEntry[]>();
  #roster: RosterState = { decisions: new Map(), version: 0 };
  /** The voter set of the current epoch; null in epoch 0 (the config's voters). */
  #voters: VotersState | null = null;

  constructor(options: MachineOptions = {}) {
    this.#fingerprints = options.fingerprintMemo ?? null;
  }

  apply(c: Command): CommandResult {
    // A malformed envelope cannot be deduplicated, so it is refused without touching any state.
    const invalid = envelopeError(c);
    if (invalid !== null) return freezeResult({ ok: false, error: invalid });

    const memory = this.#clients.get(c.clientId);
    if (memory !== undefined && c.requestId <= memory[memory.length - 1][0]) {
      // Not a new, larger id: a retry, or an id that came out of order.
      const i = indexOf(memory, c.requestId);
      if (i >= 0) {
        const [, remembered, known] = memory[i];
        if (known === null) return remembered; // unknown (an old snapshot's entry): trusted as a retry
        if (this.#fingerprint(c) === known) return remembered; // a retry: same answer, no second effect
        // The id was used for another command. Its answer would acknowledge a command that never
        // took effect, and applying this one would break exactly-once for the first: refuse.
        return freezeResult({
          ok: false,
          error: `request id ${c.requestId} of client ${JSON.stringify(c.clientId)} was already used for a different command ` +
            `(the remembered one differs from this ${c.op} in its operation or arguments); use a new request id`,
        });
      }
      if (memory.length >= requestsRememberedPerClient && c.requestId < memory[0][0]) {
        // Ids below the smallest remembered one may have been applied and forgotten; applying such
        // an id again could repeat its effect, so it is refused instead.
        return freezeResult({
          ok: false,
          error: `request id ${c.requestId} of client ${JSON.stringify(c.clientId)} is too old to deduplicate; ` +
            `only ids from ${memory[0][0]} on are remembered, so check whether it took effect and resubmit under a new request id`,
        });
      }
    }

    const result = freezeResult(this.#execute(c));
    this.#remember(c.clientId, [c.requestId, result, this.#fingerprint(c)]);
    return result;
  }

  /** Stale local read of one key (the agent's `?stale=true` reads); null when absent. */
  get(key: string): string | null {
    return this.#kv.get(key) ?? null;
  }

  /** Stale local read of the keys present, sorted. */
  keys(): string[] {
    return [...this.#kv.keys()].sort(compareStrings);
  }

  /** Stale local read of every task, sorted by taskId. */
  listTasks(): TaskView[] {
    return [...this.#tasks.values()].map(freezeView).sort((a, b) => compareStrings(a.taskId, b.taskId));
  }

  /** The roster's version: how many decisions have changed (cheap; roster() sorts). */
  rosterVersion(): number {
    return this.#roster.version;
  }

  /** Stale local read of the roster's decisions, sorted by peer id. */
  roster(): RosterView {
    return { version: this.#roster.version, decisions: [...this.#roster.decisions].sort((a, b) => compareStrings(a[0], b[0])) };
  }

  /** The voter set a `voters.change` made, and its epoch; null before the first (epoch 0: the config's). */
  voters(): VotersState | null {
    return this.#voters;
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
    m.#roster = state.roster;
    m.#clients = state.clients;
    m.#voters = state.voters;
    return m;
  }

  /**
   * Replaces this machine's state by a snapshot, in place (holders of this object, such as an
   * agent's stale-read path, keep seeing the live state). Throws, changing nothing, if malformed.
   */
  restoreSnapshot(s: unknown): void {
    const other = CoveyStateMachine.fromSnapshot(s);
    this.#kv = other.#kv;
    this.#tasks = other.#tasks;
    this.#clients = other.#clients;
    this.#roster = other.#roster;
    this.#voters = other.#voters;
  }

  /**
   * Replaces this machine's state, in place, by a snapshot from the replica's own durable storage
   * (fromOwnSnapshot: not checked field by field). A snapshot of an older version, or one not of
   * the shape this code writes, goes through restoreSnapshot, which names what is wrong with it.
   */
  restoreOwnSnapshot(s: unknown): void {
    let state: MachineState | null;
    try {
      state = fromOwnSnapshot(s);
    } catch {
      state = null; // not the shape it wrote (a bug, or a disk that lied past its checksums): the checked path names the problem
    }
    if (state === null) { this.restoreSnapshot(s); return; }
    this.#kv = state.kv;
    this.#tasks = state.tasks;
    this.#clients = state.clients;
    this.#roster = state.roster;
    this.#voters = state.voters;
  }

  /** A stable summary of the state for comparing replicas: the canonical JSON of the snapshot. */
  digest(): string {
    return JSON.stringify(this.snapshot());
  }

  /**
   * Whether `other` holds the same state: exactly when the digests are equal, without building
   * them (the simulator compares its voters' machines at the end of a run, and the JSON of five
   * machines with 1,000 clients each cost about 1% of its 10-minute scale run). Everything is
   * compared as a set (the digest sorts), results field by field (canonical: an absent field is
   * one the JSON leaves out).
   */
  sameState(other: CoveyStateMachine): boolean {
    if (!sameMap(this.#kv, other.#kv, (a, b) => a === b)) return false;
    if (!sameMap(this.#tasks, other.#tasks, sameTask)) return false;
    if (this.#roster.version !== other.#roster.version || !sameMap(this.#roster.decisions, other.#roster.decisions, (a, b) => a === b)) return false;
    if (!sameVoters(this.#voters, other.#voters)) return false;
    return sameMap(this.#clients, other.#clients, (a, b) => {
      if (a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) {
        const x = a[i], y = b[i];
        if (x !== y && (x[0] !== y[0] || x[2] !== y[2] || !sameResult(x[1], y[1]))) return false;
      }
      return true;
    });
  }

  #state(): MachineState {
    return { kv: this.#kv, tasks: this.#tasks, clients: this.#clients, roster: this.#roster, voters: this.#voters };
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
      case 'peer.admit': case 'peer.revoke':
        return applyRoster(this.#roster, c);
      case 'voters.change': {
        const { result, next } = applyVotersChange(this.#voters, c);
        this.#voters = next;
        return result;
      }
      default: {
        // Unreachable for a well-typed command; a decoder bug must not crash every replica alike.
        const unknown: never = c;
        return { ok: false, error: `unknown operation ${JSON.stringify((unknown as { op: unknown }).op)}` };
      }
    }
  }

  #fingerprint(c: Command): string {
    const memo = this.#fingerprints;
    if (memo === null) return commandFingerprint(c);
    let f = memo.get(c);
    if (f === undefined) { f = commandFingerprint(c); memo.set(c, f); }
    return f;
  }

  #remember(clientId: string, entry: RememberedEntry): void {
    const memory = this.#clients.get(clientId);
    if (memory === undefined) {
      this.#clients.set(clientId, [entry]);
      return;
    }
    if (entry[0] > memory[memory.length - 1][0]) memory.push(entry); // the usual case: a client's ids grow
    else memory.splice(insertionPoint(memory, entry[0]), 0, entry);
    // Evict by smallest id, not by insertion: ids may commit out of order, and "everything below
    // the smallest remembered id is forgotten" is what makes the too-old check above sound.
    if (memory.length > requestsRememberedPerClient) memory.shift();
  }
}

function sameMap<K, V>(a: ReadonlyMap<K, V>, b: ReadonlyMap<K, V>, same: (x: V, y: V) => boolean): boolean {
  if (a.size !== b.size) return false;
  for (const [k, x] of a) {
    const y = b.get(k);
    if (y === undefined || !same(x, y)) return false;
  }
  return true;
}

function sameVoters(a: VotersState | null, b: VotersState | null): boolean {
  if (a === null || b === null) return a === b;
  return a.epoch === b.epoch && a.ids.length === b.ids.length && a.ids.every((id, i) => id === b.ids[i]);
}

/** Field by field: every field of a task (view) is a string, a number or null. */
function sameTask(a: TaskView, b: TaskView): boolean {
  return a.taskId === b.taskId && a.spec === b.spec && a.status === b.status && a.owner === b.owner &&
    a.token === b.token && a.leaseExpiresMs === b.leaseExpiresMs && a.result === b.result;
}

function sameResult(a: CommandResult, b: CommandResult): boolean {
  if (a === b) return true;
  const x = a as Partial<Record<'ok' | 'error' | 'value' | 'swapped', unknown>> & { task?: TaskView };
  const y = b as typeof x;
  if (x.ok !== y.ok || x.error !== y.error || x.value !== y.value || x.swapped !== y.swapped) return false;
  return x.task === undefined || y.task === undefined ? x.task === y.task : sameTask(x.task, y.task);
}

/** Where request id x goes in a list sorted by id. */
function insertionPoint(a: readonly RememberedEntry[], x: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) { const mid = (lo + hi) >>> 1; if (a[mid][0] < x) lo = mid + 1; else hi = mid; }
  return lo;
}

function indexOf(a: readonly RememberedEntry[], x: number): number {
  const i = insertionPoint(a, x);
  return i < a.length && a[i][0] === x ? i : -1;
}

function envelopeError(c: Command): string | null {
  if (typeof c.clientId !== 'string' || c.clientId === '') return 'clientId must be a non-empty string';
  if (!isNat(c.requestId)) return `requestId must be a non-negative safe integer, got ${String(c.requestId)}`;
  if (!isNat(c.timestampMs) || c.timestampMs > timestampMsMax) {
    return `timestampMs must be an integer between 0 and ${timestampMsMax}, got ${String(c.timestampMs)}`;
  }
  return null;
}
