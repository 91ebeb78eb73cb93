// One contract for every Ready driver (issue 14: "Three Ready drivers"): the agent's
// (agent/driver.ts), the simulator's turns and fsyncs (simulation.ts) and the test cluster
// (consensus/cluster.ts) each honour the core's Ready by hand. This file judges them all
// the same way, from what each one reports as it goes:
//
// - `ready(voter, ready, position)`: the driver took a Ready and appended its records; `position`
//   is where the voter's log stands after them (a turn without records shares its predecessor's).
// - `durable(voter, position)`: everything appended up to `position` survives a crash now.
// - `lost(voter)`: a failed append or a crash: what was not durable never will be.
// - `sent(envelopes)`, `answered(voter, reply)`: what left the driver, when it left.
//
// The rule (DESIGN.md, "persist before you promise"; PROTOCOL.md §12): a Ready's early messages
// may leave at once; its other messages and its client answers leave only once its records and
// every earlier turn's are durable, never if they were lost, once, and in the order of the turns.
// `readyDriverConformance` is the script every driver whose appends a test can hold back runs;
// the simulator, whose disk runs on virtual time, is judged by the same checker over whole runs.

import assert from 'node:assert/strict';
import {
  emptyDeps, instanceId, type ClientReply, type Command, type Envelope, type Message, type PreAccept, type Ready,
} from '../../consensus/index.ts';

/** What a driver reports to the checker (the simulator takes one as `SimulationOptions.readyProbe`). */
export interface ReadyProbe {
  ready(voter: number, ready: Ready, position: number): void;
  durable(voter: number, position: number): void;
  lost(voter: number): void;
  sent(envelopes: readonly Envelope[]): void;
  answered(voter: number, reply: ClientReply): void;
}

interface Turn {
  readonly seq: number;
  readonly position: number;
  durable: boolean;
  lost: boolean;
  /** Messages and answers that must wait for `durable`. */
  readonly held: Set<Envelope>;
  readonly replies: ClientReply[];
  readonly released: Set<Envelope | ClientReply>;
}

interface VoterState {
  readonly turns: Turn[];
  durablePos: number;
  /** The highest turn that released a held effect: later releases of earlier turns are out of order. */
  lastReleasedSeq: number;
}

export interface ReadyStats {
  /** Turns that had messages or answers to hold back. */
  turns: number;
  /** Of those, the ones whose records were not durable yet when the driver took the Ready. */
  heldAtReady: number;
  early: number;
  released: number;
  answered: number;
  /** Turns with held effects whose records were lost. */
  lostTurns: number;
}

/** The checker: a ReadyProbe that collects every breach of persist-then-send. */
export class ReadyConformance implements ReadyProbe {
  readonly stats: ReadyStats = { turns: 0, heldAtReady: 0, early: 0, released: 0, answered: 0, lostTurns: 0 };
  /** Everything that left, in order (early messages included), for scripts to read. */
  readonly out: Array<{ readonly voter: number; readonly env?: Envelope; readonly reply?: ClientReply }> = [];
  private readonly voters = new Map<number, VoterState>();
  private readonly turnOf = new Map<Envelope, Turn>();
  private readonly early = new Set<Envelope>();
  private readonly problems: string[] = [];
  private seq = 0;

  ready(voter: number, ready: Ready, position: number): void {
    const v = this.voter(voter);
    for (const env of ready.early) this.early.add(env);
    if (ready.messages.length === 0 && ready.replies.length === 0) return;
    if (position < v.durablePos) this.problem(`voter ${voter}: a Ready at position ${position}, behind the durable ${v.durablePos}`);
    const durable = position <= v.durablePos;
    const turn: Turn = { seq: this.seq++, position, durable, lost: false, held: new Set(ready.messages), replies: [...ready.replies], released: new Set() };
    for (const env of ready.messages) this.turnOf.set(env, turn);
    v.turns.push(turn);
    this.stats.turns++;
    if (!durable) this.stats.heldAtReady++;
  }

