// The driver of a swarm that forms by itself (rule.ts holds the rule and its argument). Over the
// agent's libp2p node it:
//   - dials the bootstrap addresses (with or without /p2p/<id>: forming agents know no ids) and
//     lets mDNS and the peer keeper bring the rest;
//   - says hello to every connected peer it admits; a peer that answers with the same swarm name
//     and k is a candidate while it stays connected and heard (candidateStaleMs);
//   - steps the rule: proposes its choice when it coordinates it, answers proposals, asks the
//     coordinator of a proposal it holds what became of it, adopts a formed set heard from a member;
//   - persists every new state (store.ts) before any message or answer that depends on it.
// State transitions run one at a time (a promise chain), each from the state the last one left.
// Once formed it keeps answering (hello, ask, propose), so late agents learn the formed set.
// Time and randomness are real here (a driver, not a core).

import type { Libp2p } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import type { Logger } from 'pino';
import { requestReply, serveRequests } from './exchange.ts';
import {
  abort, choose, coordinatorOf, form, onAborted, onFormed, onPropose, onRestart, propose, sameSet, shouldPropose, statusOf,
  type FormationState, type FormedVoter, type Proposal,
} from './rule.ts';
import type { FormationStore } from './store.ts';
import { addrsMax, addrBytesMax, formationProtocol, type Reply, type Request } from './wire.ts';

export const tickMsDefault = 250;
/** Each connected peer is greeted this often; a candidate not heard for candidateStaleMs is dropped. */
export const helloEveryMs = 500;
export const candidateStaleMs = 2_000;
/** A coordinator waits this long for the members' answers, then aborts the attempt. */
export const answerTimeoutMs = 2_000;
/** After an abort, the next attempt waits a random time in this range (so two views can settle). */
export const retryDelayMsMin = 300;
export const retryDelayMsMax = 1_500;
/** A member holding a proposal asks its coordinator this often. */
export const askEveryMs = 1_000;
/** A bootstrap address is dialled at most this often while nothing answers there. */
export const bootstrapDialEveryMs = 1_000;

export interface FormationOptions {
  readonly node: Libp2p;
  readonly swarm: string;
  readonly expectVoters: number;
  readonly store: FormationStore;
  readonly logger: Logger;
  /** Whether this agent admits `peer` (the config's roster: with `swarm.roster`, only its peers). */
  readonly admits: (peer: string) => boolean;
  /** The config's bootstrap addresses; those without /p2p/<id> are dialled by address. */
  readonly bootstrap: readonly string[];
  readonly tickMs?: number;
}

export interface FormationProgress {
  readonly formed: readonly FormedVoter[] | null;
  /** Agents found with the same swarm name and k, this one included. */
  readonly found: number;
  readonly expectVoters: number;
  readonly lock: Proposal | null;
  readonly reason: string;
}

interface Candidate {
  addrs: readonly string[];
  heardAt: number;
}

export class Formation {
  readonly #o: FormationOptions;
  readonly #self: string;
  #state: FormationState;
  #chain: Promise<unknown> = Promise.resolve();
  readonly #candidates = new Map<string, Candidate>();
  readonly #helloAt = new Map<string, number>();
  readonly #greeting = new Set<string>();
  readonly #dialAt = new Map<string, number>();
  /** Who answered at each bootstrap address (learnt from the connection), so it is not dialled again. */
  readonly #bootstrapPeers = new Map<string, string>();
  #askAt = 0;
  #proposing = false;
  #retryAt = 0;
  #timer: NodeJS.Timeout | null = null;
  #running = false;
  #resolveFormed: ((v: readonly FormedVoter[]) => void) | null = null;
  readonly #formed: Promise<readonly FormedVoter[]>;

