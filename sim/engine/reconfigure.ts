// The simulator's side of reconfiguration (docs/reconfiguration.md): what an agent's driver does
// when its epoch closes, how a new voter gets the state at the change, and the reconfig fault that
// submits voter-set changes. It owns no I/O: the simulation passes in how to take a turn, send,
// schedule, crash and trace (dependencies passed in, as js-libp2p's components take them).

import { changeVoters, type Command, type EpochClose, type Event as ReplicaEvent } from '../../consensus/index.ts';
import type { Random } from './random.ts';
import type { FaultLog } from './fault-log.ts';
import type { Group, Seat, Seats } from './seats.ts';
import { decideReplacement, defaultReplacementPolicy, type ReplacementCandidate } from '../../agent/voter-replacement.ts';
import type { MemberEvent } from '../../transports/membership/index.ts';
import { UnheardVoters } from '../../agent/membership-recovery.ts';
import { swimId } from './swim.ts';

export interface ReconfigOptions {
  readonly everyMs?: { readonly min: number; readonly max: number };
  readonly sizes?: readonly (3 | 5 | 7)[];
  readonly lose?: boolean;
  /** With `lose`: how long a voter is held dead before it is replaced (the agent's `voters.replaceAfter`; default 2 s here). */
  readonly replaceAfterMs?: number;
}

/** How long after a voter is lost the simulated membership declares it dead (SWIM's suspicion, roughly). */
export const deadAfterMs = 1000;
/** A submitted change that has not closed its epoch after this long is taken as lost (void, or its coordinator crashed). */
const changeInFlightMs = 5000;

export interface ReconfigContext {
  readonly seats: Seats;
  readonly agentCount: number;
  readonly options: ReconfigOptions | undefined;
  readonly rng: Random;
  readonly killed: ReadonlySet<number>;
  readonly trace: string[] | null;
  readonly faultLog: FaultLog;
  readonly faults: { reconfigurations: number };
  nowUs(): number;
  isUp(agent: number): boolean;
  incarnation(agent: number): number;
  stalled(agent: number): boolean;
  localMs(agent: number): number;
  impairedVoters(): number;
  faultBudget(): number;
  killForGood(agent: number): void;
  /** A turn of seat v (the simulator's write-ahead driver). */
  turn(v: number, ev: ReplicaEvent | null): void;
  /** Whether agent a reaches agent b now (both up, no cut either way). */
  reaches(a: number, b: number): boolean;
  /** A client's command handed on by an agent that no longer votes (the request event). */
  forward(from: number, to: number, proc: number, command: Command): void;
  /** The state at the change that opened `epoch`, from one agent to a new voter (and its resend timer). */
  sendState(from: number, to: number, epoch: number, bytes: number): void;
  /** A group was added (the simulator keeps per-epoch checkers). */
  groupAdded(group: Group): void;
  /** SWIM runs on every agent: each voter's dead verdicts come from it (heard()), not from the simulator's knowledge. */
  readonly membership: boolean;
  /** With membership: each seat's core is told which voters of its group SWIM holds alive (the 'reachable' hint). */
  readonly reachableHint: boolean;
}

/** A voter's name in a voters.change: the agent's index, as a peer id would be. */
export const voterName = (agent: number): string => `a${agent}`;

export class Reconfigurer {
  /** Epochs closed at two different states (must stay empty). */
  readonly disagreements: string[] = [];
  private readonly ctx: ReconfigContext;
  private changesSubmitted = 0;
  /** Agents lost for good, and when (virtual µs): what membership will call dead. */
  private readonly lostAtUs = new Map<number, number>();
  /** With membership: per observing agent, the agents its SWIM holds dead, and since when (virtual ms). */
  private readonly deadSeen = new Map<number, Map<number, number>>();
  /** Per seat, the voters of its group its agent's SWIM does not hold alive, for this incarnation. */
  private readonly unheard = new Map<number, { readonly inc: number; readonly voters: UnheardVoters }>();
  /** The last change submitted: its epoch and when (virtual µs). */
  private lastChange: { readonly epoch: number; readonly atUs: number } | null = null;

