// The deterministic swarm simulator (DESIGN.md, "simulator" row). A swarm of agents: the first
// `voters` run real Replicas with Covey's state machine and a simulated disk; the others host
// clients that submit through a voter over the simulated network. Latency, loss, duplication,
// reordering, bandwidth, partitions (clean splits, one-way links, a flapping link, isolated
// agents), crashes, pauses and clock skew are injected from one seeded generator on virtual time.
// Clients write a history in HISTORY-FORMAT.md; at the end it is checked for linearizability
// (registers) and fencing (task board), and the voters' state against the protocol invariants,
// the survival of every acknowledged write, and liveness once the faults stopped.
//
// Same options and seed → same events in the same order → same traceHash and history text.
// Nothing here reads a clock, calls Math.random, or iterates anything but arrays and
// insertion-ordered Maps/Sets.

import {
  type ClientReply, type Command, commandAccess, type CommandResult, CoveyStateMachine, type Envelope, type EpochClose,
  type Event as ReplicaEvent, formatId, type Message, NOP, type Operation, type ReplicaOptions, type SnapshotEnvelope,
} from '../../consensus/index.ts';
import { CommitWatch } from '../check/commits.ts';
import { parseHistory } from '../history.ts';
import { checkLinearizable, type LinearizabilityResult } from '../check/linearizability.ts';
import { checkTasks, type TaskCheckResult } from '../check/tasks.ts';
import { kvWorkload } from '../workload/kv.ts';
import { defaultTasksOptions, tasksWorkload, type TasksWorkloadOptions } from '../workload/tasks.ts';
import type { OpSpec, Proc, Workload, WorkloadName } from '../workload/workload.ts';
import { Random } from './random.ts';
import { EventQueue } from './queue.ts';
import { Seats, type Group, type Seat } from './seats.ts';
import { Reconfigurer, type ReconfigOptions } from './reconfigure.ts';
import { endStateViolations, settledNow, voteBacked, voterStateViolations } from './voter-checks.ts';

export { checkDurability } from './voter-checks.ts';
import { Network, defaultNetwork, drawUs, type Cut, type NetworkOptions } from './network.ts';
import { TraceHash, codeOf } from './trace.ts';
import { FaultLog, type FaultRecord } from './fault-log.ts';
import { SimSwim, swimId, type SwimTuning } from './swim.ts';
import { deadVoter, recoveryEvents } from '../../agent/membership-recovery.ts';
import type { MemberEvent, Message as MembershipMessage } from '../../transports/membership/index.ts';
import type { ReadyProbe } from './ready-conformance.ts';

/**
 * Voter group sizes the simulator runs, up to the 7 a swarm takes: f = 1, 2, 3 crashes tolerated
 * (PROTOCOL.md §1; the quorums come from defaultQuorumConfig: for 7, slow 4 and fast 5, e = 2).
 */
export type VoterCount = 3 | 5 | 7;

export interface SimulationOptions {
  readonly seed: number;
  readonly voters?: VoterCount;
  /** Agents in the swarm (default: the voters). Agents beyond the voters host clients. */
  readonly agents?: number;
  /** Clients; they run on the non-voter agents when there are any, else on the voters. */
  readonly clients?: number;
  readonly workload?: WorkloadName;
  /** kv: shared registers, and the share of operations that go to them (the rest are private). */
  readonly keys?: number;
  readonly conflict?: number;
  /** tasks: lease, worker death rate, idle think time. */
  readonly tasks?: Partial<TasksWorkloadOptions>;
  /** Closed-loop think time between a client's operations (kv). */
  readonly thinkMs?: { readonly min: number; readonly max: number };
  /**
   * Open-loop clients: operations arrive at `ratePerSec` per client whether or not earlier ones
   * finished, each taken by a free lane (a history process) of the client; an arrival with every
   * lane busy is counted as shed. Without this, clients are closed-loop.
   */
  readonly openLoop?: { readonly ratePerSec: number; readonly lanes?: number };
  /** Virtual time during which clients issue operations and faults are injected. */
  readonly durationMs: number;
  readonly latencyMs?: { readonly min: number; readonly max: number };
  readonly loss?: number;
  readonly duplicate?: number;
  /** Probability that a message is held back and overtaken (the reorder fault). */
  readonly reorder?: number;
  /** Per directed link, bytes per ms; null for unlimited. */
  readonly bandwidthBytesPerMs?: number | null;
  readonly crashes?: boolean;
  /** Time between crash events (ms, default 200–1500). */
  readonly crashEveryMs?: { readonly min: number; readonly max: number };
  /** Voters snapshot and truncate after this many applied instances (ReplicaOptions; default the core's). */
  readonly snapshotEveryApplied?: number;
  /** The voters' recovery timeout (ReplicaOptions; default the core's, 1 s). */
  readonly recoveryTimeoutMs?: number;
  /**
   * Membership among the voters. 'swim': the real SWIM core on every voter (sim/engine/swim.ts),
   * whose dead verdicts start the recovery of the dead voter's instances through the agent's own
   * wiring (agent/membership-recovery.ts). Default 'none': recovery by timeouts only.
   */
  readonly membership?: 'none' | 'swim';
  /** SWIM's timing when membership is 'swim' (default: the membership core's). */
  readonly swimTuning?: SwimTuning;
  /**
   * With membership 'swim': each voter's core is also told which voters its SWIM holds alive (the
   * 'reachable' hint), so it goes to the slow path without waiting on suspected voters and asks
   * the others for a suspected coordinator's instances after learnFromOthersMs. An agent gives the
   * same hint from what it hears on its links (transports/link-health.ts). Default false.
   */
  readonly reachableHint?: boolean;
  /** ReplicaOptions.catchUpBySnapshotIds of every voter; absent, the core's default. */
  readonly catchUpBySnapshotIds?: number;
  /**
   * Once the run has settled, one voter loses its disk and restarts empty; the run goes on until it
   * has caught up (by state transfer when its peers truncated what it needs). Done only when
   * settled, because a voter that loses undecided votes is outside the crash-recovery model.
   */
  readonly wipe?: boolean;
  readonly partitions?: boolean;
  /**
   * Reconfiguration among the faults (docs/reconfiguration.md): every `everyMs` (default 1–3 s) a
   * voters.change at a voter of the newest group, once all of it has joined: to one of `sizes`
   * voters (default: the same size, swapping a voter for an agent that does not vote), or, with
   * `lose`, a voter is lost for good (killed, within the fault budget) and replaced. Needs agents
   * beyond the voters; not with membership 'swim', hosted code or wipe.
   */
  readonly reconfig?: ReconfigOptions;
  /** Agents stall (stop processing) or go radio-silent for 0.1–1.5 s. */
  readonly pauses?: boolean;
  /** Each agent's clock runs at its own offset and rate, and jumps forward now and then. */
  readonly skew?: boolean;
  /** A client gives up on an operation after this long and records `info`. */
  readonly requestTimeoutMs?: number;
  /** fsync latency range (ms, µs resolution). */
  readonly fsyncMs?: { readonly min: number; readonly max: number };
  /** After durationMs, how long at most to run for the swarm to settle and clients to finish. */
  readonly drainMs?: number;
  /**
   * Check the protocol invariants (default true): INV7 on every Commit sent during the run, and
   * INV1, INV2 and INV8 over the voters' final state and execution logs at the end.
   */
  readonly checkInvariants?: boolean;
  /** Keep a readable line per event in `trace` (for tests and debugging; costs memory). */
  readonly keepTrace?: boolean;
  /** Called every few thousand events, for a progress bar. */
  readonly onProgress?: (p: SimProgress) => void;
  /**
   * Called as each phase of the run begins ('checks' after the event loop, then each end-of-run
   * checker by name) and with 'done' at the end; the bench times them. Not called back otherwise.
   */
  readonly onPhase?: (phase: string) => void;
  /**
   * Code hosted on the agents (plugins: sim/plugins/). It acts through the SimWorld it is given
   * (timers on virtual time, commands through the simulated network, telemetry broadcast) and
   * hears about crashes, restarts and telemetry. Its commands' task-board operations go into the
   * history and the task checker. Run such a simulation with runSimulationAsync: hosted code is
   * asynchronous, and the runner lets its promise continuations run between events.
   */
  readonly host?: SimHost;
  /** Hears each voter's Readies, fsyncs, crashes and releases: the Ready-driver conformance test (ready-conformance.ts). */
  readonly readyProbe?: ReadyProbe;
}

