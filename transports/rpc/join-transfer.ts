// Joining a new voter: /covey/join/1.0.0 (docs/reconfiguration.md rule 6). A voter of epoch E+1
// that was not in epoch E may vote only once it holds the state machine as it was right after the
// change C that opened E+1. A voter that executed C offers it that state; the new voter persists it
// and acknowledges, and only then starts its epoch-(E+1) replica.
//
// Offer   one length-prefixed frame of UTF-8 JSON, at most offerBytesMax (the snapshot bound):
//         { epoch: E+1, voters: V_{E+1} in order (3, 5 or 7 peer ids), change: C's instance id as
//         text, machine: the state machine's snapshot at C (plain JSON) }.
// Ack     one length-prefixed frame of UTF-8 JSON: { ok: true } once the receiver's onOffer
//         has resolved (it persists before it acks: persist before you promise), or { ok: false,
//         error } when the receiver refuses the offer (malformed, oversized, or not accepted).
//         A receiver that fails to take an offer it accepted (onOffer rejects: a full disk) sends no
//         ack and resets the stream, so the sender tries again.
//
// Sender  offer(to, offer) keeps offering to that peer, one stream in flight at a time, with
//         backoff (joinRetryDelayMsMin doubling to joinRetryDelayMsMax, jittered; started over when
//         libp2p reports the peer connected), until it is acked ok, refused, cancel(to)ed or the
//         transfer stopped. A refusal stops it: the receiver said why (logged and counted) and the
//         same offer would be refused again; the agent decides whether to offer something else. An
//         offer of a higher epoch replaces the pending one (and cuts its attempt short); one of a
//         lower or the same epoch as the pending one is ignored (every replica executes the same
//         commands in the same order up to the change, so the state at it is the same whoever
//         offers it: a second offer of an epoch says nothing new).
// Receiver every offer is checked in this order: the frame's size and framing, UTF-8 JSON, its
//         shape (validateJoinOffer), then `accept` (trust is the agent's: e.g. the sender must be
//         a voter of epoch offer.epoch − 1, the receiver one of offer.voters), then `onOffer`.
//         Whatever fails is refused, counted and logged (warn, at most once per peer per 10 s);
//         nothing from the wire throws. An offer of an epoch already taken reaches onOffer again
//         and is acked ok again when it resolves: onOffer decides (quickly) that it has it.

import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import * as lp from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import { Registry, type Counter } from 'prom-client';
import type { Logger } from 'pino';
import { z } from 'zod';
import { peerIdPattern, voterCounts } from '../../consensus/index.ts';
import { DropLog } from '../drop-log.ts';
import { redialDelayMs } from '../peers.ts';
import { frameReadError } from '../stream/outbox.ts';
import { counterIn } from './metrics.ts';
import { snapshotBytesMaxDefault } from './snapshot-transfer.ts';

export const joinProtocol = '/covey/join/1.0.0';
/** Largest offer accepted or sent (bytes of JSON): the state machine's, as for a snapshot. */
export const joinOfferBytesMaxDefault = snapshotBytesMaxDefault;
/** Largest ack read (bytes of JSON); an ack is `{ ok }` and a short reason. */
export const joinAckBytesMax = 4096;
/** A refusal's reason is cut to this many characters before it is sent. */
export const joinErrorCharsMax = 1000;
/** The change's instance id as text (formatId: "seq.coordinator"), at most this long. */
export const joinChangeCharsMax = 64;
/** Voters an epoch may have (consensus/statemachine/commands.ts voterCounts, rule 1). */
export const joinVoterCounts: readonly number[] = voterCounts;
export const joinRetryDelayMsMin = 200;
export const joinRetryDelayMsMax = 5_000;
/** One attempt, from the dial to the ack (a large state over a slow link, then its fsync). */
export const joinAttemptTimeoutMs = 120_000;
/** A receiver waits this long for an offer's bytes (a slow or silent sender is cut off). */
export const joinReadTimeoutMs = 60_000;
/** Peers with an offer pending at most: offers go to the new voters of one change (1 to 7). */
export const joinPendingPeersMax = 16;
/** Offers being received at once, over all peers (each may hold up to offerBytesMax in memory). */
export const joinInboundMax = 4;
/** Join streams at once on one connection (a correct sender has one in flight to a peer). */
const joinInboundStreamsPerConnectionMax = 2;
/** At most one warning per peer this often for refused offers; the rest are counted in it. */
const refusalLogIntervalMs = 10_000;

export interface JoinOffer {
  /** The new epoch (>= 1): the one the change opened. */
  readonly epoch: number;
  /** That epoch's voters, in order (index = replica id). */
  readonly voters: readonly string[];
  /** The change's instance id as text. */
  readonly change: string;
  /** The state machine's snapshot right after the change (plain JSON). */
  readonly machine: unknown;
}

