// The invariants of PROTOCOL.md §8, checked over a group of replicas and the ghost record of what
// was said on the wire. Each returns human-readable violations; an empty list means all hold.
// Used after every step of the property tests and, later, by the simulator.

import { footprint, payloadsConflict, payloadsEqual } from '../core/conflicts.ts';
import { depsEqual, depsInclude } from '../core/deps.ts';
import { ballotOwner, formatId, initCoord, instanceSeq, type InstanceId } from '../core/ids.ts';
import { NOP, type Deps, type Envelope, type Instance, type Payload } from '../core/types.ts';

export interface ReplicaView {
  readonly self: number;
  instance(id: InstanceId): Readonly<Instance> | undefined;
  instanceIds(): Iterable<InstanceId>;
}

export interface GhostView {
  readonly proposals: ReadonlyMap<InstanceId, { cmd: Payload; dep: Deps }>;
  readonly accepts: ReadonlyMap<InstanceId, ReadonlyMap<number, readonly { cmd: Payload; dep: Deps }[]>>;
  readonly commits: ReadonlyMap<InstanceId, readonly { b: number; cmd: Payload; dep: Deps }[]>;
  readonly wrongOwner: readonly string[];
}

const same = (a: { cmd: Payload | null; dep: Deps }, b: { cmd: Payload | null; dep: Deps }): boolean =>
  payloadsEqual(a.cmd, b.cmd) && depsEqual(a.dep, b.dep);

function committed(replicas: readonly ReplicaView[]): Map<InstanceId, { r: number; inst: Readonly<Instance> }[]> {
  const out = new Map<InstanceId, { r: number; inst: Readonly<Instance> }[]>();
  for (const rep of replicas) {
    for (const id of rep.instanceIds()) {
      const inst = rep.instance(id)!;
      if (inst.phase !== 'COMMITTED') continue;
      const list = out.get(id) ?? [];
      list.push({ r: rep.self, inst });
      out.set(id, list);
    }
  }
  return out;
}

/** INV1 Agreement and INV2 Visibility. */
export function checkAgreementAndVisibility(replicas: readonly ReplicaView[]): string[] {
  const v: string[] = [];
  const byId = committed(replicas);
  const decided: { id: InstanceId; cmd: Payload; dep: Deps }[] = [];
  for (const [id, list] of byId) {
    const first = list[0].inst;
    for (const { r, inst } of list.slice(1)) {
      if (!same(inst, first)) v.push(`INV1: ${formatId(id)} committed differently at replica ${list[0].r} and ${r}`);
    }
    decided.push({ id, cmd: first.cmd!, dep: first.dep });
  }
  for (let i = 0; i < decided.length; i++) {
    const a = decided[i];
    if (a.cmd === NOP) continue;
    for (let j = i + 1; j < decided.length; j++) {
      const b = decided[j];
      if (b.cmd === NOP || !payloadsConflict(a.cmd, b.cmd)) continue;
      if (!depsInclude(a.dep, b.id) && !depsInclude(b.dep, a.id)) {
        v.push(`INV2: conflicting ${formatId(a.id)} and ${formatId(b.id)} committed without either in the other's dependencies`);
      }
    }
  }
  return v;
}

/** INV3, INV4 and INV5: per-process state. */
export function checkLocalState(replicas: readonly ReplicaView[], ghost: GhostView): string[] {
  const v: string[] = [];
  for (const rep of replicas) {
    for (const id of rep.instanceIds()) {
      const s = rep.instance(id)!;
      const where = `${formatId(id)} at replica ${rep.self}`;
      if (s.abal > s.bal) v.push(`INV3: abal ${s.abal} > bal ${s.bal} for ${where}`);
      if ((s.phase === 'INITIAL' || s.phase === 'PREACCEPTED') && s.abal !== 0) v.push(`INV3: ${s.phase} with abal ${s.abal} for ${where}`);
      if ((s.phase === 'ACCEPTED' || s.phase === 'COMMITTED') && s.cmd === null) v.push(`INV4: ${s.phase} without a command for ${where}`);
      if ((s.phase === 'ACCEPTED' || s.phase === 'COMMITTED') && s.cmd === NOP && (s.dep.ids.length > 0 || s.dep.floor.some((x) => x !== 0))) {
        v.push(`INV4: Nop with dependencies for ${where}`);
      }
      const p = ghost.proposals.get(id);
      if (s.cmd !== null && s.cmd !== NOP && (p === undefined || !payloadsEqual(s.cmd, p.cmd))) v.push(`INV5: cmd is not payload(id) for ${where}`);
      if (s.initCmd !== null && (p === undefined || !payloadsEqual(s.initCmd, p.cmd) || !depsEqual(s.initDep, p.dep))) {
        v.push(`INV5: initCmd/initDep differ from the coordinator's PreAccept for ${where}`);
      }
      if (s.phase === 'PREACCEPTED' && !payloadsEqual(s.cmd, s.initCmd)) v.push(`INV5: PREACCEPTED with cmd ≠ initCmd for ${where}`);
    }
  }
  return v;
}

