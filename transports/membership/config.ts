// The membership core's options, their defaults and limits, and the formulas derived from them
// (retransmit limit, suspicion timeouts). Defaults were tuned in the simulator on a radio-like
// link (5–40 ms one way, 5% loss): see docs/membership.md for the measurements behind each one.

import type { Signer, Trust } from './statement.ts';
import type { Meta, MemberId } from './types.ts';

// ---- limits (also enforced by validate.ts on everything that arrives) ------------------------

/** UTF-8 bytes of a member id (a libp2p peer id is 52 characters in base58). */
export const idBytesMax = 128;
/** UTF-8 bytes of an address (a multiaddr). */
export const addrBytesMax = 256;
/** UTF-8 bytes of one metadata record, as its canonical JSON. */
export const metaBytesMax = 512;
/** Entries of `Meta.devices` and of `Meta.plugins`. */
export const metaListMax = 32;
/** UTF-8 bytes of one device kind or plugin name. */
export const metaNameBytesMax = 64;
/** Gossip items one message may carry. */
export const gossipItemsPerMessageMax = 256;
/** Members one push-pull may carry, and members one agent keeps in its table. */
export const membersMax = 10_000;
/** Probes this agent runs for others at once (ping-req relays); more are refused. */
export const relaysMax = 64;
/** Largest sequence number accepted: a safe integer. */
export const counterMax = Number.MAX_SAFE_INTEGER;
/**
 * Largest incarnation accepted, far below 2^53 so that refuting one above it stays exact and
 * valid everywhere. Larger values are refused by the validator (the whole message). A member at
 * the bound cannot refute or update its metadata any more (stats.incarnationExhausted counts the
 * attempts); it must restart under a new identity. Reaching it takes 2^40 refutations: at one per
 * probe period (1 s) that is about 35 000 years, and only the member itself can raise its own
 * incarnation (claims about it above what it signed are ignored).
 */
export const incarnationMax = 2 ** 40;
/** Bytes of a signature as carried (an Ed25519 signature is 86 characters of base64url). */
export const sigBytesMax = 128;

export interface MembershipOptions {
  readonly id: MemberId;
  readonly addr: string;
  readonly meta?: Meta;
  /**
   * Start at this incarnation. A driver that persists nothing leaves it 0: a restarted member
   * learns its old incarnation from the first push-pull and refutes above it.
   */
  readonly incarnation?: number;
  /** Signs this agent's own statements and checks everyone else's (statement.ts). */
  readonly signer: Signer;
  /** The roster: who may take part, in which role. Default: everyone, role as claimed. */
  readonly trust?: Trust;
  /** The driver's clock at creation, and a seed for the core's generator. */
  readonly nowMs: number;
  readonly seed: number;

  /** SWIM protocol period: one probe per period (memberlist: 1 s). */
  readonly probeIntervalMs?: number;
  /** Wait for the direct ack before asking relays (memberlist: 500 ms). */
  readonly probeTimeoutMs?: number;
  /** After the direct timeout, wait this long for indirect acks before suspecting. */
  readonly indirectTimeoutMs?: number;
  /** k: relays asked to probe indirectly (memberlist: 3). */
  readonly indirectChecks?: number;
  /** min suspicion timeout = suspicionMult · max(1, log10 n) · probeIntervalMs (memberlist: 4). */
  readonly suspicionMult?: number;
  /** max suspicion timeout = suspicionMaxMult · min (memberlist: 6). */
  readonly suspicionMaxMult?: number;
  /** Independent confirmations that shrink the timeout to its minimum (memberlist: mult − 2). */
  readonly suspicionConfirmations?: number;
  /** A gossip item is sent retransmitMult · ceil(log10(n + 1)) times (memberlist: 4). */
  readonly retransmitMult?: number;
  /** Dedicated gossip round (memberlist: 200 ms to 3 members). */
  readonly gossipIntervalMs?: number;
  readonly gossipFanout?: number;
  /** Items piggybacked on one ping/ack/ping-req, and sent in one gossip message. */
  readonly piggybackItemsMax?: number;
  readonly gossipMessageItemsMax?: number;
  /** Full-state exchange with a random live member, and reconnect to a dead or seed member. */
  readonly pushPullIntervalMs?: number;
  /** Keep gossiping to a dead member this long, so a live one wrongly declared dead hears it. */
  readonly gossipToDeadMs?: number;
  /** Forget a dead member (stop reconnecting to it) after this long. */
  readonly deadRetainMs?: number;
  /** Lifeguard local health: the score runs 0..awarenessMax−1; timeouts scale by score + 1. */
  readonly awarenessMax?: number;
}

export interface MembershipConfig {
  readonly id: MemberId;
  readonly addr: string;
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly indirectTimeoutMs: number;
  readonly indirectChecks: number;
  readonly suspicionMult: number;
  readonly suspicionMaxMult: number;
  readonly suspicionConfirmations: number;
  readonly retransmitMult: number;
  readonly gossipIntervalMs: number;
  readonly gossipFanout: number;
  readonly piggybackItemsMax: number;
  readonly gossipMessageItemsMax: number;
  readonly pushPullIntervalMs: number;
  readonly gossipToDeadMs: number;
  readonly deadRetainMs: number;
  readonly awarenessMax: number;
}

export const defaultMeta: Meta = { role: 'worker', devices: [], plugins: [], battery: null };