/** What the simulator offers hosted code (one object for the whole swarm; agents by index). */
export interface SimWorld {
  readonly agents: number;
  readonly voters: number;
  nowUs(): number;
  /** The agent's own clock (skewed when the skew fault is on), ms. */
  localMs(agent: number): number;
  /** Bumped at every crash: hosted code of an older incarnation must not act. */
  incarnation(agent: number): number;
  isUp(agent: number): boolean;
  /** Runs fn after delayUs on the agent: dropped if it crashed meanwhile, deferred while it is stalled. */
  agentTimer(agent: number, delayUs: number, fn: () => void): () => void;
  /** A timer of the hardware (devices): runs whatever happens to the agent. */
  deviceTimer(delayUs: number, fn: () => void): () => void;
  /**
   * A command from the agent, through a voter, like the workload's clients (resent every 300 ms,
   * every second time to the next voter). done(result) with the answer, done(null) when the
   * outcome is unknown (request timeout, or the agent crashed).
   */
  submit(agent: number, op: Operation, done: (result: CommandResult | null) => void): void;
  /** Sends data to every other agent over the simulated network (loss, cuts and latency apply). */
  broadcast(from: number, topic: string, data: Uint8Array): void;
  /** Crashes the agent for good (a drone lost): it never restarts. */
  kill(agent: number): void;
  /** Cuts these agents off from the rest for durationUs (a scripted partition; voters in it count against the fault budget). */
  cut(side: readonly number[], durationUs: number): void;
  /** Voter v's state machine as it stands (read only; for reports). */
  machine(voter: number): CoveyStateMachine;
  /** A generator of its own for hosted code, derived from the seed. */
  readonly random: Random;
}

export interface SimHost {
  attach(world: SimWorld): void;
  crashed(agent: number): void;
  restarted(agent: number): void;
  deliver(to: number, from: number, topic: string, data: Uint8Array): void;
  /** Checked between events; true ends the active phase (faults stop, the swarm settles). */
  done(): boolean;
  /** The active phase is over (done, or the duration ran out): stop the hosted code. */
  end(): void;
}

interface HostTimer {
  readonly fn: () => void;
  cancelled: boolean;
}

export interface SimProgress {
  readonly virtualMs: number;
  readonly durationMs: number;
  readonly events: number;
  readonly ops: number;
}

export interface FaultCounts {
  crashes: number;
  /** Crashes of a voter while one of its fsyncs was in flight (effects released early, records not yet durable). */
  crashesInFlush: number;
  partitions: number;
  splits: number;
  oneWay: number;
  flapping: number;
  isolated: number;
  pauses: number;
  skews: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  /** voters.change commands the reconfig fault submitted (some lose a race and are void). */
  reconfigurations: number;
}

export interface SimulationResult {
  readonly traceHash: string;
  /** Completed client operations (ok, fail or info). */
  readonly ops: number;
  readonly history: string;
  readonly linearizable: boolean;
  readonly linearizability: LinearizabilityResult;
  /** The task-board checker's verdict, when the history has task operations. */
  readonly tasks: TaskCheckResult | null;
  readonly violations: string[];
  readonly faults: FaultCounts;
  /** Open-loop arrivals that found every lane of their client busy. */
  readonly shed: number;
  /** Whether every voter had committed and applied everything once the faults stopped. */
  readonly settled: boolean;
  readonly events: number;
  /** Virtual time at the end of the run, ms. */
  readonly endMs: number;
  /** One line per event, when `keepTrace` was set. */
  readonly trace: string[] | null;
  /** Snapshots taken, instances forgotten by truncation, and snapshots installed by state transfer (all voters, current incarnations). */
  readonly snapshots: { readonly taken: number; readonly truncated: number; readonly installed: number };
  /**
   * With membership 'swim': the member events the voters saw, and the recover events their dead
   * verdicts started (agent/membership-recovery.ts). Null without membership.
   */
  readonly membership: { readonly events: { readonly suspect: number; readonly dead: number; readonly alive: number; readonly join: number }; readonly recoveries: number } | null;
  /** Per voter, the instances it knows that had not committed when the run ended; null for a voter that was down. */
  readonly pendingAtEnd: readonly (number | null)[];
  /** Every fault injected, per agent, in virtual time (fault-log.ts; for reports, recorded only). */
  readonly faultLog: readonly FaultRecord[];
  /** The voter group of each epoch (agents, in replica order): one unless the reconfig fault changed it. */
  readonly epochs: readonly { readonly epoch: number; readonly voters: readonly number[] }[];
}

type SimEvent =
  /** A consensus message of the group of `epoch` (env.from and env.to are replica indices in it). */
  | { kind: 'deliver'; env: Envelope; epoch: number }
  /** A state-transfer snapshot on its way (Ready.snapshots). */
  | { kind: 'snapshot'; env: SnapshotEnvelope; epoch: number }
  /** A client's command on its way from the client's agent to a voter (`forwarded` once by an agent that no longer votes). */
  | { kind: 'request'; from: number; to: number; proc: number; command: Command; forwarded?: boolean }
  | { kind: 'response'; from: number; to: number; proc: number; requestId: number; result: CommandResult }
  | { kind: 'tick'; voter: number; inc: number }
  /** A turn's fsync completed: release what waited for it (write-ahead rule), own votes back to the voter. */
  | { kind: 'fsync'; voter: number; inc: number; upTo: number; messages: Envelope[]; snapshots: SnapshotEnvelope[]; replies: ClientReply[]; closed: EpochClose | null }
  | { kind: 'invoke'; proc: number }
  | { kind: 'arrival'; client: number }
  | { kind: 'timeout'; proc: number; requestId: number }
  /** A client on a non-voter agent sends its open request again (same request id). */
  | { kind: 'resend'; proc: number; requestId: number; attempt: number }
  | { kind: 'crash' }
  /** A crash aimed inside voter `voter`'s flush window (incarnation `inc`). */
  | { kind: 'flushCrash'; voter: number; inc: number }
  | { kind: 'restart'; agent: number }
  | { kind: 'partition' }
  | { kind: 'heal'; cut: number }
  | { kind: 'pause' }
  | { kind: 'resume'; agent: number }
  | { kind: 'skew' }
  | { kind: 'end' }
  /** Hosted code's timer on an agent (dropped for an older incarnation) or on a device. */
  | { kind: 'host'; agent: number; inc: number; timer: HostTimer }
  | { kind: 'device'; timer: HostTimer }
  | { kind: 'telemetry'; from: number; to: number; topic: string; data: Uint8Array }
  /** A membership message between voters (membership 'swim'). */
  | { kind: 'swim'; from: number; to: number; msg: MembershipMessage }
  /** A voter's membership timer, due at dueUs (deferred while the voter is stalled). */
  | { kind: 'swimWake'; agent: number; epoch: number; dueUs: number }
  /** The reconfig fault's next voters.change. */
  | { kind: 'reconfigure' }
  /** Each voter's periodic look at whether a lost voter should be replaced (automatic replacement). */
  | { kind: 'replaceCheck' }
  /** The state at the change that opened `epoch`, on its way to a new voter of it (state transfer). */
  | { kind: 'join'; from: number; to: number; epoch: number }
  /** The closing agent (incarnation `inc`) sends it again unless the new voter has joined. */
  | { kind: 'joinResend'; from: number; to: number; epoch: number; inc: number };

/** An agent's clock: local µs = base + (virtual − since) · rate. Monotone; jumps only forward. */
interface Clock {
  baseUs: number;
  sinceUs: number;
  rate: number;
}

/** The virtual µs at which clock `c` will read `localMs` (the inverse of the mapping above). */
function virtualUsAt(c: Clock, localMs: number): number {
  return c.sinceUs + Math.ceil((localMs * usPerMs - c.baseUs) / c.rate);
}

interface Agent {
  up: boolean;
  /** Incarnation: bumped on crash so timers and fsyncs of the dead incarnation are ignored. */
  inc: number;
  /** A stalled agent processes nothing before this virtual time. */
  stalledUntilUs: number;
  readonly clock: Clock;
}

interface ProcState extends Proc {
  /** The voter this process's agent sends commands to (itself, for a voter). */
  voter: number;
  readonly client: number;
  nextRequestId: number;
  open: { readonly requestId: number; readonly spec: OpSpec; readonly write: boolean; readonly command: Command; readonly done?: (r: CommandResult | null) => void } | null;
  /** A lane of hosted code (SimWorld.submit), not a workload client. */
  readonly hosted: boolean;
}

