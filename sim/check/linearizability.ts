// Linearizability checker for per-key registers (read / write / cas).
//
// Each key is an independent register, so each is checked on its own (linearizability is
// local: Herlihy & Wing 1990), which keeps every search small. The search is Wing & Gong's
// ("Testing and verifying concurrent objects", JPDC 1993): repeatedly pick a *minimal* operation
// (one no remaining operation precedes in real time), apply it to a sequential register, and
// backtrack when it disagrees with what the client saw. With Lowe's improvements ("Testing for
// linearizability", CCPE 2017) it is fast in practice: states (set of linearized operations,
// register value) already explored are memoized and never re-explored, and operations are only
// linearized "just in time", because the search walks a time-ordered list of invoke/return
// entries and must linearize an operation before it may pass that operation's return.
// This is the same structure as porcupine's (github.com/anishathalye/porcupine) checker.

import { toOperations } from '../history.ts';
import type { History, Operation } from '../history.ts';

/**
 * Bound on states memoized per key. Past it the checker gives up on that key and reports a
 * violation with `unknown: true`: the answer is "unknown", not "not linearizable". Each state
 * costs a bitset of (operations on the key / 32) words, so this also bounds memory.
 */
export const searchStatesMax = 250_000;

export interface Violation {
  key: string;
  reason: string;
  /** The operations the reason is about (the one that could not be linearized first). */
  operations: Operation[];
  /** True when the search limit was reached: linearizability is unknown, not refuted. */
  unknown?: boolean;
}

export interface LinearizabilityResult {
  /** False when a violation was found or the search limit was reached on some key. */
  linearizable: boolean;
  keys: number;
  /** Register operations checked (fail operations and info reads are dropped). */
  operations: number;
  violations: Violation[];
}

export interface CheckOptions {
  searchStatesMax?: number;
}

export function checkLinearizable(history: History, options: CheckOptions = {}): LinearizabilityResult {
  const limit = options.searchStatesMax ?? searchStatesMax;
  const byKey = new Map<string, Operation[]>();
  let count = 0;
  for (const op of toOperations(history)) {
    // An info read returned nothing to the client, so it constrains nothing.
    if (op.f === 'read' && op.status === 'info') continue;
    count++;
    let ops = byKey.get(op.key);
    if (!ops) byKey.set(op.key, (ops = []));
    ops.push(op);
  }
  const violations: Violation[] = [];
  for (const [key, ops] of byKey) {
    // First without the unobserved info updates (see withoutUnobservedInfo): a pass there is a
    // pass for the whole history. Only when that fails is the full, harder search run, and only
    // its verdict is reported, so a violation is never claimed because of the pruning.
    const pruned = withoutUnobservedInfo(ops);
    const v = pruned.length < ops.length && checkKey(key, pruned, limit) === null ? null : checkKey(key, ops, limit);
    if (v) violations.push(v);
  }
  return { linearizable: violations.length === 0, keys: byKey.size, operations: count, violations };
}

/**
 * The operations of one key without the `info` writes and cas whose new value nobody observed
 * (no ok read returned it, no ok cas that swapped expected it). An operation of unknown outcome may
 * also not have happened, so if the rest is linearizable, so is the whole: linearize the dropped
 * ones as never having taken effect. The converse can fail (an unobserved value may be what made
 * a cas report false), which is why a failure here is rechecked on the full set. With clients
 * that time out under faults, most info operations are of this kind, and each one left in
 * multiplies the places the search must try it.
 */
function withoutUnobservedInfo(ops: readonly Operation[]): Operation[] {
  const observed = new Set<string>();
  for (const op of ops) {
    if (op.status !== 'ok') continue;
    if (op.f === 'read') observed.add(canonicalJson(op.output ?? null));
    else if (op.f === 'cas' && op.output === true) observed.add(canonicalJson((op.value as unknown[])[0]));
  }
  const written = (op: Operation): unknown => (op.f === 'cas' ? (op.value as unknown[])[1] : op.value);
  return ops.filter((op) => op.status === 'ok' || op.f === 'read' || observed.has(canonicalJson(written(op))));
}

