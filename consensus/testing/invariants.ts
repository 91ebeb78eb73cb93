// The invariants of PROTOCOL.md §8, checked over a group of replicas and the ghost record of what
// was said on the wire. Each returns human-readable violations; an empty list means all hold.
// Used after every step of the property tests and, later, by the simulator.

import { payloadsConflict, payloadsEqual } from '../core/conflicts.ts';
import { depsEqual, depsInclude } from '../core/deps.ts';
import { ballotOwner, formatId, type InstanceId } from '../core/ids.ts';
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
 */
export function checkExecution(replicas: readonly ReplicaView[], logs: readonly (readonly InstanceId[])[]): string[] {
  const v: string[] = [];
  const position: Map<InstanceId, number>[] = logs.map((log) => new Map(log.map((id, i) => [id, i])));
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
  for (let p = 0; p < replicas.length; p++) {
    for (let q = p + 1; q < replicas.length; q++) {
      const common = logs[p].filter((id) => position[q].has(id));
      for (let i = 0; i < common.length; i++) {
        const a = replicas[p].instance(common[i]);
        if (a?.cmd == null || a.cmd === NOP) continue;
        for (let j = i + 1; j < common.length; j++) {
          const b = replicas[p].instance(common[j]);
          if (b?.cmd == null || b.cmd === NOP || !payloadsConflict(a.cmd, b.cmd)) continue;
          if (position[q].get(common[i])! > position[q].get(common[j])!) {
            v.push(`INV8: conflicting ${formatId(common[i])} and ${formatId(common[j])} applied in different orders at replicas ${p} and ${q}`);
          }
        }
      }
    }
  }
  for (let r = 0; r < replicas.length; r++) {
    const log = logs[r];
    for (let i = 0; i < log.length; i++) {
      const a = replicas[r].instance(log[i]);
      if (a?.cmd == null || a.cmd === NOP) continue;
      for (let j = i + 1; j < log.length; j++) {
        const b = replicas[r].instance(log[j]);
        if (b?.cmd == null || b.cmd === NOP || !payloadsConflict(a.cmd, b.cmd)) continue;
        if (!a.dep.ids.includes(b.id) && depsInclude(a.dep, b.id)) {
          v.push(`INV8: ${formatId(b.id)} is under the dependency floor of ${formatId(a.id)} but was applied after it at replica ${r}`);
        }
      }
    }
  }
  return v;
}
