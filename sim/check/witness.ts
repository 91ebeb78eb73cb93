// The fewest operations that show a violation the search found. Starting from the refuted
// segment, operations are dropped one at a time (latest first) while the rest stays refuted —
// but only removals that cannot turn a linearizable history into one that is not, so that what
// is left shows a violation of the history itself:
//  - a read or a cas that found another value changes nothing: a linearization of a history
//    stays one when such operations are taken out;
//  - a write (or cas) whose value no remaining operation saw, while no remaining cas reports
//    "found another value": taken out of a linearization, it leaves every remaining read and
//    swap seeing what it saw.

import type { Operation } from '../history.ts';
import { produced } from './refute.ts';
import { search, type Step } from './search.ts';
import { canonicalJson } from './values.ts';

/**
 * Search states per attempt and in all: past them, the witness is left larger. A budget of states
 * rather than of time, so the same history always gets the same witness.
 */
const attemptStatesMax = 20_000;
const shrinkStatesMax = 2_000_000;

export function smallestWitness(steps: readonly Step[], starts: readonly number[], statesMax: number): Operation[] {
  let spent = 0;
  const refutes = (subset: readonly Step[]): boolean => {
    const r = search(subset, { starts, collectEnds: false, statesMax: Math.min(statesMax, attemptStatesMax) });
    spent += r.states;
    return r.outcome === 'refuted';
  };
  let kept = steps.slice();
  for (let changed = true; changed && spent < shrinkStatesMax;) {
    changed = false;
    const order = kept.slice().sort((a, b) => b.op.invokeNs - a.op.invokeNs);
    for (const candidate of order) {
      if (spent >= shrinkStatesMax) break;
      if (!removable(candidate, kept)) continue;
      const rest = kept.filter((s) => s !== candidate);
      if (refutes(rest)) {
        kept = rest;
        changed = true;
      }
    }
  }
  return kept.map((s) => s.op).sort((a, b) => a.invokeNs - b.invokeNs);
}

function removable(step: Step, kept: readonly Step[]): boolean {
  if (step.pure) return true;
  const v = produced(step.op);
  if (v === undefined) return step.op.f === 'read'; // an info read: constrains nothing
  for (const s of kept) {
    if (s === step || s.op.status !== 'ok') continue;
    if (s.op.f === 'read' && canonicalJson(s.op.output ?? null) === v) return false;
    if (s.op.f === 'cas') {
      if (s.op.output === false) return false;
      if (canonicalJson((s.op.value as unknown[])[0]) === v) return false;
    }
  }
  return true;
}
