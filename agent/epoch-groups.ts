// The consensus groups an agent runs, one per epoch of the voter set (docs/reconfiguration.md, "One
// consensus group per epoch"). Each group is its own replica (on an agent that votes in it), over
// its own storage, with its own consensus RPC and snapshot transfer; the newest is `current`:
// clients' commands go there, readiness and staleness are about its voters.
//
// A group closes when its replica executes the voters.change that ends its epoch (Ready.closed,
// durable). Then, once: the next epoch is made whole on disk (agent/epoch-store.ts) — with the state
// at the change as its group's first record where this agent votes in it (rule 6) — its group is
// opened and becomes current, the commands the closed group handed on are proposed there (or
// forwarded, on an agent that no longer votes) with their clients still waiting, and each voter new
// in the next epoch is offered the state at the change (a join offer) until it acknowledges it. A
// new voter accepts an offer only for an epoch newer than its own, naming it among the voters, from
// a peer it trusts as a voter; it makes the epoch whole on disk before it acknowledges.
//
// A closed group keeps running, answering its peers' recoveries and Commits about the old epoch
// (rule 7). Retiring it (rule 9) is not built yet: an agent keeps the groups it opened until it
// stops, and on a restart opens the newest epoch's group and the one before it.

import type { Registry } from 'prom-client';
import {
  changeVoters, type Command, type CommandResult, defaultQuorumConfig, epochBaseRecord, type EpochClose, type ExecutedBatch,
  formatId, isVotersChange, quorums, type ReplicaStorage,
} from '../consensus/index.ts';
import { ConsensusRpc } from '../transports/rpc/consensus-rpc.ts';
import { SnapshotTransfer } from '../transports/rpc/snapshot-transfer.ts';
import type { JoinOffer } from '../transports/rpc/join-transfer.ts';
import type { CoveyNode } from '../transports/node.ts';
import { ReplicaDriver } from './driver.ts';
import type { EpochRecord } from './epoch-store.ts';
import type { Logger } from './log.ts';
import type { AgentStorage } from './ports.ts';

export interface Group {
  readonly epoch: number;
  /** Peer ids in replica order. */
  readonly voters: readonly string[];
  /** This agent's replica index in the group, or null where it does not vote. */
  readonly self: number | null;
  readonly storage: ReplicaStorage | null;
  readonly driver: ReplicaDriver | null;
  readonly rpc: ConsensusRpc;
  readonly transfer: SnapshotTransfer;
  /** Voters heard on this group's consensus stream: they hold its state (rule 9 counts them). */
  readonly heard: Set<string>;
}

/**
 * Why agent `self`, at epoch `current`, refuses a join offer from `from`, or null to take it. The
 * offer must name `self` among its voters and be for an epoch newer than `current` (a duplicate of
 * the current one is taken again, so the sender hears its ack); and it must come from a voter this
 * agent trusts (`trusted`: a voter of its current epoch; they are the ones that execute the change).
 * A roster member that is no voter cannot move anyone to an epoch of its own making, even one
 * naming itself among the voters.
 */
export function joinRefusal(self: string, current: number, from: string, offer: JoinOffer, trusted: (peer: string) => boolean): string | null {
  if (!offer.voters.includes(self)) return `this agent is not among the voters of epoch ${offer.epoch}`;
  if (offer.epoch < current) return `this agent is at epoch ${current} already`;
  if (!trusted(from)) return `${from} is not a voter of epoch ${current}, the newest this agent knows`;
  return null;
}

export interface EpochGroupsOptions {
  readonly self: string;
  /** Epoch 0's voters: the config's. */
  readonly voters0: readonly string[];
  readonly node: () => CoveyNode;
  readonly storage: AgentStorage;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly replica: { readonly tickMs?: number; readonly snapshotEveryApplied?: number };
  /** Fault injection: traffic with these peers is dropped (the agent's set, read live). */
  readonly cut: ReadonlySet<string>;
  /** A message from voter `peer` of some group reached this agent. */
  heard(peer: string): void;
  /** A command another agent forwarded (any epoch's RPC serves them; the agent routes it). */
  onSubmit(command: Command, from: string): Promise<CommandResult>;
  /** A command this agent can no longer coordinate (it left the voters): hand it to a voter. */
  forward(command: Command): Promise<CommandResult>;
  onExecuted(batch: ExecutedBatch): void;
  /** The newest group changed (a close here, or a join). */
  onCurrent(group: Group): void;
  /** Offer the state at a change to a voter new in the next epoch, until it acknowledges. */
  offerJoin(to: string, offer: JoinOffer): void;
  readonly requestTimeoutMs: number;
}

