// The replica driver: the one place where the pure consensus core meets real time and real I/O
// (DESIGN.md; etcd raft's "Ready loop"). Events are queued and stepped in turns; each turn's
// records are made durable in one group commit, and only then are its messages sent — this
// replica's own votes among them, handed back to it — and its clients answered (persist before
// you promise). What promises nothing about the turn's records leaves at once: the coordinator's
// proposals and the Commits of chosen values (Ready.early; PROTOCOL.md §12, "Votes count once
// durable"). Turns are pipelined: the next one may step while a commit is in flight; what waits
// for durability leaves in the order the core produced it.

import { performance } from 'node:perf_hooks';
import {
  type Command, type CommandResult, CoveyStateMachine, type Envelope, type EpochClose, type Event, type ExecutedBatch, type Message,
  type Ready, Replica, type ReplicaOptions, type ReplicaSnapshot, type ReplicaStorage, type SnapshotEnvelope,
} from '../consensus/index.ts';
import type { Logger } from './log.ts';
import { DropLog } from '../transports/drop-log.ts';
import { recoveryEvents } from './membership-recovery.ts';
import { EntropyPool } from './entropy-pool.ts';

/** At most one warning per sending voter this often for refused snapshots; the rest are counted. */
const refusalLogIntervalMs = 10_000;

export interface DriverOptions {
  readonly replica: ReplicaOptions;
  readonly storage: ReplicaStorage;
  /** Sends messages to other voters; must not block (the transport batches and bounds). */
  readonly send: (envelopes: readonly Envelope[]) => void;
  /** Sends state-transfer snapshots to voters that lag behind this one's truncation. */
  readonly sendSnapshots?: (envelopes: readonly SnapshotEnvelope[]) => void;
  readonly logger: Logger;
  /** Called after each applied batch (metrics, watchers). */
  readonly onExecuted?: (batch: ExecutedBatch) => void;
  /**
   * This replica executed the voters.change that closes its epoch (Ready.closed), and the turn that
   * did is durable: the agent opens the next epoch's group (docs/reconfiguration.md rules 4–6).
   * Called once per driver, after that turn's replies; again after a restart (restore re-closes).
   */
  readonly onClosed?: (close: EpochClose) => void;
}

export interface DriverStats {
  turns: number;
  fsyncs: number;
  recordsPersisted: number;
  messagesSent: number;
  rejectedMessages: number;
  rejectedCommands: number;
}

interface Waiter {
  resolve(r: CommandResult): void;
  reject(e: Error): void;
}

/** The replica cannot take commands now (stopping, or stopped after a storage failure): try another voter. */
export class UnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnavailableError';
  }
}

/** Turns whose group commit is in flight before stepping waits for the disk. */
const inFlightTurnsMax = 16;

/** The command breaks a limit of the state machine (key or value size, lease length, …): a client's mistake. */
export class InvalidCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCommandError';
  }
}

/** The error a client gets when consensus did not answer in time. */
export class DeadlineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeadlineError';
  }
}

export class ReplicaDriver {
  readonly stats: DriverStats = { turns: 0, fsyncs: 0, recordsPersisted: 0, messagesSent: 0, rejectedMessages: 0, rejectedCommands: 0 };
  private readonly replica: Replica;
  private readonly machine: CoveyStateMachine;
  private readonly o: DriverOptions;
  private readonly events: Event[] = [];
  private readonly waiters = new Map<string, Waiter[]>();
  /** Settles when every turn so far has been released (or the driver failed). */
  private released: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private snapshotInfo: { at: string; applied: readonly number[]; truncated: readonly number[] } | null = null;
  private turnScheduled = false;
  private tickTimer: NodeJS.Timeout | null = null;
  /** The last reachable set handed to the core (setReachable), as text. */
  private reachableKey = '';
  private stopped = false;
  /** Set when storage failed: the replica may not go on, since it can no longer keep promises. */
  private failure: Error | null = null;
  private readonly snapshotRefusals: DropLog;
  private readonly entropy = new EntropyPool();

