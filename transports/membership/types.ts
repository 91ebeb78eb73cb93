// The membership core's data: members, metadata, wire messages, the events a driver feeds in and
// the effects (`Ready`) it gets back. SWIM (Das, Gupta, Motivala 2002) with Lifeguard (Dadgar,
// Phillips, Currey 2018), shaped like HashiCorp memberlist where the papers leave a choice open.

/** A member's identity: the libp2p peer id in the real agent, `m<i>` in the simulator. */
export type MemberId = string;

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

export type Role = 'voter' | 'worker';

/** What an agent says about itself, gossiped with its alive messages (size-bounded: config.ts). */
export interface Meta {
  readonly role: Role;
  /** Device kinds the agent drives ("camera", "gps", "autopilot", …). */
  readonly devices: readonly string[];
  /** Names of the plugins it runs. */
  readonly plugins: readonly string[];
  /** State of charge 0..1, or null for mains power / unknown. */
  readonly battery: number | null;
}

/** One member as this agent sees it; what push-pull exchanges and events report. */
export interface MemberView {
  readonly id: MemberId;
  /** Opaque to the core: a multiaddr in the real agent. */
  readonly addr: string;
  readonly incarnation: number;
  readonly state: MemberState;
  readonly meta: Meta;
}

// ---- gossip items (piggybacked on every message, and sent alone by the gossip timer) ---------

/**
 * `id`'s statement about itself: reach me at `addr`, this is my metadata, as of `incarnation`.
 * `sig` is its signature of the statement (statement.ts): relayed verbatim, never re-signed, so a
 * third party can spread it but not forge or alter it.
 */
export interface AliveItem {
  readonly kind: 'alive'; readonly id: MemberId; readonly addr: string; readonly incarnation: number; readonly meta: Meta; readonly sig: string;
}
/**
 * `from` suspects `id` at `incarnation`; distinct `from`s are Lifeguard's confirmations. A claim
 * about another member: unsigned, taken only from roster members, and only at the incarnation
 * `id` itself signed last (a claim above it is ignored; `id`'s refutation at a higher one wins).
 */
export interface SuspectItem { readonly kind: 'suspect'; readonly id: MemberId; readonly incarnation: number; readonly from: MemberId }
/**
 * `from` declares `id` dead, a claim like a suspicion; or, when `from === id`, `id`'s graceful
 * leave: its own statement, then signed (`sig`, present exactly when `from === id`).
 */
export interface DeadItem { readonly kind: 'dead'; readonly id: MemberId; readonly incarnation: number; readonly from: MemberId; readonly sig?: string }
export type GossipItem = AliveItem | SuspectItem | DeadItem;

/**
 * One member in a push-pull: its latest signed alive statement and, when it left, its signed
 * leave (present exactly when `state` is `left`), both verbatim; `state` is the sender's claim
 * (suspect and dead refer to `alive.incarnation`).
 */
export interface MemberRecord { readonly state: MemberState; readonly alive: AliveItem; readonly leave: DeadItem | null }

// ---- messages -------------------------------------------------------------------------------

/** A probe. `target` names who must answer: a restarted process under another id stays silent. */
export interface Ping { readonly type: 'ping'; readonly seq: number; readonly target: MemberId; readonly gossip: readonly GossipItem[] }
export interface Ack { readonly type: 'ack'; readonly seq: number; readonly gossip: readonly GossipItem[] }
/** Ask the receiver to probe `target` for the sender (SWIM's ping-req). */
export interface PingReq {
  readonly type: 'pingReq'; readonly seq: number; readonly target: MemberId; readonly targetAddr: string;
  readonly gossip: readonly GossipItem[];
}
/** Lifeguard: the relay's probe of the target went unanswered (the relay itself is reachable). */
export interface Nack { readonly type: 'nack'; readonly seq: number }
export interface Gossip { readonly type: 'gossip'; readonly gossip: readonly GossipItem[] }
/** Full-state exchange (join, anti-entropy, reconnect after a partition). `reply` answers one. */
export interface PushPull { readonly type: 'pushPull'; readonly reply: boolean; readonly members: readonly MemberRecord[] }

export type Message = Ping | Ack | PingReq | Nack | Gossip | PushPull;
export type MessageType = Message['type'];

// ---- events in ------------------------------------------------------------------------------

export type Input =
  /**
   * A message from peer `from` (the transport's authenticated peer id). `nowMs` is the driver's
   * clock at arrival when it has one; without it the core uses the last tick's time.
   */
  | { readonly type: 'message'; readonly from: MemberId; readonly msg: Message; readonly nowMs?: number }
  /**
   * A timer fired (or the driver just wants to advance time). `entropy` is a random 32-bit
   * integer the driver drew: the core mixes it into its own generator, so it never needs
   * Math.random and a run replays from its inputs.
   */
  | { readonly type: 'tick'; readonly nowMs: number; readonly entropy: number };

// ---- effects out ----------------------------------------------------------------------------

export interface Outgoing {
  readonly to: MemberId;
  /** The address the core knows for `to`; null when it knows none (answer on the inbound connection). */
  readonly addr: string | null;
  readonly msg: Message;
}

export type MemberEventType = 'join' | 'update' | 'suspect' | 'alive' | 'dead' | 'leave';

/**
 * A change in another member's state as this agent sees it. `join`: first seen, or back after
 * dead/left; `update`: new address or metadata while alive; `alive`: a suspicion was refuted.
 */
export interface MemberEvent {
  readonly type: MemberEventType;
  readonly member: MemberView;
  readonly atMs: number;
}

/**
 * What the calls since the last `takeReady()` produced. Nothing here needs to be durable before
 * sending (membership promises nothing that outlives a restart: a restarted member refutes with
 * a higher incarnation), so the driver sends `messages`, hands `events` to observers, and sets
 * one timer for `wakeAtMs` (absolute, on the clock it ticks with), replacing any earlier one.
 * `wakeAtMs` null: nothing to wait for (not joined, or left).
 */
export interface Ready {
  readonly messages: Outgoing[];
  readonly events: MemberEvent[];
  readonly wakeAtMs: number | null;
}

export type Status = 'idle' | 'joined' | 'leaving' | 'left';

export interface MembershipStats {
  probes: number;
  probesFailed: number;
  indirectProbes: number;
  nacksReceived: number;
  suspicionsStarted: number;
  refutations: number;
  declaredDead: number;
  pushPulls: number;
  /** Messages the validator refused (receiveUntrusted). */
  rejected: number;
  /** Self-statements (alive, leave) whose signature did not verify: dropped. */
  badSignatures: number;
  /** Frames from, alive records of, and claims by peers not admitted to the roster: dropped. */
  notAdmitted: number;
  /** Alive records whose `meta.role` disagrees with the roster's role for the member: dropped. */
  roleRefused: number;
  /** Claims (suspect, dead) above the incarnation their subject signed last: ignored. */
  unbackedClaims: number;
  /** Refutations or metadata updates not made because the incarnation reached incarnationMax. */
  incarnationExhausted: number;
}