  /** Loads the persisted state (a coordinator's undecided attempt is aborted: rule.ts onRestart). */
  constructor(o: FormationOptions) {
    this.#o = o;
    this.#self = o.node.peerId.toString();
    const loaded = o.store.load();
    this.#state = onRestart(loaded, this.#self);
    if (this.#state !== loaded) o.store.save(this.#state);
    this.#formed = new Promise((r) => { this.#resolveFormed = r; });
    if (this.#state.formed !== null) this.#resolveFormed!(this.#state.formed);
  }

  /** Resolves with the voters once formed (at once when formed before). */
  formed(): Promise<readonly FormedVoter[]> {
    return this.#formed;
  }

  async start(): Promise<void> {
    this.#running = true;
    await serveRequests(this.#o.node, this.#o.logger, (r, from) => this.#answer(r, from));
    if (this.#state.formed === null) {
      this.#timer = setInterval(() => this.#tick(), this.#o.tickMs ?? tickMsDefault);
      this.#timer.unref();
      this.#tick();
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#stopTicking();
    await this.#o.node.unhandle(formationProtocol).catch(() => {});
    await this.#chain.catch(() => {});
  }

  progress(): FormationProgress {
    const s = this.#state;
    const found = Math.min(this.#o.expectVoters, 1 + this.#liveCandidates().length);
    const k = this.#o.expectVoters;
    let reason: string;
    if (s.formed !== null) reason = `formed: ${s.formed.length} voters`;
    else if (s.lock !== null && coordinatorOf(s.lock.set) !== this.#self) reason = `forming the swarm: found ${found} of ${k} voters; holding the proposal of ${coordinatorOf(s.lock.set)} (attempt ${s.lock.attempt}) until it decides`;
    else if (s.lock !== null) reason = `forming the swarm: found ${found} of ${k} voters; proposed them, waiting for their answers`;
    else reason = `forming the swarm: found ${found} of ${k} voters (agents with swarm.name "${this.#o.swarm}" and swarm.expectVoters ${k}); waiting for more through mDNS or bootstrap`;
    return { formed: s.formed, found, expectVoters: k, lock: s.lock, reason };
  }

  // ---- state transitions: one at a time, persisted before anything depends on them --------------

  #transition<T>(step: (s: FormationState) => { state: FormationState; result: T }): Promise<T> {
    const run = this.#chain.then(() => {
      const { state, result } = step(this.#state);
      if (state !== this.#state) {
        this.#o.store.save(state);
        const wasFormed = this.#state.formed !== null;
        this.#state = state;
        if (!wasFormed && state.formed !== null) this.#onFormed(state.formed);
      }
      return result;
    });
    this.#chain = run.catch(() => {});
    return run;
  }

  #onFormed(voters: readonly FormedVoter[]): void {
    const role = voters.some((v) => v.id === this.#self) ? 'voter' : 'worker';
    this.#o.logger.info({ voters: voters.map((v) => v.id), role }, `the swarm has formed; this agent is a ${role}`);
    this.#stopTicking();
    this.#resolveFormed?.(voters);
  }

  #stopTicking(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  // ---- answering ---------------------------------------------------------------------------------

  async #answer(r: Request, from: string): Promise<Reply> {
    if (!this.#o.admits(from)) return { type: 'refused', reason: 'not on this agent\'s roster' };
    if (r.swarm !== this.#o.swarm || r.expectVoters !== this.#o.expectVoters) {
      return { type: 'refused', reason: `this agent forms swarm "${this.#o.swarm}" with expectVoters ${this.#o.expectVoters}` };
    }
    const formed = () => this.#state.formed === null ? null : this.#state.formed.map((v) => ({ id: v.id, addrs: [...v.addrs] }));
    switch (r.type) {
      case 'hello':
        // Only a forming agent is a candidate; a formed one answers with its set instead (and
        // keeps no candidates: late agents would grow the map for nothing).
        if (this.#state.formed === null) this.#candidates.set(from, { addrs: r.addrs, heardAt: performance.now() });
        return { type: 'hello', swarm: this.#o.swarm, expectVoters: this.#o.expectVoters, addrs: this.#ownAddrs(), formed: formed() };
      case 'propose': {
        const answer = await this.#transition((s) => {
          const out = onPropose(s, this.#self, this.#choice(), { set: r.set, attempt: r.attempt }, from);
          return { state: out.state, result: out.answer };
        });
        if (!answer.accept) this.#o.logger.info({ from, set: r.set, attempt: r.attempt, reason: answer.reason }, 'refused a formation proposal');
        return { type: 'answer', accept: answer.accept, reason: answer.accept ? '' : answer.reason, formed: formed() };
      }
      case 'decision':
        await this.#learnDecision({ set: r.set, attempt: r.attempt }, r.outcome === 'formed' ? 'formed' : 'aborted', r.voters, from);
        return { type: 'ok' };
      case 'ask':
        return { type: 'status', status: statusOf(this.#state, this.#self, { set: r.set, attempt: r.attempt }), formed: formed() };
    }
  }

  #learnDecision(p: Proposal, status: 'formed' | 'aborted' | 'pending', voters: readonly FormedVoter[] | null, from: string): Promise<void> {
    return this.#transition((s) => {
      if (status === 'aborted') return { state: onAborted(s, p, from), result: undefined };
      if (status === 'formed' && voters !== null && sameSet(voters.map((v) => v.id), p.set)) return { state: onFormed(s, voters, from, this.#o.expectVoters), result: undefined };
      return { state: s, result: undefined };
    });
  }

  // ---- the loop ----------------------------------------------------------------------------------

  #tick(): void {
    if (!this.#running || this.#state.formed !== null) return;
    const now = performance.now();
    this.#dialBootstrap(now);
    for (const peer of this.#connectedPeers()) {
      // One hello in flight per peer: a slow peer is not sent a new one every round.
      if (this.#greeting.has(peer) || now - (this.#helloAt.get(peer) ?? -Infinity) < helloEveryMs) continue;
      this.#helloAt.set(peer, now);
      this.#greeting.add(peer);
      void this.#hello(peer).finally(() => this.#greeting.delete(peer));
    }
    const lock = this.#state.lock;
    if (lock !== null && coordinatorOf(lock.set) !== this.#self && now - this.#askAt >= askEveryMs) {
      this.#askAt = now;
      void this.#ask(lock);
    }
    const choice = this.#choice();
    if (!this.#proposing && now >= this.#retryAt && shouldPropose(this.#state, this.#self, choice)) {
      this.#proposing = true;
      void this.#runProposal(choice).finally(() => { this.#proposing = false; });
    }
  }

  async #hello(peer: string): Promise<void> {
    try {
      const r = await requestReply(this.#o.node, peerIdFromString(peer), { type: 'hello', swarm: this.#o.swarm, expectVoters: this.#o.expectVoters, addrs: this.#ownAddrs() }, answerTimeoutMs);
      if (r.type !== 'hello' || r.swarm !== this.#o.swarm || r.expectVoters !== this.#o.expectVoters) {
        this.#candidates.delete(peer);
        return;
      }
      if (r.formed !== null) {
        this.#candidates.delete(peer);
        await this.#transition((s) => ({ state: onFormed(s, r.formed!, peer, this.#o.expectVoters), result: undefined }));
        return;
      }
      this.#candidates.set(peer, { addrs: r.addrs, heardAt: performance.now() });
    } catch (err) {
      this.#o.logger.debug({ peer, err: (err as Error).message }, 'formation hello failed');
    }
  }

  async #ask(lock: Proposal): Promise<void> {
    const coordinator = coordinatorOf(lock.set);
    if (!this.#isConnected(coordinator)) return;
    try {
      const r = await requestReply(this.#o.node, peerIdFromString(coordinator), { type: 'ask', swarm: this.#o.swarm, expectVoters: this.#o.expectVoters, set: [...lock.set], attempt: lock.attempt }, answerTimeoutMs);
      if (r.type === 'status') await this.#learnDecision(lock, r.status, r.formed, coordinator);
    } catch (err) {
      this.#o.logger.debug({ coordinator, err: (err as Error).message }, 'cannot ask the coordinator about its proposal');
    }
  }

  /** Coordinates one attempt: lock, propose to every member, then form or abort, and tell them. */
  async #runProposal(choice: readonly string[]): Promise<void> {
    const proposal = await this.#transition((s) => {
      if (!shouldPropose(s, this.#self, choice)) return { state: s, result: null };
      const r = propose(s, choice);
      return { state: r.state, result: r.proposal };
    });
    if (proposal === null) return;
    const members = proposal.set.filter((m) => m !== this.#self);
    this.#o.logger.info({ set: proposal.set, attempt: proposal.attempt }, 'proposing the voters');
    const answers = await Promise.all(members.map(async (m) => {
      try {
        const r = await requestReply(this.#o.node, peerIdFromString(m), { type: 'propose', swarm: this.#o.swarm, expectVoters: this.#o.expectVoters, set: [...proposal.set], attempt: proposal.attempt }, answerTimeoutMs);
        return r.type === 'answer' ? { m, accept: r.accept, reason: r.reason, formed: r.formed } : { m, accept: false, reason: r.type === 'refused' ? r.reason : `unexpected ${r.type} reply`, formed: null };
      } catch (err) {
        return { m, accept: false, reason: (err as Error).message, formed: null };
      }
    }));
    const refused = answers.filter((a) => !a.accept);
    const voters = proposal.set.map((id) => ({ id, addrs: id === this.#self ? this.#ownAddrs() : [...(this.#candidates.get(id)?.addrs ?? [])] }));
    const formed = refused.length === 0;
    await this.#transition((s) => ({ state: formed ? form(s, proposal, voters) : abort(s, proposal), result: undefined }));
    if (!formed) {
      this.#o.logger.info({ set: proposal.set, attempt: proposal.attempt, refused: refused.map((a) => ({ peer: a.m, reason: a.reason })) }, 'the proposal was not accepted by every member; aborted, trying again');
      this.#retryAt = performance.now() + retryDelayMsMin + Math.random() * (retryDelayMsMax - retryDelayMsMin);
      // A member that answered with a formed set: adopt it now that this agent holds no lock.
      for (const a of answers) if (a.formed !== null) await this.#transition((s) => ({ state: onFormed(s, a.formed!, a.m, this.#o.expectVoters), result: undefined }));
    }
    // Tell the members (best effort: a member that misses it asks).
    await Promise.all(members.map((m) => requestReply(this.#o.node, peerIdFromString(m), {
      type: 'decision', swarm: this.#o.swarm, expectVoters: this.#o.expectVoters, set: [...proposal.set], attempt: proposal.attempt,
      outcome: formed ? 'formed' : 'aborted', voters: formed ? voters.map((v) => ({ id: v.id, addrs: [...v.addrs] })) : null,
    }, answerTimeoutMs).catch(() => {})));
  }

  // ---- views -------------------------------------------------------------------------------------

  #choice(): string[] | null {
    return choose(this.#self, this.#liveCandidates(), this.#o.expectVoters);
  }

  #liveCandidates(): string[] {
    const now = performance.now();
    return [...this.#candidates].filter(([id, c]) => now - c.heardAt <= candidateStaleMs && this.#isConnected(id) && this.#o.admits(id)).map(([id]) => id);
  }

  #connectedPeers(): string[] {
    const ids = new Set(this.#o.node.getConnections().filter((c) => c.status === 'open').map((c) => c.remotePeer.toString()));
    return [...ids].filter((id) => this.#o.admits(id));
  }

  #isConnected(id: string): boolean {
    return this.#o.node.getConnections(peerIdFromString(id)).some((c) => c.status === 'open');
  }

  /** The addresses this agent tells others (dial hints in the formed set), bounded as the wire allows. */
  #ownAddrs(): string[] {
    return this.#o.node.getMultiaddrs()
      .map((a) => (a.getPeerId() === null ? a : a.decapsulateCode(421)).toString())
      .filter((a) => a.length <= addrBytesMax)
      .slice(0, addrsMax);
  }

  /** Bootstrap addresses without a peer id are dialled by address until something answers there. */
  #dialBootstrap(now: number): void {
    const own = new Set(this.#ownAddrs());
    for (const a of this.#o.bootstrap) {
      const ma = multiaddr(a);
      const base = (ma.getPeerId() === null ? ma : ma.decapsulateCode(421)).toString();
      if (own.has(base)) continue;
      if (now - (this.#dialAt.get(a) ?? -Infinity) < bootstrapDialEveryMs) continue;
      const known = ma.getPeerId() ?? this.#bootstrapPeers.get(a);
      if (known !== undefined && this.#isConnected(known)) continue;
      this.#dialAt.set(a, now);
      this.#o.node.dial(ma, { signal: AbortSignal.timeout(answerTimeoutMs) })
        .then((conn) => { this.#bootstrapPeers.set(a, conn.remotePeer.toString()); })
        .catch((err: Error) => this.#o.logger.debug({ addr: a, err: err.message }, 'cannot reach a bootstrap address yet'));
    }
  }
}
