// The snapshot format of the state machine, and its validation.
//
// A snapshot may come from disk or from another agent, so parsing trusts nothing: every field is
// checked and the first problem is thrown with its path. Maps are stored as arrays of pairs rather
// than objects so that a key such as "__proto__" stays data. Entries are sorted with plain code
// unit comparison (never localeCompare, which depends on the host's locale) so that equal states
// give identical JSON on every replica.
//
// Version 2 keeps a fingerprint of each remembered command beside its result (fingerprint.ts), so
// that a reused request id with a different command is refused. Version 1 (without them) still
// loads: its entries get an unknown (null) fingerprint, and a repeat of such an id is answered from
// memory as version 1 did. Snapshots are always written as version 2, which an agent that reads
// only version 1 refuses, so upgrade every voter before relying on state transfer between them.
// Version 3 adds the roster's decisions and version (roster.ts); versions 1 and 2 load with an
// empty roster at version 0.

import type { CommandResult, TaskStatus, TaskView } from './commands.ts';
import { fingerprintPattern } from './fingerprint.ts';
import { freezeResult, freezeView } from './results.ts';
import type { Task } from './tasks.ts';
import { peerIdPattern, rosterDecisionsMax, type RosterDecision, type RosterState } from './roster.ts';

export const snapshotVersion = 3;
/** Older versions fromSnapshot still reads. */
const snapshotVersionsRead: readonly number[] = [1, 2, 3];

export interface MachineSnapshot {
  readonly version: typeof snapshotVersion;
  /** [key, value], sorted by key. */
  readonly kv: readonly (readonly [string, string])[];
  /** Sorted by taskId. */
  readonly tasks: readonly TaskView[];
  /**
   * [clientId, [[requestId, result, fingerprint], ...] sorted by requestId], sorted by clientId.
   * The fingerprint is null when unknown (carried over from a version-1 snapshot, whose entries
   * are [requestId, result] pairs).
   */
  readonly clients: readonly (readonly [string, readonly (readonly [number, CommandResult, string | null])[]])[];
  /** [peerId, decision], sorted by peer id. */
  readonly roster: readonly (readonly [string, RosterDecision])[];
  readonly rosterVersion: number;
}

/** A remembered request: its result and its command's fingerprint (null: unknown). */
export interface Remembered {
  readonly result: CommandResult;
  readonly fingerprint: string | null;
}