/** JSON with object keys sorted, so equal JSON values compare equal as strings. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const fields = Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`);
    return `{${fields.join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

// A register value is interned to a small integer; 0 is absent, which reads as null, and 1 stands
// for every written value no operation of the history can observe.
const absent = 0;
const unobservable = 1;

/** An operation reduced to interned values, with its register semantics. */
interface Step {
  op: Operation;
  ok: boolean;
  /** The register value after applying the operation to `state`, or -1 if it cannot apply. */
  apply: (state: number) => number;
  /**
   * Never changes the register wherever it applies (an ok read, an ok cas that found another
   * value). Such an operation, once it may be linearized, is linearized at once without trying
   * the alternative of doing it later: moving it earlier changes no other operation's state and
   * breaks no real-time order, so a linearization exists with it now if one exists at all. That
   * removes the 2^k subsets of k concurrent reads and failed cas from the search.
   */
  pure: boolean;
}

/** One invoke or return in the time-ordered, doubly linked list the search walks. */
interface Entry {
  step: number;
  call: boolean;
  time: number;
  /** For a call: its return entry. */
  ret: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

function checkKey(key: string, ops: Operation[], limit: number): Violation | null {
  const ids = new Map<string, number>([['null', absent], ['\u0000unobservable', unobservable]]);
  const intern = (v: unknown): number => {
    const s = canonicalJson(v);
    let id = ids.get(s);
    if (id === undefined) ids.set(s, (id = ids.size));
    return id;
  };
  // Values some operation can tell apart: what an ok read returned and what any cas expected.
  // Every other written value is indistinguishable from the others by any operation of this
  // history, so they all become one value, and the states they lead to merge in the memo table.
  const observable = new Set<string>(['null']);
  for (const op of ops) {
    if (op.f === 'read' && op.status === 'ok') observable.add(canonicalJson(op.output ?? null));
    else if (op.f === 'cas') observable.add(canonicalJson((op.value as unknown[])[0]));
  }
  const internWritten = (v: unknown): number => (observable.has(canonicalJson(v ?? null)) ? intern(v) : unobservable);
  const written = new Set<number>([absent]);
  const steps: Step[] = ops.map((op) => {
    const ok = op.status === 'ok';
    if (op.f === 'write') {
      const v = internWritten(op.value);
      written.add(v);
      return { op, ok, pure: false, apply: () => v };
    }
    if (op.f === 'cas') {
      const [expected, next] = [intern((op.value as unknown[])[0]), internWritten((op.value as unknown[])[1])];
      written.add(next);
      // An info cas that found another value changed nothing, just like one that never ran.
      if (ok && op.output === false) return { op, ok, pure: true, apply: (s) => (s !== expected ? s : -1) };
      return { op, ok, pure: false, apply: (s) => (s === expected ? next : -1) };
    }
    const seen = intern(op.output);
    return { op, ok, pure: ok, apply: (s) => (s === seen ? s : -1) };
  });

  // Cheap, clear diagnosis before searching: a read of a value nothing ever wrote.
  for (const s of steps) {
    if (s.op.f === 'read' && !written.has(intern(s.op.output))) {
      return { key, reason: `read ${canonicalJson(s.op.output)}, a value never written to ${key}`, operations: [s.op] };
    }
  }
  return search(key, steps, limit);
}

function search(key: string, steps: Step[], limit: number): Violation | null {
  // Build the entry list ordered by time; at equal times calls come first, because A precedes
  // B only when A completes strictly before B is invoked. Info operations return at +Infinity.
  const all: Entry[] = [];
  steps.forEach((s, i) => {
    const ret: Entry = { step: i, call: false, time: s.op.completeNs, ret: null, prev: null, next: null };
    all.push({ step: i, call: true, time: s.op.invokeNs, ret, prev: null, next: null }, ret);
  });
  all.sort((a, b) => a.time - b.time || Number(b.call) - Number(a.call));
  const head: Entry = { step: -1, call: false, time: -Infinity, ret: null, prev: null, next: null };
  let last = head;
  for (const e of all) {
    last.next = e;
    e.prev = last;
    last = e;
  }

  // Linearized set as a bitset, with two incremental XOR hashes of it to key the memo table.
  const words = new Uint32Array((steps.length + 31) >>> 5);
  const salt1 = new Uint32Array(steps.length);
  const salt2 = new Uint32Array(steps.length);
  let seed = 0x9e3779b9;
  const rand = (): number => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; // xorshift32: deterministic
    return seed >>> 0;
  };
  for (let i = 0; i < steps.length; i++) { salt1[i] = rand(); salt2[i] = rand(); }
  let h1 = 0;
  let h2 = 0;
  const toggle = (i: number): void => {
    words[i >>> 5] ^= 1 << (i & 31);
    h1 ^= salt1[i];
    h2 ^= salt2[i];
  };
  const seen = new Map<string, Uint32Array[]>();
  let states = 0;
  /** Records (linearized set, value) as explored; false if it already was. */
  const remember = (state: number): boolean => {
    const k = `${h1}:${h2}:${state}`;
    const bucket = seen.get(k);
    if (bucket?.some((b) => b.every((w, j) => w === words[j]))) return false;
    if (bucket) bucket.push(words.slice());
    else seen.set(k, [words.slice()]);
    states++;
    return true;
  };