export type JoinAck = { readonly ok: true } | { readonly ok: false; readonly error: string };

/** Why an offer was refused on receipt (the received counter's `outcome`, with ok and failed). */
export type JoinRefusal = 'oversized' | 'truncated' | 'invalid' | 'refused' | 'busy';

const offerSchema = z.object({
  epoch: z.number().int().min(1),
  voters: z.array(z.string().regex(peerIdPattern, { error: 'must be a libp2p peer id' }))
    .refine((v) => joinVoterCounts.includes(v.length), { error: `must hold ${joinVoterCounts.join(', ')} voters` })
    .refine((v) => new Set(v).size === v.length, { error: 'must not list a voter twice' }),
  change: z.string().min(1).max(joinChangeCharsMax),
  machine: z.unknown().refine((m) => m !== undefined, { error: 'missing' }),
});

const ackSchema = z.union([
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), error: z.string().max(joinErrorCharsMax) }),
]);

/** The offer in `raw` (parsed JSON) if its shape is valid; unknown fields are dropped (a later version may add some). */
export function validateJoinOffer(raw: unknown): { ok: true; offer: JoinOffer } | { ok: false; reason: string } {
  const r = offerSchema.safeParse(raw);
  if (r.success) return { ok: true, offer: r.data };
  const issue = r.error.issues[0];
  return { ok: false, reason: `${issue.path.length > 0 ? issue.path.join('.') : 'offer'}: ${issue.message}`.slice(0, joinErrorCharsMax) };
}

export interface JoinTransferOptions {
  readonly node: Libp2p;
  readonly logger: Logger;
  /** prom-client registry for the counters (shared with other instances); a private one when absent. */
  readonly registry?: Registry;
  /**
   * Whether to take an offer from peer `from` (authenticated): null takes it, a string refuses it
   * with that reason (sent back in the ack). The agent's trust rule, e.g. `from` is a voter of
   * epoch offer.epoch − 1 that it knows and this agent is one of offer.voters.
   */
  accept(from: string, offer: JoinOffer): string | null;
  /** An accepted, shape-valid offer: resolve once it is durable (the ack follows), reject to have it sent again. */
  onOffer(from: string, offer: JoinOffer): Promise<void>;
  readonly offerBytesMax?: number;
}

/** An offer waiting to be acked by one peer. */
interface Pending {
  readonly to: string;
  readonly peerId: PeerId;
  offer: JoinOffer;
  bytes: Uint8Array;
  failures: number;
  /** Ends the attempt in flight (replaced by a newer offer, cancelled, stopped). */
  attempt: AbortController | null;
  /** Ends the backoff wait early. */
  wake: () => void;
  loop: Promise<void>;
}

export class JoinTransfer {
  readonly #o: JoinTransferOptions;
  readonly #bytesMax: number;
  readonly #pending = new Map<string, Pending>();
  readonly #inbound = new Set<Stream>();
  readonly #sent: Counter<'outcome'>;
  readonly #received: Counter<'outcome'>;
  readonly #refusals: DropLog;
  readonly #failures: DropLog;
  #abort = new AbortController();
  #running = false;

