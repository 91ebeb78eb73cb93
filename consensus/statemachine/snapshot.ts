// The snapshot format of the state machine, and its validation.
//
// A snapshot may come from disk or from another agent, so fromSnapshot trusts nothing: every field
// is checked and the first problem is thrown with its path. fromOwnSnapshot is the exception, for
// the replica's own durable snapshot on a restart only (see there). Maps are stored as arrays of
// pairs rather than objects so that a key such as "__proto__" stays data. Entries are sorted with
// plain code unit comparison (never localeCompare, which depends on the host's locale) so that
// equal states give identical JSON on every replica.
//
// Version 2 keeps a fingerprint of each remembered command beside its result (fingerprint.ts), so
// that a reused request id with a different command is refused. Version 1 (without them) still
// loads: its entries get an unknown (null) fingerprint, and a repeat of such an id is answered from
// memory as version 1 did. Snapshots are always written as version 2, which an agent that reads
// only version 1 refuses, so upgrade every voter before relying on state transfer between them.
// Version 3 adds the roster's decisions and version (roster.ts); versions 1 and 2 load with an
// empty roster at version 0. Version 4 adds the voter set of the current epoch (voters.ts; null
// in epoch 0); older versions load with none.

import type { CommandResult, TaskStatus, TaskView } from './commands.ts';
import { fingerprintPattern } from './fingerprint.ts';
import { freezeResult, freezeView } from './results.ts';
import type { Task } from './tasks.ts';
import { peerIdPattern, rosterDecisionsMax, type RosterDecision, type RosterState } from './roster.ts';
import { voterNamePattern, voterCountsText, type VotersState } from './voters.ts';

export const snapshotVersion = 4;
/** Older versions fromSnapshot still reads. */
const snapshotVersionsRead: readonly number[] = [1, 2, 3, 4];

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
  readonly clients: readonly (readonly [string, readonly RememberedEntry[]])[];
  /** [peerId, decision], sorted by peer id. */
  readonly roster: readonly (readonly [string, RosterDecision])[];
  readonly rosterVersion: number;
  /** The voter set of the current epoch, or null in epoch 0 (the config's voters). */
  readonly voters: VotersState | null;
}

/**
 * A remembered request: [requestId, result, fingerprint of its command (null: unknown)]. The
 * machine keeps each client's as a list in this, the snapshot's own layout, so that a snapshot
 * copies a list and a restore copies it back instead of rebuilding every entry. Never mutated
 * once made: snapshots and the machines restored from them share entries.
 */
export type RememberedEntry = readonly [requestId: number, result: CommandResult, fingerprint: string | null];

export interface MachineState {
  kv: Map<string, string>;
  tasks: Map<string, Task>;
  /** clientId → its remembered requests, ids ascending; no list is empty. */
  clients: Map<string, RememberedEntry[]>;
  roster: RosterState;
  voters: VotersState | null;
}

/**
 * The snapshots toSnapshot built in this process. Their results are the machine's own frozen,
 * canonical objects, so fromOwnSnapshot shares their entries; a snapshot parsed back from a disk
 * is not in here and gets its results rebuilt.
 */
const builtHere = new WeakSet<object>();

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function toSnapshot(s: MachineState): MachineSnapshot {
  const byKey = <T>(a: readonly [string, T], b: readonly [string, T]) => compareStrings(a[0], b[0]);
  const snapshot: MachineSnapshot = {
    version: snapshotVersion,
    kv: [...s.kv].sort(byKey),
    tasks: [...s.tasks.values()].map(freezeView).sort((a, b) => compareStrings(a.taskId, b.taskId)),
    // A copy of each list (the machine goes on changing its own), sharing the immutable entries.
    clients: [...s.clients].map(([id, list]) => [id, list.slice()] as const).sort(byKey),
    roster: [...s.roster.decisions].sort(byKey),
    rosterVersion: s.roster.version,
    voters: s.voters === null ? null : { epoch: s.voters.epoch, ids: [...s.voters.ids] },
  };
  builtHere.add(snapshot);
  return snapshot;
}