/** INV6 and INV7: what was sent. */
export function checkMessages(ghost: GhostView): string[] {
  const v: string[] = [...ghost.wrongOwner.map((w) => `INV6: ${w}`)];
  for (const [id, byBallot] of ghost.accepts) {
    for (const [b, list] of byBallot) {
      for (const x of list) if (!same(x, list[0])) v.push(`INV6: Accepts for ${formatId(id)} at ballot ${b} carry different values`);
    }
  }
  for (const [id, list] of ghost.commits) {
    for (const x of list) if (!same(x, list[0])) v.push(`INV7: Commits for ${formatId(id)} carry different values`);
    const b0 = Math.min(...list.map((x) => x.b));
    for (const [b, accepts] of ghost.accepts.get(id) ?? []) {
      if (b > b0 && accepts.some((a) => !same(a, list[0]))) v.push(`INV7: Accept for ${formatId(id)} at ballot ${b} > commit ballot ${b0} carries another value`);
    }
  }
  return v;
}

/** Records a sender-ownership violation of INV6 for a message about to leave. */
export function ownershipViolation(env: Envelope, n: number): string | null {
  const m = env.msg;
  if (m.type !== 'Accept' && m.type !== 'Recover' && m.type !== 'Validate' && m.type !== 'PreAccept') return null;
  const b = m.type === 'PreAccept' ? 0 : m.b;
  const owner = ballotOwner(b, n, m.id);
  return owner === env.from ? null : `${m.type} for ${formatId(m.id)} at ballot ${b} sent by ${env.from}, owner is ${owner}`;
}

/**
 * INV8 execution consistency, over each replica's execution log: what is applied is committed and
 * so are its dependencies; conflicting non-Nop ids are applied in the same relative order at every
 * replica; and nothing covered by a dependency floor is applied after the id that relies on it.
 *
 * Conflicts are key-level (conflicts.ts), so the pairwise checks go key by key. A first pass over
 * a log keeps, per key, what says whether anything is out of place (the latest position at the
 * other replica, or the smallest seq per coordinator, of the ids met so far); a second pass, only
 * over the keys the first one flagged, lists the offending pairs with heaps, in time proportional
 * to what it finds. With F the total footprint size of the applied ids of all logs and n the group
 * size, the first passes cost O(n · F) (at most 16 coordinators per floor), and the second ones,
 * only when a violation exists, O((F + V) · log(F + V)) for V violations. The verdicts, and the
 * messages and their order, are those of checking every pair of ids of the logs.
 */
export function checkExecution(replicas: readonly ReplicaView[], logs: readonly (readonly InstanceId[])[]): string[] {
  const v: string[] = [];
  for (let r = 0; r < replicas.length; r++) {
    const rep = replicas[r];
    for (const id of logs[r]) {
      const inst = rep.instance(id);
      if (inst?.phase !== 'COMMITTED') { v.push(`INV8: ${formatId(id)} applied at replica ${r} but not committed there`); continue; }
      for (const d of inst.dep.ids) {
        if (rep.instance(d)?.phase !== 'COMMITTED') v.push(`INV8: ${formatId(id)} applied at replica ${r} before its dependency ${formatId(d)} committed`);
      }
    }
  }
  const keyNumbers = new Map<string, number>();
  const applied = replicas.map((rep, r) => appliedAccesses(rep, logs[r], keyNumbers));
  const keys = keyNumbers.size;
  const position = logs.map((log) => {
    const m = new Map<InstanceId, number>(); // a repeated id: its last position
    for (let i = 0; i < log.length; i++) m.set(log[i], i);
    return m;
  });
  for (let p = 0; p < replicas.length; p++) {
    for (let q = p + 1; q < replicas.length; q++) {
      const flagged = keysOutOfOrder(applied[p], logs[p], position[q], keys);
      if (flagged !== null) orderViolations(applied[p], logs[p], position[q], flagged, p, q, v);
    }
  }
  for (let r = 0; r < replicas.length; r++) {
    const flagged = keysUnderFloor(applied[r], keys);
    if (flagged !== null) floorViolations(applied[r], r, flagged, v);
  }
  return v;
}

/**
 * The non-Nop entries of one replica's log, in log order, with the instance as that replica has
 * it and its footprint, keys numbered. Entry e is at log index at[e]; its accesses are
 * key[t], write[t] for t from first[e] to first[e + 1].
 */
interface Accesses {
  readonly at: number[];
  readonly inst: Readonly<Instance>[];
  readonly first: number[];
  readonly key: number[];
  readonly write: boolean[];
}