/** The simulation as a stepper: runSimulation steps it to the end; runSimulationAsync pauses for hosted code. */
interface SimulationRun {
  /** Handles one event; false when the run is over. */
  step(): boolean;
  /** Whether hosted code ran since the last call (its promise continuations want to run). */
  takeHostActivity(): boolean;
  /** Ends the active phase early when the host says it is done. */
  checkHostDone(): void;
  finish(): SimulationResult;
}

const usPerMs = 1000;
/** How long a client on a non-voter agent waits for an answer before resending its request. */
const resendUs = 300 * usPerMs;
const progressEveryEvents = 8192;
/** How often voters look for a lost voter to replace (reconfig `lose`). */
const replaceCheckUs = 250 * usPerMs;

export function runSimulation(options: SimulationOptions): SimulationResult {
  if (options.host !== undefined) throw new Error('simulation: a run with hosted code (plugins) needs runSimulationAsync');
  const run = createSimulation(options);
  while (run.step()) { /* the next event */ }
  return run.finish();
}

/**
 * Like runSimulation, for runs with hosted code: after every event in which hosted code ran, the
 * runner waits for a macrotask so that every promise continuation queued by it has run (they are
 * microtasks, so all of them run, in a fixed order) before the next event. Hosted code must not
 * wait on anything but the SimWorld, or the run is no longer deterministic.
 */
export async function runSimulationAsync(options: SimulationOptions): Promise<SimulationResult> {
  const run = createSimulation(options);
  const drain = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));
  await drain(); // what attach() started runs before the first event
  while (run.step()) {
    if (run.takeHostActivity()) {
      await drain();
      run.checkHostDone();
    }
  }
  return run.finish();
}

