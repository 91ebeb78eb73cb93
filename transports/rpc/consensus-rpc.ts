// The consensus RPC: EPaxos* messages between voters over libp2p streams, and client commands
// forwarded from any agent to a voter.
//
// /covey/epaxos/1.0.0 — one long-lived outbound stream per voter peer, written only (each side
// opens its own stream to the other). On it, length-prefixed frames (it-length-prefixed: unsigned
// varint length, then that many bytes of a protobuf `Frame`, transports/wire/consensus.proto).
//   send     never blocks: messages queued for a peer in one turn (until setImmediate) become one
//            frame (split only at frameBytesMax); frames wait in a per-peer queue bounded in
//            frames and bytes, where the oldest are dropped when it is full (consensus
//            retransmits, so dropping is safe; growing without bound is not);
//   writer   a loop per peer pulls from the queue only when the stream has taken the previous
//            frame (back-pressure: it-pipe awaits the sink), and reopens a broken stream with
//            backoff, early when libp2p reports the peer connected again;
//   receiver the sender's ReplicaId is the authenticated remote peer id's index in `voters`,
//            never a field of the frame. A frame from a non-voter, or one that is oversized,
//            truncated, malformed or invalid (transports/wire/codec.ts, then validate.ts), is
//            dropped whole, counted in covey_rpc_frames_dropped_total{reason} and logged
//            (warn, at most once per peer per logIntervalMs); it never reaches onMessage.
//            Oversized and truncated frames also close the stream: its framing is lost.
// /covey/submit/1.0.0 — one stream per request: the client writes one length-prefixed
// SubmitRequest, the voter answers one SubmitReply (a CommandResult, or why it did not run it).
//
// One instance per epoch (docs/reconfiguration.md rule 2: each epoch is its own consensus group,
// with its own voter list and so its own replica indexes). An agent runs two for a while, epoch E
// finishing and E+1 starting, on one libp2p node and one registry:
//   protocol epoch 0 keeps /covey/epaxos/1.0.0, so agents of earlier versions still interoperate;
//            epoch E >= 1 speaks /covey/epaxos/1.0.0/epoch/E (epaxosProtocolFor), so an instance
//            never sees another epoch's frames, and `from` is always an index of its own list;
//   submit   /covey/submit/1.0.0 has no epoch: a node serves it from one instance at a time. An
//            instance started with serveSubmit (the default) takes it over from the one serving it
//            on that node, in one step (the handler is replaced, never removed first, so no forward
//            finds the protocol missing); takeOverSubmit() moves it later. An instance stopped
//            while another serves it leaves that one's handler alone. So an agent that starts epoch
//            E+1's instance after E's moves submissions to the newest epoch without further steps,
//            and an instance started with serveSubmit: false never serves them. The client side,
//            submit(to), works on every instance, with that epoch's voter indexes.
//   metrics  shared through rpcMetrics(registry) (looked up before they are made).

import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import * as lp from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Command, CommandResult, Envelope, Message } from '../../consensus/index.ts';
import {
  decodeFrame, decodeSubmit, decodeSubmitReply, encodeFrames, encodeSubmit, encodeSubmitReply,
  consensusFrameBytesMaxDefault, type EncodedFrame, type SubmitReply,
} from '../wire/codec.ts';
import { redialDelayMs } from '../peers.ts';
import { DropLog } from '../drop-log.ts';
import { FrameOutbox, frameReadError, writeFrames } from '../stream/outbox.ts';
import { rpcMetrics, type DropReason, type RpcMetrics } from './metrics.ts';

export const epaxosProtocol = '/covey/epaxos/1.0.0';
export const submitProtocol = '/covey/submit/1.0.0';

/**
 * The consensus stream protocol of epoch `epoch`'s group: epaxosProtocol for epoch 0 (what agents
 * without reconfiguration speak), `/covey/epaxos/1.0.0/epoch/E` for E >= 1.
 */
export function epaxosProtocolFor(epoch: number): string {
  assertEpoch(epoch, 'epaxosProtocolFor');
  return epoch === 0 ? epaxosProtocol : `${epaxosProtocol}/epoch/${epoch}`;
}

/** An epoch is a non-negative safe integer (it is part of a protocol name). */
export function assertEpoch(epoch: number, where: string): void {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`${where}: epoch must be a non-negative integer, not ${epoch}`);
}

