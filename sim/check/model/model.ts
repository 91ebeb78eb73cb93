// The exhaustive model checker over the real consensus core (issue: "covey check"). A state is a
// `Cluster` (consensus/cluster.ts) of three real replicas plus what the model still allows
// (commands not yet submitted, fault budgets). Every action the model allows is tried from every
// reachable state, breadth first, so the first violation found comes with a shortest trace.
// States are recognised again by a canonical serialization of the replicas, their storage, the
// network and the ghost record. Two searches explore the same states: `checkByReplay`, the
// reference, rebuilds each state by replaying its path from the initial state; `check`, the one
// `covey check` runs, memoizes each replica's local transitions (engine.ts) and never replays a
// whole path. The core is never copied or cloned. INV1–INV8 of PROTOCOL.md §8
// (`Cluster.violations()`) are checked in every distinct state.
//
// See README.md for what is modelled, what is abstracted away, and why that is sound.

import { createHash } from 'node:crypto';
import {
  Cluster, type ClusterOptions, type Command, type Deps, type Envelope, formatId, initCoord, type InstanceId,
  type Message, NOP, type Payload, type Replica, type ReplicaId,
} from '../../../consensus/index.ts';
import { canonical } from './serialize.ts';
import { variantClass, type VariantName } from './variants.ts';
import { Engine, type GState } from './engine.ts';
import { ExactStates, HashedStates, IntList, Level, type SeenStates } from './visited.ts';
import { defaultModel } from './defaults.ts';
import { expandAlone } from './por.ts';

export interface ModelConfig {
  /** Only 3 for now (f = 1, e = 1). */
  readonly replicas: 3;
  /** Client commands, 1..3: command i is submitted once, at replica i mod 3; all write key x. */
  readonly commands: number;
  /** Crashes in one run (each crashed replica may restart). */
  readonly crashes: number;
  /** Messages delivered twice in one run. */
  readonly duplicates: number;
  /** Explicit message drops in one run. Loss is covered without them (README.md); default 0. */
  readonly drops: number;
  /** recover(id) events (the membership driver's "recover now") in one run. */
  readonly recoveries: number;
  /** Ticks in one run; a tick is the fast-path timeout plus an execution flush (see `clusterOptions`). */
  readonly ticks: number;
  /**
   * Steps a replica may have taken whose records are not yet durable (0: every step is durable at
   * once). Above 0 a step's early effects (Ready.early, replies) leave at once, the rest waits for
   * a `sync` action of that replica, and a crash loses every unsynced step; a replica with this
   * many unsynced steps takes no other event before a sync (PROTOCOL.md §12, "Votes count once
   * durable").
   */
  readonly unsynced: number;
  readonly variant: VariantName;
  /**
   * `covey check --reconfig` (docs/reconfiguration.md): the last command is a voters.change of
   * epoch 0 (replace r2 by a fourth peer r3) instead of a put; `commands` counts it. The group of
   * epoch 1 is not modelled: it is a new group of the same protocol, started from the state at
   * the change, which INV8 and RC1 make the same at every replica.
   */
  readonly reconfig?: boolean;
}

export { defaultModel };

export type Action =
  | { readonly kind: 'submit'; readonly command: number }
  /** `msg` is the message's canonical key (`messageKey`); identical messages are one action. */
  | { readonly kind: 'deliver' | 'duplicate' | 'drop'; readonly msg: string }
  | { readonly kind: 'crash' | 'restart' | 'tick' | 'sync'; readonly r: ReplicaId }
  | { readonly kind: 'recover'; readonly r: ReplicaId; readonly id: InstanceId };

/**
 * Time never advances (the clock stays at 0) and these timeouts are long enough never to fire: no
 * retransmission (duplicates stand for it), no recovery but through `recover` actions, no
 * watermark exchange. The fast-path timeout is 0, so a tick is exactly "the coordinator gives up
 * on the fast path" plus "execution flushes what waited for a tick".
 */
const never = 1_000_000_000_000;