function createSimulation(options: SimulationOptions): SimulationRun {
  const { n, agentCount } = swarmSize(options);
  const clientCount = options.clients ?? 8;
  const openLoop = options.openLoop ?? null;
  const lanes = openLoop === null ? 1 : (openLoop.lanes ?? 8);
  const timeoutUs = Math.round((options.requestTimeoutMs ?? 3000) * usPerMs);
  const endUs = Math.round(options.durationMs * usPerMs);
  const hardStopUs = endUs + Math.round((options.drainMs ?? 30_000) * usPerMs);
  const fsync = options.fsyncMs ?? { min: 0.1, max: 1 };
  const crashEvery = options.crashEveryMs ?? { min: 200, max: 1500 };
  const workload = workloadOf(options);

  const rng = new Random(options.seed);
  const probe = options.readyProbe;
  const queue = new EventQueue<SimEvent>();
  const hash = new TraceHash();
  const trace: string[] | null = options.keepTrace === true ? [] : null;
  const network = new Network(agentCount, networkOptionsOf(options));
  const historyLines: string[] = [];
  const faults: FaultCounts = {
    crashes: 0, crashesInFlush: 0, partitions: 0, splits: 0, oneWay: 0, flapping: 0, isolated: 0, pauses: 0, skews: 0, dropped: 0, duplicated: 0, reordered: 0, reconfigurations: 0,
  };
  const faultLog = new FaultLog();
  let nowUs = 0;
  let events = 0;
  let ops = 0;
  let openOps = 0;
  let shed = 0;
  let ending = false;
  /** Voters each cut takes out of the majority (splits and isolations), for the fault budget. */
  const impairedBy = new Map<number, number[]>();
  /** Every acknowledged write, as (clientId, requestId): each must be applied at every voter. */
  const acked: { readonly clientId: string; readonly requestId: number }[] = [];

  const replicaOptions = (group: Group, self: number): ReplicaOptions => replicaOptionsOf(options, group, self);

  const agents: Agent[] = [];
  for (let a = 0; a < agentCount; a++) agents.push({ up: true, inc: 0, stalledUntilUs: 0, clock: { baseUs: 0, sinceUs: 0, rate: 1 } });
  // The voters are handed the same command objects (and replay them on every restart): one memo
  // of fingerprints spares each apply its SHA-256 after the first (CoveyStateMachine options).
  const fingerprintMemo = new WeakMap<Command, string>();
  // Seats (seats.ts): epoch 0's voters are agents 0..n−1, and seat v is agent v's; a voters.change
  // (the reconfig fault) opens the next epoch's group, whose seats get the next ids.
  const seats = new Seats(agentCount, replicaOptions, () => new CoveyStateMachine({ fingerprintMemo }));
  const voters = seats.all;
  {
    const group0 = seats.addGroup(Array.from({ length: n }, (_, a) => a), undefined);
    for (let r = 0; r < n; r++) seats.join(group0, r);
  }
  /** The agent seat v belongs to. */
  const agentOf = (v: number): number => voters[v].agent;
  const procs: ProcState[] = [];
  for (let c = 0; c < clientCount; c++) {
    const agent = agentCount > n ? n + (c % (agentCount - n)) : c % n;
    for (let l = 0; l < lanes; l++) {
      const id = procs.length;
      procs.push({ id, clientId: `c${id}`, agent, voter: agent % n, client: c, nextRequestId: 1, open: null, hosted: false });
    }
  }

  const localUs = (a: number): number => {
    const c = agents[a].clock;
    return c.baseUs + Math.floor((nowUs - c.sinceUs) * c.rate);
  };
  const localMs = (a: number): number => Math.floor(localUs(a) / usPerMs);
  const stalled = (a: number): boolean => agents[a].stalledUntilUs > nowUs;
  /** Voters of the newest group that are down, stalled or cut off from the majority (agents). */
  const impairedVoters = (): number => {
    const members = seats.current.members;
    const out = new Set<number>();
    for (const a of members) if (!agents[a].up || stalled(a)) out.add(a);
    for (const vs of impairedBy.values()) for (const a of vs) if (members.includes(a)) out.add(a);
    return out.size;
  };
  /** How many voters of the newest group may be impaired at once. */
  const faultBudget = (): number => seats.current.quorum.f;

  // ---- history ----------------------------------------------------------------------------

  const record = (process: number, type: string, f: string, key: string, value?: unknown): void => {
    if (f === '') return; // a hosted operation the history does not describe (see hostedSpec)
    const line: Record<string, unknown> = { process, type, f, key };
    if (value !== undefined) line.value = value;
    line.time = nowUs * 1000; // ns
    historyLines.push(JSON.stringify(line));
  };

  // ---- a voter's turn: step, send what may leave early, persist, release the rest after the fsync

  const turn = (v: number, ev: ReplicaEvent | null): void => {
    const voter = voters[v];
    const replica = voter.replica;
    const agent = agents[voter.agent];
    syncQuiet(v);
    if (ev !== null) replica.step(ev);
    const ready = replica.takeReady();
    probe?.ready(v, ready, voter.disk.position + ready.persist.length);
    if (ready.tickMs !== null) {
      const virtualUs = Math.max(1, Math.round((ready.tickMs * usPerMs) / agent.clock.rate));
      queue.push(nowUs + virtualUs, { kind: 'tick', voter: v, inc: agent.inc });
    }
    // Proposals and Commits of chosen values promise nothing about this turn's records.
    release(voter, ready.early);
    // A close is acted on once durable, like a reply: it waits for this turn's fsync event.
    const closed = ready.closed;
    if (ready.persist.length === 0 && ready.messages.length === 0 && ready.snapshots.length === 0 && ready.replies.length === 0 && closed === null) return;
    const upTo = voter.disk.append(ready.persist);
    // Effects wait for this turn's records AND every earlier turn's (they may depend on them),
    // so completions are kept in order; a turn with nothing to write still waits its turn.
    const doneUs = Math.max(voter.fsyncDoneUs, nowUs + (ready.persist.length > 0 ? drawUs(rng, fsync) : 0));
    voter.fsyncDoneUs = doneUs;
    if (aimAtNextFlush && doneUs > nowUs) {
      aimAtNextFlush = false;
      queue.push(nowUs + rng.int(0, doneUs - nowUs - 1), { kind: 'flushCrash', voter: v, inc: agent.inc });
    }
    if (ready.messages.length === 0 && ready.snapshots.length === 0 && ready.replies.length === 0 && closed === null) { voter.quietSyncs.push({ upTo, doneUs }); return; }
    queue.push(doneUs, { kind: 'fsync', voter: v, inc: agent.inc, upTo, messages: ready.messages, snapshots: ready.snapshots, replies: ready.replies, closed });
  };

  /** Puts a voter's messages on the network (its own votes are handed back by the fsync, never sent). */
  const release = (voter: Seat, envs: readonly Envelope[]): void => {
    probe?.sent(envs);
    const watch = commitWatches[voter.epoch];
    if (watch !== null) for (const env of envs) if (env.msg.type === 'Commit') watch.see(env.msg, nowUs / usPerMs);
    const members = seats.groups[voter.epoch].members;
    const epoch = voter.epoch;
    for (const env of envs) sendOver(members[env.from], members[env.to], messageBytes(env.msg), { kind: 'deliver', env, epoch });
  };

  const answer = (v: number, reply: ClientReply): void => {
    probe?.answered(v, reply);
    if (!reply.clientId.startsWith('c')) return; // a voters.change of the reconfig fault: nobody waits for it
    const p = procs[Number(reply.clientId.slice(1))];
    const from = agentOf(v);
    if (p.agent === from) onResult(p, reply.requestId, reply.result);
    else sendOver(from, p.agent, 64 + resultBytes, { kind: 'response', from, to: p.agent, proc: p.id, requestId: reply.requestId, result: reply.result });
  };

  /** Applies the quiet fsyncs that have completed by now. */
  const syncQuiet = (v: number): void => {
    const q = voters[v].quietSyncs;
    let i = 0;
    while (i < q.length && q[i].doneUs <= nowUs) voters[v].disk.sync(q[i++].upTo);
    if (i > 0) q.splice(0, i);
  };

  const sendOver = (from: number, to: number, sizeBytes: number, ev: SimEvent): void => {
    for (const at of network.send(from, to, sizeBytes, nowUs, rng)) queue.push(at, ev);
  };

  // INV7 on every Commit sent, during the run (the rest of the invariants are checked at the end);
  // one watch per epoch, whose groups number their instances afresh.
  const commitWatches: (CommitWatch | null)[] = [(options.checkInvariants ?? true) ? new CommitWatch() : null];

  // ---- clients ----------------------------------------------------------------------------

  const complete = (p: ProcState, type: 'ok' | 'fail' | 'info', value?: unknown, result?: CommandResult): void => {
    const op = p.open!;
    record(p.id, type, op.spec.f, op.spec.key, value);
    if (type === 'ok' && op.write) acked.push({ clientId: p.clientId, requestId: op.requestId });
    if (type === 'info') {
      if (!p.hosted) workload.unknown(p, op.spec);
      // A client of a remote agent that heard nothing tries the next voter.
      if (seats.open(p.agent) < 0) p.voter = (p.voter + 1) % seats.current.members.length;
    }
    p.open = null;
    ops++;
    openOps--;
    if (p.hosted) { hostActivity = true; op.done!(type === 'info' ? null : result ?? null); return; }
    if (openLoop === null) queue.push(nowUs + workload.thinkUs(p, rng), { kind: 'invoke', proc: p.id });
  };

  const invoke = (p: ProcState, hosted?: { readonly spec: OpSpec; readonly done: (r: CommandResult | null) => void }): void => {
    const spec = hosted?.spec ?? workload.next(p, rng);
    const requestId = p.nextRequestId++;
    const command = { clientId: p.clientId, requestId, timestampMs: localMs(p.agent), ...spec.op } as Command;
    record(p.id, 'invoke', spec.f, spec.key, spec.value);
    p.open = { requestId, spec, write: commandAccess(spec.op).write, command, done: hosted?.done };
    openOps++;
    queue.push(nowUs + timeoutUs, { kind: 'timeout', proc: p.id, requestId });
    const own = seats.open(p.agent);
    if (own >= 0) turn(own, { type: 'submit', command });
    else {
      const to = homeVoter(p);
      sendOver(p.agent, to, 64 + commandBytes, { kind: 'request', from: p.agent, to, proc: p.id, command });
      queue.push(nowUs + resendUs, { kind: 'resend', proc: p.id, requestId, attempt: 1 });
    }
  };

  /** The voter (agent) a remote client sends to: its current pick among the newest group's members. */
  const homeVoter = (p: ProcState): number => seats.current.members[p.voter % seats.current.members.length];

  const onResult = (p: ProcState, requestId: number, result: CommandResult): void => {
    // A reply for an operation the client already gave up on (or a duplicate) is ignored.
    if (p.open === null || p.open.requestId !== requestId) return;
    if (p.hosted) {
      const claimed = p.open.spec.f === 'task-claim' && result.ok ? result.task?.token : undefined;
      complete(p, result.ok ? 'ok' : 'fail', claimed, result);
      return;
    }
    const c = workload.complete(p, p.open.spec, result, rng);
    complete(p, c.type, c.value);
  };

  // ---- hosted code (plugins) ----------------------------------------------------------------

  const host = options.host;
  let hostActivity = false;
  /** Agents killed for good (SimWorld.kill): never restarted, not even at the end. */
  const killed = new Set<number>();
  /** Free and busy lanes of hosted code, per agent. */
  const hostedLanes = new Map<number, ProcState[]>();

  const hostedSubmit = (agent: number, op: Operation, done: (r: CommandResult | null) => void): void => {
    if (!agents[agent].up) { done(null); return; }
    let lanes = hostedLanes.get(agent);
    if (lanes === undefined) hostedLanes.set(agent, (lanes = []));
    let p = lanes.find((l) => l.open === null);
    if (p === undefined) {
      const id = procs.length;
      p = { id, clientId: `c${id}`, agent, voter: agent % n, client: -1, nextRequestId: 1, open: null, hosted: true };
      procs.push(p);
      lanes.push(p);
    }
    invoke(p, { spec: hostedSpec(op), done });
  };

  const hostTimer = (ev: SimEvent & { kind: 'host' | 'device' }, delayUs: number): (() => void) => {
    queue.push(nowUs + Math.max(1, Math.round(delayUs)), ev);
    return () => { ev.timer.cancelled = true; };
  };

  // ---- faults -----------------------------------------------------------------------------

  /** Persist before you promise, judged where it matters: every vote on arrival (voteBacked). */
  const unbackedVotes: string[] = [];
  const checkVoteDurable = (from: number, msg: Message): void => {
    if (from < 0 || !isVoteType(msg.type) || from === wiped) return;
    syncQuiet(from);
    if (!voteBacked(voters[from], msg) && unbackedVotes.length < 10) unbackedVotes.push(`durability: ${msg.type} for ${'id' in msg ? formatId(msg.id) : '?'} from voter ${from} arrived at ${nowUs} µs without the durable record it votes from`);
  };

  /** A crash event aimed at a flush window found none open: the next flush gets it. */
  let aimAtNextFlush = false;

  /** Is one of the agent's seats inside a flush window (its fsync in flight)? */
  const flushing = (a: number): boolean => seats.of(a).some((v) => voters[v].fsyncDoneUs > nowUs);

  const crash = (a: number): void => {
    const agent = agents[a];
    faultLog.crash(a, nowUs / usPerMs, flushing(a));
    agent.up = false;
    agent.inc++;
    agent.stalledUntilUs = 0;
    faults.crashes++;
    for (const v of seats.of(a)) {
      const voter = voters[v];
      syncQuiet(v);
      voter.quietSyncs.length = 0;
      voter.fsyncDoneUs = nowUs;
      voter.disk.crash();
      probe?.lost(v);
    }
    if (a < swimAgents) swim?.crash(a);
    // Clients on the agent die with it: the outcome of what they had open is unknown.
    for (const p of procs) if (p.agent === a && p.open !== null) complete(p, 'info');
    if (host !== undefined) { hostActivity = true; host.crashed(a); }
  };

  /** The voter loses its disk while down (wipe option), then restarts empty. */
  const wipe = (v: number): void => {
    crash(agentOf(v));
    voters[v].disk.wipe();
    restart(agentOf(v));
  };

  const restart = (a: number): void => {
    const agent = agents[a];
    if (agent.up || killed.has(a)) return;
    agent.up = true;
    faultLog.restart(a, nowUs / usPerMs);
    for (const v of seats.running(a)) {
      seats.restore(voters[v]);
      turn(v, null); // restore may have applied committed instances; also starts the tick chain
    }
    if (a < swimAgents) swim?.boot(a);
    if (host !== undefined) { hostActivity = true; host.restarted(a); }
  };

  // ---- reconfiguration (option reconfig; reconfigure.ts) ------------------------------------

  const reconfig = options.reconfig;
  const reconfigEvery = reconfig?.everyMs ?? { min: 1000, max: 3000 };
  const reconfigurer = new Reconfigurer({
    seats, agentCount, options: reconfig, rng, killed, trace, faultLog, faults,
    nowUs: () => nowUs, isUp: (a) => agents[a].up, incarnation: (a) => agents[a].inc, stalled, localMs, impairedVoters, faultBudget,
    killForGood: (a) => killForGood(a),
    reaches: (a, b) => agents[a].up && agents[b].up && !network.blocked(a, b, nowUs) && !network.blocked(b, a, nowUs),
    turn,
    forward: (from, to, proc, command) => sendOver(from, to, 64 + commandBytes, { kind: 'request', from, to, proc, command, forwarded: true }),
    sendState: (from, to, epoch, bytes) => {
      sendOver(from, to, bytes, { kind: 'join', from, to, epoch });
      queue.push(nowUs + resendUs, { kind: 'joinResend', from, to, epoch, inc: agents[from].inc });
    },
    groupAdded: () => commitWatches.push(commitWatches[0] === null ? null : new CommitWatch()),
    membership: options.membership === 'swim', reachableHint: options.reachableHint === true,
  });

  /** An agent lost for good (a drone that never comes back): down now and never restarted. */
  const killForGood = (a: number): void => {
    if (killed.has(a)) return;
    killed.add(a);
    faultLog.kill(a, nowUs / usPerMs);
    if (agents[a].up) crash(a);
  };

  const shuffled = (count: number): number[] => shuffledIndices(rng, count);

  const cutFor = (cut: Cut, impaired: number[], durationUs: number): number => {
    const id = network.addCut(cut);
    impairedBy.set(id, impaired);
    queue.push(nowUs + durationUs, { kind: 'heal', cut: id });
    return id;
  };

  /** A random cut, kept within the budget: at most f voters impaired, counting crashes and pauses. */
  const partition = (): void => {
    const budget = faultBudget() - impairedVoters();
    const members = seats.current.members;
    const others = seats.nonMembers(agentCount);
    const kind = rng.pick(['split', 'isolate', 'oneway', 'flap'] as const);
    const lasting = (): number => rng.int(200 * usPerMs, 1500 * usPerMs);
    if (kind === 'split') {
      if (budget < 1) return;
      const minority = shuffled(members.length).slice(0, rng.int(1, budget)).map((i) => members[i]);
      const side = new Set(minority);
      for (const a of others) if (rng.chance(0.5)) side.add(a);
      faultLog.cut(cutFor({ kind: 'split', side }, minority, lasting()), 'split', [...side], nowUs / usPerMs);
      faults.splits++;
    } else if (kind === 'isolate') {
      const a = budget >= 1 || others.length === 0 ? rng.int(0, agentCount - 1) : others[rng.int(0, others.length - 1)];
      if (seats.isMember(a) && budget < 1) return;
      faultLog.cut(cutFor({ kind: 'isolate', agent: a }, seats.isMember(a) ? [a] : [], lasting()), 'isolate', [a], nowUs / usPerMs);
      faults.isolated++;
    } else {
      const pair = shuffled(members.length).map((i) => members[i]);
      if (kind === 'oneway') {
        faultLog.cut(cutFor({ kind: 'oneway', from: pair[0], to: pair[1] }, [], lasting()), 'oneway', [pair[0], pair[1]], nowUs / usPerMs);
        faults.oneWay++;
      } else {
        const periodUs = rng.int(20 * usPerMs, 200 * usPerMs);
        faultLog.cut(cutFor({ kind: 'flap', a: pair[0], b: pair[1], periodUs, startUs: nowUs }, [], rng.int(1000 * usPerMs, 3000 * usPerMs)), 'flap', [pair[0], pair[1]], nowUs / usPerMs);
        faults.flapping++;
      }
    }
    faults.partitions++;
  };

  /** A stall (the agent processes nothing) or radio silence (it hears nobody), 0.1–1.5 s. */
  const pause = (): void => {
    const budget = faultBudget() - impairedVoters();
    const a = rng.int(0, agentCount - 1);
    const stall = rng.chance(0.5);
    const durationUs = rng.int(100 * usPerMs, 1500 * usPerMs);
    if ((seats.isMember(a) && budget < 1) || !agents[a].up || stalled(a)) return;
    if (stall) {
      agents[a].stalledUntilUs = nowUs + durationUs;
      queue.push(nowUs + durationUs, { kind: 'resume', agent: a });
      faultLog.stall(a, nowUs / usPerMs, (nowUs + durationUs) / usPerMs);
    } else {
      faultLog.cut(cutFor({ kind: 'isolate', agent: a }, seats.isMember(a) ? [a] : [], durationUs), 'silence', [a], nowUs / usPerMs);
    }
    faults.pauses++;
    if (trace !== null) trace.push(`${nowUs} pause ${stall ? 'stall' : 'silence'} ${a} ${durationUs}`);
  };

  /** A clock jumps forward or changes its rate. */
  const skew = (): void => {
    const a = rng.int(0, agentCount - 1);
    const { jump, amount } = skewClock(rng, agents[a].clock, localUs(a), nowUs);
    faultLog.skew(a, nowUs / usPerMs, jump ? { jumpMs: amount / usPerMs } : { rate: agents[a].clock.rate });
    faults.skews++;
    if (trace !== null) trace.push(`${nowUs} skew ${a} ${jump ? 'jump' : 'rate'} ${amount}`);
  };

  // ---- the loop ---------------------------------------------------------------------------

  const deferIfStalled = (a: number, ev: SimEvent): boolean => {
    if (!stalled(a)) return false;
    queue.push(agents[a].stalledUntilUs, ev);
    return true;
  };

  const handle = (ev: SimEvent): void => {
    switch (ev.kind) {
      case 'deliver': {
        // from and to are replica indices of the message's epoch group.
        const { from, to, msg } = ev.env;
        const group = seats.groups[ev.epoch];
        const fromAgent = group.members[from], toAgent = group.members[to];
        if (network.blocked(fromAgent, toAgent, nowUs)) { network.countCutOnArrival(); return; }
        if (!agents[toAgent].up || deferIfStalled(toAgent, ev)) return;
        // A new voter takes no part before it holds the state at the change (rule 6): not joined,
        // not there; nor does anyone in a retired epoch (rule 9).
        if (group.seats[to] < 0 || group.retired) return;
        checkVoteDurable(group.seats[from], msg);
        turn(group.seats[to], { type: 'message', from, msg });
        return;
      }
      case 'snapshot': {
        const { from, to, msg } = ev.env;
        const group = seats.groups[ev.epoch];
        const fromAgent = group.members[from], toAgent = group.members[to];
        if (network.blocked(fromAgent, toAgent, nowUs)) { network.countCutOnArrival(); return; }
        if (!agents[toAgent].up || deferIfStalled(toAgent, ev)) return;
        if (group.seats[to] < 0 || group.retired) return;
        turn(group.seats[to], { type: 'snapshot', from, msg });
        return;
      }
      case 'request': {
        if (network.blocked(ev.from, ev.to, nowUs)) { network.countCutOnArrival(); return; }
        if (!agents[ev.to].up || deferIfStalled(ev.to, ev)) return;
        const v = seats.open(ev.to);
        if (v >= 0) { turn(v, { type: 'submit', command: ev.command }); return; }
        // No longer a voter here (its epoch closed, or it never joined): like an agent, hand the
        // command once to a voter of the newest group; the client's resend covers a loss.
        const members = seats.current.members;
        const to = members[ev.proc % members.length];
        if (ev.forwarded !== true && to !== ev.to) sendOver(ev.to, to, 64 + commandBytes, { ...ev, from: ev.to, to, forwarded: true });
        return;
      }
      case 'join':
        if (network.blocked(ev.from, ev.to, nowUs)) { network.countCutOnArrival(); return; }
        if (!agents[ev.to].up || deferIfStalled(ev.to, ev)) return;
        reconfigurer.stateArrived(ev.to, ev.epoch);
        return;
      case 'joinResend':
        if (agents[ev.from].inc !== ev.inc || !agents[ev.from].up) return;
        reconfigurer.resendState(ev.from, ev.to, ev.epoch);
        return;
      case 'replaceCheck': // automatic replacement is the swarm's own, not a fault: it goes on after the end
        queue.push(nowUs + replaceCheckUs, ev);
        return reconfigurer.replace();
      case 'reconfigure':
        if (ending) return;
        queue.push(nowUs + rng.int(reconfigEvery.min * usPerMs, reconfigEvery.max * usPerMs), { kind: 'reconfigure' });
        reconfigurer.reconfigure();
        return;
      case 'response': {
        if (network.blocked(ev.from, ev.to, nowUs)) { network.countCutOnArrival(); return; }
        if (!agents[ev.to].up || deferIfStalled(ev.to, ev)) return;
        onResult(procs[ev.proc], ev.requestId, ev.result);
        return;
      }
      case 'tick': {
        const a = agentOf(ev.voter);
        const agent = agents[a];
        if (agent.inc !== ev.inc || !agent.up || seats.retired(ev.voter) || deferIfStalled(a, ev)) return;
        turn(ev.voter, { type: 'tick', nowMs: localMs(a), entropy: rng.nextU32() });
        return;
      }
      case 'fsync': {
        const voter = voters[ev.voter];
        const agent = agents[voter.agent];
        if (agent.inc !== ev.inc) return; // crashed before the fsync: effects are lost
        voter.disk.sync(ev.upTo);
        probe?.durable(ev.voter, ev.upTo);
        if (seats.retired(ev.voter)) return; // durable; nobody listens to a retired epoch
        if (deferIfStalled(voter.agent, ev)) return; // durable, but not sent yet
        const self = voter.r;
        const own = ev.messages.filter((env) => env.to === self);
        release(voter, own.length === 0 ? ev.messages : ev.messages.filter((env) => env.to !== self));
        const members = seats.groups[voter.epoch].members;
        for (const env of ev.snapshots) sendOver(members[env.from], members[env.to], snapshotBytes(env), { kind: 'snapshot', env, epoch: voter.epoch });
        for (const reply of ev.replies) answer(ev.voter, reply);
        if (own.length > 0) {
          // The voter's own votes are durable now: it may count them (one turn for all of them).
          for (const env of own) voter.replica.step({ type: 'message', from: self, msg: env.msg });
          turn(ev.voter, null);
        }
        if (ev.closed !== null && voter.closeSeen !== ev.closed) reconfigurer.onClose(voter, ev.closed);
        return;
      }
      case 'invoke': {
        const p = procs[ev.proc];
        if (ending || p.open !== null) return;
        if (!agents[p.agent].up) { queue.push(nowUs + 50 * usPerMs, ev); return; } // back when its agent restarts
        if (deferIfStalled(p.agent, ev)) return;
        invoke(p);
        return;
      }
      case 'arrival': {
        if (ending) return;
        queue.push(nowUs + poissonGapUs(rng, openLoop!.ratePerSec), ev);
        const first = ev.client * lanes;
        const agent = procs[first].agent;
        let free: ProcState | null = null;
        if (agents[agent].up && !stalled(agent)) {
          for (let l = 0; l < lanes; l++) if (procs[first + l].open === null) { free = procs[first + l]; break; }
        }
        if (free === null) shed++;
        else invoke(free);
        return;
      }
      case 'resend': {
        // Like a real client library: resend until answered, every second attempt to the next
        // voter. The request id makes a command submitted twice take effect once (PROTOCOL.md §12).
        const p = procs[ev.proc];
        if (p.open === null || p.open.requestId !== ev.requestId || !agents[p.agent].up || deferIfStalled(p.agent, ev)) return;
        if (ev.attempt % 2 === 0) p.voter = (p.voter + 1) % seats.current.members.length;
        const to = homeVoter(p);
        sendOver(p.agent, to, 64 + commandBytes, { kind: 'request', from: p.agent, to, proc: p.id, command: p.open.command });
        queue.push(nowUs + resendUs, { kind: 'resend', proc: p.id, requestId: ev.requestId, attempt: ev.attempt + 1 });
        return;
      }
      case 'timeout': {
        const p = procs[ev.proc];
        if (p.open !== null && p.open.requestId === ev.requestId) complete(p, 'info');
        return;
      }
      case 'crash': {
        if (ending) return;
        queue.push(nowUs + rng.int(crashEvery.min * usPerMs, crashEvery.max * usPerMs), { kind: 'crash' });
        // A voter while the budget allows, otherwise (or half the time, in a bigger swarm) another agent.
        const others = seats.nonMembers(agentCount);
        const pickVoter = others.length === 0 || rng.chance(0.5);
        let candidates = pickVoter
          ? (impairedVoters() < faultBudget() ? seats.current.members.filter((a) => agents[a].up) : [])
          : others.filter((a) => agents[a].up);
        if (candidates.length === 0) return;
        // Half the voter crashes are aimed inside a flush window, when early effects have left but
        // the turn's records are not durable yet (the case "persist before you promise" is about):
        // a voter flushing now, or else the next voter that starts a flush, at a point inside it.
        if (pickVoter && rng.chance(0.5)) {
          const inFlush = candidates.filter(flushing);
          if (inFlush.length === 0) { aimAtNextFlush = true; return; }
          candidates = inFlush;
        }
        const a = rng.pick(candidates);
        if (flushing(a)) faults.crashesInFlush++;
        crash(a);
        queue.push(nowUs + rng.int(100 * usPerMs, 1500 * usPerMs), { kind: 'restart', agent: a });
        return;
      }
      case 'flushCrash': {
        const a = agentOf(ev.voter);
        if (ending || agents[a].inc !== ev.inc || !agents[a].up || impairedVoters() >= faultBudget()) return;
        if (flushing(a)) faults.crashesInFlush++;
        crash(a);
        queue.push(nowUs + rng.int(100 * usPerMs, 1500 * usPerMs), { kind: 'restart', agent: a });
        return;
      }
      case 'restart':
        restart(ev.agent);
        return;
      case 'partition':
        if (ending) return;
        queue.push(nowUs + rng.int(500 * usPerMs, 2000 * usPerMs), { kind: 'partition' });
        partition();
        return;
      case 'heal':
        network.removeCut(ev.cut);
        impairedBy.delete(ev.cut);
        faultLog.heal(ev.cut, nowUs / usPerMs);
        return;
      case 'pause':
        if (ending) return;
        queue.push(nowUs + rng.int(500 * usPerMs, 2000 * usPerMs), { kind: 'pause' });
        pause();
        return;
      case 'resume':
        return; // the stall simply ends; the event marks it in the trace
      case 'skew':
        if (ending) return;
        queue.push(nowUs + rng.int(1000 * usPerMs, 3000 * usPerMs), { kind: 'skew' });
        skew();
        return;
      case 'host': {
        if (ev.timer.cancelled || agents[ev.agent].inc !== ev.inc || !agents[ev.agent].up || deferIfStalled(ev.agent, ev)) return;
        hostActivity = true;
        ev.timer.fn();
        return;
      }
      case 'device':
        if (ev.timer.cancelled) return;
        hostActivity = true;
        ev.timer.fn();
        return;
      case 'telemetry':
        if (network.blocked(ev.from, ev.to, nowUs)) { network.countCutOnArrival(); return; }
        if (!agents[ev.to].up || deferIfStalled(ev.to, ev)) return;
        hostActivity = true;
        host!.deliver(ev.to, ev.from, ev.topic, ev.data);
        return;
      case 'swim':
        if (network.blocked(ev.from, ev.to, nowUs)) { network.countCutOnArrival(); return; }
        if (!agents[ev.to].up || deferIfStalled(ev.to, ev)) return;
        swim!.deliver(ev.from, ev.to, ev.msg);
        return;
      case 'swimWake':
        if (!agents[ev.agent].up || deferIfStalled(ev.agent, ev)) return;
        swim!.wake(ev.agent, ev.epoch, ev.dueUs);
        return;
      case 'end':
        // Stop injecting faults and new operations; let the swarm recover and finish. Clocks
        // keep their skew: that is a property of the devices, not a fault that ends.
        if (ending) return;
        ending = true;
        if (host !== undefined) { hostActivity = true; host.end(); }
        network.clearCuts();
        impairedBy.clear();
        faultLog.endAll(nowUs / usPerMs);
        for (let a = 0; a < agentCount; a++) { agents[a].stalledUntilUs = 0; restart(a); }
        return;
    }
  };

  const settled = (): boolean => settledNow(seats, (a) => agents[a].up, killed, syncQuiet);

  // ---- membership (option 'swim'): SWIM on the voters, dead verdicts wired as on an agent -----

  // With reconfiguration every agent runs SWIM (as agents do in the field): a voter to replace may be
  // any of them, and the replacement policy reads each voter's own view of who is dead.
  const swimAgents = reconfig === undefined ? n : agentCount;
  let membershipRecoveries = 0;
  const swim: SimSwim | null = options.membership === 'swim' ? new SimSwim(swimAgents, {
    localMs,
    virtualUsAt: (a, ms) => virtualUsAt(agents[a].clock, ms),
    nowUs: () => nowUs,
    nextU32: () => rng.nextU32(),
    send: (from, to, bytes, msg) => sendOver(from, to, bytes, { kind: 'swim', from, to, msg }),
    wake: (atUs, agent, epoch) => queue.push(atUs, { kind: 'swimWake', agent, epoch, dueUs: atUs }),
    onHint: options.reachableHint === true && reconfig === undefined ? (observer, hint) => turn(observer, hint) : undefined,
    onEvent: (observer, e) => {
      reconfigurer.heard(observer, e);
      if (agents[observer].up) membershipRecoveries += recoverDeadVoter(seats, observer, e, turn, trace === null ? null : (line) => trace.push(`${nowUs} ${line}`));
    },
  }, options.swimTuning) : null;

  for (let v = 0; v < n; v++) turn(v, null); // each voter's first Ready asks for its first tick
  for (let a = 0; a < swimAgents; a++) swim?.boot(a);
  if (options.skew === true) {
    // Each agent starts with its own offset (0–4 s) and rate (±5%).
    for (let a = 0; a < agentCount; a++) {
      agents[a].clock.baseUs = rng.int(0, 4000 * usPerMs);
      agents[a].clock.rate = 1 + rng.int(-50, 50) / 1000;
    }
    queue.push(rng.int(500 * usPerMs, 2000 * usPerMs), { kind: 'skew' });
  }
  if (openLoop === null) for (const p of procs) queue.push(rng.int(0, 5 * usPerMs), { kind: 'invoke', proc: p.id });
  else for (let c = 0; c < clientCount; c++) queue.push(poissonGapUs(rng, openLoop.ratePerSec), { kind: 'arrival', client: c });
  if (options.crashes === true) queue.push(rng.int(100 * usPerMs, 1000 * usPerMs), { kind: 'crash' });
  if (options.partitions === true) queue.push(rng.int(100 * usPerMs, 1000 * usPerMs), { kind: 'partition' });
  if (reconfig !== undefined) queue.push(rng.int(reconfigEvery.min * usPerMs, reconfigEvery.max * usPerMs), { kind: 'reconfigure' });
  if (reconfig?.lose === true) queue.push(replaceCheckUs, { kind: 'replaceCheck' });
  if (options.pauses === true) queue.push(rng.int(100 * usPerMs, 1000 * usPerMs), { kind: 'pause' });
  queue.push(endUs, { kind: 'end' });

  let isSettled = false;
  let wiped: number | null = null;
  let over = false;

  if (host !== undefined) {
    host.attach({
      agents: agentCount,
      voters: n,
      nowUs: () => nowUs,
      localMs,
      incarnation: (a) => agents[a].inc,
      isUp: (a) => agents[a].up,
      agentTimer: (a, delayUs, fn) => hostTimer({ kind: 'host', agent: a, inc: agents[a].inc, timer: { fn, cancelled: false } }, delayUs),
      deviceTimer: (delayUs, fn) => hostTimer({ kind: 'device', timer: { fn, cancelled: false } }, delayUs),
      submit: hostedSubmit,
      broadcast: (from, topic, data) => {
        for (let to = 0; to < agentCount; to++) if (to !== from) sendOver(from, to, 64 + topic.length + data.length, { kind: 'telemetry', from, to, topic, data });
      },
      kill: killForGood,
      cut: (side, durationUs) => {
        if (ending) return;
        faultLog.cut(cutFor({ kind: 'split', side: new Set(side) }, side.filter((a) => seats.isMember(a)), durationUs), 'scripted', side, nowUs / usPerMs);
        faults.partitions++;
        faults.splits++;
      },
      machine: (v) => voters[v].machine,
      random: new Random(options.seed ^ 0x5eed),
    });
  }

  const step = (): boolean => {
    if (over) return false;
    const next = queue.pop();
    if (next === undefined || next.timeUs > hardStopUs) { over = true; return false; }
    nowUs = next.timeUs;
    events++;
    addToHash(hash, nowUs, next.item);
    if (trace !== null) trace.push(traceLine(nowUs, next.item));
    handle(next.item);
    if (ending && openOps === 0 && (events & 63) === 0 && settled()) {
      if (options.wipe === true && wiped === null) { wiped = rng.int(0, n - 1); wipe(wiped); return true; }
      isSettled = true;
      over = true;
      return false;
    }
    if (options.onProgress !== undefined && events % progressEveryEvents === 0) {
      options.onProgress({ virtualMs: nowUs / usPerMs, durationMs: options.durationMs, events, ops });
    }
    return true;
  };

  const finish = (): SimulationResult => {
    const phase = options.onPhase ?? ((_: string): void => {});
    phase('history');
    if (!isSettled) isSettled = settled();
    // Anything still open at the hard stop has an unknown outcome.
    for (const p of procs) if (p.open !== null) complete(p, 'info');

    Object.assign(faults, { dropped: network.stats.dropped, duplicated: network.stats.duplicated, reordered: network.stats.reordered });
    const history = historyLines.length > 0 ? historyLines.join('\n') + '\n' : '';
    const parsed = parseHistory(history);
    phase('linearizability');
    const linearizability = checkLinearizable(parsed);
    phase('tasks');
    const tasks = parsed.other.length > 0 ? checkTasks(parsed) : null;
    phase('invariants');
    const replicas = voters.map((v) => v.replica);
    const violations = voterStateViolations(seats, {
      commitWatches, checkInvariants: options.checkInvariants ?? true, wiped, isSettled, disagreements: reconfigurer.disagreements,
    });
    phase('durability+liveness');
    violations.push(...linearizability.violations.map((v) => `linearizability: key ${v.key}: ${v.reason}${v.unknown === true ? ' (search limit)' : ''}`));
    if (tasks !== null) violations.push(...tasks.violations.map((v) => `tasks: ${v}`));
    violations.push(...unbackedVotes, ...endStateViolations(seats, { acked, killed, isSettled, drainMs: options.drainMs ?? 30_000 }));
    phase('done');

    return {
      traceHash: hash.hex(),
      ops, history, linearizable: linearizability.linearizable, linearizability, tasks, violations, faults, shed,
      settled: isSettled, events, endMs: nowUs / usPerMs, trace,
      snapshots: {
        taken: replicas.reduce((x, r) => x + r.stats.snapshots, 0),
        truncated: replicas.reduce((x, r) => x + r.stats.truncatedInstances, 0),
        installed: replicas.reduce((x, r) => x + r.stats.snapshotsInstalled, 0),
      },
      membership: swim === null ? null : { events: { ...swim.events }, recoveries: membershipRecoveries },
      pendingAtEnd: seats.joined(seats.current).map((v) => agents[v.agent].up ? v.replica.pendingIds().length : null),
      epochs: seats.groups.map((g) => ({ epoch: g.epoch, voters: [...g.members] })),
      faultLog: faultLog.entries,
    };
  };

  return {
    step,
    finish,
    takeHostActivity: () => { const a = hostActivity; hostActivity = false; return a; },
    checkHostDone: () => {
      if (host === undefined || ending || !host.done()) return;
      if (trace !== null) trace.push(`${nowUs} host done`);
      hash.add(nowUs);
      handle({ kind: 'end' });
    },
  };
}