  durable(voter: number, position: number): void {
    const v = this.voter(voter);
    if (position < v.durablePos) this.problem(`voter ${voter}: durability went back from ${v.durablePos} to ${position}`);
    v.durablePos = Math.max(v.durablePos, position);
    for (const t of v.turns) if (!t.lost && t.position <= v.durablePos) t.durable = true;
  }

  lost(voter: number): void {
    const v = this.voter(voter);
    for (const t of v.turns) {
      if (t.durable || t.lost) continue;
      t.lost = true;
      this.stats.lostTurns++;
    }
  }

  sent(envelopes: readonly Envelope[]): void {
    for (const env of envelopes) {
      this.out.push({ voter: env.from, env });
      if (this.early.has(env)) { this.stats.early++; continue; }
      const turn = this.turnOf.get(env);
      const what = `${env.msg.type} ${env.from}→${env.to}`;
      if (turn === undefined) { this.problem(`voter ${env.from} sent ${what}, which no Ready of it held`); continue; }
      this.release(env.from, turn, env, what);
    }
  }

  answered(voter: number, reply: ClientReply): void {
    this.out.push({ voter, reply });
    const v = this.voter(voter);
    const what = `the answer to ${reply.clientId}/${reply.requestId}`;
    // By identity where the driver passes the core's reply on; else the oldest unanswered one like it.
    const turn = v.turns.find((t) => t.replies.includes(reply))
      ?? v.turns.find((t) => t.replies.some((r) => sameRequest(r, reply) && !t.released.has(r)));
    if (turn === undefined) { this.problem(`voter ${voter} gave ${what}, which no Ready of it held`); return; }
    const own = turn.replies.includes(reply) ? reply : turn.replies.find((r) => sameRequest(r, reply) && !turn.released.has(r))!;
    this.release(voter, turn, own, what);
    this.stats.answered++;
  }

  /** Every breach seen so far; empty when the driver kept the rule. */
  violations(): string[] {
    return [...this.problems];
  }

  /**
   * Held effects of durable turns that never left: call when the driver is idle. Own votes (to the
   * voter itself) are handed back, not sent; answers count only with `replies` (the agent answers
   * only the clients that wait on it).
   */
  unreleased(options: { readonly replies: boolean }): string[] {
    const out: string[] = [];
    for (const [voter, v] of this.voters) {
      for (const t of v.turns) {
        if (!t.durable) continue;
        for (const env of t.held) if (env.to !== voter && !t.released.has(env)) out.push(`voter ${voter} never sent ${env.msg.type}→${env.to} of a durable turn`);
        if (options.replies) for (const r of t.replies) if (!t.released.has(r)) out.push(`voter ${voter} never answered ${r.clientId}/${r.requestId} of a durable turn`);
      }
    }
    return out;
  }

  private release(voter: number, turn: Turn, item: Envelope | ClientReply, what: string): void {
    const v = this.voter(voter);
    if (turn.lost) this.problem(`voter ${voter} released ${what} of a turn whose records were lost`);
    else if (!turn.durable) this.problem(`voter ${voter} released ${what} before its turn's records were durable`);
    if (turn.released.has(item)) this.problem(`voter ${voter} released ${what} twice`);
    if (turn.seq < v.lastReleasedSeq) this.problem(`voter ${voter} released ${what} after effects of a later turn`);
    turn.released.add(item);
    v.lastReleasedSeq = Math.max(v.lastReleasedSeq, turn.seq);
    this.stats.released++;
  }

  private voter(voter: number): VoterState {
    let v = this.voters.get(voter);
    if (v === undefined) this.voters.set(voter, (v = { turns: [], durablePos: 0, lastReleasedSeq: -1 }));
    return v;
  }

  private problem(text: string): void {
    if (this.problems.length < 20) this.problems.push(text);
  }
}

function sameRequest(a: ClientReply, b: ClientReply): boolean {
  return a.clientId === b.clientId && a.requestId === b.requestId;
}

/**
 * A driver of voter 0 of three whose appends the test holds back. Each call lets the driver run
 * until it waits for something again; the driver reports to `log` as it goes.
 */