export function clusterOptions(cfg: ModelConfig): ClusterOptions {
  return {
    n: cfg.replicas, f: 1, e: 1, replicaClass: variantClass(cfg.variant),
    batchCommandsMax: 1, tickMs: 1, fastPathTimeoutMs: 0, retransmitMs: never,
    recoveryTimeoutMs: never, recoveryTimeoutMaxMs: never, watermarkEveryTicks: never, watermarkBusyEveryTicks: never,
    // One early proposal at a time: a restart skips (and may recover) one seq, not eight.
    earlyProposalsMax: 1, sync: cfg.unsynced > 0 ? 'explicit' : 'immediate',
    // Every PreAccept to every peer: the most general schedule. The thrifty choice the agent makes
    // (a fast quorum asked first, the rest at the fast-path timeout) sends a subset of these
    // messages, the rest later, and goes slow on a mismatch when the non-thrifty core would at its
    // timeout with the same answers — so each of its runs is one this search already covers, with
    // the others' PreAccepts still in the network undelivered (sim/check/model/README.md).
    thriftyPreAccept: false,
  };
}

export function modelCommand(i: number, cfg?: Pick<ModelConfig, 'commands' | 'reconfig'>): Command {
  if (cfg?.reconfig === true && i === cfg.commands - 1) {
    return { clientId: `c${i}`, requestId: 1, timestampMs: 0, op: 'voters.change', epoch: 0, voters: 'r0,r1,r3', reason: 'replace r2' };
  }
  return { clientId: `c${i}`, requestId: 1, timestampMs: 0, op: 'put', key: 'x', value: `v${i}` };
}

/** One state of the model: the cluster and the budgets left. Rebuilt by `replay`, never copied. */
export class ModelState {
  readonly config: ModelConfig;
  readonly cluster: Cluster;
  readonly submitted: boolean[];
  readonly used = { crashes: 0, duplicates: 0, drops: 0, recoveries: 0, ticks: 0 };

  constructor(config: ModelConfig) {
    this.config = config;
    this.cluster = new Cluster(clusterOptions(config));
    this.submitted = new Array<boolean>(config.commands).fill(false);
  }
}

const keyCache = new WeakMap<Envelope, string>();

/** The canonical key of a message in flight: sender, receiver and content. */
export function messageKey(env: Envelope): string {
  let k = keyCache.get(env);
  if (k === undefined) keyCache.set(env, (k = `${env.from}>${env.to} ${JSON.stringify(env.msg)}`));
  return k;
}

/** Every action enabled in `s`, in a fixed order. */
export function enabledActions(s: ModelState): Action[] {
  const cl = s.cluster, cfg = s.config, n = cfg.replicas;
  const out: Action[] = [];
  // A replica with as many unsynced steps as the model allows takes no event but a sync (or a crash).
  const steps = (r: number): boolean => cl.up[r] && (cfg.unsynced === 0 || cl.unsynced[r].length < cfg.unsynced);
  for (let i = 0; i < cfg.commands; i++) if (!s.submitted[i] && steps(i % n)) out.push({ kind: 'submit', command: i });
  const keys = [...new Set(cl.network.map(messageKey))].sort();
  for (const key of keys) {
    const to = Number(key.slice(key.indexOf('>') + 1, key.indexOf(' ')));
    if (steps(to)) {
      out.push({ kind: 'deliver', msg: key });
      if (s.used.duplicates < cfg.duplicates) out.push({ kind: 'duplicate', msg: key });
    }
    if (s.used.drops < cfg.drops) out.push({ kind: 'drop', msg: key });
  }
  for (let r = 0; r < n; r++) {
    if (!cl.up[r]) { out.push({ kind: 'restart', r }); continue; }
    if (cl.unsynced[r].length > 0) out.push({ kind: 'sync', r });
    if (s.used.crashes < cfg.crashes) out.push({ kind: 'crash', r });
    if (!steps(r)) continue;
    if (s.used.ticks < cfg.ticks && tickMatters(cl.replicas[r])) out.push({ kind: 'tick', r });
    if (s.used.recoveries < cfg.recoveries) for (const id of recoverable(cl.replicas[r])) out.push({ kind: 'recover', r, id });
  }
  return out;
}

