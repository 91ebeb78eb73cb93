// The search engine of `covey check`: the same breadth-first search, over the same states, as the
// reference search (`checkByReplay` in model.ts), but it never replays a whole path and never
// serializes a whole cluster per transition.
//
// A state of the model is a tuple: for each replica its *local state* (its object graph plus its
// storage, or only its storage while it is down), the network as a multiset of messages, the
// ghost record as a set of facts, the budgets used and the commands submitted. Every action
// changes at most one replica (the receiver, the submitter, the one that ticks, recovers,
// crashes or restarts), and what it does to that replica, the messages it sends and what it adds
// to the ghost record depend on that replica's local state and on the event alone: the core is a
// deterministic state machine with no clock, randomness or I/O, and the harness (`Cluster`)
// persists, records and sends what the step's Ready holds, nothing else. So:
//
// - Local states are interned: each distinct one (by the same canonical serialization the
//   reference search hashes) gets a small number and one representative object graph, which is
//   never mutated once interned.
// - A local transition (local state, event) → (local state, messages sent, ghost facts added) is
//   computed once, on a copy of the representative rebuilt by replaying that replica's own events
//   through a scratch `Cluster` (the same harness, the same methods), and memoized. All later
//   global transitions with that replica in that local state and that event are table look-ups.
// - Messages and ghost facts are interned too, so a global state is a short tuple of numbers, and
//   its key is a short string.
//
// The invariants are checked on every distinct state, with a scratch `Cluster` holding the
// representatives (read only) and the state's ghost record; the result is cached per (local
// states, ghost record), which is all `Cluster.violations()` reads. Equality of local states is
// the equality the reference search uses, so both searches find the same number of distinct
// states and transitions (model.test.ts checks this on small configurations).

import { createHash } from 'node:crypto';
import { TupleSet } from './visited.ts';
import {
  type Batch, Cluster, type ClusterOptions, type Deps, type Envelope, type Ghost, type InstanceId,
  initCoord, type MemoryStorage, type Payload, type Replica, type ReplicaId,
} from '../../../consensus/index.ts';
import { canonical } from './serialize.ts';
import type { Action, ModelConfig } from './model.ts';

/** What happens to one replica. */
export type LocalEvent =
  | { readonly kind: 'msg'; readonly m: number }
  | { readonly kind: 'submit'; readonly command: number }
  | { readonly kind: 'tick' | 'crash' | 'restart' | 'sync' }
  | { readonly kind: 'recover'; readonly id: InstanceId };

interface Local {
  readonly r: ReplicaId;
  readonly up: boolean;
  /** The representative: never mutated after interning (a down replica keeps its crashed object, for its stats). */
  readonly replica: Replica;
  readonly storage: MemoryStorage;
  /** Its steps not yet durable (the model's `unsynced` mode). */
  readonly unsynced: number;
  /** How to rebuild it: the local state it came from and the event, or -1 for the initial one. */
  readonly parent: number;
  readonly event: LocalEvent | null;
  /** Memoized outcomes by event key (`step`): numbers, so the hottest look-up builds no string. */
  readonly next: Map<number, Outcome>;
  tickMatters?: boolean;
  /** Messages judged dead at this local state (`isDead`), by message id. */
  dead?: Map<number, boolean>;
  recoverable?: InstanceId[];
}

interface Outcome {
  readonly local: number;
  /** Message ids sent, in order. */
  readonly sent: readonly number[];
  /** The ghost facts the step added (an interned set), or -1. */
  readonly delta: number;
}

type Fact =
  | { readonly kind: 'P'; readonly id: InstanceId; readonly v: { cmd: Batch; dep: Deps } }
  | { readonly kind: 'A'; readonly id: InstanceId; readonly b: number; readonly v: { cmd: Payload; dep: Deps } }
  | { readonly kind: 'C'; readonly id: InstanceId; readonly v: { b: number; cmd: Payload; dep: Deps } }
  | { readonly kind: 'W'; readonly w: string };

/** Fields of a replica left out of its serialization; see model.ts (`replicaSkip`) and README.md. */
const replicaSkip = new Set(['stats', 'cfg', 'sm', 'ticks', 'quietTickReady']);

export interface LocalHooks {
  /** Whether a tick can matter at this replica (model.ts `tickMatters`). */
  readonly tickMatters: (rep: Replica) => boolean;
  /** The ids a recover action may target at this replica (model.ts `recoverable`). */
  readonly recoverable: (rep: Replica) => InstanceId[];
  readonly command: (i: number) => import('../../../consensus/index.ts').Command;
}

