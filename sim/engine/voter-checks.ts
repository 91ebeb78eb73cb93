// The end-of-run checks over the voters' state (sim/engine/simulation.ts runs them): the protocol
// invariants per epoch group (PROTOCOL.md §8), RC1 and the agreement of closes across epochs
// (docs/reconfiguration.md), the survival of every acknowledged write, and liveness once the
// faults stopped; and whether the swarm has settled. Pure functions of the seats and their disks.

import {
  checkAgreementAndVisibility, checkExecution, type InstanceId, type Message, NOP, type ReplicaView,
} from '../../consensus/index.ts';
import type { CommitWatch } from '../check/commits.ts';
import type { Seat, Seats } from './seats.ts';

type Acked = readonly { readonly clientId: string; readonly requestId: number }[];

/**
 * Persist before you promise, judged where it matters: is the vote `msg` of this seat backed by its
 * durable state (the record it votes from, at least as far along)? If not, a crash of the sender
 * could take back what the receiver counts. Phases, ballots and initCmd only grow, and truncation
 * keeps the last record aside, so a later record still backs an earlier vote.
 */
export function voteBacked(seat: Seat, msg: Message): boolean {
  const rec = 'id' in msg ? seat.disk.recordEver(msg.id) : undefined;
  switch (msg.type) {
    case 'PreAcceptOK': return rec !== undefined && rec.phase !== 'INITIAL';
    case 'AcceptOK': return rec !== undefined && (rec.abal >= msg.b || rec.phase === 'COMMITTED');
    case 'RecoverOK': return rec !== undefined && rec.bal >= msg.b;
    case 'ValidateOK': return rec !== undefined && rec.bal >= msg.b && rec.initCmd !== null;
    default: return true;
  }
}

/**
 * INV7 as the commit watches saw it during the run, INV1, INV2 and INV8 per epoch group, a wiped
 * voter that never caught up, contradicting commits, RC1, and closes that disagree.
 */
export function voterStateViolations(seats: Seats, o: {
  readonly commitWatches: readonly (CommitWatch | null)[];
  readonly checkInvariants: boolean;
  readonly wiped: number | null;
  readonly isSettled: boolean;
  readonly disagreements: readonly string[];
}): string[] {
  const voters = seats.all;
  const violations: string[] = o.commitWatches.flatMap((w, epoch) => (w?.violations ?? []).map((v) => (epoch === 0 ? v : `epoch ${epoch}: ${v}`)));
  if (o.checkInvariants) {
    for (const group of seats.groups) {
      const joined = seats.joined(group);
      const views = joined.map(checkerView);
      const found = [...checkAgreementAndVisibility(views), ...checkExecution(views, joined.map((v) => v.disk.fullLog()))];
      violations.push(...(group.epoch === 0 ? found : found.map((v) => `epoch ${group.epoch}: ${v}`)));
    }
  }
  if (o.wiped !== null && !(o.isSettled && voters[o.wiped].replica.executedWatermark().some((x) => x > 0))) {
    violations.push(`state transfer: voter ${o.wiped} lost its disk and did not catch up`);
  }
  for (const { replica: r } of voters) if (r.stats.agreementViolations > 0) violations.push(`INV1: replica ${r.self} saw ${r.stats.agreementViolations} contradicting commits`);
  for (const seat of voters) {
    if (seat.replica.stats.epochViolations > 0) violations.push(`RC1: agent ${seat.agent} came to execute a command with an effect after the change that closed epoch ${seat.epoch}`);
  }
  violations.push(...o.disagreements);
  return violations;
}

/** Durability (every acknowledged write applied) and liveness (the newest voters converged). */
export function endStateViolations(seats: Seats, o: { readonly acked: Acked; readonly killed: ReadonlySet<number>; readonly isSettled: boolean; readonly drainMs: number }): string[] {
  const newest = seats.joined(seats.current);
  const lost = new Set(newest.map((seat, i) => (o.killed.has(seat.agent) ? i : -1)).filter((i) => i >= 0));
  return [
    ...(seats.groups.length === 1 ? checkDurability(newest, o.acked, lost) : checkDurabilityAcrossEpochs(seats, o.acked, o.killed)),
    ...checkLiveness(newest, o.isSettled, o.drainMs, lost),
  ];
}