/** The tuned defaults (docs/membership.md, "Tuning"). */
export const membershipDefaults = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 150,
  indirectTimeoutMs: 250,
  indirectChecks: 3,
  suspicionMult: 0.5,
  suspicionMaxMult: 4,
  suspicionConfirmations: 2,
  retransmitMult: 4,
  gossipIntervalMs: 200,
  gossipFanout: 3,
  piggybackItemsMax: 16,
  gossipMessageItemsMax: 64,
  pushPullIntervalMs: 10_000,
  gossipToDeadMs: 30_000,
  deadRetainMs: 3_600_000,
  awarenessMax: 8,
} as const;

export function membershipConfig(o: MembershipOptions): MembershipConfig {
  const c: MembershipConfig = {
    id: o.id,
    addr: o.addr,
    probeIntervalMs: o.probeIntervalMs ?? membershipDefaults.probeIntervalMs,
    probeTimeoutMs: o.probeTimeoutMs ?? membershipDefaults.probeTimeoutMs,
    indirectTimeoutMs: o.indirectTimeoutMs ?? membershipDefaults.indirectTimeoutMs,
    indirectChecks: o.indirectChecks ?? membershipDefaults.indirectChecks,
    suspicionMult: o.suspicionMult ?? membershipDefaults.suspicionMult,
    suspicionMaxMult: o.suspicionMaxMult ?? membershipDefaults.suspicionMaxMult,
    suspicionConfirmations: o.suspicionConfirmations ?? membershipDefaults.suspicionConfirmations,
    retransmitMult: o.retransmitMult ?? membershipDefaults.retransmitMult,
    gossipIntervalMs: o.gossipIntervalMs ?? membershipDefaults.gossipIntervalMs,
    gossipFanout: o.gossipFanout ?? membershipDefaults.gossipFanout,
    piggybackItemsMax: o.piggybackItemsMax ?? membershipDefaults.piggybackItemsMax,
    gossipMessageItemsMax: o.gossipMessageItemsMax ?? membershipDefaults.gossipMessageItemsMax,
    pushPullIntervalMs: o.pushPullIntervalMs ?? membershipDefaults.pushPullIntervalMs,
    gossipToDeadMs: o.gossipToDeadMs ?? membershipDefaults.gossipToDeadMs,
    deadRetainMs: o.deadRetainMs ?? membershipDefaults.deadRetainMs,
    awarenessMax: o.awarenessMax ?? membershipDefaults.awarenessMax,
  };
  const positive: (keyof MembershipConfig)[] = [
    'probeIntervalMs', 'probeTimeoutMs', 'indirectTimeoutMs', 'suspicionMult', 'suspicionMaxMult', 'retransmitMult',
    'gossipIntervalMs', 'pushPullIntervalMs',
  ];
  for (const k of positive) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new RangeError(`membership: ${k} must be a positive number, got ${String(v)}`);
  }
  const counts: (keyof MembershipConfig)[] = ['indirectChecks', 'suspicionConfirmations', 'gossipFanout', 'piggybackItemsMax', 'gossipMessageItemsMax', 'awarenessMax'];
  for (const k of counts) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new RangeError(`membership: ${k} must be a non-negative integer, got ${String(v)}`);
  }
  if (c.awarenessMax < 1) throw new RangeError('membership: awarenessMax must be at least 1');
  if (c.suspicionMaxMult < 1) throw new RangeError('membership: suspicionMaxMult must be at least 1 (max ≥ min)');
  if (c.probeTimeoutMs + c.indirectTimeoutMs >= c.probeIntervalMs) {
    throw new RangeError(`membership: probeTimeoutMs + indirectTimeoutMs (${c.probeTimeoutMs + c.indirectTimeoutMs}) must be below probeIntervalMs (${c.probeIntervalMs}): one probe per period`);
  }
  if (c.gossipMessageItemsMax > gossipItemsPerMessageMax || c.piggybackItemsMax > gossipItemsPerMessageMax) {
    throw new RangeError(`membership: at most ${gossipItemsPerMessageMax} gossip items per message`);
  }
  return c;
}

// ---- formulas -------------------------------------------------------------------------------

/** How many times one gossip item is sent: retransmitMult · ceil(log10(n + 1)) (memberlist). */
export function retransmitLimit(retransmitMult: number, n: number): number {
  return Math.max(1, Math.ceil(retransmitMult * Math.ceil(Math.log10(n + 1))));
}

/** The suspicion timeout's floor and ceiling for a cluster of n members (memberlist). */
export function suspicionBoundsMs(cfg: Pick<MembershipConfig, 'suspicionMult' | 'suspicionMaxMult' | 'probeIntervalMs'>, n: number): { minMs: number; maxMs: number } {
  const minMs = cfg.suspicionMult * Math.max(1, Math.log10(Math.max(1, n))) * cfg.probeIntervalMs;
  return { minMs, maxMs: cfg.suspicionMaxMult * minMs };
}

/**
 * Lifeguard's dynamic suspicion timeout after `confirmations` independent suspicions beyond the
 * first, when `k` are expected: max − (max − min)·log(C+1)/log(k+1), never below min. With k = 0
 * (too few members to confirm) it stays at max: without independent evidence, no shortcut.
 */
export function suspicionTimeoutMs(minMs: number, maxMs: number, confirmations: number, k: number): number {
  if (k < 1) return maxMs;
  const frac = Math.log(confirmations + 1) / Math.log(k + 1);
  return Math.max(minMs, Math.floor(maxMs - (maxMs - minMs) * frac));
}

/** HashiCorp memberlist's default suspicion timeout for n members, for comparison (ms). */
export function memberlistSuspicionTimeoutMs(n: number): number {
  return 4 * Math.max(1, Math.log10(Math.max(1, n))) * 1000;
}