export interface HeldDriver {
  readonly log: ReadyConformance;
  receive(from: number, msg: Message): Promise<void>;
  submit(command: Command): Promise<void>;
  /** Appends started and not completed (in order). */
  pendingAppends(): number;
  /** The oldest pending append completes, or fails (a failure may lose the later ones too). */
  completeAppend(ok: boolean): Promise<void>;
}

// A client per command: one client's commands conflict (its session), and the script's do not.
const put = (requestId: number, key: string): Command => ({ clientId: `conformance-${requestId}`, requestId, timestampMs: 0, op: 'put', key, value: 'v' });

/**
 * The script: while an append is pending nothing held by its turn leaves; once it completes
 * everything does, in order; an append that fails sends nothing. Asserts as it goes.
 */
export async function readyDriverConformance(d: HeldDriver, n = 3): Promise<void> {
  const heldOut = () => d.log.out.filter((o) => o.reply !== undefined || (o.env !== undefined && o.env.msg.type !== 'PreAccept' && o.env.msg.type !== 'Commit'));
  const check = (when: string) => assert.deepEqual(d.log.violations(), [], when);

  // A vote for voter 1's proposal, held while its record is written.
  await d.receive(1, { type: 'PreAccept', id: instanceId(1, 1), cmd: { commands: [put(1, 'a')] }, dep: emptyDeps(n) });
  assert.equal(d.pendingAppends(), 1, 'the PreAccept\'s record is being written');
  assert.deepEqual(heldOut(), [], 'no vote before its record is durable');
  // A client's command: its proposals leave at once, its own vote waits behind the first append.
  await d.submit(put(2, 'b'));
  // To a fast quorum's worth of peers (thrifty: one of two with three voters), or to every peer.
  const proposedTo = d.log.out.filter((o) => o.env?.msg.type === 'PreAccept').map((o) => o.env!.to);
  assert.ok(proposedTo.length >= 1 && proposedTo.every((to) => to > 0 && to < n), `the proposals left early (to ${proposedTo.join(', ')})`);
  assert.deepEqual(heldOut(), [], 'nothing held left while both appends are pending');
  check('while pending');
  await d.completeAppend(true);
  assert.deepEqual(heldOut().map((o) => `${o.env?.msg.type}→${o.env?.to}`), ['PreAcceptOK→1'], 'the first turn\'s vote, and only it');
  check('after the first append');
  // Voter 1 agrees: with the own vote durable, a fast quorum; the answer waits for its turn too.
  const proposal = d.log.out.find((o) => o.env?.msg.type === 'PreAccept')!.env!.msg as PreAccept;
  await d.receive(1, { type: 'PreAcceptOK', id: proposal.id, dep: proposal.dep });
  let answeredWhilePending = false;
  while (d.pendingAppends() > 0) {
    if (d.log.out.some((o) => o.reply !== undefined)) answeredWhilePending = true;
    check('while the rest are pending');
    await d.completeAppend(true);
  }
  assert.equal(answeredWhilePending, false, 'no answer before every append was durable');
  assert.deepEqual(d.log.out.filter((o) => o.reply !== undefined).map((o) => o.reply!.requestId), [2], 'the client was answered once');
  assert.deepEqual(d.log.unreleased({ replies: true }), [], 'everything held left once durable');
  check('after every append');
  // A vote whose record fails to persist never leaves.
  const before = heldOut().length;
  await d.receive(2, { type: 'PreAccept', id: instanceId(2, 1), cmd: { commands: [put(3, 'c')] }, dep: emptyDeps(n) });
  assert.equal(d.pendingAppends(), 1);
  await d.completeAppend(false);
  assert.equal(heldOut().length, before, 'nothing of a failed append left');
  assert.ok(d.log.stats.lostTurns >= 1, 'the failed turn was reported lost');
  check('after a failed append');
  assert.ok(d.log.stats.heldAtReady >= 3 && d.log.stats.released >= 2, `the script held effects back: ${JSON.stringify(d.log.stats)}`);
}