function sha(s: string): string {
  return createHash('sha256').update(s).digest('base64');
}

/** A global state: local state per replica, ghost record, budgets, submitted commands, network. */
export interface GState {
  readonly locals: readonly number[];
  readonly ghost: number;
  /** crashes, duplicates, drops, recoveries, ticks. */
  readonly used: readonly number[];
  readonly submitted: number;
  /** Message ids, sorted (a multiset). */
  readonly net: readonly number[];
}

export class Engine {
  readonly cfg: ModelConfig;
  private readonly opts: ClusterOptions;
  private readonly hooks: LocalHooks;
  readonly locals: Local[] = [];
  private readonly localIds = new Map<string, number>();
  readonly msgs: Envelope[] = [];
  readonly msgKeys: string[] = [];
  readonly msgTo: number[] = [];
  private readonly msgIds = new Map<string, number>();
  private readonly facts: Fact[] = [];
  private readonly factIds = new Map<string, number>();
  /** Interned fact sets (sorted fact ids): ghost records and deltas share the table. */
  private readonly factSets: (readonly number[])[] = [];
  private readonly factSetIds = new Map<string, number>();
  private readonly ghostObjs: (Ghost | undefined)[] = [];
  private readonly merges = new Map<string, number>();
  private readonly scratch: Cluster;
  /** (local states, ghost record) tuples known to satisfy every invariant: exact, small ints. */
  private readonly clean: TupleSet;
  private readonly cleanTuple: Int32Array;
  /** Local transitions computed (memo misses), for the statistics. */
  localSteps = 0;

  constructor(cfg: ModelConfig, opts: ClusterOptions, hooks: LocalHooks) {
    this.cfg = cfg;
    this.opts = opts;
    this.hooks = hooks;
    this.scratch = new Cluster(opts);
    this.clean = new TupleSet(cfg.replicas + 1);
    this.cleanTuple = new Int32Array(cfg.replicas + 1);
  }

  initial(): GState {
    const c = new Cluster(this.opts);
    const locals: number[] = [];
    for (let r = 0; r < c.n; r++) locals.push(this.internLocal(r, c, -1, null));
    return { locals, ghost: this.internFactSet([]), used: [0, 0, 0, 0, 0], submitted: 0, net: [] };
  }

  // ---- interning ---------------------------------------------------------------------------------

  private internLocal(r: ReplicaId, c: Cluster, parent: number, event: LocalEvent | null): number {
    const rep = c.replicas[r], storage = c.storages[r], up = c.up[r];
    const text = up
      ? `${r}|up|${canonical(rep, replicaSkip)}|${rep.stats.agreementViolations},${rep.stats.epochViolations}|${canonical(c.unsynced[r])}|${canonical(storage)}`
      : `${r}|down|${canonical(storage)}`;
    const key = sha(text);
    let id = this.localIds.get(key);
    if (id === undefined) {
      id = this.locals.length;
      this.localIds.set(key, id);
      this.locals.push({ r, up, replica: rep, storage, unsynced: c.unsynced[r].length, parent, event, next: new Map() });
    }
    return id;
  }

  internMessage(env: Envelope): number {
    const key = `${env.from}>${env.to} ${JSON.stringify(env.msg)}`;
    let id = this.msgIds.get(key);
    if (id === undefined) {
      id = this.msgs.length;
      this.msgIds.set(key, id);
      this.msgs.push(env);
      this.msgKeys.push(key);
      this.msgTo.push(env.to);
    }
    return id;
  }

  messageId(key: string): number {
    const id = this.msgIds.get(key);
    if (id === undefined) throw new Error(`no such message: ${key}`);
    return id;
  }

  private internFact(key: string, f: Fact): number {
    let id = this.factIds.get(key);
    if (id === undefined) {
      id = this.facts.length;
      this.factIds.set(key, id);
      this.facts.push(f);
    }
    return id;
  }

  private internFactSet(ids: readonly number[]): number {
    const key = ids.join(',');
    let id = this.factSetIds.get(key);
    if (id === undefined) {
      id = this.factSets.length;
      this.factSetIds.set(key, id);
      this.factSets.push(ids);
    }
    return id;
  }

