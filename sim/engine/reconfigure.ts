// The simulator's side of reconfiguration (docs/reconfiguration.md): what an agent's driver does
// when its epoch closes, how a new voter gets the state at the change, and the reconfig fault that
// submits voter-set changes. It owns no I/O: the simulation passes in how to take a turn, send,
// schedule, crash and trace (dependencies passed in, as js-libp2p's components take them).

import { changeVoters, type Command, type EpochClose, type Event as ReplicaEvent } from '../../consensus/index.ts';
import type { Random } from './random.ts';
import type { FaultLog } from './fault-log.ts';
import type { Group, Seat, Seats } from './seats.ts';

export interface ReconfigOptions {
  readonly everyMs?: { readonly min: number; readonly max: number };
  readonly sizes?: readonly (3 | 5 | 7)[];
  readonly lose?: boolean;
}

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
  /** A client's command handed on by an agent that no longer votes (the request event). */
  forward(from: number, to: number, proc: number, command: Command): void;
  /** The state at the change that opened `epoch`, from one agent to a new voter (and its resend timer). */
  sendState(from: number, to: number, epoch: number, bytes: number): void;
  /** A group was added (the simulator keeps per-epoch checkers). */
  groupAdded(group: Group): void;
}

/** A voter's name in a voters.change: the agent's index, as a peer id would be. */
export const voterName = (agent: number): string => `a${agent}`;

export class Reconfigurer {
  /** Epochs closed at two different states (must stay empty). */
  readonly disagreements: string[] = [];
  private readonly ctx: ReconfigContext;
  private changesSubmitted = 0;

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
    const { seats, rng, killed } = this.ctx;
    const group = seats.current;
    if (group.seats.some((id, r) => id < 0 && !killed.has(group.members[r]))) return;
    const pool = seats.nonMembers(this.ctx.agentCount).filter((a) => !killed.has(a) && this.ctx.isUp(a));
    const draw = (from: number[]): number => from.splice(rng.int(0, from.length - 1), 1)[0];
    const keep = group.members.filter((a) => !killed.has(a));
    let size = group.members.length;
    let reason: string;
    if (keep.length < size) {
      reason = 'replace voters lost for good';
    } else if (this.ctx.options?.lose === true && this.ctx.impairedVoters() < this.ctx.faultBudget()) {
      // The original voters go first, one at a time, until none of them is left (issue 15's test).
      const live = keep.filter((a) => this.ctx.isUp(a));
      const originals = live.filter((a) => seats.groups[0].members.includes(a));
      if (live.length === 0 || pool.length === 0) return;
      const victim = draw(originals.length > 0 ? originals : live);
      keep.splice(keep.indexOf(victim), 1);
      this.ctx.killForGood(victim);
      reason = `replace agent ${victim}, lost for good`;
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

  /** The change, at a voter of the group that is up and whose epoch is still open there. */
  private submit(group: Group, next: readonly number[], reason: string): void {
    const { seats, rng, trace } = this.ctx;
    const at = group.seats.filter((v) => {
      if (v < 0) return false;
      const a = seats.all[v].agent;
      return this.ctx.isUp(a) && !this.ctx.stalled(a) && seats.all[v].replica.closedByChange() === null;
    });
    if (at.length === 0) return;
    const v = at[rng.int(0, at.length - 1)];
    const agent = seats.all[v].agent;
    const command = {
      clientId: `x${this.changesSubmitted++}`, requestId: 1, timestampMs: this.ctx.localMs(agent),
      op: 'voters.change', epoch: group.epoch, voters: next.map(voterName).join(','), reason,
    } as Command;
    this.ctx.faults.reconfigurations++;
    if (trace !== null) trace.push(`${this.ctx.nowUs()} reconfigure at ${agent}: epoch ${group.epoch} → ${next.join(',')} (${reason})`);
    this.ctx.turn(v, { type: 'submit', command });
  }

  /** Member r of the group takes its seat, and its first turn (which asks for its first tick). */
  private join(group: Group, r: number): void {
    const seat = this.ctx.seats.join(group, r);
    if (this.ctx.trace !== null) this.ctx.trace.push(`${this.ctx.nowUs()} join ${seat.agent} epoch ${group.epoch} as r${r}`);
    this.ctx.turn(seat.id, null);
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
