// The deterministic swarm simulator (DESIGN.md, "simulator" row): voters are real Replicas with
// Covey's state machine and a simulated disk, linked by a simulated network with loss,
// duplication, latency and partitions, driven on virtual time by one seeded generator. Closed-loop
// register clients write a history in HISTORY-FORMAT.md, which is checked for linearizability;
// the voters' final state is checked against the protocol invariants.
//
// Same options and seed → same events in the same order → same traceHash and history text.
// Nothing here reads a clock, calls Math.random, or iterates anything but arrays and
// insertion-ordered Maps/Sets.

import { createHash } from 'node:crypto';
import { Replica } from '../../consensus/core/replica.ts';
import { defaultQuorumConfig } from '../../consensus/core/quorum.ts';
import { CoveyStateMachine } from '../../consensus/statemachine/machine.ts';
import { checkAgreementAndVisibility, checkExecution } from '../../consensus/testing/invariants.ts';
import type { ReplicaOptions } from '../../consensus/core/config.ts';
import type { ClientReply, Envelope, Event as ReplicaEvent } from '../../consensus/core/types.ts';
import type { Command, CommandResult } from '../../consensus/statemachine/commands.ts';
import { parseHistory } from '../history.ts';
import { checkLinearizable, type LinearizabilityResult } from '../check/linearizability.ts';
import { Random } from './random.ts';
import { EventQueue } from './queue.ts';
import { SimDisk } from './disk.ts';

export interface SimulationOptions {
  readonly seed: number;
  readonly voters?: 3 | 5;
  /** Closed-loop register clients, bound to voters round robin. */
  readonly clients?: number;
  readonly keys?: number;
  /** Virtual time during which clients issue operations and faults are injected. */
  readonly durationMs: number;
  /** One-way message latency, drawn uniformly (µs resolution). */
  readonly latencyMs?: { readonly min: number; readonly max: number };
  readonly loss?: number;
  readonly duplicate?: number;
  readonly crashes?: boolean;
  readonly partitions?: boolean;
  /** A client gives up on an operation after this long and records `info`. */
  readonly requestTimeoutMs?: number;
  /** fsync latency range (ms, µs resolution). */
  readonly fsyncMs?: { readonly min: number; readonly max: number };
  /** After durationMs, how long at most to run for pending operations to finish. */
  readonly drainMs?: number;
  /**
   * Run the protocol invariant checks at the end (default true). checkExecution is quadratic in
   * the execution log, so a long busy run spends most of its wall time there; turn it off to
   * measure the engine alone. Linearizability is always checked.
   */
  readonly checkInvariants?: boolean;
}

export interface SimulationResult {
  readonly traceHash: string;
  /** Completed client operations (ok, fail or info). */
  readonly ops: number;
  readonly history: string;
  readonly linearizable: boolean;
  readonly linearizability: LinearizabilityResult;
  readonly violations: string[];
  readonly faults: { crashes: number; partitions: number; dropped: number; duplicated: number };
  /** Events processed. */
  readonly events: number;
  /** Virtual time at the end of the run, ms. */
  readonly endMs: number;
}

type SimEvent =
  | { kind: 'deliver'; env: Envelope }
  | { kind: 'tick'; voter: number; inc: number }
  /** A turn's fsync completed: release what the turn produced (write-ahead rule). */
  | { kind: 'fsync'; voter: number; inc: number; upTo: number; messages: Envelope[]; replies: ClientReply[] }
  | { kind: 'client'; client: number }
  | { kind: 'timeout'; client: number; requestId: number }
  | { kind: 'crash' }
  | { kind: 'restart'; voter: number }
  | { kind: 'partition' }
  | { kind: 'heal' }
  | { kind: 'end' };

interface Voter {
  replica: Replica | null;
  readonly disk: SimDisk;
  /** Incarnation: bumped on crash so timers and fsyncs of the dead incarnation are ignored. */
  inc: number;
  /** When this voter's latest fsync completes; fsyncs complete in order, like one disk queue. */
  fsyncDoneUs: number;
}

type F = 'read' | 'write' | 'cas';

interface OpenOp {
  readonly requestId: number;
  readonly f: F;
  readonly key: string;
}

interface Client {
  readonly voter: number;
  nextRequestId: number;
  writes: number;
  open: OpenOp | null;
  /** The last value this client read (or saw in a cas) per key, for the next cas's expectation. */
  readonly lastRead: Map<string, string | null>;
}

