// The case analysis of recovery (PROTOCOL.md §6, lines 50–80) as pure functions of the answers,
// so each case can be tested on its own and the handler in replica.ts stays a dispatcher.

import { depsEqual, depsInclude, emptyDeps } from './deps.ts';
import { payloadsConflict } from './conflicts.ts';
import { initCoord, type InstanceId, type ReplicaId } from './ids.ts';
import { NOP, type Batch, type Deps, type Instance, type Payload, type Phase, type RecoverOK } from './types.ts';

export type RecoveryDecision =
  | { readonly kind: 'commit'; readonly cmd: Payload; readonly dep: Deps; readonly line: number }
  | { readonly kind: 'accept'; readonly cmd: Payload; readonly dep: Deps; readonly line: number }
  | { readonly kind: 'validate'; readonly cmd: Batch; readonly dep: Deps; readonly rmax: number; readonly line: number };

export interface RecoveryParams {
  readonly n: number;
  readonly f: number;
  readonly e: number;
}

/** Lines 50–80: what to do once RecoverOK answers from a quorum Q (|Q| ≥ n−f) are in. */
export function decideRecovery(id: InstanceId, answers: ReadonlyMap<ReplicaId, RecoverOK>, p: RecoveryParams): RecoveryDecision {
  const q = [...answers.values()];
  let bmax = 0;
  for (const a of q) if (a.abal > bmax) bmax = a.abal;
  const u = q.filter((a) => a.abal === bmax);
  // Line 54. Covey closes the §9 liveness gap by taking a COMMITTED answer from anyone in Q, not
  // only U: all Commits of an id carry one value (INV7), so this is safe.
  const committed = q.find((a) => a.phase === 'COMMITTED');
  if (committed !== undefined) return { kind: 'commit', cmd: committed.cmd!, dep: committed.dep, line: 54 };
  const accepted = u.find((a) => a.phase === 'ACCEPTED'); // line 55
  if (accepted !== undefined) return { kind: 'accept', cmd: accepted.cmd!, dep: accepted.dep, line: 55 };
  if (answers.has(initCoord(id))) return { kind: 'accept', cmd: NOP, dep: emptyDeps(p.n), line: 56 };
  const rmax = q.filter((a) => a.phase === 'PREACCEPTED' && depsEqual(a.dep, a.initDep)); // line 57
  if (rmax.length >= answers.size - p.e && rmax.length > 0) {
    const r = rmax[0];
    if (r.cmd === null || r.cmd === NOP) throw new Error(`assertion: PREACCEPTED answer for ${id} without a command (INV5)`);
    return { kind: 'validate', cmd: r.cmd, dep: r.dep, rmax: rmax.length, line: 58 };
  }
  return { kind: 'accept', cmd: NOP, dep: emptyDeps(p.n), line: 80 };
}

/** Lines 63–67: after ValidateOK from all of Q. `null` means: send Waiting and wait (line 67). */
export function decideAfterValidate(
  I: ReadonlyMap<InstanceId, ReadonlySet<Phase>>, q: ReadonlySet<ReplicaId>, rmax: number, p: RecoveryParams,
): 'accept-original' | 'accept-nop' | null {
  if (I.size === 0) return 'accept-original'; // line 63
  for (const phases of I.values()) if (phases.has('COMMITTED')) return 'accept-nop'; // line 65, first condition
  if (rmax === q.size - p.e) {
    for (const other of I.keys()) if (!q.has(initCoord(other))) return 'accept-nop'; // line 65, second condition
  }
  return null;
}

/**
 * Lines 69–75: the waiting recovery's exit conditions, judged against the recoverer's own state.
 * `local(id')` is the recoverer's instance; `waitingK(id')` the largest k of a Waiting(id', k)
 * it has received. `null` means keep waiting (lines 76–79 are handled on late RecoverOKs).
 */
export function decideWhileWaiting(
  id: InstanceId, I: Iterable<InstanceId>, local: (other: InstanceId) => Instance | undefined,
  waitingK: (other: InstanceId) => number, p: RecoveryParams,
): 'accept-original' | 'accept-nop' | null {
  let allCommittedSeeing = true;
  const ids = [...I];
  for (const other of ids) {
    const inst = local(other);
    if (inst === undefined || inst.phase !== 'COMMITTED') { allCommittedSeeing = false; continue; }
    if (inst.cmd !== NOP && !depsInclude(inst.dep, id)) return 'accept-nop'; // lines 70–71
  }
  if (allCommittedSeeing) return 'accept-original'; // lines 72–73
  for (const other of ids) if (waitingK(other) > p.n - p.f - p.e) return 'accept-nop'; // lines 74–75
  return null;
}

/**
 * Lines 81–87: the I_q a process answers Validate(b, id, c, D) with: the conflicting commands it
 * knows that neither depend on id nor appear in D. `candidates` must include every id whose cmd
 * or initCmd conflicts with c and that D does not cover by its floor.
 */
export function validateAnswer(
  id: InstanceId, c: Batch, D: Deps, candidates: Iterable<Instance>,
): [InstanceId, Phase][] {
  const out: [InstanceId, Phase][] = [];
  for (const other of candidates) {
    if (other.id === id || depsInclude(D, other.id)) continue;
    if (other.phase === 'COMMITTED') {
      if (other.cmd !== NOP && payloadsConflict(other.cmd, c) && !depsInclude(other.dep, id)) out.push([other.id, other.phase]);
    } else if (other.initCmd !== null && payloadsConflict(other.initCmd, c) && !depsInclude(other.initDep, id)) {
      out.push([other.id, other.phase]);
    }
  }
  out.sort((a, b) => a[0] - b[0]);
  return out;
}