/** Parses a snapshot, throwing an Error that names the first malformed field. */
export function fromSnapshot(x: unknown, rememberedMax: number): MachineState {
  const s = record(x, 'snapshot');
  if (!snapshotVersionsRead.includes(s.version as number)) bad('snapshot.version', `must be ${snapshotVersionsRead.join(' or ')}`, s.version);
  const version = s.version as number;
  const state: MachineState = { kv: new Map(), tasks: new Map(), clients: new Map(), roster: { decisions: new Map(), version: 0 }, voters: null };
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
    // Ids are checked for repeats by comparing with the last one while they ascend (as toSnapshot
    // writes them), and with a set of all earlier ones from the first that does not.
    const remembered: RememberedEntry[] = [];
    let seen: Set<number> | null = null;
    entries.forEach((r, j) => {
      const at = `${path}[1][${j}]`;
      let rid: unknown, res: unknown, fp: unknown = null;
      if (version === 1) [rid, res] = pair(r, at);
      else {
        if (!Array.isArray(r) || r.length !== 3) bad(at, 'must be a triple [requestId, result, fingerprint]', r);
        [rid, res, fp] = r as unknown[];
      }
      if (!isNat(rid)) bad(`${at}[0]`, 'must be a non-negative safe integer', rid);
      if (seen === null && remembered.length > 0 && rid <= remembered[remembered.length - 1][0]) seen = new Set(remembered.map((e) => e[0]));
      if (seen !== null) {
        if (seen.has(rid)) bad(at, 'repeats an earlier entry', rid);
        seen.add(rid);
      }
      if (fp !== null && (typeof fp !== 'string' || !fingerprintPattern.test(fp))) bad(`${at}[2]`, 'must be a command fingerprint (22 base64url characters) or null', fp);
      remembered.push([rid, result(res, `${at}[1]`), fp as string | null]);
    });
    if (seen !== null) remembered.sort((a, b) => a[0] - b[0]);
    state.clients.set(id as string, remembered);
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
  if (version >= 4 && s.voters !== null) {
    const v = record(s.voters, 'snapshot.voters');
    const epoch = count(v.epoch, 'snapshot.voters.epoch');
    if (epoch < 1) bad('snapshot.voters.epoch', 'must be at least 1 (epoch 0 has no record)', epoch);
    const ids = array(v.ids, 'snapshot.voters.ids');
    if (!voterCountsText.counts.includes(ids.length)) bad('snapshot.voters.ids', `must hold ${voterCountsText.text} voters`, ids.length);
    ids.forEach((id, i) => { if (typeof id !== 'string' || !voterNamePattern.test(id)) bad(`snapshot.voters.ids[${i}]`, 'must be a peer id', id); });
    if (new Set(ids).size !== ids.length) bad('snapshot.voters.ids', 'lists a voter twice', ids);
    state.voters = { epoch, ids: ids as string[] };
  }
  return state;
}

/**
 * Rebuilds the state from a snapshot this replica's own durable storage kept (Replica.restore on a
 * restart), without checking each field: what is on the disk was written by toSnapshot here, or is
 * a peer's snapshot that fromSnapshot accepted before it was installed and persisted, and the
 * storage's own checksums (the CRC-32 of every WAL frame and LMDB value) guard the bytes in between.
 * fromSnapshot checks every result and fingerprint, which made a restart of a voter with 1,000
 * clients cost a tenth of the 1,000-agent simulation. Returns null for a snapshot not of the
 * current version (older versions are read through fromSnapshot, which knows their layouts).
 * Never use it on anything from the network: state transfer goes through fromSnapshot.
 */
export function fromOwnSnapshot(x: unknown): MachineState | null {
  const s = x as MachineSnapshot | null;
  if (typeof s !== 'object' || s === null || s.version !== snapshotVersion) return null;
  const shared = builtHere.has(s);
  const clients = new Map<string, RememberedEntry[]>();
  for (const [id, list] of s.clients) {
    if (list.length === 0) continue; // as fromSnapshot: the machine never keeps an empty list
    // Built here: the entries hold this process's frozen results, shared as they are. Parsed
    // from a disk: each result is rebuilt in canonical key order and frozen, as fromSnapshot does.
    clients.set(id, shared ? list.slice() : list.map((e) => [e[0], freezeResult(e[1]), e[2]] as const));
  }
  const tasks = new Map<string, Task>();
  for (const t of s.tasks) tasks.set(t.taskId, { ...t });
  return { kv: new Map(s.kv), tasks, clients, roster: { decisions: new Map(s.roster), version: s.rosterVersion }, voters: s.voters };
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