/**
 * A dead verdict at `observer`, wired as on an agent (agent/membership-recovery.ts): in every group
 * it still runs a seat in, the dead voter's pending instances are recovered now. Returns how many.
 */
function recoverDeadVoter(seats: Seats, observer: number, e: MemberEvent, turn: (v: number, ev: ReplicaEvent) => void, log: ((line: string) => void) | null): number {
  let count = 0;
  for (const v of seats.running(observer)) {
    const r = deadVoter(e, seats.groups[seats.all[v].epoch].members.map(swimId));
    if (r === null) continue;
    const recover = recoveryEvents(seats.all[v].replica.pendingIds(), r);
    count += recover.length;
    log?.(`dead ${observer} sees ${r}: recovers ${recover.length}`);
    for (const ev of recover) turn(v, ev);
  }
  return count;
}

/** The voters and agents of a run, and the combinations it refuses. */
function swarmSize(options: SimulationOptions): { n: number; agentCount: number } {
  const n = options.voters ?? 3;
  const agentCount = options.agents ?? n;
  if (!Number.isInteger(agentCount) || agentCount < n) throw new RangeError(`simulation: agents must be a whole number ≥ voters (${n}), got ${agentCount}`);
  if (options.reconfig !== undefined) {
    if (agentCount <= n) throw new RangeError(`simulation: reconfiguration needs agents beyond the voters to move the voter set to (agents > ${n}), got ${agentCount}`);
    if (options.host !== undefined || options.wipe === true) throw new RangeError('simulation: reconfiguration does not run with hosted code or wipe yet');
  }
  return { n, agentCount };
}

