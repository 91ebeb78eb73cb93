// The verdict on one register (one key): refutation before search, then a segmented search.
//
// 1. Cheap sound checks (refute.ts) catch the common violations in O(n log n).
// 2. Info operations someone observed are settled (info-operations.ts), which gives back the
//    quiescent points they hid.
// 3. The history is cut at quiescent points (segments.ts) and the segments are searched one
//    after another, each from every value the one before can leave in the register.
// 4. First without the unobserved info operations: a pass there is a pass for the whole. Only
//    when that fails is the full history searched, and only its verdict is reported, so a
//    violation is never claimed because of the pruning.
// 5. A segment the budget stops is retried as part of one search over the whole key, which stops
//    at the first linearization instead of collecting every end value.

import type { Operation } from '../history.ts';
import { settleObservedInfo, withoutUnobservedInfo } from './info-operations.ts';
import { refuteCheaply } from './refute.ts';
import { registerSteps, absent } from './register-steps.ts';
import { search } from './search.ts';
import { splitAtQuiescence } from './segments.ts';
import { smallestWitness } from './witness.ts';

export type Verdict = 'linearizable' | 'not-linearizable' | 'unknown';

export interface RegisterVerdict {
  key: string;
  verdict: Verdict;
  /** Operations judged (fail operations and info reads are dropped), and how many of unknown outcome. */
  operations: number;
  infoOperations: number;
  /** How the verdict was reached. */
  method: 'refuted-before-search' | 'search';
  /** Segments of the history searched (in the last pass). */
  segments: number;
  /** Search states explored over all passes, and the largest memo table (bytes). */
  states: number;
  memoBytesMax: number;
  /** Why not linearizable, or why undecided. */
  reason?: string;
  /** For a violation: the fewest operations found that show it, in time order. */
  witness?: Operation[];
  /** Values the register could hold where the witness starts (when it is not the start of the history). */
  witnessStartValues?: string[];
}

export interface RegisterCheckOptions {
  /** Search states per key after which the key is undecided. */
  statesMax: number;
}

export function checkRegister(key: string, ops: readonly Operation[], options: RegisterCheckOptions): RegisterVerdict {
  const base = {
    key, operations: ops.length, infoOperations: ops.filter((o) => o.status === 'info').length,
    segments: 0, states: 0, memoBytesMax: 0,
  };
  const refuted = refuteCheaply(ops);
  if (refuted !== null) {
    return { ...base, verdict: 'not-linearizable', method: 'refuted-before-search', reason: refuted.reason, witness: refuted.operations };
  }
  const settled = settleObservedInfo(ops);
  const pruned = withoutUnobservedInfo(settled);
  const tally = { states: 0, memoBytesMax: 0 };
  if (pruned.length < settled.length) {
    const first = searchSegmented(pruned, options.statesMax, tally);
    if (first.verdict === 'linearizable') return { ...base, ...tally, verdict: 'linearizable', method: 'search', segments: first.segments };
  }
  const full = searchSegmented(settled, options.statesMax, tally);
  // The witness as the history has it, not as settled (an info operation stays info).
  const original = new Map(ops.map((o) => [o.id, o]));
  const witness = full.witness?.map((o) => original.get(o.id) ?? o);
  return { ...base, ...tally, method: 'search', ...full, ...(witness ? { witness } : {}) };
}

/** How far back (segments, operations) the witness of a violation found in a later segment may start. */
const witnessSegmentsBackMax = 4;
const witnessWindowOpsMax = 200;

interface SegmentedOutcome {
  verdict: Verdict;
  segments: number;
  reason?: string;
  witness?: Operation[];
  witnessStartValues?: string[];
}