export interface MachineState {
  kv: Map<string, string>;
  tasks: Map<string, Task>;
  clients: Map<string, Map<number, Remembered>>;
  roster: RosterState;
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function toSnapshot(s: MachineState): MachineSnapshot {
  const byKey = <T>(a: readonly [string, T], b: readonly [string, T]) => compareStrings(a[0], b[0]);
  return {
    version: snapshotVersion,
    kv: [...s.kv].sort(byKey),
    tasks: [...s.tasks.values()].map(freezeView).sort((a, b) => compareStrings(a.taskId, b.taskId)),
    clients: [...s.clients]
      .map(([id, seen]) => [id, [...seen].sort((a, b) => a[0] - b[0]).map(([r, m]) => [r, m.result, m.fingerprint] as const)] as const)
      .sort(byKey),
    roster: [...s.roster.decisions].sort(byKey),
    rosterVersion: s.roster.version,
  };
}

/** Parses a snapshot, throwing an Error that names the first malformed field. */
export function fromSnapshot(x: unknown, rememberedMax: number): MachineState {
  const s = record(x, 'snapshot');
  if (!snapshotVersionsRead.includes(s.version as number)) bad('snapshot.version', `must be ${snapshotVersionsRead.join(' or ')}`, s.version);
  const version = s.version as number;
  const state: MachineState = { kv: new Map(), tasks: new Map(), clients: new Map(), roster: { decisions: new Map(), version: 0 } };
  array(s.kv, 'snapshot.kv').forEach((e, i) => {
    const [k, v] = pair(e, `snapshot.kv[${i}]`);
    unique(state.kv, string(k, `snapshot.kv[${i}][0]`), `snapshot.kv[${i}]`);
    state.kv.set(k as string, string(v, `snapshot.kv[${i}][1]`));
  });
  array(s.tasks, 'snapshot.tasks').forEach((e, i) => {
    const t = task(e, `snapshot.tasks[${i}]`);
    unique(state.tasks, t.taskId, `snapshot.tasks[${i}]`);
    state.tasks.set(t.taskId, { ...t });
  });
  array(s.clients, 'snapshot.clients').forEach((e, i) => {
    const path = `snapshot.clients[${i}]`;
    const [id, list] = pair(e, path);
    unique(state.clients, string(id, `${path}[0]`), path);
    const entries = array(list, `${path}[1]`);
    if (entries.length > rememberedMax) bad(`${path}[1]`, `must hold at most ${rememberedMax} requests`, entries.length);
    if (entries.length === 0) return; // the machine never keeps an empty table; don't create one
    const seen = new Map<number, Remembered>();
    entries.forEach((r, j) => {
      const at = `${path}[1][${j}]`;
      let rid: unknown, res: unknown, fp: unknown = null;
      if (version === 1) [rid, res] = pair(r, at);
      else {
        if (!Array.isArray(r) || r.length !== 3) bad(at, 'must be a triple [requestId, result, fingerprint]', r);
        [rid, res, fp] = r as unknown[];
      }
      if (!isNat(rid)) bad(`${at}[0]`, 'must be a non-negative safe integer', rid);
      unique(seen, rid, at);
      if (fp !== null && (typeof fp !== 'string' || !fingerprintPattern.test(fp))) bad(`${at}[2]`, 'must be a command fingerprint (22 base64url characters) or null', fp);
      seen.set(rid, { result: result(res, `${at}[1]`), fingerprint: fp as string | null });
    });
    state.clients.set(id as string, seen);
  });
  if (version >= 3) {
    const entries = array(s.roster, 'snapshot.roster');
    if (entries.length > rosterDecisionsMax) bad('snapshot.roster', `must hold at most ${rosterDecisionsMax} decisions`, entries.length);
    entries.forEach((e, i) => {
      const [peer, decision] = pair(e, `snapshot.roster[${i}]`);
      if (typeof peer !== 'string' || !peerIdPattern.test(peer)) bad(`snapshot.roster[${i}][0]`, 'must be a libp2p peer id', peer);
      unique(state.roster.decisions, peer, `snapshot.roster[${i}]`);
      if (decision !== 'admitted' && decision !== 'revoked') bad(`snapshot.roster[${i}][1]`, "must be 'admitted' or 'revoked'", decision);
      state.roster.decisions.set(peer, decision);
    });
    state.roster.version = count(s.rosterVersion, 'snapshot.rosterVersion');
    if (state.roster.version < state.roster.decisions.size) bad('snapshot.rosterVersion', `must be at least the number of decisions (${state.roster.decisions.size})`, state.roster.version);
  }
  return state;
}

/** A non-negative safe integer: request ids, tokens, timestamps. */
export function isNat(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function task(x: unknown, path: string): TaskView {
  const t = record(x, path);
  const status = t.status as TaskStatus;
  if (status !== 'open' && status !== 'claimed' && status !== 'done') bad(`${path}.status`, "must be 'open', 'claimed' or 'done'", t.status);
  const v: TaskView = {
    taskId: string(t.taskId, `${path}.taskId`),
    spec: string(t.spec, `${path}.spec`),
    status,
    owner: t.owner === null ? null : string(t.owner, `${path}.owner`),
    token: count(t.token, `${path}.token`),
    leaseExpiresMs: count(t.leaseExpiresMs, `${path}.leaseExpiresMs`),
    result: t.result === null ? null : string(t.result, `${path}.result`),
  };
  // The invariants apply maintains; a snapshot breaking them was not written by this machine.
  if (status === 'open' && (v.owner !== null || v.leaseExpiresMs !== 0)) bad(path, 'is open but has an owner or a lease', x);
  if (status !== 'open' && (v.owner === null || v.token === 0)) bad(path, `is ${status} but has no owner or token`, x);
  if (status === 'done' && v.leaseExpiresMs !== 0) bad(path, 'is done but has a lease', x);
  if ((status === 'done') !== (v.result !== null)) bad(`${path}.result`, 'must be set exactly when the task is done', v.result);
  return freezeView(v);
}

function result(x: unknown, path: string): CommandResult {
  const r = record(x, path);
  for (const k of Object.keys(r)) {
    if (!['ok', 'error', 'value', 'swapped', 'task'].includes(k)) bad(path, `has unexpected field ${JSON.stringify(k)}`, x);
  }
  const t = r.task === undefined ? undefined : task(r.task, `${path}.task`);
  if (r.ok === false) {
    if (r.value !== undefined || r.swapped !== undefined) bad(path, 'is a failure with a value or swapped field', x);
    return freezeResult({ ok: false, error: string(r.error, `${path}.error`), task: t });
  }
  if (r.ok !== true) bad(`${path}.ok`, 'must be a boolean', r.ok);
  if (r.error !== undefined) bad(`${path}.error`, 'must be absent on success', r.error);
  const value = r.value === undefined || r.value === null ? r.value : string(r.value, `${path}.value`);
  if (r.swapped !== undefined && typeof r.swapped !== 'boolean') bad(`${path}.swapped`, 'must be a boolean', r.swapped);
  return freezeResult({ ok: true, value, swapped: r.swapped as boolean | undefined, task: t });
}

function bad(path: string, what: string, got: unknown): never {
  let shown: string;
  try { shown = JSON.stringify(got) ?? String(got); } catch { shown = String(got); }
  if (shown.length > 80) shown = shown.slice(0, 77) + '...';
  throw new Error(`malformed state machine snapshot: ${path} ${what} (got ${shown})`);
}

function record(x: unknown, path: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) bad(path, 'must be an object', x);
  return x as Record<string, unknown>;
}

function array(x: unknown, path: string): unknown[] {
  if (!Array.isArray(x)) bad(path, 'must be an array', x);
  return x as unknown[];
}

function pair(x: unknown, path: string): [unknown, unknown] {
  if (!Array.isArray(x) || x.length !== 2) bad(path, 'must be a pair [a, b]', x);
  return x as [unknown, unknown];
}

function string(x: unknown, path: string): string {
  if (typeof x !== 'string') bad(path, 'must be a string', x);
  return x as string;
}

function count(x: unknown, path: string): number {
  if (!isNat(x)) bad(path, 'must be a non-negative safe integer', x);
  return x as number;
}

function unique<K>(m: Map<K, unknown>, k: K, path: string): void {
  if (m.has(k)) bad(path, 'repeats an earlier entry', k);
}