/**
 * Whether a tick at `rep` can do more than drop stale bookkeeping: with the clock at 0 and every
 * timeout but the fast path's out of reach, a tick decides the slow path for an own id still
 * PREACCEPTED at ballot 0, and flushes execution (and tracks its missing dependencies) when
 * committed ids wait to be applied. A tick is offered only then.
 */
export function tickMatters(rep: Replica): boolean {
  if (rep.committedUnapplied().length > 0) return true;
  for (const id of rep.instanceIds()) {
    const inst = rep.instance(id)!;
    if (initCoord(id) === rep.self && inst.bal === 0 && inst.phase === 'PREACCEPTED') return true;
  }
  return false;
}

/**
 * The ids replica `rep` may start recovering: those it has pending (what its own recovery timer
 * would recover) and those blocking its execution (what the membership driver's "recover now"
 * event targets, §12 recovery policy). Never an id committed here: that recovery does nothing.
 */
export function recoverable(rep: Replica): InstanceId[] {
  const ids = new Set(rep.pendingIds());
  for (const id of rep.committedUnapplied()) for (const d of rep.instance(id)!.dep.ids) ids.add(d);
  return [...ids].filter((id) => rep.instance(id)?.phase !== 'COMMITTED').sort((a, b) => a - b);
}

function messageIndex(cl: Cluster, key: string): number {
  const i = cl.network.findIndex((e) => messageKey(e) === key);
  if (i < 0) throw new Error(`no such message in flight: ${key}`);
  return i;
}

/** Apply one action (which must be enabled) to `s`. */
export function applyAction(s: ModelState, a: Action): void {
  const cl = s.cluster;
  switch (a.kind) {
    case 'submit':
      s.submitted[a.command] = true;
      return cl.submit(a.command % s.config.replicas, modelCommand(a.command, s.config));
    case 'deliver': return cl.deliver(messageIndex(cl, a.msg));
    case 'duplicate': { // deliver a copy now, leave the original in flight
      cl.duplicate(messageIndex(cl, a.msg));
      s.used.duplicates++;
      return cl.deliver(cl.network.length - 1);
    }
    case 'drop':
      s.used.drops++;
      return cl.drop(messageIndex(cl, a.msg));
    case 'crash':
      s.used.crashes++;
      return cl.crash(a.r);
    case 'restart': return cl.restart(a.r);
    case 'sync': return cl.sync(a.r);
    case 'recover':
      s.used.recoveries++;
      return cl.recover(a.r, a.id);
    case 'tick':
      s.used.ticks++;
      return cl.tick(a.r);
  }
}

/** Rebuild the state a path of actions leads to from the initial state. */
export function replay(cfg: ModelConfig, path: readonly Action[]): ModelState {
  const s = new ModelState(cfg);
  for (const a of path) applyAction(s, a);
  return s;
}

/**
 * Left out of a replica's serialization: `stats` (counters nothing reads, except
 * agreementViolations and epochViolations, hashed on their own), `cfg` (the same in every state), `sm` (its state is
 * the fold of the execution log, which is hashed with the storage) and `ticks` (read only as
 * `ticks % watermarkEveryTicks === 0`, never true here, and by busy reports, which are off).
 */
const replicaSkip = new Set(['stats', 'cfg', 'sm', 'ticks', 'quietTickReady']);

/**
 * The hash of everything but the network: the replicas, their storage, the ghost record the
 * invariants read, and the budgets left.
 */
export function coreHash(s: ModelState): string {
  const cl = s.cluster;
  const parts: string[] = [];
  for (let r = 0; r < cl.n; r++) {
    // A down replica is rebuilt from its storage alone at restart, so its volatile state is not part of the state.
    if (cl.up[r]) parts.push(`up${r}`, canonical(cl.replicas[r], replicaSkip), `${cl.replicas[r].stats.agreementViolations},${cl.replicas[r].stats.epochViolations}`, canonical(cl.unsynced[r]));
    else parts.push(`down${r}`);
    parts.push(canonical(cl.storages[r]));
  }
  parts.push(`now ${cl.nowMs}`);
  const g = cl.ghost;
  const sorted = (xs: Iterable<string>): string => [...new Set(xs)].sort().join(';');
  parts.push(sorted([...g.proposals].map(([id, p]) => `${id}=${JSON.stringify(p)}`)));
  parts.push(sorted([...g.accepts].flatMap(([id, byB]) => [...byB].flatMap(([b, list]) => list.map((x) => `${id}@${b}=${JSON.stringify(x)}`)))));
  parts.push(sorted([...g.commits].flatMap(([id, list]) => list.map((x) => `${id}=${JSON.stringify(x)}`))));
  parts.push(sorted(g.wrongOwner));
  parts.push(s.submitted.map((x) => (x ? '1' : '0')).join(''), JSON.stringify(s.used));
  return createHash('sha256').update(parts.join('\u0000')).digest('base64');
}

