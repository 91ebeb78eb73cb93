// The invariants of PROTOCOL.md §8, checked over a group of replicas and the ghost record of what
// was said on the wire. Each returns human-readable violations; an empty list means all hold.
// Used after every step of the property tests and, later, by the simulator.

import { conflictsWithEverything, footprint, payloadsEqual } from './conflicts.ts';
import { depsEqual, depsInclude } from './deps.ts';
import { ballotOwner, formatId, initCoord, instanceSeq, replicasMax, type InstanceId } from './ids.ts';
import { NOP, type Deps, type Envelope, type Instance, type Payload } from './types.ts';

export interface ReplicaView {
  readonly self: number;
  instance(id: InstanceId): Readonly<Instance> | undefined;
  instanceIds(): Iterable<InstanceId>;
  /**
   * Covey state transfer: whether the replica counts id as applied. Only consulted for a dependency
   * the replica holds no committed instance of: such an id was applied through a snapshot installed
   * from a peer, which had applied it (so it was committed there); see checkExecution.
   */
  isApplied?(id: InstanceId): boolean;
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

/**
 * INV1 Agreement and INV2 Visibility.
 *
 * INV1 compares each id's committed copies with the first one: linear. INV2 goes key by key, as
 * conflicts are key-level (conflicts.ts). A pair of committed conflicting ids can only violate it
 * when neither is under the other's dependency floor, so, per key, kind of access and
 * coordinator, the ids are kept sorted by seq: those of coordinator c above b's floor are a
 * suffix, and a min-tree over their floor[initCoord(b)] lists, in that suffix, just the ones whose
 * floor does not cover b either. Each pair so listed is then checked exactly (depsInclude both
 * ways); it either violates INV2 or one of the two names the other in its explicit ids. With F
 * the total footprint size of the decided ids, C ≤ 16 the coordinators met, D the total size of
 * their explicit ids and V the violations, the cost is O(F · C · log F + (D + V) · K · log F), K
 * the most keys two payloads share: near-linear when floors advance (the simulator). The worst
 * case stays quadratic, but only with quadratically many violations to report (floors all zero
 * and no explicit ids, say), or with malformed ids, which are compared with every id of their
 * keys. The verdicts, and the messages and their order, are those of checking every pair of
 * decided ids.
 */
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
  for (const pair of visibilityViolations(decided)) {
    const a = decided[Math.floor(pair / decided.length)], b = decided[pair % decided.length];
    v.push(`INV2: conflicting ${formatId(a.id)} and ${formatId(b.id)} committed without either in the other's dependencies`);
  }
  return v;
}

/**
 * The ids of one key and kind of access (writers, or readers that do not write it) of one
 * coordinator, sorted by seq; or, for coord −1, of the ids whose coordinator is no floor index
 * (malformed ids), unsorted, which are compared with everything.
 */
interface Group {
  readonly coord: number;
  readonly entries: number[]; // indexes into decided
  seqs: Float64Array;
  /** Per coordinator cb, lazily: a min-tree over the entries' floor[cb] (see floorTree). */
  readonly trees: (Float64Array | undefined)[];
}

/**
 * The violating pairs of INV2 as i · N + j, i < j indexes into decided (N its length; exact below
 * 9·10^7 ids), ascending: the order of the pairwise check.
 */