  constructor(o: JoinTransferOptions) {
    this.#o = o;
    this.#bytesMax = o.offerBytesMax ?? joinOfferBytesMaxDefault;
    const registry = o.registry ?? new Registry();
    this.#sent = counterIn(registry, 'covey_join_offers_sent_total',
      'Join offers (the state at a change, to a new voter) sent, by outcome (ok, refused, error, too_large)', ['outcome']);
    this.#received = counterIn(registry, 'covey_join_offers_received_total',
      'Join offers received, by outcome (ok, refused, invalid, oversized, truncated, busy, failed)', ['outcome']);
    this.#refusals = new DropLog(o.logger, 'refused a join offer', refusalLogIntervalMs);
    this.#failures = new DropLog(o.logger, 'could not take a join offer; the sender will offer it again', refusalLogIntervalMs);
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#abort = new AbortController();
    await this.#o.node.handle(joinProtocol, ({ stream, connection }) => { void this.#receive(stream, connection); }, { maxInboundStreams: joinInboundStreamsPerConnectionMax });
    this.#o.node.addEventListener('peer:connect', this.#onConnect);
    this.#running = true;
  }

  /** Ends every pending offer (none is acked afterwards) and every offer being received. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#abort.abort(new Error('join transfer stopped'));
    this.#o.node.removeEventListener('peer:connect', this.#onConnect);
    await this.#o.node.unhandle(joinProtocol).catch(() => {});
    const loops = [...this.#pending.values()].map((p) => { p.wake(); return p.loop; });
    this.#pending.clear();
    for (const s of this.#inbound) s.abort(new Error('join transfer stopped'));
    this.#inbound.clear();
    await Promise.all(loops);
  }

  /**
   * Offers `offer` to peer `to` (one of offer.voters, not this node) until it is acked. True if it
   * is pending now (an offer of the same epoch pending already counts); false if it was not taken:
   * stopped, a higher epoch pending for `to`, or larger than the bound (counted as too_large and
   * logged). Throws RangeError on an offer that would not pass validateJoinOffer or is not JSON, a
   * `to` that is not one of its voters or is this node, or more than joinPendingPeersMax peers
   * pending (the caller's bugs).
   */
  offer(to: string, offer: JoinOffer): boolean {
    const valid = validateJoinOffer(offer);
    if (!valid.ok) throw new RangeError(`JoinTransfer.offer: invalid offer (${valid.reason})`);
    if (!offer.voters.includes(to)) throw new RangeError(`JoinTransfer.offer: ${to} is not a voter of epoch ${offer.epoch}`);
    if (to === this.#o.node.peerId.toString()) throw new RangeError('JoinTransfer.offer: an offer to this node itself');
    if (!this.#running) return false;
    const held = this.#pending.get(to);
    if (held !== undefined && held.offer.epoch >= offer.epoch) return held.offer.epoch === offer.epoch;
    let json: string;
    try {
      json = JSON.stringify(offer);
    } catch (err) {
      throw new RangeError(`JoinTransfer.offer: the offer is not JSON (${(err as Error).message})`, { cause: err });
    }
    const bytes = new TextEncoder().encode(json);
    if (bytes.length > this.#bytesMax) {
      this.#sent.inc({ outcome: 'too_large' });
      this.#o.logger.error({ to, epoch: offer.epoch, bytes: bytes.length, offerBytesMax: this.#bytesMax },
        'a join offer exceeds the transfer bound; this voter cannot give the new voter the state at the change');
      return false;
    }
    if (held !== undefined) {
      held.offer = offer;
      held.bytes = bytes;
      held.failures = 0;
      held.attempt?.abort(new Error(`replaced by the offer of epoch ${offer.epoch}`));
      held.wake();
      return true;
    }
    if (this.#pending.size >= joinPendingPeersMax) {
      throw new RangeError(`JoinTransfer.offer: ${joinPendingPeersMax} peers already have offers pending (offers go to the new voters of one change)`);
    }
    const p: Pending = { to, peerId: peerIdFromString(to), offer, bytes, failures: 0, attempt: null, wake: () => {}, loop: Promise.resolve() };
    this.#pending.set(to, p);
    p.loop = this.#offerLoop(p);
    return true;
  }

  /** Stops offering to `to` (an attempt in flight is cut short). */
  cancel(to: string): void {
    const p = this.#pending.get(to);
    if (p === undefined) return;
    this.#pending.delete(to);
    p.attempt?.abort(new Error('cancelled'));
    p.wake();
  }

  /** Peers with an offer not yet acked, sorted. */
  pending(): string[] {
    return [...this.#pending.keys()].sort();
  }

  // ---- sending ---------------------------------------------------------------------------------

  async #offerLoop(p: Pending): Promise<void> {
    while (this.#running && this.#pending.get(p.to) === p) {
      const offer = p.offer;
      const attempt = new AbortController();
      p.attempt = attempt;
      let outcome: 'ok' | 'refused' | 'error';
      let detail = '';
      try {
        const ack = await this.#attempt(p, attempt.signal);
        outcome = ack.ok ? 'ok' : 'refused';
        if (!ack.ok) detail = ack.error;
      } catch (err) {
        outcome = 'error';
        detail = (err as Error).message;
      } finally {
        p.attempt = null;
      }
      if (!this.#running || this.#pending.get(p.to) !== p) return; // cancelled or stopped
      if (p.offer !== offer) continue; // replaced while in flight: offer the newer one now
      this.#sent.inc({ outcome });
      const about = { to: p.to, epoch: offer.epoch, change: offer.change };
      if (outcome === 'ok') {
        this.#o.logger.info({ ...about, bytes: p.bytes.length }, 'a new voter took the state at the change');
        this.#pending.delete(p.to);
        return;
      }
      if (outcome === 'refused') {
        this.#o.logger.warn({ ...about, reason: detail }, 'a new voter refused the state at the change; not offering it again');
        this.#pending.delete(p.to);
        return;
      }
      p.failures++;
      if (p.failures === 1 || p.failures % 20 === 0) this.#o.logger.info({ ...about, failures: p.failures, err: detail }, 'cannot offer the state at the change yet; retrying');
      await this.#backoff(p);
    }
  }

  /** Waits before the next attempt; wake() (peer connected, replaced, cancelled, stopped) ends it early. */
  #backoff(p: Pending): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => p.wake(), redialDelayMs(p.failures, joinRetryDelayMsMin, joinRetryDelayMsMax, Math.random()));
      p.wake = () => {
        clearTimeout(timer);
        p.wake = () => {};
        resolve();
      };
    });
  }

  /** One stream: the offer out, the ack back. Throws on anything but a well-formed ack. */
  async #attempt(p: Pending, signal: AbortSignal): Promise<JoinAck> {
    const all = AbortSignal.any([signal, this.#abort.signal, AbortSignal.timeout(joinAttemptTimeoutMs)]);
    let stream: Stream | null = null;
    const onAbort = () => stream?.abort(new Error('join offer attempt ended'));
    all.addEventListener('abort', onAbort, { once: true });
    try {
      stream = await this.#o.node.dialProtocol(p.peerId, joinProtocol, { signal: all });
      const bytes = await pipe(
        [p.bytes],
        (s) => lp.encode(s),
        stream,
        (s) => lp.decode(s, { maxDataLength: joinAckBytesMax }),
        async (s) => {
          for await (const ack of s) return ack.subarray();
          return null;
        },
      );
      if (bytes === null) throw new Error('the peer closed the stream without an ack');
      const ack = ackSchema.safeParse(parseJson(bytes));
      if (!ack.success) throw new Error('malformed ack');
      return ack.data;
    } finally {
      all.removeEventListener('abort', onAbort);
      if (stream !== null) await stream.close({ signal: AbortSignal.timeout(1000) }).catch(() => stream?.abort(new Error('close failed')));
    }
  }

  readonly #onConnect = (evt: CustomEvent<PeerId>): void => {
    const p = this.#pending.get(evt.detail.toString());
    if (p === undefined || p.attempt !== null) return;
    p.failures = 0;
    p.wake();
  };

  // ---- receiving -------------------------------------------------------------------------------

  async #receive(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    if (!this.#running) { stream.abort(new Error('join transfer stopped')); return; }
    if (this.#inbound.size >= joinInboundMax) {
      this.#refuse(peer, 'busy', `${joinInboundMax} offers are being received already`);
      stream.abort(new Error('busy'));
      return;
    }
    this.#inbound.add(stream);
    const timer = setTimeout(() => stream.abort(new Error('no join offer in time')), joinReadTimeoutMs);
    try {
      const read = await this.#readOffer(peer, stream);
      clearTimeout(timer);
      const ack = read instanceof Uint8Array ? await this.#answer(peer, read) : read;
      await pipe([new TextEncoder().encode(JSON.stringify(ack))], (s) => lp.encode(s), stream.sink);
      await stream.close({ signal: AbortSignal.timeout(1000) });
    } catch (err) {
      if (this.#running) this.#o.logger.debug({ peer, err: (err as Error).message }, 'join stream ended without an ack');
      stream.abort(err as Error);
    } finally {
      clearTimeout(timer);
      this.#inbound.delete(stream);
    }
  }

  /** The offer's bytes, or the refusal to send back when its framing is broken; throws if the stream broke. */
  async #readOffer(peer: string, stream: Stream): Promise<Uint8Array | JoinAck> {
    try {
      for await (const chunk of lp.decode(stream.source, { maxDataLength: this.#bytesMax })) return chunk.subarray();
    } catch (err) {
      const framing = frameReadError(err);
      if (framing === null) throw err;
      return this.#refuse(peer, framing, framing === 'oversized' ? `an offer is at most ${this.#bytesMax} bytes` : 'the stream ended inside the offer');
    }
    return this.#refuse(peer, 'truncated', 'the stream ended without an offer');
  }

  /** The ack for an offer read whole; throws (no ack: the sender retries) when accept throws or onOffer rejects. */
  async #answer(peer: string, bytes: Uint8Array): Promise<JoinAck> {
    const raw = parseJson(bytes);
    if (raw === undefined) return this.#refuse(peer, 'invalid', 'invalid offer: not UTF-8 JSON');
    const valid = validateJoinOffer(raw);
    if (!valid.ok) return this.#refuse(peer, 'invalid', `invalid offer: ${valid.reason}`);
    let reason: string | null;
    try {
      reason = this.#o.accept(peer, valid.offer);
      if (reason === null) await this.#o.onOffer(peer, valid.offer);
    } catch (err) {
      this.#received.inc({ outcome: 'failed' });
      this.#failures.warn(peer, 'failed', (err as Error).message);
      throw err;
    }
    if (reason !== null) return this.#refuse(peer, 'refused', reason);
    this.#received.inc({ outcome: 'ok' });
    return { ok: true };
  }

  #refuse(peer: string, outcome: JoinRefusal, reason: string): JoinAck {
    this.#received.inc({ outcome });
    this.#refusals.warn(peer, outcome, reason);
    return { ok: false, error: reason.slice(0, joinErrorCharsMax) };
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The JSON value in `bytes`, or undefined when they are not UTF-8 JSON. */
function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(strictUtf8.decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
}