/** The messages in flight as a sorted multiset of keys. */
export function networkKeys(s: ModelState): string[] {
  return s.cluster.network.map(messageKey).sort();
}

/** The hash of everything that decides what can happen next and what the invariants see. */
export function stateHash(s: ModelState): string {
  return combine(coreHash(s), networkKeys(s));
}

function combine(core: string, net: readonly string[]): string {
  return createHash('sha256').update(core).update('\u0000').update(net.join('\n')).digest('base64');
}

/** Is the sorted multiset `a` contained in the sorted multiset `b`? */
function subMultiset<T extends string | number>(a: readonly T[], b: readonly T[]): boolean {
  let j = 0;
  for (const x of a) {
    while (j < b.length && b[j] < x) j++;
    if (j === b.length || b[j] !== x) return false;
    j++;
  }
  return true;
}

// ---- human-readable actions -------------------------------------------------------------------

function fmtPayload(p: Payload | null): string {
  if (p === null) return '⊥';
  if (p === NOP) return 'Nop';
  return p.commands.map((c) => (c.op === 'put' ? `put ${c.key}=${c.value}` : c.op === 'voters.change' ? `voters.change→${c.voters}` : c.op)).join('+');
}

function fmtDeps(d: Deps): string {
  const floor = d.floor.some((x) => x !== 0) ? ` floor [${d.floor.join(',')}]` : '';
  return `{${d.ids.map(formatId).join(',')}}${floor}`;
}

export function describeMessage(from: number, to: number, m: Message): string {
  const head = (x: string): string => `${m.type}${x} r${from}→r${to}`;
  switch (m.type) {
    case 'PreAccept': return `${head(` ${formatId(m.id)}`)} (${fmtPayload(m.cmd)}, D=${fmtDeps(m.dep)})`;
    case 'PreAcceptOK': return `${head(` ${formatId(m.id)}`)} (D=${fmtDeps(m.dep)})`;
    case 'Accept': case 'Commit': case 'Validate': return `${head(` ${formatId(m.id)} b=${m.b}`)} (${fmtPayload(m.cmd)}, D=${fmtDeps(m.dep)})`;
    case 'AcceptOK': case 'Recover': return head(` ${formatId(m.id)} b=${m.b}`);
    case 'RecoverOK':
      return `${head(` ${formatId(m.id)} b=${m.b}`)} (abal ${m.abal}, ${m.phase}, ${fmtPayload(m.cmd)}, dep ${fmtDeps(m.dep)}, initDep ${fmtDeps(m.initDep)})`;
    case 'ValidateOK': return `${head(` ${formatId(m.id)} b=${m.b}`)} (I={${m.I.map(([id, p]) => `${formatId(id)}:${p}`).join(',')}})`;
    case 'Waiting': return `${head(` ${formatId(m.id)}`)} (k=${m.k})`;
    case 'Watermark': return `${head('')} ([${m.executed.join(',')}])`;
  }
}

