// Which agent votes in which epoch, for the simulator (docs/reconfiguration.md, "One consensus
// group per epoch"). A *group* is an epoch's voter set: its member agents in replica order and its
// quorums. A *seat* is one agent's replica in one group, with its own state machine and disk: an
// agent that voted in epochs 0 and 1 has two seats, and keeps its epoch-0 seat after the close, so
// that its closed core can still tell laggards of epoch 0 about the change (rule 7).
//
// Without reconfiguration there is one group, epoch 0, whose members are agents 0..n−1 and whose
// seat ids are the agents' own indices: everything the simulator did before is numbered as it was.
// This file holds the bookkeeping only; the simulator drives the seats (turns, fsyncs, closes).

import { CoveyStateMachine, defaultQuorumConfig, epochBaseRecord, Replica, type EpochClose, type QuorumConfig, type ReplicaOptions } from '../../consensus/index.ts';
import { SimDisk } from './disk.ts';

export interface Seat {
  readonly id: number;
  readonly agent: number;
  readonly epoch: number;
  /** Its replica index in its group. */
  readonly r: number;
  replica: Replica;
  machine: CoveyStateMachine;
  readonly disk: SimDisk;
  /** When this seat's latest fsync completes; fsyncs complete in order, like one disk queue. */
  fsyncDoneUs: number;
  /**
   * Fsyncs of turns that released nothing (no messages, no replies), in completion order. They
   * need no event: they are applied when anything next looks at the disk (a crash, the settle
   * check), each counted done if its time has come. Half the events of a busy run were these.
   */
  readonly quietSyncs: { readonly upTo: number; readonly doneUs: number }[];
  /** The close of its epoch this incarnation acted on (a restart re-derives it, and it is acted on again). */
  closeSeen: EpochClose | null;
}

export interface Group {
  readonly epoch: number;
  /** Member agents in replica order. */
  readonly members: readonly number[];
  readonly quorum: QuorumConfig;
  /** Seat ids by replica index; −1 until that member joined (a new voter joins once it holds the state at the change). */
  readonly seats: number[];
  /** The state machine's snapshot at the change that opened this epoch (undefined for epoch 0). */
  readonly base: unknown;
  /**
   * Rule 9 (docs/reconfiguration.md): once every voter of the next epoch holds the state at the
   * change, nothing of this epoch is needed by anyone; its seats stop (no ticks, messages dropped),
   * a voter that never closed it included (rule 10: it is no voter any more).
   */
  retired: boolean;
}

export type SeatOptions = (group: Group, r: number) => ReplicaOptions;

export class Seats {
  readonly all: Seat[] = [];
  readonly groups: Group[] = [];
  private readonly byAgent: number[][] = [];
  private readonly options: SeatOptions;
  private readonly makeMachine: () => CoveyStateMachine;

  constructor(agents: number, options: SeatOptions, makeMachine: () => CoveyStateMachine) {
    this.options = options;
    this.makeMachine = makeMachine;
    for (let a = 0; a < agents; a++) this.byAgent.push([]);
  }

  /** The newest group (the one new commands go to). */
  get current(): Group {
    return this.groups[this.groups.length - 1];
  }

  /** Adds the group of the next epoch (or epoch 0); nobody has joined it yet. */
  addGroup(members: readonly number[], base: unknown): Group {
    const seen = new Set(members);
    if (seen.size !== members.length) throw new Error(`assertion: a voter twice in the group of epoch ${this.groups.length}: ${members.join(',')}`);
    const group: Group = { epoch: this.groups.length, members, quorum: defaultQuorumConfig(members.length), seats: members.map(() => -1), base, retired: false };
    this.groups.push(group);
    return group;
  }

  /**
   * Member r of the group takes its seat: in epoch 0 a new replica; later, a replica restored from
   * a disk that holds the state at the change as its snapshot (what state transfer gives it).
   */
  join(group: Group, r: number): Seat {
    if (group.seats[r] >= 0) throw new Error(`assertion: agent ${group.members[r]} joined epoch ${group.epoch} twice`);
    const machine = this.makeMachine();
    const disk = new SimDisk();
    const options = this.options(group, r);
    let replica: Replica;
    if (group.base === undefined) replica = new Replica(options, machine);
    else {
      disk.append([epochBaseRecord(group.members.length, group.base)]);
      disk.sync();
      replica = Replica.restore(options, disk.load(), machine);
    }
    const seat: Seat = { id: this.all.length, agent: group.members[r], epoch: group.epoch, r, replica, machine, disk, fsyncDoneUs: 0, quietSyncs: [], closeSeen: null };
    this.all.push(seat);
    group.seats[r] = seat.id;
    this.byAgent[seat.agent].push(seat.id);
    return seat;
  }

  /** A restarted seat: its replica rebuilt from its disk alone. */
  restore(seat: Seat): void {
    seat.machine = this.makeMachine();
    seat.replica = Replica.restore(this.options(this.groups[seat.epoch], seat.r), seat.disk.load(), seat.machine);
    seat.closeSeen = null;
  }

  /** The agent's seats, oldest epoch first. */
  of(agent: number): readonly number[] {
    return this.byAgent[agent];
  }

  /** The agent's seat in its newest epoch, or −1 (it never voted, or that epoch is retired). */
  newest(agent: number): number {
    const s = this.byAgent[agent];
    const v = s.length === 0 ? -1 : s[s.length - 1];
    return v >= 0 && !this.retired(v) ? v : -1;
  }

  /** Is seat v's epoch retired (rule 9)? */
  retired(v: number): boolean {
    return this.groups[this.all[v].epoch].retired;
  }

  /** The agent's seats that still run (not retired), oldest epoch first. */
  running(agent: number): number[] {
    return this.byAgent[agent].filter((v) => !this.retired(v));
  }

  /**
   * Retires every epoch whose next group has all its voters joined, but those lost for good (they
   * hold the state at the change, so nobody needs the old epoch any more). Returns the epochs retired.
   */
  retireSettled(lost: ReadonlySet<number>): number[] {
    const out: number[] = [];
    for (let e = 0; e + 1 < this.groups.length; e++) {
      const next = this.groups[e + 1];
      if (this.groups[e].retired || next.members.some((a, r) => next.seats[r] < 0 && !lost.has(a))) continue;
      this.groups[e].retired = true;
      out.push(e);
    }
    return out;
  }

  /**
   * The seat where the agent's own clients submit: its newest, unless that epoch closed there (its
   * commands then go to a voter of the newest group, like a worker's). −1 when it has none.
   */
  open(agent: number): number {
    const v = this.newest(agent);
    return v >= 0 && this.all[v].replica.closedByChange() === null ? v : -1;
  }

  /** The agent's seat in this epoch, or −1. */
  in(agent: number, epoch: number): number {
    const group = this.groups[epoch];
    if (group === undefined) return -1;
    const r = group.members.indexOf(agent);
    return r < 0 ? -1 : group.seats[r];
  }

  /** The agent a replica index of an epoch's group stands for. */
  agentOf(epoch: number, r: number): number {
    return this.groups[epoch].members[r];
  }

  /** Is the agent a voter of the newest group? */
  isMember(agent: number): boolean {
    return this.current.members.includes(agent);
  }

  /** The agents that are not voters of the newest group, in index order. */
  nonMembers(agents: number): number[] {
    const out: number[] = [];
    for (let a = 0; a < agents; a++) if (!this.isMember(a)) out.push(a);
    return out;
  }

  /** The seats of a group that have joined. */
  joined(group: Group): Seat[] {
    return group.seats.filter((id) => id >= 0).map((id) => this.all[id]);
  }
}