function visibilityViolations(decided: readonly { id: InstanceId; cmd: Payload; dep: Deps }[]): number[] {
  const N = decided.length;
  // Per decided id: seq and coordinator (−1: none a floor can cover), footprint with keys numbered.
  const seq = new Float64Array(N), coord = new Int32Array(N);
  const first: number[] = [0], key: number[] = [], write: boolean[] = [];
  const keyNumbers = new Map<string, number>();
  for (let i = 0; i < N; i++) {
    const { id, cmd } = decided[i];
    const c = initCoord(id);
    coord[i] = Number.isFinite(id) && Number.isInteger(c) && c >= 0 && c < replicasMax ? c : -1;
    seq[i] = instanceSeq(id);
    // Nop and ⊥ are left out, as in the pairwise check (a ⊥ conflicts with nothing).
    if (cmd !== null && cmd !== NOP) {
      footprint(cmd).forEach((w, k) => {
        let n = keyNumbers.get(k);
        if (n === undefined) { n = keyNumbers.size; keyNumbers.set(k, n); }
        key.push(n);
        write.push(w);
      });
    }
    first.push(key.length);
  }
  // Per decided id its floor, as numbers, in one flat array of W entries each (NaN where the floor
  // has none): the loops below read the floors of many ids, and decided[i].dep.floor[c] is three
  // dependent loads into a large heap (a third of this check in the 1,000-agent simulation).
  // `s <= x` converts a non-number x as Number(x) does, so the comparisons are unchanged.
  let W = 0;
  for (let i = 0; i < N; i++) W = Math.max(W, Math.min(decided[i].dep.floor.length, replicasMax));
  const floors = new Float64Array(N * W).fill(NaN);
  for (let i = 0; i < N; i++) {
    const f = decided[i].dep.floor, n = Math.min(f.length, W);
    for (let c = 0; c < n; c++) floors[i * W + c] = typeof f[c] === 'number' ? f[c] : Number(f[c]);
  }
  // A key met once (most of them, in a long run) is left out: it makes no pair.
  const met = new Int32Array(keyNumbers.size);
  for (const k of key) met[k]++;
  // groups[2k] readers of key k, groups[2k + 1] writers, each a few groups by coordinator.
  const groups: (Group[] | undefined)[] = new Array<Group[] | undefined>(2 * keyNumbers.size);
  for (let i = 0; i < N; i++) {
    for (let t = first[i]; t < first[i + 1]; t++) {
      if (met[key[t]] < 2) continue;
      const list = (groups[2 * key[t] + (write[t] ? 1 : 0)] ??= []);
      let g: Group | undefined;
      for (const x of list) if (x.coord === coord[i]) { g = x; break; }
      if (g === undefined) { g = { coord: coord[i], entries: [], seqs: new Float64Array(0), trees: [] }; list.push(g); }
      g.entries.push(i);
    }
  }
  for (const list of groups) {
    if (list === undefined) continue;
    for (const g of list) {
      if (g.coord < 0) continue;
      g.entries.sort((x, y) => seq[x] - seq[y]);
      g.seqs = Float64Array.from(g.entries, (x) => seq[x]);
    }
  }

  const pairs: number[] = [];
  for (let j = 0; j < N; j++) {
    const b = decided[j], cb = coord[j], sb = seq[j], floorB = b.dep.floor;
    // Every pair is met from both sides; the later id (j) records it.
    const consider = (i: number): void => {
      if (i >= j) return;
      const a = decided[i];
      if (!depsInclude(a.dep, b.id) && !depsInclude(b.dep, a.id)) pairs.push(i * N + j);
    };
    for (let t = first[j]; t < first[j + 1]; t++) {
      if (met[key[t]] < 2) continue;
      // A writer conflicts with readers and writers of its keys, a reader with the writers.
      for (let kind = write[t] ? 0 : 1; kind < 2; kind++) {
        for (const g of groups[2 * key[t] + kind] ?? []) {
          const { entries } = g;
          if (g.coord < 0 || cb < 0) { for (const i of entries) consider(i); continue; }
          // The ids of g not under b's floor: a suffix, as seqs ascend (`≤` with a missing or NaN
          // floor entry is false throughout).
          const f = floorB[g.coord], seqs = g.seqs;
          let lo = 0, hi = seqs.length;
          while (lo < hi) {
            const mid = (lo + hi) >>> 1;
            if (seqs[mid] <= f) lo = mid + 1; else hi = mid;
          }
          if (entries.length - lo <= 8) {
            if (cb >= W) { for (let e = lo; e < entries.length; e++) consider(entries[e]); continue; } // no floor has an entry cb
            for (let e = lo; e < entries.length; e++) if (!(sb <= floors[entries[e] * W + cb])) consider(entries[e]);
          } else {
            const tree = (g.trees[cb] ??= floorTree(g, cb, floors, W));
            reportBelow(tree, tree.length >> 1, lo, sb, (e) => consider(entries[e]));
          }
        }
      }
    }
  }
  pairs.sort((x, y) => x - y);
  let w = 0;
  for (let k = 0; k < pairs.length; k++) if (k === 0 || pairs[k] !== pairs[k - 1]) pairs[w++] = pairs[k]; // met through another key
  pairs.length = w;
  return pairs;
}

/**
 * A min segment tree (leaves from index `size`, a power of two; unused leaves +∞) over the
 * entries' floor[cb] as numbers, a missing or NaN one as −∞: an entry's floor does not cover a
 * seq s of coordinator cb exactly when its leaf is < s.
 */
function floorTree(g: Group, cb: number, floors: Float64Array, W: number): Float64Array {
  let size = 1;
  while (size < g.entries.length) size *= 2;
  const tree = new Float64Array(2 * size).fill(Infinity);
  for (let e = 0; e < g.entries.length; e++) {
    const x = cb < W ? floors[g.entries[e] * W + cb] : NaN;
    tree[size + e] = Number.isNaN(x) ? -Infinity : x;
  }
  for (let node = size - 1; node >= 1; node--) tree[node] = Math.min(tree[2 * node], tree[2 * node + 1]);
  return tree;
}

/** Calls `f` with each leaf index ≥ from whose value is < bound: O((1 + calls) · log size). */
function reportBelow(tree: Float64Array, size: number, from: number, bound: number, f: (e: number) => void): void {
  const visit = (node: number, lo: number, hi: number): void => {
    if (hi <= from || !(tree[node] < bound)) return;
    if (node >= size) { f(node - size); return; }
    const mid = (lo + hi) >>> 1;
    visit(2 * node, lo, mid);
    visit(2 * node + 1, mid, hi);
  };
  visit(1, 0, size);
}

/**
 * RC1 (docs/reconfiguration.md, rule 4's claim): every command committed with an effect is in the
 * dependencies of every voters.change committed with its value, so it executes before the change
 * closes the epoch. Over every replica's committed records; stable once both are committed.
 */
export function checkEpochClose(replicas: readonly ReplicaView[]): string[] {
  const v: string[] = [];
  const changes = new Map<InstanceId, Deps>();
  const commands = new Set<InstanceId>();
  for (const rep of replicas) {
    for (const id of rep.instanceIds()) {
      const s = rep.instance(id);
      if (s === undefined || s.phase !== 'COMMITTED' || s.cmd === null || s.cmd === NOP) continue;
      if (conflictsWithEverything(s.cmd)) changes.set(id, s.dep);
      else commands.add(id);
    }
  }
  for (const [c, dep] of changes) {
    for (const x of commands) {
      if (!depsInclude(dep, x)) v.push(`RC1: ${formatId(x)} committed with an effect outside the dependencies of the voters.change ${formatId(c)}`);
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
        const dep = rep.instance(d);
        // Sound: an id that counts as applied here but is not committed here (never held, or held
        // as a proposal when a snapshot covered it) came in a snapshot from a peer that had applied
        // it (an applied id is committed; INV8 checks that peer's own log).
        if (dep?.phase === 'COMMITTED' || rep.isApplied?.(d) === true) continue;
        v.push(`INV8: ${formatId(id)} applied at replica ${r} before its dependency ${formatId(d)} committed`);
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