  /** The ghost facts a step added, read from the scratch cluster's ghost record (cleared before the step). */
  private deltaOf(g: Ghost): number {
    const ids = new Set<number>();
    for (const [id, v] of g.proposals) ids.add(this.internFact(`P${id}=${JSON.stringify(v)}`, { kind: 'P', id, v }));
    for (const [id, byB] of g.accepts) {
      for (const [b, list] of byB) for (const v of list) ids.add(this.internFact(`A${id}@${b}=${JSON.stringify(v)}`, { kind: 'A', id, b, v }));
    }
    for (const [id, list] of g.commits) for (const v of list) ids.add(this.internFact(`C${id}=${JSON.stringify(v)}`, { kind: 'C', id, v }));
    for (const w of g.wrongOwner) ids.add(this.internFact(`W${w}`, { kind: 'W', w }));
    if (ids.size === 0) return -1;
    return this.internFactSet([...ids].sort((a, b) => a - b));
  }

  /**
   * The ghost record after adding `delta`: a union of sets, except that the record keeps the first
   * PreAccept of an id (`Cluster.observe`), so a proposal for an id already proposed is not added.
   */
  private merge(ghost: number, delta: number): number {
    if (delta < 0) return ghost;
    const key = `${ghost},${delta}`;
    let out = this.merges.get(key);
    if (out === undefined) {
      const have = this.factSets[ghost];
      const set = new Set(have);
      const proposed = new Set<InstanceId>();
      for (const f of have) { const x = this.facts[f]; if (x.kind === 'P') proposed.add(x.id); }
      for (const f of this.factSets[delta]) {
        const x = this.facts[f];
        if (x.kind === 'P') { if (proposed.has(x.id)) continue; proposed.add(x.id); }
        set.add(f);
      }
      out = this.internFactSet([...set].sort((a, b) => a - b));
      this.merges.set(key, out);
    }
    return out;
  }

  /**
   * `covey check --por` (por.ts): throws unless the sync or restart of replica r in `s` records
   * proposals (PreAccepts) only for ids r coordinates and leaves r's storage without a snapshot.
   * The first keeps the ghost's "first PreAccept of an id" rule from making the step's place in a
   * path matter (another replica's PreAccept for r's ids is an INV6 violation, recorded in both
   * orders); with the second the invariants read r's storage only as its execution log. The two
   * facts the reduction's argument takes from the harness rather than proves.
   */
  checkAloneStep(s: GState, r: number, kind: 'sync' | 'restart'): void {
    const o = this.step(s.locals[r], { kind }, kind === 'sync' ? 4 : 3);
    if (this.locals[o.local].storage.truncatedAny) {
      throw new Error(`model checker (--por): a ${kind} of replica ${r} leaves a snapshot in its storage; the reduction's argument does not cover it`);
    }
    if (o.delta >= 0) {
      for (const f of this.factSets[o.delta]) {
        const x = this.facts[f];
        if (x.kind === 'P' && initCoord(x.id) !== r) {
          throw new Error(`model checker (--por): a ${kind} of replica ${r} records a proposal for another replica's id; the reduction's argument does not cover it`);
        }
      }
    }
  }

  /** The ghost record as `Cluster` holds it, for the invariants (each value once). */
  ghostObject(ghost: number): Ghost {
    let g = this.ghostObjs[ghost];
    if (g === undefined) {
      g = { proposals: new Map(), accepts: new Map(), commits: new Map(), wrongOwner: [] };
      for (const f of this.factSets[ghost]) {
        const x = this.facts[f];
        if (x.kind === 'P') g.proposals.set(x.id, x.v);
        else if (x.kind === 'A') {
          let byB = g.accepts.get(x.id);
          if (byB === undefined) g.accepts.set(x.id, (byB = new Map()));
          const list = byB.get(x.b) ?? [];
          list.push(x.v);
          byB.set(x.b, list);
        } else if (x.kind === 'C') {
          const list = g.commits.get(x.id) ?? [];
          list.push(x.v);
          g.commits.set(x.id, list);
        } else g.wrongOwner.push(x.w);
      }
      this.ghostObjs[ghost] = g;
    }
    return g;
  }

  // ---- local transitions -------------------------------------------------------------------------

  /** A scratch cluster in which replica `r` is a fresh, mutable copy of local state `l`. */
  private rebuild(l: number): Cluster {
    const events: LocalEvent[] = [];
    let x = l;
    for (; this.locals[x].parent >= 0; x = this.locals[x].parent) events.push(this.locals[x].event!);
    const c = new Cluster(this.opts);
    const r = this.locals[l].r;
    for (let i = events.length - 1; i >= 0; i--) this.apply(c, r, events[i]);
    return c;
  }