export class EpochGroups {
  readonly #o: EpochGroupsOptions;
  readonly #groups = new Map<number, Group>();
  #current: Group | null = null;
  /** Opening a next epoch (a close, a join) one at a time. */
  #changing: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(o: EpochGroupsOptions) {
    this.#o = o;
  }

  get current(): Group {
    if (this.#current === null) throw new Error('assertion: epoch groups read before start');
    return this.#current;
  }

  /** Every group open, oldest first. */
  all(): Group[] {
    return [...this.#groups.values()].sort((a, b) => a.epoch - b.epoch);
  }

  /** Opens the newest epoch this agent moved to (and the one before it, where it voted there). */
  async start(): Promise<void> {
    const records: EpochRecord[] = [{ epoch: 0, voters: this.#o.voters0, change: '' }, ...this.#o.storage.epochs.list()];
    const newest = records[records.length - 1];
    const before = records.length > 1 ? records[records.length - 2] : null;
    if (before !== null && before.voters.includes(this.#o.self) && before.epoch > this.#o.storage.epochs.retiredThrough()) await this.#open(before);
    await this.#open(newest);
    this.#setCurrent(this.#groups.get(newest.epoch)!);
  }

  /** Drivers finish their turns in flight (the network still runs). */
  async stopDrivers(): Promise<void> {
    this.#stopped = true;
    await this.#changing.catch(() => {});
    await Promise.all(this.all().map((g) => g.driver?.stop()));
  }

  async stop(): Promise<void> {
    for (const g of this.all().reverse()) {
      await g.transfer.stop();
      await g.rpc.stop();
      await g.storage?.close();
    }
    this.#groups.clear();
  }

  /** Whether to accept a join offer from `from`, or why not (joinRefusal). */
  joinRefusal(from: string, offer: JoinOffer, trusted: (peer: string) => boolean): string | null {
    return joinRefusal(this.#o.self, this.current.epoch, from, offer, trusted);
  }

  /** An accepted join offer: the epoch is made whole on disk and its group opened before this resolves. */
  join(from: string, offer: JoinOffer): Promise<void> {
    return this.#serially(async () => {
      if (this.#groups.has(offer.epoch) || this.current.epoch >= offer.epoch) return;
      this.#o.logger.info({ epoch: offer.epoch, from, voters: offer.voters }, 'joining the voters of a new epoch with the state at its change');
      await this.#makeEpoch({ epoch: offer.epoch, voters: offer.voters, change: offer.change }, offer.machine);
    });
  }

  /**
   * A trusted voter announced a newer epoch (agent/voters-sync.ts). An agent not among its voters
   * follows it, as a non-voter, to forward its clients' commands to those voters — a worker, or a
   * voter removed meanwhile (rule 10: back from a long outage, its old epoch may be retired
   * everywhere else); its old group stays open until retired. One named among the new voters gets
   * there by executing the change, or by its join offer: it cannot vote without the state.
   */
  learn(from: string, epoch: number, voters: readonly string[]): void {
    if (voters.includes(this.#o.self) || epoch <= this.current.epoch) return;
    void this.#serially(async () => {
      if (this.#groups.has(epoch) || this.current.epoch >= epoch) return;
      this.#o.logger.info({ epoch, from, voters }, 'the voters moved to a newer epoch: forwarding to them');
      await this.#makeEpoch({ epoch, voters, change: `announced by ${from}` }, null);
    });
  }

  #serially(fn: () => Promise<void>): Promise<void> {
    const next = this.#changing.then(fn);
    this.#changing = next.catch((err: unknown) => { this.#o.logger.error({ err }, 'opening the next epoch failed'); });
    return next;
  }

  async #makeEpoch(record: EpochRecord, machine: unknown): Promise<void> {
    const i = record.voters.indexOf(this.#o.self);
    const base = i < 0 ? null : epochBaseRecord(record.voters.length, machine);
    await this.#o.storage.epochs.create(record, base);
    if (this.#stopped) return;
    const g = await this.#open(record);
    this.#setCurrent(g);
  }

  #setCurrent(g: Group): void {
    this.#current = g;
    this.#o.onCurrent(g);
    for (const old of this.all()) if (old.epoch < g.epoch - 1) this.#retire(old);
    this.#retireBefore(g.epoch);
  }

  /** A group's close (once durable): the next epoch, the hand-on, the join offers. */
  #onClosed(g: Group, close: EpochClose): void {
    void this.#serially(async () => {
      if (!isVotersChange(close.command)) throw new Error(`assertion: epoch ${g.epoch} closed by ${close.command.op}`);
      const voters = changeVoters(close.command);
      const epoch = g.epoch + 1;
      if (!this.#groups.has(epoch) && this.current.epoch < epoch) {
        this.#o.logger.info({ epoch, voters, change: formatId(close.change) }, `epoch ${g.epoch} closed; moving to epoch ${epoch}`);
        await this.#makeEpoch({ epoch, voters, change: formatId(close.change) }, close.machine);
      }
      const next = this.#groups.get(epoch);
      for (const cmd of close.requeue) {
        const p = next?.driver != null ? next.driver.submit(cmd, this.#o.requestTimeoutMs) : this.#o.forward(cmd);
        g.driver?.handOver(cmd, p);
        p.catch(() => {}); // the clients waiting for it get the outcome through handOver
      }
      // Voters new in the next epoch need the state at the change before they can vote (rule 6).
      if (close.machine !== null) {
        for (const v of voters) if (!g.voters.includes(v)) this.#o.offerJoin(v, { epoch, voters, change: formatId(close.change), machine: close.machine });
      }
    });
  }

  /**
   * Rule 9: epoch E−1's group is retired here once every voter of epoch E holds the state at the
   * change, which it shows by speaking in E's group (it opened that group from that state); and any
   * group two or more epochs behind the newest, whose next epoch has closed in turn. A voter lost
   * for good never speaks: its epoch's predecessor then waits for the next change.
   */
  #retireBefore(epoch: number): void {
    const next = this.#groups.get(epoch);
    const old = this.#groups.get(epoch - 1);
    if (next === undefined || old === undefined) return;
    if (!next.voters.every((v) => v === this.#o.self || next.heard.has(v))) return;
    this.#retire(old);
  }

  #retire(g: Group): void {
    if (!this.#groups.delete(g.epoch)) return;
    this.#o.logger.info({ epoch: g.epoch }, `epoch ${g.epoch} retired: the voters after it hold the state at its change (docs/reconfiguration.md rule 9)`);
    void this.#serially(async () => {
      await g.driver?.stop();
      await g.transfer.stop();
      await g.rpc.stop();
      if (g.storage === null) return;
      await g.storage.close();
      // Nothing reads a retired group's records again: a device keeps one epoch's log, not all.
      this.#o.storage.epochs.retire(g.epoch);
      this.#o.logger.info({ epoch: g.epoch }, `epoch ${g.epoch}'s consensus records removed from this agent's disk`);
    });
  }

  async #open(record: EpochRecord): Promise<Group> {
    const o = this.#o;
    const { epoch, voters } = record;
    const i = voters.indexOf(o.self);
    const self = i < 0 ? null : i;
    const logger = o.logger.child({ epoch });
    const storage = self === null ? null : await o.storage.open(epoch);
    const holder: { g: Group | null } = { g: null };
    const rpc = new ConsensusRpc({
      node: o.node(), voters, self, epoch, logger: logger.child({ part: 'rpc' }), registry: o.registry,
      onMessage: (from, msg) => {
        if (o.cut.has(voters[from])) return;
        o.heard(voters[from]);
        const g = holder.g;
        if (g === null) return;
        if (!g.heard.has(voters[from])) {
          g.heard.add(voters[from]);
          this.#retireBefore(g.epoch);
        }
        g.driver?.receive(from, msg);
      },
      onSubmit: (command, from) => o.onSubmit(command, from),
    });
    const transfer = new SnapshotTransfer({
      node: o.node(), voters, self, epoch, logger: logger.child({ part: 'snapshots' }), registry: o.registry,
      onSnapshot: (from, raw) => {
        if (o.cut.has(voters[from])) return;
        holder.g?.driver?.receiveSnapshot(from, raw);
      },
    });
    let driver: ReplicaDriver | null = null;
    if (self !== null) {
      const q = quorums(defaultQuorumConfig(voters.length));
      driver = await ReplicaDriver.start({
        replica: { self, n: voters.length, f: q.f, e: q.e, epoch, tickMs: o.replica.tickMs, snapshotEveryApplied: o.replica.snapshotEveryApplied },
        storage: storage!,
        logger: logger.child({ part: 'replica' }),
        send: (envs) => {
          rpc.send(o.cut.size === 0 ? envs : envs.filter((e) => !o.cut.has(voters[e.to])));
        },
        sendSnapshots: (envs) => {
          for (const e of envs) {
            if (o.cut.has(voters[e.to])) continue;
            logger.debug({ to: e.to, peerExecuted: e.peerExecuted, applied: e.msg.applied, truncated: e.msg.truncated }, 'a voter lags: sending it a state-transfer snapshot');
            transfer.send(e.to, e.msg);
          }
        },
        onExecuted: (batch) => o.onExecuted(batch),
        onClosed: (close) => { if (holder.g !== null) this.#onClosed(holder.g, close); },
      });
    }
    const g: Group = { epoch, voters, self, storage, driver, rpc, transfer, heard: new Set() };
    holder.g = g;
    this.#groups.set(epoch, g);
    await rpc.start();
    await transfer.start();
    return g;
  }
}