export function describeAction(a: Action, cfg: Pick<ModelConfig, 'replicas' | 'commands' | 'reconfig'> = { replicas: 3, commands: 1 }): string {
  switch (a.kind) {
    case 'submit': return `submit ${fmtPayload({ commands: [modelCommand(a.command, cfg)] })} at r${a.command % cfg.replicas}`;
    case 'deliver': case 'duplicate': case 'drop': {
      const sp = a.msg.indexOf(' ');
      const [from, to] = a.msg.slice(0, sp).split('>').map(Number);
      const text = describeMessage(from, to, JSON.parse(a.msg.slice(sp + 1)) as Message);
      return a.kind === 'deliver' ? `deliver ${text}` : a.kind === 'duplicate' ? `deliver a duplicate of ${text} (original stays in flight)` : `lose ${text}`;
    }
    case 'crash': return `crash r${a.r}`;
    case 'restart': return `restart r${a.r} from its storage`;
    case 'sync': return `sync r${a.r} (its oldest unsynced step becomes durable; what waited for it is sent)`;
    case 'tick': return `tick r${a.r} (fast-path timeout, execution flush)`;
    case 'recover': return `recover(${formatId(a.id)}) at r${a.r}`;
  }
}

// ---- the search --------------------------------------------------------------------------------

export interface CheckOptions {
  /** Stop (verdict "incomplete") once this many distinct states were found. */
  readonly maxStates: number;
  /** `check` only: stop (verdict "incomplete") once the search has run this long. */
  readonly maxMs?: number;
  /** Do not expand states this many actions from the initial state (bounded model checking). */
  readonly maxDepth?: number;
  /** Called about once a second during the search. */
  readonly onProgress?: (p: Progress) => void;
  /**
   * Keep every visited state's key string instead of its 128-bit hash (`check` only; the
   * reference search is always exact). Exact, and about 0.5 kB a state instead of about 50 bytes.
   */
  readonly exactStates?: boolean;
  /**
   * Leave dead messages out of every state (`check` only; README.md, "Dead messages"): replies
   * and same-value Commits about an id their receiver has committed durably. Fewer states, the
   * same violations; off, the search is the reference's exactly.
   */
  readonly dropDead?: boolean;
  /**
   * Partial-order reduction (`check` only; por.ts, README.md "Partial-order reduction"): once the
   * crash budget is spent, a state with a replica down or an unsynced step expands only that
   * replica's restart or sync, which costs no step (the levels count the other actions). Fewer
   * states, every violation still found within the same depth (its trace may hold more restarts
   * and syncs than a shortest one).
   */
  readonly por?: boolean;
}

export interface Progress {
  readonly states: number;
  readonly transitions: number;
  readonly depth: number;
  readonly frontier: number;
  readonly elapsedMs: number;
  /** Bytes held by the visited-state store (`check` only). */
  readonly seenBytes?: number;
}

export interface Violation {
  /** The violated invariants' names (INV1…INV8), and the checker's messages. */
  readonly invariants: string[];
  readonly messages: string[];
  /** A shortest path from the initial state to a violating state. */
  readonly trace: Action[];
  readonly steps: string[];
}

export interface CheckResult {
  /**
   * pass: every reachable state explored, no violation. depth-bounded: no violation in any state
   * within `maxDepth` actions, but deeper states were not explored. incomplete: the state limit
   * was hit. Only "pass" is a pass.
   */
  readonly verdict: 'pass' | 'violation' | 'incomplete' | 'depth-bounded';
  readonly config: ModelConfig;
  /** Distinct states found (all of them explored unless the verdict is "incomplete"). */
  readonly states: number;
  /** Actions tried, including those leading to a state already seen. */
  readonly transitions: number;
  /** Transitions that only removed messages from the network: subsumed by their parent. */
  readonly subsumed: number;
  /** The longest shortest path from the initial state to a state found. */
  readonly depth: number;
  readonly wallMs: number;
  readonly violation?: Violation;
  /** `check` only: whether visited states were kept exactly (`--exact-states`) or as 128-bit hashes. */
  readonly exactStates?: boolean;
  /** `check` only: whether dead messages were left out of the states (`CheckOptions.dropDead`). */
  readonly droppedDead?: boolean;
  /** `check` only: whether the partial-order reduction was on (`CheckOptions.por`). */
  readonly por?: boolean;
  /**
   * `check` only: every state within this many actions of the initial state was found and checked
   * (the levels before the one being expanded). What an incomplete run still shows.
   */
  readonly checkedDepth?: number;
}

export function invariantNames(messages: readonly string[]): string[] {
  return [...new Set(messages.map((m) => /^(INV\d|RC\d)/.exec(m)?.[1] ?? m))].sort();
}