  constructor(ctx: ReconfigContext) {
    this.ctx = ctx;
  }

  /**
   * A seat's epoch closed, durably (Ready.closed): what an agent's driver does. The next epoch's
   * group is made from the change (the first close makes it; every later one must bring the same
   * state); the agent takes its seat there if it is a voter of it; voters new to the swarm's voting
   * are sent the state at the change; the commands its clients had waiting go to the next epoch.
   */
  onClose(voter: Seat, close: EpochClose): void {
    const { seats, trace } = this.ctx;
    voter.closeSeen = close;
    const command = close.command;
    if (command.op !== 'voters.change') throw new Error(`assertion: epoch ${voter.epoch} closed by ${command.op}`);
    let next = seats.groups[voter.epoch + 1];
    if (next === undefined) {
      next = seats.addGroup(changeVoters(command).map((name) => this.agentOfName(name)), close.machine);
      this.ctx.groupAdded(next);
      this.ctx.faultLog.reconfigure(next.epoch, next.members, this.ctx.nowUs() / 1000);
      if (trace !== null) trace.push(`${this.ctx.nowUs()} epoch ${next.epoch}: voters ${next.members.join(',')}`);
    } else if (JSON.stringify(close.machine) !== JSON.stringify(next.base) && this.disagreements.length < 10) {
      this.disagreements.push(`reconfiguration: epoch ${voter.epoch} closed at agent ${voter.agent} at another state than at the first agent to close it`);
    }
    const own = next.members.indexOf(voter.agent);
    if (own >= 0 && next.seats[own] < 0) this.join(next, own);
    for (let r = 0; r < next.members.length; r++) {
      // A voter of both epochs takes its new seat when its own old one closes.
      if (next.seats[r] < 0 && r !== own && seats.in(next.members[r], voter.epoch) < 0) this.sendState(voter.agent, next, r);
    }
    for (const cmd of close.requeue) this.handOn(voter.agent, next, cmd);
  }

  /** The state at the change reached a new voter: it joins (rule 6: it votes only from now on). */
  stateArrived(agent: number, epoch: number): void {
    const group = this.ctx.seats.groups[epoch];
    const r = group.members.indexOf(agent);
    if (group.seats[r] < 0) this.join(group, r);
  }

  /** The closing agent's resend timer: the state again, unless the new voter has it or is gone for good. */
  resendState(from: number, to: number, epoch: number): void {
    const group = this.ctx.seats.groups[epoch];
    const r = group.members.indexOf(to);
    if (group.seats[r] >= 0 || this.ctx.killed.has(to)) return;
    this.sendState(from, group, r);
  }

  /**
   * The reconfig fault: a voters.change submitted at a voter of the newest group, once every live
   * voter of it has joined (one change at a time, as automatic replacement does). With `lose`, a
   * voter is first lost for good (within the fault budget; an original voter while any is left) and
   * the change replaces it; otherwise the group moves to one of `sizes`, or, at the same size, a
   * voter is swapped for an agent that does not vote.
   */
  reconfigure(): void {
    const { seats, rng, killed, trace } = this.ctx;
    const group = seats.current;
    if (group.seats.some((id, r) => id < 0 && !killed.has(group.members[r]))) return;
    const pool = seats.nonMembers(this.ctx.agentCount).filter((a) => !killed.has(a) && this.ctx.isUp(a));
    const draw = (from: number[]): number => from.splice(rng.int(0, from.length - 1), 1)[0];
    const keep = group.members.filter((a) => !killed.has(a));
    let size = group.members.length;
    let reason: string;
    if (this.ctx.options?.lose === true) {
      // A voter lost for good, one at a time: automatic replacement (replace()) takes it from there.
      // The original voters go first, until none of them is left (issue 15's test).
      if (keep.length < size || this.ctx.impairedVoters() >= this.ctx.faultBudget()) return;
      const live = keep.filter((a) => this.ctx.isUp(a));
      const originals = live.filter((a) => seats.groups[0].members.includes(a));
      if (live.length === 0 || pool.length === 0) return;
      const victim = draw(originals.length > 0 ? originals : live);
      this.lostAtUs.set(victim, this.ctx.nowUs());
      this.ctx.killForGood(victim);
      if (trace !== null) trace.push(`${this.ctx.nowUs()} lost for good: ${victim}`);
      return;
    } else {
      const sizes = (this.ctx.options?.sizes ?? [size]).filter((k) => k <= keep.length + pool.length);
      if (sizes.length === 0) return;
      size = sizes[rng.int(0, sizes.length - 1)];
      if (size === keep.length) {
        if (pool.length === 0) return;
        draw(keep);
        reason = 'swap a voter for an agent that does not vote';
      } else {
        while (keep.length > size) draw(keep);
        reason = `move to ${size} voters`;
      }
    }
    const next = [...keep];
    while (next.length < size && pool.length > 0) next.push(draw(pool));
    if (next.length !== size) return; // nobody to take a lost voter's seat yet
    this.submit(group, next, reason);
  }

