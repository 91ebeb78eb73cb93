// An in-memory group of replicas with a fully controllable network, for unit tests, property
// tests and the model checker. It plays the driver's part as DESIGN.md asks: a step's early
// messages (Ready.early) leave at once; its records are made durable, and only then its other
// messages leave — the replica's own votes among them, handed back to it — and its replies.
//
// Two ways to make a step durable (ClusterOptions.sync):
// - 'immediate' (the default): right after the step, as if every fsync were instant; the
//   replica's own votes are then handed back to it at once, before anything else happens.
// - 'explicit': a step's Ready waits in `unsynced[r]` until `sync(r)` makes the oldest one
//   durable; its messages, own votes included, then join the network like any other. A crash
//   loses what was not synced — after its early effects may already have left. This is what the
//   model checker and the crash property tests explore.
// A restart rebuilds a replica from storage.

import { Replica, type StateMachine } from './core/replica.ts';
import type { ReplicaOptions } from './core/config.ts';
import type { InstanceId, ReplicaId } from './core/ids.ts';
import { epochBaseRecord, type Batch, type ClientReply, type Deps, type Envelope, type EpochClose, type Event, type Payload, type Ready, type SnapshotEnvelope } from './core/types.ts';
import { MemoryStorage } from './storage/memory.ts';
import { CoveyStateMachine } from './statemachine/machine.ts';
import {
  checkAgreementAndVisibility, checkEpochClose, checkExecution, checkLocalState, checkMessages, ownershipViolation, type ReplicaView,
} from './core/invariants.ts';
import type { Command } from './statemachine/commands.ts';

export interface ClusterOptions extends Omit<ReplicaOptions, 'self'> {
  /** Makes each replica's state machine; defaults to Covey's key-value store and task board. */
  readonly stateMachine?: () => StateMachine;
  /**
   * The replica class to run; defaults to the real core. The model checker's test-only variants
   * (sim/check/model/variants.ts) pass a subclass that reintroduces a known bug.
   */
  readonly replicaClass?: typeof Replica;
  /** When a step's records become durable; see the header. Default 'immediate'. */
  readonly sync?: 'immediate' | 'explicit';
  /**
   * The state machine every replica starts from (a snapshot of it), instead of an empty one: the
   * group of a later epoch starts from the state at the change that closed the one before
   * (docs/reconfiguration.md; consensus/epochs.ts). Each storage begins with it as its snapshot.
   */
  readonly base?: unknown;
  /** Which replicas are up at the start (default all); the others join by `restart`. */
  readonly joined?: readonly boolean[];
}

/** A step's effects that wait for its records to be durable (sync 'explicit'). */
export interface UnsyncedTurn {
  readonly persist: Ready['persist'];
  readonly messages: readonly Envelope[];
  readonly snapshots: readonly SnapshotEnvelope[];
  readonly replies: readonly ClientReply[];
  readonly closed: EpochClose | null;
}

/** Ghost state for the invariants: what the protocol said, not what a replica holds. */
export interface Ghost {
  /** payload(id) and D0(id): the coordinator's PreAccept (INV5). */
  readonly proposals: Map<InstanceId, { cmd: Batch; dep: Deps }>;
  /** Every (c, D) sent in an Accept or Commit, per id and ballot (INV6, INV7). */
  readonly accepts: Map<InstanceId, Map<number, { cmd: Payload; dep: Deps }[]>>;
  readonly commits: Map<InstanceId, { b: number; cmd: Payload; dep: Deps }[]>;
  /** Senders of ballot-carrying messages that must come from the ballot's owner (INV6). */
  readonly wrongOwner: string[];
}

/** The replies a replica casts as votes; under 'immediate' sync its own come straight back to it. */
function isVote(msg: Envelope['msg']): boolean {
  return msg.type === 'PreAcceptOK' || msg.type === 'AcceptOK' || msg.type === 'RecoverOK' || msg.type === 'ValidateOK';
}

export class Cluster {
  readonly n: number;
  readonly replicas: Replica[] = [];
  readonly storages: MemoryStorage[] = [];
  readonly machines: StateMachine[] = [];
  readonly up: boolean[] = [];
  /** Messages in flight, in the order they were sent. */
  network: Envelope[] = [];
  /** State-transfer snapshots in flight; delivered by `deliverSnapshots` (each tickAll). */
  snapshotsInFlight: SnapshotEnvelope[] = [];
  readonly replies: ClientReply[][] = [];
  /** Per replica, the close of the epoch once it is durable there (Ready.closed; docs/reconfiguration.md). */
  readonly closes: (EpochClose | null)[] = [];
  /** Per replica, its steps not yet durable, oldest first (sync 'explicit' only). */
  readonly unsynced: UnsyncedTurn[][] = [];
  readonly ghost: Ghost = { proposals: new Map(), accepts: new Map(), commits: new Map(), wrongOwner: [] };
  private readonly options: ClusterOptions;
  /** Proposals the ghost holds whose PreAccept has not left yet (it waits for the coordinator's sync). */
  private readonly unsentProposals = new Set<InstanceId>();
  nowMs = 0;