  private constructor(o: DriverOptions, replica: Replica, machine: CoveyStateMachine) {
    this.o = o;
    this.snapshotRefusals = new DropLog(o.logger, 'refused a state-transfer snapshot', refusalLogIntervalMs);
    this.replica = replica;
    this.machine = machine;
  }

  /** Rebuilds the replica from what storage kept, and starts ticking. */
  static async start(o: DriverOptions): Promise<ReplicaDriver> {
    const stored = await o.storage.load();
    const machine = new CoveyStateMachine();
    const replica = Replica.restore(o.replica, stored, machine);
    const d = new ReplicaDriver(o, replica, machine);
    if (stored.snapshot !== undefined) d.noteSnapshot(stored.snapshot);
    o.logger.info({ instances: stored.instances.length, applied: stored.applied.length, snapshot: stored.snapshot !== undefined }, 'replica restored from storage');
    d.scheduleTick(replica.cfg.tickMs);
    return d;
  }

  get self(): number {
    return this.replica.self;
  }

  /** A message from a peer voter, already decoded and validated by the transport. */
  receive(from: number, msg: Message): void {
    this.post({ type: 'message', from, msg });
  }

  /**
   * Membership reports voter `r` dead: recover its instances this replica knows and that have not
   * committed, now instead of after their timeouts (PROTOCOL.md §12 recovery policy).
   */
  recoverCoordinator(r: number): void {
    if (this.stopped || this.failure !== null) return;
    this.events.push(...recoveryEvents(this.replica.pendingIds(), r));
    this.kick();
  }

  /**
   * The voters this one hears now, itself included (a hint for the core's choice of quorum and of
   * when to ask others for a commit; see the core's 'reachable' event). Steps only on a change.
   */
  setReachable(replicas: readonly number[]): void {
    if (this.stopped || this.failure !== null) return;
    const key = replicas.join(',');
    if (key === this.reachableKey) return;
    this.reachableKey = key;
    this.events.push({ type: 'reachable', replicas: [...replicas] });
    this.kick();
  }

  /** A state-transfer snapshot from a peer voter, parsed but unchecked: the core validates it. */
  receiveSnapshot(from: number, raw: unknown): void {
    if (this.stopped || this.failure !== null) return;
    const started = performance.now();
    const v = this.replica.receiveSnapshotUntrusted(from, raw);
    this.o.logger.debug({ from, applied: this.replica.executedWatermark(), theirs: (raw as { applied?: unknown }).applied, checkMs: Math.round(performance.now() - started) }, 'received a state-transfer snapshot');
    if (!v.ok) {
      this.stats.rejectedMessages++;
      // Rate-limited per sender: a voter sending garbage snapshots must not flood the log (fuzz:wire).
      this.snapshotRefusals.warn(String(from), 'invalid', v.reason);
      return;
    }
    this.kick();
  }

  /** The latest snapshot made durable here (taken, or installed from a peer), or null. */
  get lastSnapshot(): { readonly at: string; readonly applied: readonly number[]; readonly truncated: readonly number[] } | null {
    return this.snapshotInfo;
  }