  /** Feed one event to replica `r` of `c` through the harness, with an empty network and ghost record. */
  private apply(c: Cluster, r: ReplicaId, ev: LocalEvent): void {
    c.network = [];
    c.ghost.proposals.clear(); c.ghost.accepts.clear(); c.ghost.commits.clear(); c.ghost.wrongOwner.length = 0;
    c.replies[r].length = 0;
    switch (ev.kind) {
      case 'msg': c.network.push(this.msgs[ev.m]); return c.deliver(0);
      case 'submit': return c.submit(r, this.hooks.command(ev.command));
      case 'tick': return c.tick(r);
      case 'recover': return c.recover(r, ev.id);
      case 'crash': return c.crash(r);
      case 'restart': return c.restart(r);
      case 'sync': return c.sync(r);
    }
  }

  /**
   * The outcome of `ev` at local state `l` (memoized). `evKey` names the event: message m is 8m,
   * submit of command c 8c+1, crash 2, restart 3, sync 4, recover(id) 8·id+5, tick 6.
   */
  step(l: number, ev: LocalEvent, evKey: number): Outcome {
    const local = this.locals[l];
    let o = local.next.get(evKey);
    if (o === undefined) {
      this.localSteps++;
      const c = this.rebuild(l);
      this.apply(c, local.r, ev);
      const sent = c.network.map((e) => this.internMessage(e));
      o = { local: this.internLocal(local.r, c, l, ev), sent, delta: this.deltaOf(c.ghost) };
      local.next.set(evKey, o);
    }
    return o;
  }

  /**
   * Whether message `m`, in flight to the replica in local state `l`, is dead: its delivery does
   * nothing now and in every local state that replica can reach from here, so a state with it in
   * flight and the state without it have the same futures (README.md, "Dead messages"). The rule:
   * the replica is up, the message is from another replica, it is about an id the replica's
   * *storage* holds COMMITTED (final, and it survives a crash), and it is either a reply
   * (PreAcceptOK, AcceptOK, RecoverOK, ValidateOK: the core drops a reply with no lead for its id,
   * and no lead is ever made again for an id committed here) or a Commit whose delivery changes
   * nothing now (the same value: a different one counts an agreement violation, which is part of
   * the local state). Checked where applied: a message the rule calls dead must be a no-op now.
   */
  isDead(l: number, m: number): boolean {
    const local = this.locals[l];
    const dead = (local.dead ??= new Map());
    let d = dead.get(m);
    if (d === undefined) {
      d = this.deadByRule(local, m);
      if (d) {
        const o = this.step(l, { kind: 'msg', m }, m * 8);
        const noop = o.local === l && o.sent.length === 0 && o.delta < 0;
        if (!noop && this.msgs[m].msg.type !== 'Commit') {
          throw new Error(`model checker: the dead-message rule is wrong for ${this.msgKeys[m]} at replica ${local.r}: its delivery changes the state`);
        }
        d = noop;
      }
      dead.set(m, d);
    }
    return d;
  }

  private deadByRule(local: Local, m: number): boolean {
    const env = this.msgs[m];
    if (!local.up || env.from === env.to) return false;
    const msg = env.msg;
    switch (msg.type) {
      case 'PreAcceptOK': case 'AcceptOK': case 'RecoverOK': case 'ValidateOK': case 'Commit':
        return local.storage.recordEver(msg.id)?.phase === 'COMMITTED';
      default:
        return false;
    }
  }

  /** `s` without its dead messages (the same object if it has none). */
  withoutDead(s: GState): GState {
    let net: number[] | null = null;
    for (let i = 0; i < s.net.length; i++) {
      const m = s.net[i];
      const dead = this.isDead(s.locals[this.msgTo[m]], m);
      if (dead && net === null) net = s.net.slice(0, i);
      else if (!dead && net !== null) net.push(m);
    }
    return net === null ? s : { ...s, net };
  }

  /** Steps of local state `l` not yet durable. */
  unsyncedSteps(l: number): number {
    return this.locals[l].unsynced;
  }

  tickMatters(l: number): boolean {
    const local = this.locals[l];
    return (local.tickMatters ??= this.hooks.tickMatters(local.replica));
  }

  recoverable(l: number): InstanceId[] {
    const local = this.locals[l];
    return (local.recoverable ??= this.hooks.recoverable(local.replica));
  }

  // ---- global states -----------------------------------------------------------------------------

  /** Apply a local outcome at replica r to a global state; `net` is the network without what the action removed. */
  private withOutcome(s: GState, r: number, o: Outcome, net: number[], used: readonly number[], submitted: number): GState {
    const locals = s.locals.slice();
    locals[r] = o.local;
    if (o.sent.length > 0) {
      for (const m of o.sent) net.push(m);
      net.sort((a, b) => a - b);
    }
    return { locals, ghost: this.merge(s.ghost, o.delta), used, submitted, net };
  }