  const lift = (e: Entry): void => {
    for (const x of [e, e.ret!]) {
      x.prev!.next = x.next;
      if (x.next) x.next.prev = x.prev;
    }
  };
  const unlift = (e: Entry): void => {
    for (const x of [e.ret!, e]) {
      x.prev!.next = x;
      if (x.next) x.next.prev = x;
    }
  };

  let okLeft = steps.filter((s) => s.ok).length;
  let state = absent;
  const stack: { entry: Entry; before: number; forced: boolean }[] = [];
  // The deepest point reached, for the report: which operation could not be linearized.
  let deepest = -1;
  let blocked: Entry | null = null;
  let entry = head.next;
  remember(state);
  while (okLeft > 0) {
    if (states > limit) {
      return {
        key,
        reason: `search limit reached (${limit} states): linearizability unknown`,
        operations: [],
        unknown: true,
      };
    }
    if (entry && entry.call) {
      const s = steps[entry.step];
      const after = s.apply(state);
      if (after >= 0) {
        toggle(entry.step);
        if (remember(after)) {
          stack.push({ entry, before: state, forced: s.pure });
          state = after;
          if (s.ok) okLeft--;
          lift(entry);
          entry = head.next;
          continue;
        }
        toggle(entry.step);
        // A pure operation leading to an explored state: that state failed, so this one does too.
        if (s.pure) entry = null;
        else entry = entry.next;
        continue;
      }
      entry = entry.next;
      continue;
    }
    // A return (or the end): its operation must be linearized before we may pass it. Backtrack.
    if (stack.length > deepest) {
      deepest = stack.length;
      blocked = entry;
    }
    // Undo the last choice; a forced (pure) one had no alternative, so undo the one before it too.
    let top = stack.pop();
    while (top !== undefined) {
      state = top.before;
      toggle(top.entry.step);
      if (steps[top.entry.step].ok) okLeft++;
      unlift(top.entry);
      if (!top.forced) break;
      top = stack.pop();
    }
    if (top === undefined) break;
    entry = top.entry.next;
  }
  if (okLeft === 0) return null;

  const culprit = blocked ? steps[blocked.step].op : undefined;
  const operations = culprit ? [culprit] : [];
  return {
    key,
    reason: culprit
      ? `no linearization: after ${deepest} operations, ${describe(culprit)} cannot take effect before it completes`
      : 'no linearization',
    operations,
  };
}

function describe(op: Operation): string {
  const out = op.status === 'ok' && op.output !== undefined ? ` -> ${canonicalJson(op.output)}` : '';
  const arg = op.value !== undefined ? ` ${canonicalJson(op.value)}` : '';
  return `${op.f}${arg}${out} (process ${op.process}, ${op.status}, invoked at ${op.invokeNs} ns)`;
}