const usPerMs = 1000;

export function runSimulation(options: SimulationOptions): SimulationResult {
  const n = options.voters ?? 3;
  const clientCount = options.clients ?? 8;
  const keyCount = options.keys ?? 5;
  const latency = options.latencyMs ?? { min: 1, max: 5 };
  const fsync = options.fsyncMs ?? { min: 0.1, max: 1 };
  const loss = options.loss ?? 0;
  const duplicate = options.duplicate ?? 0;
  const timeoutUs = Math.round((options.requestTimeoutMs ?? 3000) * usPerMs);
  const endUs = Math.round(options.durationMs * usPerMs);
  const hardStopUs = endUs + Math.round((options.drainMs ?? 30_000) * usPerMs);
  const quorum = defaultQuorumConfig(n);

  const rng = new Random(options.seed);
  const queue = new EventQueue<SimEvent>();
  const hash = createHash('sha256');
  const historyLines: string[] = [];
  const faults = { crashes: 0, partitions: 0, dropped: 0, duplicated: 0 };
  let nowUs = 0;
  let events = 0;
  let ops = 0;
  let ending = false;
  /** Voters cut off from the rest while a partition lasts (the minority side). */
  let isolated = new Set<number>();

  const replicaOptions = (self: number): ReplicaOptions => ({ self, n, f: quorum.f, e: quorum.e });
  const drawUs = (r: { min: number; max: number }): number => rng.int(Math.round(r.min * usPerMs), Math.round(r.max * usPerMs));
  const downCount = (): number => voters.filter((v) => v.replica === null).length;

  const voters: Voter[] = [];
  for (let i = 0; i < n; i++) {
    voters.push({ replica: new Replica(replicaOptions(i), new CoveyStateMachine()), disk: new SimDisk(), inc: 0, fsyncDoneUs: 0 });
  }
  const clients: Client[] = [];
  for (let c = 0; c < clientCount; c++) {
    clients.push({ voter: c % n, nextRequestId: 1, writes: 0, open: null, lastRead: new Map() });
  }

  // ---- history ----------------------------------------------------------------------------

  const record = (process: number, type: string, f: F, key: string, value?: unknown): void => {
    const line: Record<string, unknown> = { process, type, f, key };
    if (value !== undefined) line.value = value;
    line.time = nowUs * 1000; // ns
    historyLines.push(JSON.stringify(line));
  };

  // ---- a driver turn: step, persist, and release effects only after the fsync --------------

  const turn = (v: number, ev: ReplicaEvent | null): void => {
    const voter = voters[v];
    const replica = voter.replica!;
    if (ev !== null) replica.step(ev);
    const ready = replica.takeReady();
    if (ready.tickMs !== null) queue.push(nowUs + ready.tickMs * usPerMs, { kind: 'tick', voter: v, inc: voter.inc });
    if (ready.persist.length === 0 && ready.messages.length === 0 && ready.replies.length === 0) return;
    const upTo = voter.disk.append(ready.persist);
    // Effects wait for this turn's records AND every earlier turn's (they may depend on them),
    // so completions are kept in order; a turn with nothing to write still waits its turn.
    const doneUs = Math.max(voter.fsyncDoneUs, nowUs + (ready.persist.length > 0 ? drawUs(fsync) : 0));
    voter.fsyncDoneUs = doneUs;
    queue.push(doneUs, { kind: 'fsync', voter: v, inc: voter.inc, upTo, messages: ready.messages, replies: ready.replies });
  };

  const send = (env: Envelope): void => {
    if (rng.chance(loss)) { faults.dropped++; return; }
    const copies = rng.chance(duplicate) ? 2 : 1;
    if (copies === 2) faults.duplicated++;
    for (let i = 0; i < copies; i++) queue.push(nowUs + drawUs(latency), { kind: 'deliver', env });
  };

  // ---- clients ----------------------------------------------------------------------------

  /** Think time before the next operation; `backoffMs` after the agent refused the connection. */
  const scheduleNextOp = (c: number, backoffMs = 0): void => {
    queue.push(nowUs + backoffMs * usPerMs + rng.int(0, 5 * usPerMs), { kind: 'client', client: c });
  };

  const complete = (c: number, type: 'ok' | 'fail' | 'info', value?: unknown, backoffMs = 0): void => {
    const client = clients[c];
    const op = client.open!;
    record(c, type, op.f, op.key, value);
    client.open = null;
    ops++;
    scheduleNextOp(c, backoffMs);
  };

  const invoke = (c: number): void => {
    const client = clients[c];
    if (ending || client.open !== null) return;
    const key = `k${rng.int(0, keyCount - 1)}`;
    const roll = rng.int(0, 99);
    const f: F = roll < 40 ? 'read' : roll < 80 ? 'write' : 'cas';
    const requestId = client.nextRequestId++;
    const envelope = { clientId: `c${c}`, requestId, timestampMs: Math.floor(nowUs / usPerMs) };
    let command: Command;
    if (f === 'read') {
      command = { ...envelope, op: 'get', key };
      record(c, 'invoke', f, key);
    } else {
      const value = `v-${c}-${++client.writes}`;
      if (f === 'write') {
        command = { ...envelope, op: 'put', key, value };
        record(c, 'invoke', f, key, value);
      } else {
        const expected = client.lastRead.get(key) ?? null;
        command = { ...envelope, op: 'cas', key, expected, value };
        record(c, 'invoke', f, key, [expected, value]);
      }
    }
    client.open = { requestId, f, key };
    const voter = voters[client.voter];
    if (voter.replica === null) {
      // The agent is down: the command was never submitted, so it definitely did not happen.
      complete(c, 'fail', undefined, 50);
      return;
    }
    queue.push(nowUs + timeoutUs, { kind: 'timeout', client: c, requestId });
    turn(client.voter, { type: 'submit', command });
  };

  const onReply = (reply: ClientReply): void => {
    const c = Number(reply.clientId.slice(1));
    const op = clients[c]?.open;
    // A reply for an operation the client already gave up on (or a duplicate) is ignored.
    if (op == null || op.requestId !== reply.requestId) return;
    const result: CommandResult = reply.result;
    if (!result.ok) { complete(c, 'fail'); return; } // refused by the state machine: no effect
    if (op.f === 'read') {
      const value = result.value ?? null;
      clients[c].lastRead.set(op.key, value);
      complete(c, 'ok', value);
    } else if (op.f === 'write') {
      complete(c, 'ok');
    } else {
      if (!result.swapped) clients[c].lastRead.set(op.key, result.value ?? null);
      complete(c, 'ok', result.swapped === true);
    }
  };

  // ---- faults -----------------------------------------------------------------------------

  const crash = (v: number): void => {
    const voter = voters[v];
    voter.replica = null;
    voter.inc++;
    voter.fsyncDoneUs = nowUs;
    voter.disk.crash();
    faults.crashes++;
    // Clients talking to it lose the connection: outcome unknown.
    for (let c = 0; c < clients.length; c++) if (clients[c].voter === v && clients[c].open !== null) complete(c, 'info');
  };

  const restart = (v: number): void => {
    const voter = voters[v];
    if (voter.replica !== null) return;
    voter.replica = Replica.restore(replicaOptions(v), voter.disk.load(), new CoveyStateMachine());
    turn(v, null); // restore may have applied committed instances; also starts the tick chain
  };

  const heal = (): void => {
    isolated = new Set();
  };

  // ---- the loop ---------------------------------------------------------------------------

  const handle = (ev: SimEvent): void => {
    switch (ev.kind) {
      case 'deliver': {
        const { from, to, msg } = ev.env;
        if (isolated.has(from) !== isolated.has(to)) { faults.dropped++; return; }
        if (voters[to].replica === null) return; // the recipient is down
        turn(to, { type: 'message', from, msg });
        return;
      }
      case 'tick': {
        const voter = voters[ev.voter];
        if (voter.inc !== ev.inc || voter.replica === null) return;
        turn(ev.voter, { type: 'tick', nowMs: Math.floor(nowUs / usPerMs), entropy: rng.nextU32() });
        return;
      }
      case 'fsync': {
        const voter = voters[ev.voter];
        if (voter.inc !== ev.inc) return; // crashed before the fsync: effects are lost
        voter.disk.sync(ev.upTo);
        for (const env of ev.messages) send(env);
        for (const reply of ev.replies) onReply(reply);
        return;
      }
      case 'client':
        invoke(ev.client);
        return;
      case 'timeout': {
        const op = clients[ev.client].open;
        if (op !== null && op.requestId === ev.requestId) complete(ev.client, 'info');
        return;
      }
      case 'crash': {
        if (ending) return;
        const up = voters.map((_, i) => i).filter((i) => voters[i].replica !== null);
        if (downCount() + isolated.size < quorum.f && up.length > 0) {
          const v = rng.pick(up);
          crash(v);
          queue.push(nowUs + rng.int(100 * usPerMs, 1500 * usPerMs), { kind: 'restart', voter: v });
        }
        queue.push(nowUs + rng.int(200 * usPerMs, 1500 * usPerMs), { kind: 'crash' });
        return;
      }
      case 'restart':
        restart(ev.voter);
        return;
      case 'partition': {
        if (ending) return;
        const budget = quorum.f - downCount();
        if (isolated.size === 0 && budget >= 1) {
          // A clean split: a random minority of 1..budget voters is cut off from the rest.
          const order = voters.map((_, i) => i);
          for (let i = order.length - 1; i > 0; i--) {
            const j = rng.int(0, i);
            [order[i], order[j]] = [order[j], order[i]];
          }
          isolated = new Set(order.slice(0, rng.int(1, budget)));
          faults.partitions++;
          queue.push(nowUs + rng.int(200 * usPerMs, 1500 * usPerMs), { kind: 'heal' });
        }
        queue.push(nowUs + rng.int(500 * usPerMs, 2000 * usPerMs), { kind: 'partition' });
        return;
      }
      case 'heal':
        heal();
        return;
      case 'end':
        // Stop injecting faults and new operations; let the swarm recover and finish.
        ending = true;
        heal();
        for (let v = 0; v < n; v++) restart(v);
        return;
    }
  };

  const traceOf = (t: number, ev: SimEvent): string => {
    switch (ev.kind) {
      case 'deliver': {
        const m = ev.env.msg;
        return `${t} d ${ev.env.from}>${ev.env.to} ${m.type} ${'id' in m ? m.id : ''} ${'b' in m ? m.b : ''}\n`;
      }
      case 'tick': return `${t} t ${ev.voter}.${ev.inc}\n`;
      case 'fsync': return `${t} s ${ev.voter}.${ev.inc} ${ev.upTo} ${ev.messages.length} ${ev.replies.length}\n`;
      case 'client': return `${t} c ${ev.client}\n`;
      case 'timeout': return `${t} o ${ev.client} ${ev.requestId}\n`;
      case 'restart': return `${t} r ${ev.voter}\n`;
      default: return `${t} ${ev.kind}\n`;
    }
  };

  for (let v = 0; v < n; v++) turn(v, null); // each voter's first Ready asks for its first tick
  for (let c = 0; c < clientCount; c++) scheduleNextOp(c);
  if (options.crashes === true) queue.push(rng.int(100 * usPerMs, 1000 * usPerMs), { kind: 'crash' });
  if (options.partitions === true) queue.push(rng.int(100 * usPerMs, 1000 * usPerMs), { kind: 'partition' });
  queue.push(endUs, { kind: 'end' });

  for (;;) {
    const next = queue.pop();
    if (next === undefined || next.timeUs > hardStopUs) break;
    nowUs = next.timeUs;
    events++;
    hash.update(traceOf(nowUs, next.item));
    handle(next.item);
    if (ending && clients.every((c) => c.open === null)) break;
  }
  // Anything still open at the hard stop has an unknown outcome.
  for (let c = 0; c < clients.length; c++) if (clients[c].open !== null) { complete(c, 'info'); }

  const history = historyLines.length > 0 ? historyLines.join('\n') + '\n' : '';
  const linearizability = checkLinearizable(parseHistory(history));
  const replicas = voters.map((v) => v.replica!);
  const invariants = options.checkInvariants ?? true;
  const violations = [
    ...(invariants ? checkAgreementAndVisibility(replicas) : []),
    ...(invariants ? checkExecution(replicas, voters.map((v) => v.disk.load().applied)) : []),
    ...replicas.filter((r) => r.stats.agreementViolations > 0).map((r) => `INV1: replica ${r.self} saw ${r.stats.agreementViolations} contradicting commits`),
    ...linearizability.violations.map((v) => `linearizability: key ${v.key}: ${v.reason}${v.unknown === true ? ' (search limit)' : ''}`),
  ];
  return {
    traceHash: hash.digest('hex'),
    ops,
    history,
    linearizable: linearizability.linearizable,
    linearizability,
    violations,
    faults,
    events,
    endMs: nowUs / usPerMs,
  };
}