  constructor(options: ClusterOptions) {
    this.options = options;
    this.n = options.n;
    for (let r = 0; r < this.n; r++) {
      const storage = new MemoryStorage({ keepHistory: true });
      this.storages.push(storage);
      this.machines.push(this.makeStateMachine());
      if (options.base === undefined) this.replicas.push(new (options.replicaClass ?? Replica)({ ...options, self: r }, this.machines[r]));
      else {
        storage.appendSync([epochBaseRecord(this.n, options.base)]);
        this.replicas.push((options.replicaClass ?? Replica).restore({ ...options, self: r }, storage.loadSync(), this.machines[r]));
      }
      this.up.push(options.joined?.[r] ?? true);
      this.replies.push([]);
      this.closes.push(null);
      this.unsynced.push([]);
    }
  }

  private makeStateMachine(): StateMachine {
    return this.options.stateMachine?.() ?? new CoveyStateMachine();
  }

  /** Feed one event to replica r and honour its Ready: persist, then send, then reply. */
  step(r: ReplicaId, ev: Event): void {
    if (!this.up[r]) throw new Error(`replica ${r} is down`);
    const replica = this.replicas[r];
    replica.step(ev);
    this.honour(r, replica.takeReady());
  }

  private honour(r: ReplicaId, ready: Ready): void {
    for (const env of ready.early) {
      if (env.to === r) throw new Error(`assertion: replica ${r} sent itself an early ${env.msg.type}`);
      // An early PreAccept of an id whose earlier proposal a crash lost unsent replaces it too (below).
      if (env.msg.type === 'PreAccept' && this.unsentProposals.delete(env.msg.id)) this.ghost.proposals.delete(env.msg.id);
      this.observe(env);
      this.network.push(env);
    }
    // A proposal is the coordinator's from the moment its own state holds it (INV5 compares the
    // replicas' state with it), even while its PreAccept waits for the sync. One that a crash lost
    // before its PreAccept left was never proposed to anyone: a restarted coordinator may allocate
    // its id again (it skips only the ids that could have left early), and the new one replaces it.
    for (const env of ready.messages) {
      const m = env.msg;
      if (m.type !== 'PreAccept') continue;
      if (this.unsentProposals.has(m.id)) this.ghost.proposals.delete(m.id);
      else if (this.ghost.proposals.has(m.id)) continue;
      this.observe(env);
      this.unsentProposals.add(m.id);
    }
    const turn: UnsyncedTurn = { persist: ready.persist, messages: ready.messages, snapshots: ready.snapshots, replies: ready.replies, closed: ready.closed };
    if (this.options.sync === 'explicit') {
      if (turn.persist.length > 0 || turn.messages.length > 0 || turn.snapshots.length > 0 || turn.replies.length > 0 || turn.closed !== null) this.unsynced[r].push(turn);
      return;
    }
    const own = this.makeDurable(r, turn);
    // Instant fsync: the replica's own votes come back before anything else happens.
    for (const env of own) if (this.up[r]) this.step(r, { type: 'message', from: r, msg: env.msg });
  }

  /** Persists a turn, then releases its messages; returns the replica's own votes when they are not put on the network. */
  private makeDurable(r: ReplicaId, turn: UnsyncedTurn): Envelope[] {
    this.storages[r].appendSync(turn.persist);
    const own: Envelope[] = [];
    for (const env of turn.messages) {
      if (env.msg.type === 'PreAccept') this.unsentProposals.delete(env.msg.id);
      this.observe(env);
      if (env.to === r && this.options.sync !== 'explicit' && isVote(env.msg)) own.push(env);
      else this.network.push(env);
    }
    for (const env of turn.snapshots) this.snapshotsInFlight.push(env);
    for (const reply of turn.replies) this.replies[r].push(reply);
    if (turn.closed !== null) this.closes[r] = turn.closed;
    return own;
  }

  /** sync 'explicit': the oldest unsynced step of r becomes durable and its messages leave. */
  sync(r: ReplicaId): void {
    if (!this.up[r]) throw new Error(`replica ${r} is down`);
    const turn = this.unsynced[r].shift();
    if (turn === undefined) throw new Error(`replica ${r} has nothing to sync`);
    this.makeDurable(r, turn);
  }