function violationOf(trace: Action[], messages: string[], cfg: ModelConfig): Violation {
  return { invariants: invariantNames(messages), messages, trace, steps: trace.map((a) => describeAction(a, cfg)) };
}

/**
 * The reference search: explore every state reachable within the model's bounds, breadth first,
 * rebuilding each state by replaying its path from the initial state and hashing the whole
 * cluster. Slow, and kept as the specification `check` is tested against (model.test.ts).
 */
export function checkByReplay(cfg: ModelConfig, opts: CheckOptions): CheckResult {
  const started = Date.now();
  // Node table: the parent of each state found and the action that reached it.
  const parent: number[] = [-1];
  const via: (Action | null)[] = [null];
  const seen = new Set<string>();
  const pathOf = (node: number): Action[] => pathTo(parent, via, node);
  let transitions = 0, subsumed = 0, depth = 0, lastReport = started;
  const result = (verdict: CheckResult['verdict'], violation?: Violation): CheckResult =>
    ({ verdict, config: cfg, states: seen.size, transitions, subsumed, depth, wallMs: Date.now() - started, ...(violation ? { violation } : {}) });

  const init = new ModelState(cfg);
  seen.add(stateHash(init));
  const v0 = init.cluster.violations();
  if (v0.length > 0) return result('violation', violationOf([], v0, cfg));

  let frontier: number[] = [0];
  while (frontier.length > 0) {
    const next: number[] = [];
    if (opts.maxDepth !== undefined && depth >= opts.maxDepth) return result('depth-bounded');
    for (const node of frontier) {
      const path = pathOf(node);
      let fresh: ModelState | null = replay(cfg, path);
      const actions = enabledActions(fresh);
      const parentCore = coreHash(fresh);
      const parentNet = networkKeys(fresh);
      for (const a of actions) {
        const s = fresh ?? replay(cfg, path);
        fresh = null;
        applyAction(s, a);
        transitions++;
        const core = coreHash(s);
        const net = networkKeys(s);
        // Subsumption: only messages left the network. The parent, which still holds them, can do
        // everything this state can (README.md, "Loss"), so nothing new is reachable from here.
        if (core === parentCore && subMultiset(net, parentNet)) { subsumed++; continue; }
        const h = combine(core, net);
        if (seen.has(h)) continue;
        seen.add(h);
        const child = parent.length;
        parent.push(node);
        via.push(a);
        if (path.length + 1 > depth) depth = path.length + 1;
        const v = s.cluster.violations();
        if (v.length > 0) return result('violation', violationOf([...path, a], v, cfg));
        next.push(child);
        if (seen.size >= opts.maxStates) return result('incomplete');
      }
      if (opts.onProgress !== undefined) {
        const now = Date.now();
        if (now - lastReport >= 1000) {
          lastReport = now;
          opts.onProgress({ states: seen.size, transitions, depth, frontier: frontier.length + next.length, elapsedMs: now - started });
        }
      }
    }
    frontier = next;
  }
  return result('pass');
}

/** Replay a trace (as `check` reports it) on a fresh cluster: the final state and its violations. */
export function replayTrace(cfg: ModelConfig, trace: readonly Action[]): { state: ModelState; violations: string[] } {
  const state = replay(cfg, trace);
  return { state, violations: state.cluster.violations() };
}

// ---- the fast search ----------------------------------------------------------------------------

/**
 * Every action enabled in global state `s` of `engine`, in the order `enabledActions` gives for
 * the same state. Actions are interned (`acts`), so the search's node table shares them.
 */