  /**
   * Submits a client command and resolves with its result once it has executed here, which
   * happens only after everything it depends on is durable. Rejects with DeadlineError after
   * `deadlineMs`; the command may still take effect later (retry under the same request id to
   * find out: it takes effect at most once).
   */
  submit(command: Command, deadlineMs: number, explainTimeout: () => string = () => ''): Promise<CommandResult> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.stopped) return Promise.reject(new UnavailableError('the agent is stopping; retry at another voter'));
    return new Promise<CommandResult>((resolve, reject) => {
      const key = waiterKey(command.clientId, command.requestId);
      const timer = setTimeout(() => {
        this.dropWaiter(key, w);
        // Nobody waits for it any more: if it is still queued, it need not be proposed (Event 'withdraw').
        if (!this.waiters.has(key)) this.post({ type: 'withdraw', clientId: command.clientId, requestId: command.requestId });
        const why = explainTimeout();
        reject(new DeadlineError(`no answer from consensus within ${deadlineMs} ms${why === '' ? '' : `: ${why}`}`));
      }, deadlineMs);
      const w: Waiter = {
        resolve: (r) => { clearTimeout(timer); resolve(r); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      const list = this.waiters.get(key);
      if (list === undefined) this.waiters.set(key, [w]); else list.push(w);
      const v = this.replica.submitUntrusted(command);
      if (!v.ok) {
        this.stats.rejectedCommands++;
        this.dropWaiter(key, w);
        w.reject(new InvalidCommandError(`invalid command: ${v.reason}`));
        return;
      }
      this.kick();
    });
  }

  /** The storage's durable writes (syncs) since start, or null where it does not count them. */
  get storageDurableWrites(): number | null {
    return this.o.storage.durableWrites ?? null;
  }

  /** Stale local reads: this voter's state, without asking anyone. */
  get stateMachine(): CoveyStateMachine {
    return this.machine;
  }

  get core(): Replica {
    return this.replica;
  }

  get failed(): Error | null {
    return this.failure;
  }

  /** Finishes the turn in flight (its records are made durable), then stops ticking. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer !== null) clearTimeout(this.tickTimer);
    this.tickTimer = null;
    // Turns already scheduled still run (their events arrived before the stop), then drain.
    while (this.turnScheduled) await new Promise<void>((r) => setImmediate(r));
    await this.released;
    for (const [, list] of this.waiters) for (const w of list) w.reject(new UnavailableError('the agent stopped before the command executed; it may still take effect — retry at another voter under the same ids'));
    this.waiters.clear();
  }

  private post(ev: Event): void {
    if (this.stopped || this.failure !== null) return;
    this.events.push(ev);
    this.kick();
  }

  /** Schedules one turn for the events gathered in this pass of the event loop. */
  private kick(): void {
    if (this.turnScheduled || this.stopped || this.failure !== null) return;
    this.turnScheduled = true;
    setImmediate(() => {
      this.turnScheduled = false;
      this.turn().catch((err: unknown) => this.fail(err as Error));
    });
  }

  /**
   * One turn: step every queued event, take the Ready, start its group commit, and chain its
   * release after that commit and after every earlier turn's release. The core may go on
   * stepping while a commit is in flight (etcd raft does the same): nothing it produced leaves
   * the process before the records it depends on, and all earlier ones, are durable; a crash
   * in between loses only what was never promised. lmdb commits transactions in order.
   */
  private async turn(): Promise<void> {
    if (this.inFlight >= inFlightTurnsMax) {
      // Back-pressure: the disk is behind; wait for the oldest turns before stepping more.
      await this.released;
    }
    if (this.failure !== null) return;
    const batch = this.events.splice(0);
    for (const ev of batch) this.replica.step(ev);
    const ready = this.replica.takeReady();
    if (ready.tickMs !== null) this.scheduleTick(ready.tickMs);
    this.releaseEarly(ready);
    if (ready.persist.length === 0 && ready.messages.length === 0 && ready.snapshots.length === 0 && ready.replies.length === 0 && ready.executed.length === 0 && ready.closed === null) return;
    this.stats.turns++;
    this.inFlight++;
    const durable = this.persist(ready);
    const previous = this.released;
    this.released = previous.then(() => durable).then(
      () => { this.inFlight--; if (this.failure === null) this.release(ready); },
      (err: unknown) => { this.inFlight--; this.fail(err as Error); },
    );
    if (this.events.length > 0) this.kick();
  }

  private async persist(ready: Ready): Promise<void> {
    const deferrable = nothingWaitsOn(ready);
    if (ready.persist.length === 0) {
      // Its release waits for every earlier turn: one held back must not hold this one up.
      if (!deferrable) this.o.storage.flush?.();
      return;
    }
    await this.o.storage.append(ready.persist, { deferrable });
    this.stats.fsyncs++;
    this.stats.recordsPersisted += ready.persist.length;
    for (const r of ready.persist) if (r.kind === 'snapshot') this.noteSnapshot(r.snapshot);
  }

  private noteSnapshot(s: ReplicaSnapshot): void {
    this.snapshotInfo = { at: new Date().toISOString(), applied: s.applied, truncated: s.truncated };
  }

  /** What may leave before the turn's records are durable: proposals and Commits of chosen values. */
  private releaseEarly(ready: Ready): void {
    if (ready.early.length === 0) return;
    this.stats.messagesSent += ready.early.length;
    this.o.send(ready.early);
  }

  /** After the turn (and every earlier one) is durable: its messages, this replica's own votes back to it, the answers. */
  private release(ready: Ready): void {
    const self = this.replica.self;
    let others: Envelope[] | null = null;
    for (const env of ready.messages) {
      if (env.to === self) this.post({ type: 'message', from: self, msg: env.msg });
      else (others ??= []).push(env);
    }
    if (others !== null) {
      this.stats.messagesSent += others.length;
      this.o.send(others);
    }
    if (ready.snapshots.length > 0) this.o.sendSnapshots?.(ready.snapshots);
    for (const rep of ready.replies) {
      const key = waiterKey(rep.clientId, rep.requestId);
      const list = this.waiters.get(key);
      if (list === undefined) continue;
      this.waiters.delete(key);
      for (const w of list) w.resolve(rep.result);
    }
    if (this.o.onExecuted !== undefined) for (const b of ready.executed) this.o.onExecuted(b);
    if (ready.closed !== null) this.o.onClosed?.(ready.closed);
  }

  /**
   * The clients waiting here for `command` are answered by `next` instead: the command was handed
   * on to the next epoch's group (EpochClose.requeue), where it takes effect at most once under
   * the same ids. Their deadlines still run here.
   */
  handOver(command: Command, next: Promise<CommandResult>): void {
    const key = waiterKey(command.clientId, command.requestId);
    const list = this.waiters.get(key);
    if (list === undefined) return;
    this.waiters.delete(key);
    next.then((r) => { for (const w of list) w.resolve(r); }, (e: unknown) => { for (const w of list) w.reject(e as Error); });
  }

  private scheduleTick(ms: number): void {
    if (this.stopped) return;
    if (this.tickTimer !== null) clearTimeout(this.tickTimer);
    this.tickTimer = setTimeout(() => {
      this.tickTimer = null;
      this.post({ type: 'tick', nowMs: performance.now(), entropy: this.entropy.next() });
    }, ms);
    this.tickTimer.unref?.();
  }

  private fail(err: Error): void {
    // A failed write may or may not have reached the disk; the replica cannot tell what it
    // promised, so it stops here rather than risk a broken promise. A restart rebuilds it from
    // what storage has. Later turns chained on the failed one arrive here too: once is enough.
    if (this.failure !== null) return;
    this.failure = new UnavailableError(`storage failed, the replica stopped (restart the agent to recover from disk): ${err.message}`);
    this.o.logger.error({ err }, 'storage append failed; replica stopped');
    for (const [, list] of this.waiters) for (const w of list) w.reject(this.failure);
    this.waiters.clear();
    if (this.tickTimer !== null) clearTimeout(this.tickTimer);
  }

  private dropWaiter(key: string, w: Waiter): void {
    const list = this.waiters.get(key);
    if (list === undefined) return;
    const i = list.indexOf(w);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.waiters.delete(key);
  }
}

/**
 * Whether nothing outside this process waits on the turn's records: no message, snapshot or answer
 * to release after them (its early messages left already), no epoch closed. Then the storage may
 * hold its sync back for the next turn's to carry (a peer's Commit, usually): later turns still
 * wait for it, since every release waits for all earlier turns to be durable. What the delay holds
 * back is only the turn's executed batches for local observers, by at most the storage's hold.
 */
function nothingWaitsOn(ready: Ready): boolean {
  return ready.messages.length === 0 && ready.replies.length === 0 && ready.snapshots.length === 0 && ready.closed === null;
}

function waiterKey(clientId: string, requestId: number): string {
  return clientId + '\u0000' + requestId;
}