function appliedAccesses(rep: ReplicaView, log: readonly InstanceId[], keyNumbers: Map<string, number>): Accesses {
  const out: Accesses = { at: [], inst: [], first: [0], key: [], write: [] };
  for (let i = 0; i < log.length; i++) {
    const a = rep.instance(log[i]);
    if (a?.cmd == null || a.cmd === NOP) continue;
    for (const [key, write] of footprint(a.cmd)) {
      let k = keyNumbers.get(key);
      if (k === undefined) { k = keyNumbers.size; keyNumbers.set(key, k); }
      out.key.push(k);
      out.write.push(write);
    }
    out.at.push(i);
    out.inst.push(a);
    out.first.push(out.key.length);
  }
  return out;
}

/**
 * The keys through which two conflicting ids of logP, both applied at q too, are applied in the
 * other order at q; null when there is none. An id is out of order with an earlier one exactly
 * when q applied the earlier one after it, so per key the latest position at q of the earlier
 * writers and of the earlier readers is enough to tell.
 */
function keysOutOfOrder(acc: Accesses, logP: readonly InstanceId[], posQ: ReadonlyMap<InstanceId, number>, keys: number): Uint8Array | null {
  const { at, first, key, write } = acc;
  const latestWriter = new Int32Array(keys).fill(-1), latestReader = new Int32Array(keys).fill(-1);
  let flagged: Uint8Array | null = null;
  for (let e = 0; e < at.length; e++) {
    const qy = posQ.get(logP[at[e]]);
    if (qy === undefined) continue;
    for (let t = first[e]; t < first[e + 1]; t++) {
      const k = key[t];
      if (latestWriter[k] > qy || (write[t] && latestReader[k] > qy)) (flagged ??= new Uint8Array(keys))[k] = 1;
      const latest = write[t] ? latestWriter : latestReader;
      if (qy > latest[k]) latest[k] = qy;
    }
  }
  return flagged;
}

/**
 * The out-of-order pairs through the flagged keys, which are all of them: per key, the earlier
 * writers and readers are kept in heaps by position at q, latest first, and an id meets exactly
 * those q applied after it.
 */
function orderViolations(
  acc: Accesses, logP: readonly InstanceId[], posQ: ReadonlyMap<InstanceId, number>, flagged: Uint8Array, p: number, q: number, v: string[],
): void {
  const { at, first, key, write } = acc;
  const heaps = new Map<number, { writers: MinHeap; readers: MinHeap }>();
  const pairs: number[] = []; // x · logP.length + y, x and y indexes into logP (exact below 9·10^7 entries)
  for (let e = 0; e < at.length; e++) {
    const y = at[e], qy = posQ.get(logP[y]);
    if (qy === undefined) continue;
    for (let t = first[e]; t < first[e + 1]; t++) {
      if (flagged[key[t]] === 0) continue;
      let h = heaps.get(key[t]);
      if (h === undefined) { h = { writers: new MinHeap(), readers: new MinHeap() }; heaps.set(key[t], h); }
      // Heap keys are −position at q, so "applied after y at q" is key ≤ −qy − 1.
      h.writers.forEachAtMost(-qy - 1, (x) => pairs.push(x * logP.length + y));
      if (write[t]) h.readers.forEachAtMost(-qy - 1, (x) => pairs.push(x * logP.length + y));
      (write[t] ? h.writers : h.readers).push(-qy, y);
    }
  }
  pairs.sort((s, t) => s - t);
  for (let k = 0; k < pairs.length; k++) {
    if (k > 0 && pairs[k] === pairs[k - 1]) continue; // the same pair met through another key
    const x = Math.floor(pairs[k] / logP.length), y = pairs[k] % logP.length;
    v.push(`INV8: conflicting ${formatId(logP[x])} and ${formatId(logP[y])} applied in different orders at replicas ${p} and ${q}`);
  }
}

/**
 * The coordinator belowFloor reads for an id: initCoord(id), or -1 when that is no array index
 * (a malformed id), as such an id is under no floor.
 */
function coordinatorOf(id: InstanceId): number {
  const c = initCoord(id);
  return Number.isInteger(c) && c >= 0 ? c : -1;
}

/**
 * The keys through which some id b, conflicting with an earlier a of the log, is under a's floor;
 * null when there is none (b may still be named in a.dep.ids: floorViolations sorts that out).
 * Walking the log backwards, per key the smallest seq per coordinator of the later writers and
 * of the later readers is enough to tell.
 */