  private static without(net: readonly number[], m: number): number[] {
    const out = net.slice();
    out.splice(out.indexOf(m), 1);
    return out;
  }

  private static bump(used: readonly number[], i: number): number[] {
    const out = used.slice();
    out[i]++;
    return out;
  }

  /** The state `a` leads to from `s` (a must be enabled in s). */
  successor(s: GState, a: Action): GState {
    const n = this.cfg.replicas;
    switch (a.kind) {
      case 'submit': {
        const r = a.command % n;
        return this.withOutcome(s, r, this.step(s.locals[r], { kind: 'submit', command: a.command }, a.command * 8 + 1), s.net.slice(), s.used, s.submitted | (1 << a.command));
      }
      case 'deliver': case 'duplicate': {
        const m = this.messageId(a.msg), r = this.msgTo[m];
        const o = this.step(s.locals[r], { kind: 'msg', m }, m * 8);
        return a.kind === 'deliver'
          ? this.withOutcome(s, r, o, Engine.without(s.net, m), s.used, s.submitted)
          : this.withOutcome(s, r, o, s.net.slice(), Engine.bump(s.used, 1), s.submitted);
      }
      case 'drop':
        return { ...s, net: Engine.without(s.net, this.messageId(a.msg)), used: Engine.bump(s.used, 2) };
      case 'crash': {
        // Messages in flight to a crashed replica are lost (`Cluster.crash`).
        const net = s.net.filter((m) => this.msgTo[m] !== a.r);
        return this.withOutcome(s, a.r, this.step(s.locals[a.r], { kind: 'crash' }, 2), net, Engine.bump(s.used, 0), s.submitted);
      }
      case 'restart':
        return this.withOutcome(s, a.r, this.step(s.locals[a.r], { kind: 'restart' }, 3), s.net.slice(), s.used, s.submitted);
      case 'sync':
        return this.withOutcome(s, a.r, this.step(s.locals[a.r], { kind: 'sync' }, 4), s.net.slice(), s.used, s.submitted);
      case 'recover':
        return this.withOutcome(s, a.r, this.step(s.locals[a.r], { kind: 'recover', id: a.id }, a.id * 8 + 5), s.net.slice(), Engine.bump(s.used, 3), s.submitted);
      case 'tick':
        return this.withOutcome(s, a.r, this.step(s.locals[a.r], { kind: 'tick' }, 6), s.net.slice(), Engine.bump(s.used, 4), s.submitted);
    }
  }

  /** The key of everything but the network. */
  static coreKey(s: GState): string {
    let k = '';
    for (const l of s.locals) k += String.fromCharCode(l & 0x7fff, l >>> 15);
    k += String.fromCharCode(s.ghost & 0x7fff, s.ghost >>> 15);
    const u = s.used;
    k += String.fromCharCode(u[0] | (u[1] << 2) | (u[2] << 4) | (u[3] << 6) | (u[4] << 9), s.submitted);
    return k;
  }

  static key(s: GState): string {
    let k = Engine.coreKey(s);
    for (const m of s.net) k += String.fromCharCode(m & 0x7fff, m >>> 15);
    return k;
  }

  /** Whether `t` differs from `s` in the network at most (the subsumption test's first half). */
  static sameCore(s: GState, t: GState): boolean {
    if (s.ghost !== t.ghost || s.submitted !== t.submitted) return false;
    for (let i = 0; i < s.locals.length; i++) if (s.locals[i] !== t.locals[i]) return false;
    for (let i = 0; i < s.used.length; i++) if (s.used[i] !== t.used[i]) return false;
    return true;
  }

  /** INV1–INV8 in `s` (`Cluster.violations()` over the representatives), cached per (local states, ghost record). */
  violations(s: GState): string[] {
    const key = this.cleanTuple;
    for (let r = 0; r < s.locals.length; r++) key[r] = s.locals[r];
    key[s.locals.length] = s.ghost;
    const hash = this.clean.hashOf(key);
    if (this.clean.has(key, hash)) return [];
    const c = this.scratch;
    for (let r = 0; r < c.n; r++) {
      const local = this.locals[s.locals[r]];
      c.replicas[r] = local.replica;
      c.storages[r] = local.storage;
      c.up[r] = local.up;
    }
    (c as { ghost: Ghost }).ghost = this.ghostObject(s.ghost);
    const v = c.violations();
    if (v.length === 0) this.clean.add(key, hash);
    return v;
  }

  /** The up flag of replica r in `s`. */
  up(s: GState, r: number): boolean {
    return this.locals[s.locals[r]].up;
  }
}
