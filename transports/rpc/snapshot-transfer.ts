// State transfer between voters: /covey/snapshot/1.0.0. A voter whose peer has truncated
// instances it never applied, or that lags a peer by catchUpBySnapshotIds instances or more (a
// long partition), is sent a snapshot (consensus/core: Ready.snapshots). Snapshots are
// large and rare, so they travel on their own short-lived stream, not in the consensus frames:
// one length-prefixed frame holding the snapshot as UTF-8 JSON (the machine state is plain JSON
// data), bounded by snapshotBytesMax. The receiver maps the authenticated remote peer to its voter
// index (a non-voter's stream is refused) and hands the parsed object to the core, which validates
// it (validateSnapshotMessage) before installing it.
//
// One instance per epoch's consensus group (docs/reconfiguration.md rule 2), like ConsensusRpc:
// epoch 0 keeps /covey/snapshot/1.0.0, epoch E >= 1 speaks /covey/snapshot/1.0.0/epoch/E
// (snapshotProtocolFor), so `from` is an index of that epoch's voter list and a snapshot reaches
// that epoch's core only. Instances on one registry share their counters.
//
// Sending is best effort and never queues: at most one transfer per peer is in flight, and a
// newer snapshot for a peer replaces one not yet started. The core sends again if the peer still
// lags (its watermark shows it), so a lost transfer only delays the catch-up.

import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import * as lp from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import { Registry, type Counter } from 'prom-client';
import type { Logger } from 'pino';
import type { SnapshotMessage } from '../../consensus/index.ts';
import { DropLog } from '../drop-log.ts';
import { assertEpoch } from './consensus-rpc.ts';
import { counterIn } from './metrics.ts';

export const snapshotProtocol = '/covey/snapshot/1.0.0';

/** The snapshot protocol of epoch `epoch`'s group: snapshotProtocol for 0, `…/epoch/E` for E >= 1. */
export function snapshotProtocolFor(epoch: number): string {
  assertEpoch(epoch, 'snapshotProtocolFor');
  return epoch === 0 ? snapshotProtocol : `${snapshotProtocol}/epoch/${epoch}`;
}
/** Largest snapshot accepted or sent (bytes of JSON). */
export const snapshotBytesMaxDefault = 256 * 1024 * 1024;
const transferTimeoutMs = 60_000;
/** At most one warning per peer this often for refused transfers; the rest are counted in it. */
const refusalLogIntervalMs = 10_000;

export interface SnapshotTransferOptions {
  readonly node: Libp2p;
  /** Peer ids as strings; index = ReplicaId. */
  readonly voters: readonly string[];
  readonly self: number | null;
  readonly logger: Logger;
  /** The epoch of the consensus group (default 0): picks the protocol (snapshotProtocolFor). */
  readonly epoch?: number;
  readonly registry?: Registry;
  /** A snapshot from voter `from`, parsed but not validated: the core validates it. */
  onSnapshot(from: number, raw: unknown): void;
  readonly snapshotBytesMax?: number;
}

export class SnapshotTransfer {
  readonly #o: SnapshotTransferOptions;
  readonly #index = new Map<string, number>();
  readonly #peers: PeerId[];
  readonly #bytesMax: number;
  readonly #protocol: string;
  readonly #inFlight = new Set<number>();
  readonly #next = new Map<number, SnapshotMessage>();
  readonly #abort = new AbortController();
  readonly #sent: Counter<'outcome'>;
  readonly #received: Counter<'outcome'>;
  readonly #refusals: DropLog;
  #running = false;