/**
 * Every voter of the newest group joined and up, nothing pending, queued or unsynced, and all at
 * the same executed watermark; every older epoch closed at each of its voters still in the swarm.
 * `syncQuiet(v)` first applies seat v's quiet fsyncs that have completed.
 */
export function settledNow(seats: Seats, isUp: (agent: number) => boolean, killed: ReadonlySet<number>, syncQuiet: (v: number) => void): boolean {
  const group = seats.current;
  // Over the voters that are still part of the swarm: one killed for good never comes back.
  const live = group.members.map((_, r) => r).filter((r) => !killed.has(group.members[r]));
  if (live.length === 0 || live.some((r) => group.seats[r] < 0)) return false;
  const w0 = seats.all[group.seats[live[0]]].replica.executedWatermark();
  for (const r of live) {
    const v = group.seats[r];
    const seat = seats.all[v];
    if (!isUp(seat.agent)) return false;
    syncQuiet(v);
    if (seat.replica.pendingIds().length > 0 || seat.replica.queuedCommands() > 0 || seat.disk.unsyncedCount > 0) return false;
    const w = seat.replica.executedWatermark();
    for (let i = 0; i < w.length; i++) if (w[i] !== w0[i]) return false;
    // Equal watermarks can hide the same committed cycle deferred at every voter until its next
    // tick's flush: ended there, the liveness check found them unapplied (sweep --reconfig seed 1163).
    if (seat.replica.committedUnapplied().length > 0) return false;
  }
  for (let e = 0; e < group.epoch; e++) {
    if (seats.groups[e].retired) continue;
    for (const seat of seats.joined(seats.groups[e])) if (!killed.has(seat.agent) && seat.closeSeen === null) return false;
  }
  return true;
}

/**
 * What the invariant checkers see of a voter: its live state, plus the last durable record of each
 * instance truncation made it forget (the disk keeps them aside for checkers), so INV1, INV2 and
 * INV8 judge every instance ever decided, not only those still held.
 */
function checkerView(v: Seat): ReplicaView {
  const r = v.replica;
  return {
    self: r.self,
    instance: (id: InstanceId) => r.instance(id) ?? v.disk.recordEver(id),
    instanceIds: () => {
      const ids = new Set<InstanceId>(r.instanceIds());
      for (const id of v.disk.fullLog()) ids.add(id);
      return ids.values();
    },
    isApplied: (id: InstanceId) => r.isApplied(id),
  };
}

/**
 * Every acknowledged write was applied by every voter (nothing acknowledged is lost): its id, found
 * in some voter's durable execution log, is applied at each voter (the run has settled, so that is
 * durable). A voter that installed a snapshot has the ids it covers applied without a log entry.
 */
export function checkDurability(voters: readonly Pick<Seat, 'replica' | 'disk'>[], acked: Acked, lost: ReadonlySet<number> = new Set()): string[] {
  const out: string[] = [];
  const idsOf = commandIds(voters);
  for (let v = 0; v < voters.length; v++) {
    if (lost.has(v)) continue; // killed for good (SimWorld.kill): its log counted above, its state is gone
    const r = voters[v].replica;
    const missing = acked.filter((k) => !(idsOf.get(k.clientId)?.get(k.requestId) ?? []).some((id) => r.isApplied(id)));
    if (missing.length > 0) out.push(`durability: ${missing.length} acknowledged writes never applied at voter ${v} (first: ${missing.slice(0, 3).map((k) => `${k.clientId}/${k.requestId}`).join(', ')})`);
  }
  return out;
}