/**
 * Which instance serves /covey/submit/1.0.0 on each node. libp2p's registrar knows the handler but
 * does not say whose it is; without this an instance stopping after another took the protocol over
 * would unhandle the other's handler. Keyed weakly by the node: it goes when the node goes.
 */
const submitServers = new WeakMap<Libp2p, ConsensusRpc>();

/** Frames waiting for one peer; at the bound the oldest is dropped. */
export const queueFramesMaxDefault = 1024;
/** Bytes waiting for one peer (a Raspberry Pi with 6 peers holds at most 6 × this). */
export const queueBytesMaxDefault = 32 * 1024 * 1024;
/**
 * A queued frame older than this when its peer's stream finally takes it is dropped, not sent.
 * The queue rides out a stream reopen; across a longer outage what it holds is superseded
 * (leads retransmit every retransmitMs, watermarks go every tick or ten), and sent at the heal it
 * was a burst of stale frames on every link: stale watermarks made voters that had just caught up
 * by a snapshot send snapshots back to the voters they had it from (issue 16). The core takes any
 * message as lost.
 */
export const queueFrameStaleMsDefault = 2_000;
/**
 * Most bytes the writer takes off a peer's queue for one write: under load a write carries every
 * frame waiting, and a backlog after a stall leaves in pieces this size (yamux splits each into
 * frames of at most its message size, 64 KiB).
 */
export const writeBatchBytesMax = 256 * 1024;
/** Opening a stream (dial included) gives up after this long, then backs off. */
export const streamOpenTimeoutMs = 10_000;
export const reopenDelayMsMin = 100;
export const reopenDelayMsMax = 5_000;
/** A forwarded command with no caller deadline fails after this long. */
export const submitTimeoutMsDefault = 30_000;
/** A voter waits this long for a submit request's bytes (a slow or silent client is cut off). */
export const submitRequestReadTimeoutMs = 10_000;
/** Per connection: consensus streams (one is normal; a few while a broken one is noticed). */
export const epaxosInboundStreamsMax = 8;
/** Per connection: submit requests in flight. */
export const submitInboundStreamsMax = 64;
/** At most one warning per peer this often for dropped frames; the rest are counted in the log. */
export const logIntervalMs = 10_000;

export interface ConsensusRpcOptions {
  /** The libp2p node (createCoveyNode); any service map. */
  readonly node: Libp2p;
  /** Peer ids as strings; index = ReplicaId (0..n-1). */
  readonly voters: readonly string[];
  /** This agent's ReplicaId, null for a non-voter. */
  readonly self: number | null;
  readonly logger: Logger;
  /** The epoch of the consensus group (default 0): picks the protocol (epaxosProtocolFor). */
  readonly epoch?: number;
  /**
   * Serve /covey/submit/1.0.0 from this instance once started (default true), taking it over from
   * any other instance serving it on this node. False: only takeOverSubmit() makes it serve.
   */
  readonly serveSubmit?: boolean;
  /** prom-client registry for the metrics; a private one when absent. */
  readonly registry?: Registry;
  /** Only validated messages from voters, in the order each voter sent them. */
  onMessage(from: number, msg: Message): void;
  /** A voter serving forwarded client commands; `from` is the authenticated peer. Absent: submissions are refused. */
  onSubmit?(command: Command, from: string): Promise<CommandResult>;
  readonly frameBytesMax?: number;
  readonly queueFramesMax?: number;
  readonly queueBytesMax?: number;
  /** Queued frames older than this are dropped when taken (queueFrameStaleMsDefault). */
  readonly queueFrameStaleMs?: number;
}

/** A frame and when it was queued (performance.now()). */
interface QueuedRpcFrame extends EncodedFrame {
  readonly queuedAtMs: number;
}

/** The outgoing side towards one voter: the shared bounded queue (stream/outbox.ts), and its stream. */
class Outbox extends FrameOutbox<QueuedRpcFrame> {
  readonly to: number;
  readonly peerId: PeerId;
  pending: Message[] = [];
  stream: Stream | null = null;
  failures = 0;
  /**
   * Waiting out a redial backoff: new frames queue without waking the writer (only a connection to
   * the peer ends the wait early, #onConnect). Woken by every send, a writer cut off from its peer
   * redialled at the rate the core sends (retransmits, watermarks: ~20 dials a second, each failing
   * at once on an unreachable route) for the whole of a partition.
   */
  backingOff = false;
  loop: Promise<void> = Promise.resolve();
  constructor(to: number, peerId: PeerId, framesMax: number, bytesMax: number) {
    super(framesMax, bytesMax);
    this.to = to;
    this.peerId = peerId;
  }
}