  /** sync 'explicit': make every step of every live replica durable, oldest first. */
  syncAll(): void {
    for (let r = 0; r < this.n; r++) while (this.up[r] && this.unsynced[r].length > 0) this.sync(r);
  }

  private observe(env: Envelope): void {
    const m = env.msg;
    const wrong = ownershipViolation(env, this.n);
    if (wrong !== null) this.ghost.wrongOwner.push(wrong);
    if (m.type === 'PreAccept' && !this.ghost.proposals.has(m.id)) this.ghost.proposals.set(m.id, { cmd: m.cmd, dep: m.dep });
    if (m.type === 'Accept') {
      let byBallot = this.ghost.accepts.get(m.id);
      if (byBallot === undefined) this.ghost.accepts.set(m.id, (byBallot = new Map()));
      const list = byBallot.get(m.b) ?? [];
      list.push({ cmd: m.cmd, dep: m.dep });
      byBallot.set(m.b, list);
    }
    if (m.type === 'Commit') {
      const list = this.ghost.commits.get(m.id) ?? [];
      list.push({ b: m.b, cmd: m.cmd, dep: m.dep });
      this.ghost.commits.set(m.id, list);
    }
  }

  submit(r: ReplicaId, command: Command): void {
    this.step(r, { type: 'submit', command });
  }

  tick(r: ReplicaId, entropy = 0): void {
    this.step(r, { type: 'tick', nowMs: this.nowMs, entropy });
  }

  recover(r: ReplicaId, id: InstanceId): void {
    this.step(r, { type: 'recover', id });
  }

  /** Index of the first message in flight that matches, or throws naming what was expected. */
  find(pred: (e: Envelope) => boolean, what = 'a matching message'): number {
    const i = this.network.findIndex(pred);
    if (i < 0) throw new Error(`no ${what} in flight: ${this.network.map((e) => `${e.msg.type} ${e.from}→${e.to}`).join(', ')}`);
    return i;
  }

  /** Deliver the first message of `type` from `from` to `to` (either may be omitted). */
  deliverMsg(type: Envelope['msg']['type'], from?: ReplicaId, to?: ReplicaId): Envelope {
    const i = this.find((e) => e.msg.type === type && (from === undefined || e.from === from) && (to === undefined || e.to === to), `${type} ${from ?? '*'}→${to ?? '*'}`);
    const env = this.network[i];
    this.deliver(i);
    return env;
  }

  /** Drop every message in flight that matches. */
  dropWhere(pred: (e: Envelope) => boolean): number {
    const before = this.network.length;
    this.network = this.network.filter((e) => !pred(e));
    return before - this.network.length;
  }

  /** Deliver the state-transfer snapshots in flight (to a down replica they are lost). */
  deliverSnapshots(): void {
    const inFlight = this.snapshotsInFlight;
    this.snapshotsInFlight = [];
    for (const env of inFlight) if (this.up[env.to]) this.step(env.to, { type: 'snapshot', from: env.from, msg: env.msg });
  }

  /** Advance time and tick every live replica. */
  tickAll(advanceMs: number, entropy = 0): void {
    this.deliverSnapshots();
    this.nowMs += advanceMs;
    for (let r = 0; r < this.n; r++) if (this.up[r]) this.tick(r, entropy + r);
  }

  /** Deliver the i-th message in flight (to a down replica it is lost). */
  deliver(i: number): void {
    const [env] = this.network.splice(i, 1);
    if (env === undefined) throw new Error(`no message ${i} in flight`);
    if (!this.up[env.to]) return;
    this.step(env.to, { type: 'message', from: env.from, msg: env.msg });
  }

  /**
   * Deliver the i-th message, then crash its receiver before the turn's group commit: the state
   * the step changed and the messages and replies it produced are all lost, as a power cut
   * between the step and the fsync would lose them.
   */
  deliverThenCrash(i: number): void {
    const [env] = this.network.splice(i, 1);
    if (env === undefined) throw new Error(`no message ${i} in flight`);
    if (!this.up[env.to]) return;
    this.replicas[env.to].step({ type: 'message', from: env.from, msg: env.msg });
    this.crash(env.to); // the Ready is never taken: nothing persisted, nothing sent
  }

  drop(i: number): void {
    this.network.splice(i, 1);
  }

  duplicate(i: number): void {
    this.network.push(this.network[i]);
  }

  /** Crash: everything not yet persisted is gone (here: nothing between steps), messages to it are lost. */
  crash(r: ReplicaId): void {
    this.up[r] = false;
    this.unsynced[r] = []; // never durable: lost
    this.network = this.network.filter((e) => e.to !== r);
    this.snapshotsInFlight = this.snapshotsInFlight.filter((e) => e.to !== r);
  }