function networkOptionsOf(options: SimulationOptions): NetworkOptions {
  return {
    ...defaultNetwork,
    latencyMs: options.latencyMs ?? defaultNetwork.latencyMs,
    loss: options.loss ?? 0,
    duplicate: options.duplicate ?? 0,
    reorder: options.reorder ?? 0,
    bandwidthBytesPerMs: options.bandwidthBytesPerMs === undefined ? defaultNetwork.bandwidthBytesPerMs : options.bandwidthBytesPerMs,
  };
}

function workloadOf(options: SimulationOptions): Workload {
  return (options.workload ?? 'kv') === 'tasks'
    ? tasksWorkload({ ...defaultTasksOptions, ...options.tasks })
    : kvWorkload({ keys: options.keys ?? 5, conflict: options.conflict ?? 1, thinkMs: options.thinkMs ?? { min: 0, max: 5 } });
}

/** Replica `self` of an epoch's group (the epoch is left out for epoch 0, as before reconfiguration). */
function replicaOptionsOf(options: SimulationOptions, group: Group, self: number): ReplicaOptions {
  return {
    self, n: group.members.length, f: group.quorum.f, e: group.quorum.e,
    ...(group.epoch === 0 ? {} : { epoch: group.epoch }), snapshotEveryApplied: options.snapshotEveryApplied,
    ...(options.catchUpBySnapshotIds === undefined ? {} : { catchUpBySnapshotIds: options.catchUpBySnapshotIds }),
    ...(options.recoveryTimeoutMs === undefined ? {} : { recoveryTimeoutMs: options.recoveryTimeoutMs, recoveryTimeoutMaxMs: Math.max(options.recoveryTimeoutMs, 10_000) }),
  };
}