/**
 * Across epochs (the reconfig fault): every acknowledged write took effect in some epoch, and in
 * each epoch where it did, every voter still in the swarm applied it — those of an older epoch
 * before that epoch closed there (nothing is applied after a close), so it is in the state at the
 * change every later epoch starts from (the closes agree: `reconfiguration:` violations otherwise).
 */
export function checkDurabilityAcrossEpochs(seats: Seats, acked: Acked, killed: ReadonlySet<number>): string[] {
  const out: string[] = [];
  const placed = new Set<string>();
  for (const group of seats.groups) {
    const joined = seats.joined(group);
    const idsOf = commandIds(joined);
    const here = acked.filter((k) => idsOf.get(k.clientId)?.has(k.requestId) === true);
    for (const k of here) placed.add(`${k.clientId}/${k.requestId}`);
    for (const seat of joined) {
      if (killed.has(seat.agent) || (group !== seats.current && seat.closeSeen === null)) continue;
      const missing = here.filter((k) => !idsOf.get(k.clientId)!.get(k.requestId)!.some((id) => seat.replica.isApplied(id)));
      if (missing.length > 0) out.push(`durability: ${missing.length} acknowledged writes of epoch ${group.epoch} never applied at agent ${seat.agent} (first: ${missing.slice(0, 3).map((k) => `${k.clientId}/${k.requestId}`).join(', ')})`);
    }
  }
  const nowhere = acked.filter((k) => !placed.has(`${k.clientId}/${k.requestId}`));
  if (nowhere.length > 0) out.push(`durability: ${nowhere.length} acknowledged writes never applied in any epoch (first: ${nowhere.slice(0, 3).map((k) => `${k.clientId}/${k.requestId}`).join(', ')})`);
  return out;
}

/** clientId → requestId → the instances whose batch carries that command, over the voters' durable execution logs. */
function commandIds(voters: readonly Pick<Seat, 'replica' | 'disk'>[]): Map<string, Map<number, InstanceId[]>> {
  const idsOf = new Map<string, Map<number, InstanceId[]>>();
  // The voters mostly hold the same batch object for an id (messages carry it by reference), and
  // indexing a (batch, id) pair a second time adds nothing: remember the last id each batch was
  // indexed under and skip the repeat.
  const indexedUnder = new Map<object, InstanceId>();
  for (const voter of voters) {
    for (const id of voter.disk.fullLog()) {
      const cmd = (voter.replica.instance(id) ?? voter.disk.recordEver(id))?.cmd;
      if (cmd == null || cmd === NOP) continue;
      if (indexedUnder.get(cmd) === id) continue;
      indexedUnder.set(cmd, id);
      for (const c of cmd.commands) {
        let byRequest = idsOf.get(c.clientId);
        if (byRequest === undefined) idsOf.set(c.clientId, (byRequest = new Map()));
        const list = byRequest.get(c.requestId);
        if (list === undefined) byRequest.set(c.requestId, [id]); else if (!list.includes(id)) list.push(id);
      }
    }
  }
  return idsOf;
}

/** Once the faults stopped, every voter committed and applied everything, to the same state. */
function checkLiveness(voters: readonly Seat[], isSettled: boolean, drainMs: number, lost: ReadonlySet<number>): string[] {
  const out: string[] = [];
  const live = voters.map((_, v) => v).filter((v) => !lost.has(v));
  for (const v of live) {
    const r = voters[v].replica;
    const pending = r.pendingIds().length;
    const unapplied = r.committedUnapplied().length;
    if (pending > 0 || unapplied > 0) out.push(`liveness: voter ${v} still had ${pending} uncommitted and ${unapplied} unapplied ids ${drainMs} ms after the faults stopped`);
  }
  if (isSettled) {
    const m0 = voters[live[0]].machine;
    for (const v of live.slice(1)) {
      if (!voters[v].machine.sameState(m0)) out.push(`agreement: voter ${v}'s state machine differs from voter ${live[0]}'s after every command was applied`);
    }
  } else if (out.length === 0) {
    out.push(`liveness: the voters had not converged ${drainMs} ms after the faults stopped`);
  }
  return out;
}