export function enabledIn(engine: Engine, s: GState, acts: ActionTable): Action[] {
  const cfg = engine.cfg, n = cfg.replicas, out: Action[] = [];
  const steps = (r: number): boolean => engine.up(s, r) && (cfg.unsynced === 0 || engine.unsyncedSteps(s.locals[r]) < cfg.unsynced);
  for (let i = 0; i < cfg.commands; i++) if ((s.submitted & (1 << i)) === 0 && steps(i % n)) out.push(acts.get('submit', i));
  const ids: number[] = [];
  for (let i = 0; i < s.net.length; i++) if (i === 0 || s.net[i] !== s.net[i - 1]) ids.push(s.net[i]);
  const keys = engine.msgKeys;
  ids.sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0));
  for (const m of ids) {
    if (steps(engine.msgTo[m])) {
      out.push(acts.message('deliver', m));
      if (s.used[1] < cfg.duplicates) out.push(acts.message('duplicate', m));
    }
    if (s.used[2] < cfg.drops) out.push(acts.message('drop', m));
  }
  for (let r = 0; r < n; r++) {
    if (!engine.up(s, r)) { out.push(acts.get('restart', r)); continue; }
    if (engine.unsyncedSteps(s.locals[r]) > 0) out.push(acts.get('sync', r));
    if (s.used[0] < cfg.crashes) out.push(acts.get('crash', r));
    if (!steps(r)) continue;
    if (s.used[4] < cfg.ticks && engine.tickMatters(s.locals[r])) out.push(acts.get('tick', r));
    if (s.used[3] < cfg.recoveries) for (const id of engine.recoverable(s.locals[r])) out.push(acts.recover(r, id));
  }
  return out;
}

export class ActionTable {
  private readonly table = new Map<string, Action>();
  /** Every interned action, and each one's index in it (the node table stores the index). */
  readonly list: Action[] = [];
  readonly index = new Map<Action, number>();
  private readonly engine: Engine;
  constructor(engine: Engine) { this.engine = engine; }
  private intern(key: string, make: () => Action): Action {
    let a = this.table.get(key);
    if (a === undefined) {
      this.table.set(key, (a = make()));
      this.index.set(a, this.list.length);
      this.list.push(a);
    }
    return a;
  }
  get(kind: 'submit' | 'crash' | 'restart' | 'tick' | 'sync', x: number): Action {
    return this.intern(`${kind} ${x}`, () => (kind === 'submit' ? { kind, command: x } : { kind, r: x }));
  }
  /** The message actions by message id, so the search's hottest look-up builds no string. */
  private readonly byMessage: Record<'deliver' | 'duplicate' | 'drop', Action[]> = { deliver: [], duplicate: [], drop: [] };
  message(kind: 'deliver' | 'duplicate' | 'drop', m: number): Action {
    const byId = this.byMessage[kind];
    return (byId[m] ??= this.intern(`${kind} ${m}`, () => ({ kind, msg: this.engine.msgKeys[m] })));
  }
  recover(r: ReplicaId, id: InstanceId): Action {
    return this.intern(`recover ${r} ${id}`, () => ({ kind: 'recover', r, id }));
  }
}

/**
 * Explore every state reachable within the model's bounds, breadth first: the same states, in the
 * same order, as `checkByReplay`, with local transitions memoized (engine.ts, README.md). The
 * visited states, the node table and the levels live in typed arrays (visited.ts).
 */