  constructor(o: SnapshotTransferOptions) {
    this.#o = o;
    this.#bytesMax = o.snapshotBytesMax ?? snapshotBytesMaxDefault;
    this.#protocol = snapshotProtocolFor(o.epoch ?? 0);
    this.#refusals = new DropLog(o.logger, 'dropped a snapshot transfer', refusalLogIntervalMs);
    this.#peers = o.voters.map((id) => peerIdFromString(id));
    o.voters.forEach((id, i) => this.#index.set(id, i));
    const registry = o.registry ?? new Registry();
    this.#sent = counterIn(registry, 'covey_snapshots_sent_total', 'State-transfer snapshots sent, by outcome', ['outcome']);
    this.#received = counterIn(registry, 'covey_snapshots_received_total', 'State-transfer snapshots received, by outcome', ['outcome']);
  }

  /** The snapshot protocol this instance speaks (snapshotProtocolFor(epoch)). */
  get protocol(): string {
    return this.#protocol;
  }

  async start(): Promise<void> {
    await this.#o.node.handle(this.#protocol, ({ stream, connection }) => { void this.#receive(stream, connection); }, { maxInboundStreams: 2 });
    this.#running = true;
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#abort.abort(new Error('stopped'));
    await this.#o.node.unhandle(this.#protocol).catch(() => {});
  }

  /** Sends `msg` to voter `to` when nothing is in flight to it; otherwise keeps only the newest. */
  send(to: number, msg: SnapshotMessage): void {
    if (!this.#running || to === this.#o.self || to < 0 || to >= this.#peers.length) return;
    if (this.#inFlight.has(to)) { this.#next.set(to, msg); return; }
    this.#inFlight.add(to);
    void this.#transfer(to, msg);
  }

  async #transfer(to: number, first: SnapshotMessage): Promise<void> {
    let msg: SnapshotMessage | undefined = first;
    while (msg !== undefined && this.#running) {
      const bytes = new TextEncoder().encode(JSON.stringify(msg));
      if (bytes.length > this.#bytesMax) {
        this.#sent.inc({ outcome: 'too_large' });
        this.#o.logger.error({ to, bytes: bytes.length, snapshotBytesMax: this.#bytesMax }, 'a snapshot exceeds the transfer bound; the peer cannot catch up this way');
      } else {
        let stream: Stream | null = null;
        try {
          const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(transferTimeoutMs)]);
          stream = await this.#o.node.dialProtocol(this.#peers[to], this.#protocol, { signal });
          await pipe([bytes], (s) => lp.encode(s), stream.sink);
          await stream.close({ signal });
          this.#sent.inc({ outcome: 'ok' });
          this.#o.logger.info({ to, bytes: bytes.length, applied: msg.applied }, 'sent a state-transfer snapshot');
        } catch (err) {
          this.#sent.inc({ outcome: 'error' });
          this.#o.logger.warn({ to, err: (err as Error).message }, 'snapshot transfer failed; the core sends again while the peer lags');
          stream?.abort(err as Error);
        }
      }
      msg = this.#next.get(to);
      this.#next.delete(to);
    }
    this.#inFlight.delete(to);
  }

  async #receive(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    const from = this.#index.get(peer);
    if (from === undefined || from === this.#o.self) {
      this.#received.inc({ outcome: 'non_voter' });
      this.#refusals.warn(peer, 'non_voter', 'refused a snapshot from a peer that is not another voter');
      stream.abort(new Error('not a voter'));
      return;
    }
    const timer = setTimeout(() => stream.abort(new Error('snapshot transfer took too long')), transferTimeoutMs);
    try {
      let bytes: Uint8Array | null = null;
      for await (const chunk of lp.decode(stream.source, { maxDataLength: this.#bytesMax })) {
        bytes = chunk.subarray();
        break;
      }
      if (bytes === null) throw new Error('the stream ended without a snapshot');
      let raw: unknown;
      try {
        raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      } catch (err) {
        throw new Error(`not a JSON snapshot (${(err as Error).message})`);
      }
      this.#received.inc({ outcome: 'ok' });
      this.#o.onSnapshot(from, raw);
      await stream.close({ signal: AbortSignal.timeout(1000) }).catch(() => {});
    } catch (err) {
      this.#received.inc({ outcome: 'invalid' });
      this.#refusals.warn(peer, 'invalid', (err as Error).message);
      stream.abort(err as Error);
    } finally {
      clearTimeout(timer);
    }
  }
}