  /**
   * A member event as agent `observer`'s SWIM saw it: its view of who is dead, and, with the hint,
   * a 'reachable' event for each of its running seats whose group's view it changes (as an agent's
   * driver gives its core; a restarted agent starts with none).
   */
  heard(observer: number, e: MemberEvent): void {
    const m = /^voter-(\d+)$/.exec(e.member.id);
    if (m === null) return;
    if (this.ctx.reachableHint && this.ctx.isUp(observer)) {
      const inc = this.ctx.incarnation(observer);
      for (const v of this.ctx.seats.running(observer)) {
        let u = this.unheard.get(v);
        if (u === undefined || u.inc !== inc) {
          const seat = this.ctx.seats.all[v];
          this.unheard.set(v, (u = { inc, voters: new UnheardVoters(this.ctx.seats.groups[seat.epoch].members.map(swimId), seat.r) }));
        }
        const hint = u.voters.observe(e);
        if (hint !== null) this.ctx.turn(v, hint);
      }
    }
    let view = this.deadSeen.get(observer);
    if (view === undefined) this.deadSeen.set(observer, (view = new Map()));
    if (e.type === 'dead') view.set(Number(m[1]), this.ctx.nowUs() / 1000);
    else if (e.type === 'alive' || e.type === 'join') view.delete(Number(m[1]));
  }

  /**
   * Automatic replacement (`lose` mode), run periodically: every live voter of the newest group
   * asks the agent's own policy (agent/voter-replacement.ts) with what it sees — a voter lost for
   * good is dead to membership `deadAfterMs` after it went, reachability is the simulated network's
   * — and the one the policy picks submits the change.
   */
  replace(): void {
    const { seats } = this.ctx;
    const group = seats.current;
    const nowUs = this.ctx.nowUs();
    const nowMs = nowUs / 1000;
    // Without SWIM, a voter lost for good is dead to everyone deadAfterMs after it went.
    const known = new Map<string, number>();
    for (const a of group.members) {
      const at = this.lostAtUs.get(a);
      if (at !== undefined && nowUs - at >= deadAfterMs * 1000) known.set(voterName(a), at / 1000 + deadAfterMs);
    }
    const deadTo = (observer: number): Map<string, number> => {
      if (!this.ctx.membership) return known;
      const out = new Map<string, number>();
      for (const [b, sinceMs] of this.deadSeen.get(observer) ?? []) if (group.members.includes(b)) out.set(voterName(b), sinceMs);
      return out;
    };
    const inFlight = this.lastChange !== null && this.lastChange.epoch === group.epoch && nowUs - this.lastChange.atUs < changeInFlightMs * 1000;
    const voters = group.members.map(voterName);
    // The agent's policy, with a replaceAfter short enough for simulated runs of seconds; every agent here is a worker.
    const policy = { ...defaultReplacementPolicy, replaceAfterMs: this.ctx.options?.replaceAfterMs ?? 2000, roles: ['worker'] };
    for (let r = 0; r < group.members.length; r++) {
      const a = group.members[r];
      const v = group.seats[r];
      if (v < 0 || !this.ctx.isUp(a) || this.ctx.stalled(a) || seats.all[v].replica.closedByChange() !== null) continue;
      const reachable = new Set(group.members.filter((b) => b === a || this.ctx.reaches(a, b)).map(voterName));
      const candidates: ReplacementCandidate[] = seats.nonMembers(this.ctx.agentCount)
        .map((b) => ({ id: voterName(b), role: 'worker', battery: null, alive: this.ctx.isUp(b) && !this.ctx.killed.has(b) && this.ctx.reaches(a, b) }));
      const deadSinceMs = deadTo(a);
      if (deadSinceMs.size === 0) continue;
      const d = decideReplacement({ self: voterName(a), nowMs, voters, deadSinceMs, reachable, candidates, changeInFlight: inFlight }, policy);
      if (d.kind !== 'replace') continue;
      this.submitAt(v, group, d.voters.map((name) => this.agentOfName(name)), `automatic: ${d.reason}`);
      return;
    }
  }