function searchSegmented(ops: readonly Operation[], statesMax: number, tally: { states: number; memoBytesMax: number }): SegmentedOutcome {
  const segments = splitAtQuiescence(ops);
  const { steps, writes, describe } = registerSteps(segments.flat());
  const count = (r: { states: number; memoBytes: number }): void => {
    tally.states += r.states;
    tally.memoBytesMax = Math.max(tally.memoBytesMax, r.memoBytes);
  };
  let starts = [absent];
  let from = 0;
  // Where each segment begins in `steps` and the values it starts from, for the witness window.
  const begins: { from: number; starts: number[] }[] = [];
  for (let i = 0; i < segments.length; i++) {
    begins.push({ from, starts });
    const to = from + segments[i].length;
    const last = i === segments.length - 1;
    const segSteps = steps.slice(from, to);
    const r = search(segSteps, {
      starts, collectEnds: !last, endCandidates: last ? undefined : possibleEnds(segSteps, writes.slice(from, to), starts), statesMax,
    });
    count(r);
    if (r.outcome === 'budget') {
      if (segments.length === 1) return { verdict: 'unknown', segments: 1, reason: budgetReason(statesMax, r.states, ops.length) };
      // Collecting every end of a middle segment can cost more than finding one linearization of the whole.
      const whole = search(steps, { starts: [absent], collectEnds: false, statesMax });
      count(whole);
      if (whole.outcome === 'budget') {
        return { verdict: 'unknown', segments: segments.length, reason: `${budgetReason(statesMax, whole.states, ops.length)}; segment ${i + 1} of ${segments.length} (${segments[i].length} operations) also stopped` };
      }
      return whole.outcome === 'linearizable'
        ? { verdict: 'linearizable', segments: segments.length }
        : { verdict: 'not-linearizable', segments: segments.length, reason: `no linearization: after ${whole.deepest} operations, ${whole.blocked ? describeOp(whole.blocked) : 'the end'} cannot take effect before it completes` };
    }
    if (r.outcome === 'refuted') {
      // The witness may start a few segments back: the refuted segment alone often shows only
      // that the register "could hold only x", the segments before it show why.
      let j = i;
      while (j > 0 && i - j < witnessSegmentsBackMax && to - begins[j - 1].from <= witnessWindowOpsMax) j--;
      const witness = smallestWitness(steps.slice(begins[j].from, to), begins[j].starts, statesMax);
      const startNote = i === 0 ? '' : ` (segment ${i + 1} of ${segments.length}, starting with the register holding ${starts.map(describe).join(' or ')})`;
      return {
        verdict: 'not-linearizable', segments: segments.length,
        reason: `no linearization${startNote}: after ${r.deepest} operations, ${r.blocked ? describeOp(r.blocked) : 'the end'} cannot take effect before it completes`,
        witness,
        ...(j === 0 ? {} : { witnessStartValues: begins[j].starts.map(describe) }),
      };
    }
    starts = [...r.ends];
    from = to;
  }
  return { verdict: 'linearizable', segments: segments.length };
}

/**
 * Every value the register may hold after a segment of ok operations: the value of a change not
 * followed in real time by another change, or, with no change at all, a start value.
 */
function possibleEnds(steps: readonly { op: Operation }[], writes: readonly number[], starts: readonly number[]): Set<number> {
  let latestInvoke = -Infinity;
  writes.forEach((w, i) => { if (w >= 0) latestInvoke = Math.max(latestInvoke, steps[i].op.invokeNs); });
  if (latestInvoke === -Infinity) return new Set(starts);
  const ends = new Set<number>();
  writes.forEach((w, i) => { if (w >= 0 && steps[i].op.completeNs >= latestInvoke) ends.add(w); });
  return ends;
}

function budgetReason(statesMax: number, states: number, operations: number): string {
  return `search stopped at its budget of ${statesMax} states (${states} explored, ${operations} operations): linearizability unknown; raise --states-max`;
}

export function describeOp(op: Operation): string {
  const json = (v: unknown): string => JSON.stringify(v ?? null);
  const out = op.status === 'ok' && op.output !== undefined ? ` -> ${json(op.output)}` : '';
  const arg = op.value !== undefined ? ` ${json(op.value)}` : '';
  return `${op.f}${arg}${out} (process ${op.process}, ${op.status}, invoked at ${op.invokeNs} ns)`;
}