export class ConsensusRpc {
  readonly #o: ConsensusRpcOptions;
  readonly #n: number;
  readonly #voterIndex = new Map<string, number>();
  readonly #outboxes = new Map<number, Outbox>();
  readonly #inbound = new Set<Stream>();
  readonly #dropLog: DropLog;
  readonly #submitRefusals: DropLog;
  readonly #frameBytesMax: number;
  readonly #frameStaleMs: number;
  readonly #epoch: number;
  readonly #protocol: string;
  readonly metrics: RpcMetrics;
  #abort = new AbortController();
  /** Settles when stop() begins; lets waits that libp2p might never settle end. */
  #stopped: Promise<void> = Promise.resolve();
  #running = false;
  #flushScheduled = false;

  constructor(options: ConsensusRpcOptions) {
    this.#o = options;
    this.#dropLog = new DropLog(options.logger, 'dropped a consensus frame', logIntervalMs);
    this.#submitRefusals = new DropLog(options.logger, 'refused a malformed submit request', logIntervalMs);
    this.#epoch = options.epoch ?? 0;
    assertEpoch(this.#epoch, 'ConsensusRpc');
    this.#protocol = epaxosProtocolFor(this.#epoch);
    this.#n = options.voters.length;
    if (this.#n < 1) throw new RangeError('ConsensusRpc: voters must not be empty');
    if (options.self !== null && !(Number.isInteger(options.self) && options.self >= 0 && options.self < this.#n)) {
      throw new RangeError(`ConsensusRpc: self ${options.self} is not a voter index (0..${this.#n - 1})`);
    }
    options.voters.forEach((v, i) => {
      if (this.#voterIndex.has(v)) throw new RangeError(`ConsensusRpc: voter ${v} is listed twice`);
      this.#voterIndex.set(v, i);
    });
    this.#frameBytesMax = options.frameBytesMax ?? consensusFrameBytesMaxDefault;
    this.#frameStaleMs = options.queueFrameStaleMs ?? queueFrameStaleMsDefault;
    const framesMax = options.queueFramesMax ?? queueFramesMaxDefault;
    const bytesMax = options.queueBytesMax ?? queueBytesMaxDefault;
    options.voters.forEach((v, i) => {
      if (i !== options.self) this.#outboxes.set(i, new Outbox(i, peerIdFromString(v), framesMax, bytesMax));
    });
    this.metrics = rpcMetrics(options.registry ?? new Registry());
  }

  /** The consensus stream protocol this instance speaks (epaxosProtocolFor(epoch)). */
  get protocol(): string {
    return this.#protocol;
  }

  /** Whether this instance serves /covey/submit/1.0.0 on its node now. */
  get servesSubmit(): boolean {
    return this.#running && submitServers.get(this.#o.node) === this;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#abort = new AbortController();
    const abort = this.#abort;
    this.#stopped = new Promise<void>((r) => abort.signal.addEventListener('abort', () => r(), { once: true }));
    const node = this.#o.node;
    try {
      await node.handle(this.#protocol, ({ stream, connection }) => {
        void this.#receive(stream, connection);
      }, { maxInboundStreams: epaxosInboundStreamsMax });
    } catch (err) {
      this.#running = false;
      abort.abort();
      throw new Error(`ConsensusRpc: cannot handle ${this.#protocol} (${(err as Error).message}); a node runs one instance per epoch`, { cause: err });
    }
    if (this.#o.serveSubmit ?? true) {
      try {
        await this.takeOverSubmit();
      } catch (err) {
        this.#running = false;
        abort.abort();
        await node.unhandle(this.#protocol).catch(() => {});
        throw err;
      }
    }
    node.addEventListener('peer:connect', this.#onConnect);
    node.addEventListener('peer:disconnect', this.#onDisconnect);
    for (const box of this.#outboxes.values()) box.loop = this.#writer(box);
  }

  /**
   * Serves /covey/submit/1.0.0 from this instance from now on, in place of whichever instance
   * served it on this node (the handler is replaced in one step, never missing in between). A
   * request already being answered by the previous one is still answered by it.
   */
  async takeOverSubmit(): Promise<void> {
    if (!this.#running) throw new Error('takeOverSubmit: the consensus RPC is stopped');
    const node = this.#o.node;
    await node.handle(submitProtocol, ({ stream, connection }) => {
      void this.#serveSubmit(stream, connection);
    }, { maxInboundStreams: submitInboundStreamsMax, force: true });
    submitServers.set(node, this);
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#abort.abort();
    const node = this.#o.node;
    node.removeEventListener('peer:connect', this.#onConnect);
    node.removeEventListener('peer:disconnect', this.#onDisconnect);
    const ownsSubmit = submitServers.get(node) === this;
    if (ownsSubmit) submitServers.delete(node);
    await node.unhandle(ownsSubmit ? [this.#protocol, submitProtocol] : this.#protocol).catch(() => {});
    for (const box of this.#outboxes.values()) {
      const dropped = box.frames.length + (box.pending.length > 0 ? 1 : 0);
      if (dropped > 0) this.metrics.sendFramesDropped.inc({ reason: 'stopped' }, dropped);
      box.clear();
      box.pending = [];
      box.stream?.abort(new Error('consensus RPC stopped'));
      box.notify();
    }
    for (const s of this.#inbound) s.abort(new Error('consensus RPC stopped'));
    this.#inbound.clear();
    await Promise.all([...this.#outboxes.values()].map((b) => b.loop));
  }

  /**
   * Queues messages for their voters; never blocks. Everything queued for one peer before the
   * next setImmediate leaves as one frame. A message to self is the caller's to deliver: skipped.
   */
  send(envelopes: readonly Envelope[]): void {
    if (!this.#running) return;
    for (const env of envelopes) {
      const box = this.#outboxes.get(env.to);
      if (box === undefined) {
        if (env.to !== this.#o.self) this.#o.logger.error({ to: env.to, n: this.#n }, 'send: destination is not a voter (bug in the caller)');
        continue;
      }
      box.pending.push(env.msg);
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** Voters other than self with an open connection now. */
  connectedVoters(): number[] {
    const out: number[] = [];
    for (const box of this.#outboxes.values()) {
      if (this.#o.node.getConnections(box.peerId).some((c) => c.status === 'open')) out.push(box.to);
    }
    return out.sort((a, b) => a - b);
  }

  /**
   * Forwards a client command to voter `to` and returns its result. Rejects with an Error naming
   * the voter and the cause on timeout (submitTimeoutMsDefault unless `signal` ends it first),
   * abort, an unreachable voter, a refusal by the voter, or a malformed reply.
   */
  async submit(to: number, command: Command, signal?: AbortSignal): Promise<CommandResult> {
    const box = this.#outboxes.get(to);
    if (!this.#running) throw new Error('submit: the consensus RPC is stopped');
    if (box === undefined) throw new Error(`submit: ${to} is not another voter (voters are 0..${this.#n - 1}, self is ${this.#o.self})`);
    const deadline = AbortSignal.timeout(submitTimeoutMsDefault);
    const all = AbortSignal.any(signal === undefined ? [deadline, this.#abort.signal] : [signal, deadline, this.#abort.signal]);
    const why = () => (signal?.aborted === true ? `aborted by the caller (${String(signal.reason)})`
      : deadline.aborted ? `no reply within ${submitTimeoutMsDefault} ms` : 'the consensus RPC stopped');
    if (all.aborted) throw new Error(`submit to voter ${to}: ${why()}`);
    let stream: Stream | null = null;
    const onAbort = () => stream?.abort(new Error(why()));
    all.addEventListener('abort', onAbort, { once: true });
    try {
      stream = await this.#o.node.dialProtocol(box.peerId, submitProtocol, { signal: all });
      const bytes = await pipe(
        [encodeSubmit(command)],
        (s) => lp.encode(s),
        stream,
        (s) => lp.decode(s, { maxDataLength: this.#frameBytesMax }),
        async (s) => {
          for await (const reply of s) return reply.subarray();
          return null;
        },
      );
      if (bytes === null) throw new Error('the voter closed the stream without a reply');
      const decoded = decodeSubmitReply(bytes, this.#frameBytesMax);
      if (!decoded.ok) throw new Error(`malformed reply (${decoded.reason})`);
      if ('error' in decoded.reply) throw new Error(`refused: ${decoded.reply.error}`);
      return decoded.reply.result;
    } catch (err) {
      const cause = all.aborted ? why() : (err as Error).message;
      throw new Error(`submit to voter ${to}: ${cause}`, { cause: err });
    } finally {
      all.removeEventListener('abort', onAbort);
      if (stream !== null) await stream.close().catch(() => stream?.abort(new Error('close failed')));
    }
  }

  // ---- sending ----------------------------------------------------------------------------------

  #flush(): void {
    this.#flushScheduled = false;
    if (!this.#running) return;
    for (const box of this.#outboxes.values()) {
      if (box.pending.length === 0) continue;
      const { frames, tooLarge } = encodeFrames(box.pending, this.#frameBytesMax);
      box.pending = [];
      if (tooLarge.length > 0) {
        this.metrics.sendFramesDropped.inc({ reason: 'too_large' }, tooLarge.length);
        this.#o.logger.error({ to: box.to, types: tooLarge.map((m) => m.type), frameBytesMax: this.#frameBytesMax },
          'a message alone exceeds the frame bound and cannot be sent (raise frameBytesMax or make smaller batches)');
      }
      let dropped = 0;
      const queuedAtMs = performance.now();
      for (const frame of frames) dropped += box.push({ ...frame, queuedAtMs });
      if (dropped > 0) this.metrics.sendFramesDropped.inc({ reason: 'queue_full' }, dropped);
      if (!box.backingOff) box.notify();
    }
  }

  /** One writer per peer: open a stream when there is something to send, write, reopen on failure. */
  async #writer(box: Outbox): Promise<void> {
    while (this.#running) {
      if (box.length === 0) {
        await box.wait();
        continue;
      }
      let stream: Stream;
      try {
        stream = await this.#o.node.dialProtocol(box.peerId, this.#protocol, {
          signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(streamOpenTimeoutMs)]),
        });
      } catch (err) {
        if (!this.#running) break;
        box.failures++;
        if (box.failures === 1 || box.failures % 20 === 0) {
          this.#o.logger.info({ to: box.to, failures: box.failures, err: (err as Error).message }, 'cannot open a consensus stream; retrying');
        }
        box.backingOff = true;
        await box.wait(redialDelayMs(box.failures, reopenDelayMsMin, reopenDelayMsMax, Math.random()));
        box.backingOff = false;
        continue;
      }
      box.failures = 0;
      box.stream = stream;
      try {
        // Raced with stop and with the peer's disconnection (writeFrames).
        const broke = await writeFrames(box, this.#frameSource(box), stream, this.#stopped);
        if (this.#running && broke) throw new Error('the peer disconnected');
        if (this.#running) await stream.close({ signal: AbortSignal.timeout(1000) });
      } catch (err) {
        if (this.#running) this.#o.logger.debug({ to: box.to, err: (err as Error).message }, 'consensus stream broke; reopening');
        stream.abort(err as Error);
      } finally {
        box.stream = null;
        box.broken = null;
      }
    }
  }

  /**
   * Yields what is queued when the sink asks (it has taken the last): every waiting frame, up to
   * writeBatchBytesMax, as one batch — one socket write for a turn's frames to this peer, or for
   * several turns' when the writer fell behind.
   */
  async *#frameSource(box: Outbox): AsyncGenerator<Uint8Array[]> {
    while (this.#running) {
      if (box.length === 0) {
        await box.wait();
        continue;
      }
      const batch: Uint8Array[] = [];
      let bytes = 0;
      const nowMs = performance.now();
      while (bytes < writeBatchBytesMax) {
        const frame = box.shift();
        if (frame === undefined) break;
        if (nowMs - frame.queuedAtMs > this.#frameStaleMs) {
          this.metrics.sendFramesDropped.inc({ reason: 'stale' });
          continue;
        }
        this.metrics.framesSent.inc();
        this.metrics.messagesSent.inc(frame.messages);
        batch.push(frame.bytes);
        bytes += frame.bytes.length;
      }
      if (batch.length > 0) yield batch;
    }
  }

  readonly #onConnect = (evt: CustomEvent<PeerId>): void => {
    const i = this.#voterIndex.get(evt.detail.toString());
    const box = i === undefined ? undefined : this.#outboxes.get(i);
    // Ends a reopen backoff early; a writer waiting for frames just checks and waits again.
    if (box !== undefined && box.stream === null) box.notify();
  };

  readonly #onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const i = this.#voterIndex.get(evt.detail.toString());
    if (i !== undefined) this.#outboxes.get(i)?.breakLink();
  };

  // ---- receiving -------------------------------------------------------------------------------

  async #receive(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    const from = this.#voterIndex.get(peer);
    if (!this.#running) {
      stream.abort(new Error('consensus RPC stopped'));
      return;
    }
    this.#inbound.add(stream);
    try {
      await stream.closeWrite(); // this side never writes on an inbound consensus stream
      for await (const chunk of lp.decode(stream.source, { maxDataLength: this.#frameBytesMax })) {
        if (!this.#running) break;
        if (from === undefined || from === this.#o.self) {
          this.#drop(peer, 'non_voter', `peer ${peer} is not another voter of epoch ${this.#epoch}`);
          continue;
        }
        const r = decodeFrame(chunk.subarray(), from, { n: this.#n, epoch: this.#epoch }, this.#frameBytesMax);
        if (!r.ok) {
          this.#drop(peer, r.kind, r.reason);
          continue;
        }
        this.metrics.framesReceived.inc();
        this.metrics.messagesReceived.inc(r.messages.length);
        for (const msg of r.messages) this.#deliver(from, msg);
      }
    } catch (err) {
      const framing = frameReadError(err);
      if (framing === 'oversized') {
        this.#drop(peer, 'oversized', `frame length exceeds ${this.#frameBytesMax} bytes; closing the stream`);
      } else if (framing === 'truncated') {
        this.#drop(peer, 'truncated', 'the stream ended inside a frame');
      } else if (this.#running) {
        this.#o.logger.debug({ peer, err: (err as Error).message }, 'inbound consensus stream ended with an error');
      }
      stream.abort(err as Error);
    } finally {
      this.#inbound.delete(stream);
    }
  }

  #deliver(from: number, msg: Message): void {
    try {
      this.#o.onMessage(from, msg);
    } catch (err) {
      // The core's driver failing on one message must not cut the stream to a voter.
      this.#o.logger.error({ from, type: msg.type, err: (err as Error).message }, 'onMessage threw');
    }
  }

  #drop(peer: string, reason: DropReason, detail: string): void {
    this.metrics.framesDropped.inc({ reason });
    this.#dropLog.warn(peer, reason, detail);
  }

  // ---- serving submissions --------------------------------------------------------------------

  async #serveSubmit(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    const timer = setTimeout(() => stream.abort(new Error('no submit request in time')), submitRequestReadTimeoutMs);
    try {
      let request: Uint8Array | null = null;
      for await (const chunk of lp.decode(stream.source, { maxDataLength: this.#frameBytesMax })) {
        request = chunk.subarray();
        break;
      }
      clearTimeout(timer);
      if (request === null) throw new Error('the stream ended without a request');
      const reply = await this.#answer(peer, request);
      await pipe([encodeSubmitReply(reply)], (s) => lp.encode(s), stream.sink);
      await stream.close({ signal: AbortSignal.timeout(1000) });
    } catch (err) {
      this.#o.logger.debug({ peer, err: (err as Error).message }, 'submit stream failed');
      stream.abort(err as Error);
    } finally {
      clearTimeout(timer);
    }
  }

  async #answer(peer: string, request: Uint8Array): Promise<SubmitReply> {
    const d = decodeSubmit(request, this.#frameBytesMax);
    if (!d.ok) {
      this.metrics.submitsServed.inc({ outcome: 'invalid' });
      this.#submitRefusals.warn(peer, d.kind, d.reason);
      return { error: `invalid command: ${d.reason}` };
    }
    if (this.#o.onSubmit === undefined) {
      this.metrics.submitsServed.inc({ outcome: 'error' });
      return { error: 'this agent does not serve submissions (it is not a voter)' };
    }
    try {
      const result = await this.#o.onSubmit(d.command, peer);
      this.metrics.submitsServed.inc({ outcome: 'ok' });
      return { result };
    } catch (err) {
      this.metrics.submitsServed.inc({ outcome: 'error' });
      return { error: (err as Error).message };
    }
  }
}