export function check(cfg: ModelConfig, opts: CheckOptions): CheckResult {
  const started = Date.now();
  const engine = new Engine(cfg, clusterOptions(cfg), { tickMatters, recoverable, command: (i) => modelCommand(i, cfg) });
  const acts = new ActionTable(engine);
  // The node table: for each state found, its parent's node and the index of the action that reached it.
  const parent = new IntList(), via = new IntList();
  const seen: SeenStates = opts.exactStates === true ? new ExactStates(Engine.key) : new HashedStates();
  const dropDead = opts.dropDead === true;
  const por = opts.por === true;
  const pathOf = (node: number): Action[] => {
    const path: Action[] = [];
    for (let x = node; x > 0; x = parent.get(x)) path.push(acts.list[via.get(x)]);
    return path.reverse();
  };
  let transitions = 0, subsumed = 0, depth = 0, lastReport = started, frontierDepth = 0, checkedDepth = 0;
  const result = (verdict: CheckResult['verdict'], violation?: Violation): CheckResult =>
    ({
      verdict, config: cfg, states: seen.size, transitions, subsumed, depth, wallMs: Date.now() - started,
      exactStates: opts.exactStates === true, droppedDead: dropDead, por, checkedDepth, ...(violation ? { violation } : {}),
    });
  // A violation found by the engine is reported as the reference replay of its trace sees it.
  const violationAt = (node: number): CheckResult => {
    const trace = pathOf(node);
    const v = replayTrace(cfg, trace).violations;
    if (v.length === 0) throw new Error(`model checker: the engine found a violation the replay of its trace does not show: ${trace.map((a) => describeAction(a, cfg)).join('; ')}`);
    return result('violation', violationOf(trace, v, cfg));
  };

  const init = engine.initial();
  seen.add(init);
  parent.push(-1); via.push(-1);
  if (engine.violations(init).length > 0) return violationAt(0);

  let frontier = new Level(cfg.replicas);
  frontier.push(0, init);
  const at = { node: 0, s: init };
  /** Takes `a` from `s` (at `node`); a new state is checked and joins `level`. A result if the search ends there. */
  const visit = (s: GState, node: number, a: Action, level: Level, levelDepth: number): CheckResult | null => {
    const t = dropDead ? engine.withoutDead(engine.successor(s, a)) : engine.successor(s, a);
    transitions++;
    // Subsumption: only messages left the network (README.md, "Loss").
    if (Engine.sameCore(s, t) && subMultiset(t.net, s.net)) { subsumed++; return null; }
    if (!seen.add(t)) return null;
    const child = parent.length;
    parent.push(node);
    via.push(acts.index.get(a)!);
    if (levelDepth > depth) depth = levelDepth;
    if (engine.violations(t).length > 0) return violationAt(child);
    level.push(child, t);
    return seen.size >= opts.maxStates ? result('incomplete') : null;
  };
  /** About once in 1024 states: the time limit, and progress. */
  const pace = (i: number, left: number, next: Level): CheckResult | null => {
    if ((i & 1023) === 0 || opts.onProgress !== undefined) {
      const now = Date.now();
      if (opts.maxMs !== undefined && now - started >= opts.maxMs) return result('incomplete');
      if (opts.onProgress !== undefined && now - lastReport >= 1000) {
        lastReport = now;
        opts.onProgress({ states: seen.size, transitions, depth, frontier: left + next.count, elapsedMs: now - started, seenBytes: seen.bytes });
      }
    }
    return null;
  };
  while (frontier.count > 0) {
    const next = new Level(cfg.replicas);
    // With the reduction a state may expand one restart or sync alone (por.ts). Such a step costs
    // nothing: its successor joins this level, before any state of the level is expanded in full,
    // so a level holds exactly the states within this many steps of the full search's other
    // actions, and "no violation within d steps" means what it means without the reduction
    // (README.md, "Partial-order reduction"). Until that is done, only the levels before count.
    if (por) {
      checkedDepth = frontierDepth - 1;
      for (let fi = 0, offset = 0; fi < frontier.count; fi++) {
        offset = frontier.read(offset, at);
        const alone = expandAlone(engine, at.s, acts);
        if (alone === null) continue;
        const end = visit(at.s, at.node, alone, frontier, frontierDepth) ?? pace(fi, frontier.count - fi - 1, next);
        if (end !== null) return end;
      }
      checkedDepth = frontierDepth;
    }
    if (opts.maxDepth !== undefined && depth >= opts.maxDepth) return result('depth-bounded');
    for (let fi = 0, offset = 0; fi < frontier.count; fi++) {
      offset = frontier.read(offset, at);
      const { s, node } = at;
      if (por && expandAlone(engine, s, acts) !== null) continue; // done above
      for (const a of enabledIn(engine, s, acts)) {
        const end = visit(s, node, a, next, frontierDepth + 1);
        if (end !== null) return end;
      }
      const end = pace(fi, frontier.count - fi - 1, next);
      if (end !== null) return end;
    }
    frontier = next;
    frontierDepth++;
    checkedDepth = frontierDepth;
  }
  return result('pass');
}

/** The actions from the initial state (node 0) to `node`, read back through the parent table. */
function pathTo(parent: readonly number[], via: readonly (Action | null)[], node: number): Action[] {
  const path: Action[] = [];
  for (let x = node; x > 0; x = parent[x]) path.push(via[x]!);
  return path.reverse();
}