/** A clock jumps forward 50–1000 ms or takes a new rate (±5%), from its reading now. */
function skewClock(rng: Random, c: Clock, localUsNow: number, nowUs: number): { jump: boolean; amount: number } {
  const jump = rng.chance(0.5);
  const amount = jump ? rng.int(50 * usPerMs, 1000 * usPerMs) : rng.int(-50, 50);
  c.baseUs = localUsNow;
  c.sinceUs = nowUs;
  if (jump) c.baseUs += amount;
  else c.rate = 1 + amount / 1000;
  return { jump, amount };
}

/** 0..count−1 in an order drawn from rng (Fisher–Yates). */
function shuffledIndices(rng: Random, count: number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Folds an event into the trace hash: its time, kind and identity (not its payload). */
function addToHash(hash: TraceHash, t: number, ev: SimEvent): void {
  hash.add(t);
  hash.add(kindCode[ev.kind]);
  switch (ev.kind) {
    case 'deliver': {
      const m = ev.env.msg;
      hash.add(ev.env.from); hash.add(ev.env.to); hash.add(typeCode(m.type));
      if ('id' in m) hash.add(m.id);
      if ('b' in m) hash.add(m.b);
      if (ev.epoch > 0) hash.add(ev.epoch); // a run without reconfiguration hashes as it always did
      break;
    }
    case 'snapshot': hash.add(ev.env.from); hash.add(ev.env.to); if (ev.epoch > 0) hash.add(ev.epoch); break;
    case 'join': case 'joinResend': hash.add(ev.from); hash.add(ev.to); hash.add(ev.epoch); break;
    case 'request': hash.add(ev.from); hash.add(ev.to); hash.add(ev.proc); hash.add(ev.command.requestId); break;
    case 'response': hash.add(ev.from); hash.add(ev.to); hash.add(ev.proc); hash.add(ev.requestId); break;
    case 'tick': case 'flushCrash': hash.add(ev.voter); hash.add(ev.inc); break;
    case 'fsync': hash.add(ev.voter); hash.add(ev.inc); hash.add(ev.upTo); hash.add(ev.messages.length); hash.add(ev.replies.length); break;
    case 'invoke': case 'timeout': hash.add(ev.proc); break;
    case 'resend': hash.add(ev.proc); hash.add(ev.attempt); break;
    case 'arrival': hash.add(ev.client); break;
    case 'restart': case 'resume': hash.add(ev.agent); break;
    case 'heal': hash.add(ev.cut); break;
    case 'host': hash.add(ev.agent); hash.add(ev.inc); break;
    case 'telemetry': hash.add(ev.from); hash.add(ev.to); hash.add(ev.data.length); break;
    case 'swim': hash.add(ev.from); hash.add(ev.to); hash.add(typeCode(ev.msg.type)); break;
    case 'swimWake': hash.add(ev.agent); hash.add(ev.epoch); break;
  }
}

/** The readable line of an event in `trace` (keepTrace). */
function traceLine(t: number, ev: SimEvent): string {
  switch (ev.kind) {
    case 'deliver': {
      const m = ev.env.msg;
      return `${t} deliver ${ev.env.from}>${ev.env.to} ${m.type} ${'id' in m ? m.id : ''} ${'b' in m ? m.b : ''}${ev.epoch > 0 ? ` e${ev.epoch}` : ''}`;
    }
    case 'join': case 'joinResend': return `${t} ${ev.kind} ${ev.from}>${ev.to} e${ev.epoch}`;
    case 'request': return `${t} request ${ev.from}>${ev.to} p${ev.proc} r${ev.command.requestId} ${ev.command.op}`;
    case 'response': return `${t} response ${ev.from}>${ev.to} p${ev.proc} r${ev.requestId}`;
    case 'tick': return `${t} tick ${ev.voter}.${ev.inc}`;
    case 'fsync': return `${t} fsync ${ev.voter}.${ev.inc} ${ev.upTo} ${ev.messages.length} ${ev.replies.length}`;
    case 'invoke': case 'timeout': return `${t} ${ev.kind} p${ev.proc}`;
    case 'resend': return `${t} resend p${ev.proc} r${ev.requestId} #${ev.attempt}`;
    case 'arrival': return `${t} arrival c${ev.client}`;
    case 'restart': case 'resume': return `${t} ${ev.kind} ${ev.agent}`;
    case 'heal': return `${t} heal cut${ev.cut}`;
    case 'host': return `${t} host ${ev.agent}.${ev.inc}`;
    case 'telemetry': return `${t} telemetry ${ev.from}>${ev.to} ${ev.topic} ${ev.data.length}`;
    case 'swim': return `${t} swim ${ev.from}>${ev.to} ${ev.msg.type}`;
    case 'swimWake': return `${t} swimWake ${ev.agent}.${ev.epoch}`;
    default: return `${t} ${ev.kind}`;
  }
}

const kindCode: Record<SimEvent['kind'], number> = {
  deliver: 1, request: 2, response: 3, tick: 4, fsync: 5, invoke: 6, arrival: 7, timeout: 8, crash: 9, restart: 10,
  partition: 11, heal: 12, pause: 13, resume: 14, skew: 15, end: 16, resend: 17, snapshot: 18,
  host: 19, device: 20, telemetry: 21, flushCrash: 22, swim: 23, swimWake: 24, reconfigure: 25, join: 26, joinResend: 27, replaceCheck: 28,
};

const typeCodes = new Map<string, number>();
function typeCode(t: string): number {
  let c = typeCodes.get(t);
  if (c === undefined) { c = codeOf(t); typeCodes.set(t, c); }
  return c;
}

/** The replies that are votes (PROTOCOL.md §12, "Votes count once durable"). */
function isVoteType(t: Message['type']): boolean {
  return t === 'PreAcceptOK' || t === 'AcceptOK' || t === 'RecoverOK' || t === 'ValidateOK';
}

/** Rough wire sizes, for the bandwidth model. */
const commandBytes = 48;
const resultBytes = 32;
function messageBytes(m: Message): number {
  let size = 40;
  if ('cmd' in m && m.cmd != null && m.cmd !== NOP) size += m.cmd.commands.length * commandBytes;
  if ('dep' in m && m.dep != null) size += 8 * m.dep.ids.length + 4 * m.dep.floor.length;
  return size;
}

function snapshotBytes(env: SnapshotEnvelope): number {
  return 64 + JSON.stringify(env.msg).length;
}

function poissonGapUs(rng: Random, ratePerSec: number): number {
  return Math.max(1, Math.round((-Math.log(1 - rng.float()) / ratePerSec) * 1_000_000));
}

/** How the history names a hosted operation: the task board's mutations, which the task checker judges; nothing else. */
function hostedSpec(op: Operation): OpSpec {
  switch (op.op) {
    case 'task.create': return { op, f: 'task-create', key: op.taskId };
    case 'task.claim': return { op, f: 'task-claim', key: op.taskId };
    case 'task.renew': return { op, f: 'task-renew', key: op.taskId, value: op.token };
    case 'task.complete': return { op, f: 'task-complete', key: op.taskId, value: op.token };
    default: return { op, f: '', key: '' };
  }
}