  /**
   * Crash r and lose its disk: it restarts with nothing (not even the checkers' history of it).
   * Outside the protocol's crash-recovery model: r's votes are gone, so tests do this only when
   * nothing r voted for is still undecided.
   */
  wipe(r: ReplicaId): void {
    this.crash(r);
    this.storages[r] = new MemoryStorage({ keepHistory: true });
  }

  restart(r: ReplicaId): void {
    this.machines[r] = this.makeStateMachine();
    const replica = (this.options.replicaClass ?? Replica).restore({ ...this.options, self: r }, this.storages[r].loadSync(), this.machines[r]);
    this.replicas[r] = replica;
    this.up[r] = true;
    this.honour(r, replica.takeReady());
  }

  /**
   * What each replica holds: its live state, or what a down replica's storage would give back;
   * plus, for the checkers, the last record of every instance truncation made it forget (kept by
   * the storage's history). Checking those too keeps INV1–INV8 as strong as without truncation:
   * a forgotten instance is judged by the state it had when it was forgotten, which it can no
   * longer change.
   */
  views(): ReplicaView[] {
    return this.replicas.map((rep, r) => {
      const storage = this.storages[r];
      if (!storage.truncatedAny) {
        // Nothing forgotten: the replica itself, or its storage (the common, fast case).
        if (this.up[r]) return rep;
        const stored = new Map(storage.loadSync().instances.map((i) => [i.id, i]));
        return { self: r, instance: (id: InstanceId) => stored.get(id), instanceIds: () => stored.keys() };
      }
      const live = this.up[r] ? rep : null;
      const stored = live === null ? new Map(storage.loadSync().instances.map((i) => [i.id, i])) : null;
      const current = (id: InstanceId) => (live !== null ? live.instance(id) : stored!.get(id));
      return {
        self: r,
        instance: (id: InstanceId) => current(id) ?? storage.recordEver(id),
        instanceIds: () => {
          const ids = new Set<InstanceId>(live !== null ? live.instanceIds() : stored!.keys());
          for (const id of storage.everIds()) ids.add(id);
          return ids.values();
        },
        isApplied: (id: InstanceId) => (live !== null ? live.isApplied(id) : false),
      };
    });
  }

  /** INV1–INV8 of PROTOCOL.md §8 over the whole group; empty when all hold. */
  violations(): string[] {
    const views = this.views();
    return [
      ...checkAgreementAndVisibility(views),
      ...checkLocalState(views, this.ghost),
      ...checkMessages(this.ghost),
      ...checkExecution(views, this.storages.map((s) => s.appliedLog())),
      ...this.replicas.filter((r) => r.stats.agreementViolations > 0).map((r) => `INV1: replica ${r.self} received a Commit contradicting its committed value`),
      ...checkEpochClose(views),
      ...this.replicas.filter((r) => r.stats.epochViolations > 0).map((r) => `RC1: replica ${r.self} came to execute a command with an effect after the voters.change that closed its epoch`),
    ];
  }

  /** Deliver messages in order (syncing every step first) until none is left or `maxSteps` deliveries were made. */
  runUntilQuiet(maxSteps = 1_000_000): number {
    let steps = 0;
    this.syncAll();
    while (this.network.length > 0 && steps < maxSteps) {
      this.deliver(0);
      this.syncAll();
      steps++;
    }
    return steps;
  }

  /**
   * Heal: deliver everything and keep ticking (so recovery and retransmission run) until every
   * known id is committed and applied at every live replica, or give up after `maxRounds`.
   */
  settle(maxRounds = 200, tickMs = 100): boolean {
    for (let round = 0; round < maxRounds; round++) {
      this.runUntilQuiet();
      if (this.allSettled()) return true;
      this.tickAll(tickMs, round * 7919);
    }
    this.runUntilQuiet();
    return this.allSettled();
  }

  /** Every id any live replica knows is committed and applied everywhere live, and nothing queued or pending waits. */
  allSettled(): boolean {
    const ids = new Set<InstanceId>();
    for (let r = 0; r < this.n; r++) if (this.up[r]) for (const id of this.replicas[r].instanceIds()) ids.add(id);
    for (let r = 0; r < this.n; r++) {
      if (!this.up[r]) continue;
      const rep = this.replicas[r];
      if (rep.queuedCommands() > 0 || rep.pendingIds().length > 0) return false;
      for (const id of ids) {
        // Held: committed and applied. Not held (truncated, or covered by an installed snapshot): applied.
        const inst = rep.instance(id);
        if (!rep.isApplied(id) || (inst !== undefined && inst.phase !== 'COMMITTED')) return false;
      }
    }
    return true;
  }
}