function keysUnderFloor(acc: Accesses, keys: number): Uint8Array | null {
  const { inst, first, key, write } = acc;
  let coords = 0; // 1 + the largest coordinator met (≤ replicasMax)
  for (const a of inst) coords = Math.max(coords, coordinatorOf(a.id) + 1);
  const lowestWriter = new Float64Array(keys * coords).fill(Infinity), lowestReader = new Float64Array(keys * coords).fill(Infinity);
  let flagged: Uint8Array | null = null;
  for (let e = inst.length - 1; e >= 0; e--) {
    const a = inst[e], floor = a.dep.floor, upTo = Math.min(floor.length, coords);
    for (let t = first[e]; t < first[e + 1]; t++) {
      const base = key[t] * coords;
      // A missing floor[c] (a short or sparse floor) compares ≤ with nothing, as in belowFloor.
      for (let c = 0; c < upTo; c++) {
        if (lowestWriter[base + c] <= floor[c] || (write[t] && lowestReader[base + c] <= floor[c])) { (flagged ??= new Uint8Array(keys))[key[t]] = 1; break; }
      }
    }
    const c = coordinatorOf(a.id), seq = instanceSeq(a.id);
    if (c < 0) continue;
    for (let t = first[e]; t < first[e + 1]; t++) {
      const lowest = write[t] ? lowestWriter : lowestReader, slot = key[t] * coords + c;
      if (seq < lowest[slot]) lowest[slot] = seq;
    }
  }
  return flagged;
}

/**
 * The ids b under the floor of an earlier conflicting a and not named in a.dep.ids, through the
 * flagged keys, which give them all: walking backwards, per key, kind of access and coordinator
 * the later ids are kept in heaps by seq, and an id meets exactly those at or under its floor.
 */
function floorViolations(acc: Accesses, r: number, flagged: Uint8Array, v: string[]): void {
  const { inst, first, key, write } = acc;
  type ByCoord = Map<number, MinHeap>;
  const heaps = new Map<number, { writers: ByCoord; readers: ByCoord }>();
  const blocks: string[][] = []; // per a, from the end of the log
  const found: number[] = []; // entries
  for (let e = inst.length - 1; e >= 0; e--) {
    const a = inst[e], floor = a.dep.floor;
    const under = (byCoord: ByCoord): void => {
      for (const [c, heap] of byCoord) heap.forEachAtMost(floor[c], (f) => found.push(f));
    };
    found.length = 0;
    for (let t = first[e]; t < first[e + 1]; t++) {
      const h = flagged[key[t]] === 1 ? heaps.get(key[t]) : undefined;
      if (h === undefined) continue;
      under(h.writers);
      if (write[t]) under(h.readers);
    }
    if (found.length > 0) {
      found.sort((s, t) => s - t);
      const named = a.dep.ids.length > 16 ? new Set(a.dep.ids) : null;
      const block: string[] = [];
      for (let k = 0; k < found.length; k++) {
        if (k > 0 && found[k] === found[k - 1]) continue; // met through another key
        const b = inst[found[k]];
        if (named !== null ? named.has(b.id) : a.dep.ids.includes(b.id)) continue;
        block.push(`INV8: ${formatId(b.id)} is under the dependency floor of ${formatId(a.id)} but was applied after it at replica ${r}`);
      }
      if (block.length > 0) blocks.push(block);
    }
    const c = coordinatorOf(a.id), seq = instanceSeq(a.id);
    if (c < 0) continue;
    for (let t = first[e]; t < first[e + 1]; t++) {
      if (flagged[key[t]] === 0) continue;
      let h = heaps.get(key[t]);
      if (h === undefined) { h = { writers: new Map(), readers: new Map() }; heaps.set(key[t], h); }
      const byCoord = write[t] ? h.writers : h.readers;
      let heap = byCoord.get(c);
      if (heap === undefined) { heap = new MinHeap(); byCoord.set(c, heap); }
      heap.push(seq, e);
    }
  }
  for (let k = blocks.length - 1; k >= 0; k--) for (const m of blocks[k]) v.push(m);
}

/** A binary min-heap of (key, value) pairs that lists every value whose key is ≤ a bound. */
class MinHeap {
  private readonly keys: number[] = [];
  private readonly vals: number[] = [];

  push(key: number, val: number): void {
    const keys = this.keys, vals = this.vals;
    let i = keys.length;
    keys.push(key);
    vals.push(val);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent] <= key) break;
      keys[i] = keys[parent];
      vals[i] = vals[parent];
      i = parent;
    }
    keys[i] = key;
    vals[i] = val;
  }

  /** Calls `f` with each value whose key is ≤ bound, in no set order: O(1 + number of calls). */
  forEachAtMost(bound: number, f: (val: number) => void): void {
    const keys = this.keys;
    if (keys.length === 0 || !(keys[0] <= bound)) return;
    const stack = [0];
    while (stack.length > 0) {
      const i = stack.pop()!;
      if (i >= keys.length || !(keys[i] <= bound)) continue;
      f(this.vals[i]);
      stack.push(2 * i + 1, 2 * i + 2);
    }
  }
}