  /** The change, at a voter of the group that is up and whose epoch is still open there. */
  private submit(group: Group, next: readonly number[], reason: string): void {
    const { seats, rng } = this.ctx;
    const at = group.seats.filter((v) => {
      if (v < 0) return false;
      const a = seats.all[v].agent;
      return this.ctx.isUp(a) && !this.ctx.stalled(a) && seats.all[v].replica.closedByChange() === null;
    });
    if (at.length === 0) return;
    this.submitAt(at[rng.int(0, at.length - 1)], group, next, reason);
  }

  private submitAt(v: number, group: Group, next: readonly number[], reason: string): void {
    const { seats, trace } = this.ctx;
    const agent = seats.all[v].agent;
    const command = {
      clientId: `x${this.changesSubmitted++}`, requestId: 1, timestampMs: this.ctx.localMs(agent),
      op: 'voters.change', epoch: group.epoch, voters: next.map(voterName).join(','), reason,
    } as Command;
    this.ctx.faults.reconfigurations++;
    this.lastChange = { epoch: group.epoch, atUs: this.ctx.nowUs() };
    if (trace !== null) trace.push(`${this.ctx.nowUs()} reconfigure at ${agent}: epoch ${group.epoch} → ${next.join(',')} (${reason})`);
    this.ctx.turn(v, { type: 'submit', command });
  }

  /** Member r of the group takes its seat, and its first turn (which asks for its first tick). */
  private join(group: Group, r: number): void {
    const seat = this.ctx.seats.join(group, r);
    if (this.ctx.trace !== null) this.ctx.trace.push(`${this.ctx.nowUs()} join ${seat.agent} epoch ${group.epoch} as r${r}`);
    this.ctx.turn(seat.id, null);
    for (const e of this.ctx.seats.retireSettled(this.ctx.killed)) if (this.ctx.trace !== null) this.ctx.trace.push(`${this.ctx.nowUs()} epoch ${e} retired`);
  }

  /** State transfer to a new voter: the state at the change, from an agent that closed the epoch before. */
  private sendState(from: number, group: Group, r: number): void {
    this.ctx.sendState(from, group.members[r], group.epoch, 64 + JSON.stringify(group.base ?? null).length);
  }

  /** A command handed on at a close: to the agent's own new seat, else to a voter of the next group. */
  private handOn(from: number, next: Group, cmd: Command): void {
    const own = next.members.indexOf(from);
    if (own >= 0 && next.seats[own] >= 0) { this.ctx.turn(next.seats[own], { type: 'submit', command: cmd }); return; }
    if (!cmd.clientId.startsWith('c')) return; // a change that lost the race: void (rule 8)
    const proc = Number(cmd.clientId.slice(1));
    this.ctx.forward(from, next.members[proc % next.members.length], proc, cmd);
  }

  private agentOfName(name: string): number {
    const a = Number(name.slice(1));
    if (!name.startsWith('a') || !Number.isInteger(a) || a < 0 || a >= this.ctx.agentCount) throw new Error(`assertion: voter ${name} is no agent of this swarm`);
    return a;
  }
}
