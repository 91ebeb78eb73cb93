// The agent's side of the submit stream (frames.ts): an HTTP/1.1 upgrade on the API's own port,
// with the API's token rules, after which commands arrive pipelined as protobuf frames and their
// results go back as they execute. It exists because a JSON request per command costs more CPU
// than consensus itself does (docs/benchmarks.md); the HTTP API stays for everything else.
//
// Every frame is decoded and validated as a forwarded command is (transports/wire decodeSubmit);
// a bad one gets an error reply naming the problem and the connection stays up. A frame over the
// size bound, or bytes that cannot be framed, close the connection. The command's timestamp is
// the agent's clock, never the client's (leases are computed from it).

import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { decodeSubmit, encodeSubmitReply, type SubmitReply } from '../../transports/wire/codec.ts';
import type { Command, CommandResult } from '../../consensus/index.ts';
import type { Logger } from '../log.ts';
import { DropLog } from '../../transports/drop-log.ts';
import { encodeStreamFrame, FrameReader, FrameWriter, frameBytesMax, inFlightMax, streamPath, streamProtocol } from './frames.ts';

export interface StreamServerOptions {
  /** Runs a command through consensus (or forwards it) and resolves with its result. */
  submit(command: Command): Promise<CommandResult>;
  /** Checks the upgrade request's credentials; null when allowed, else the reason. */
  authorize(req: IncomingMessage): string | null;
  readonly logger: Logger;
  /** Called per command with its outcome, for metrics. */
  onCommand?(op: string, outcome: 'ok' | 'refused' | 'error', seconds: number): void;
}

export interface StreamServer {
  /** Hangs up every submit stream: upgraded sockets are not the HTTP server's to close. */
  closeAll(): void;
}

/** Handles upgrades to the submit stream on `server`; any other upgrade is refused with 404. */
export function attachStreamServer(server: Server, o: StreamServerOptions): StreamServer {
  const open = new Set<Duplex>();
  // One warning per client address per interval: a client sending garbage must not flood the log.
  const unframeable = new DropLog(o.logger, 'submit stream: unframeable bytes; closed the connection', unframeableLogIntervalMs);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refuse = (status: number, reason: string): void => {
      const body = JSON.stringify({ error: reason }) + '\n';
      socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 404 ? 'Not Found' : 'Bad Request'}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    };
    const path = new URL(req.url ?? '/', 'http://agent').pathname;
    if (path !== streamPath || req.headers.upgrade?.toLowerCase() !== streamProtocol) {
      refuse(404, `no such upgrade: ${req.headers.upgrade ?? '(none)'} on ${path}; the submit stream is Upgrade: ${streamProtocol} on ${streamPath}`);
      return;
    }
    const denied = o.authorize(req);
    if (denied !== null) { refuse(401, denied); return; }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: ${streamProtocol}\r\nconnection: Upgrade\r\n\r\n`);
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    serve(socket, head, o, (detail) => unframeable.warn(req.socket.remoteAddress ?? 'unknown', 'unframeable', detail));
  });
  return { closeAll: () => { for (const s of open) s.destroy(); open.clear(); } };
}

/** At most one warning per client address this often for unframeable bytes. */
const unframeableLogIntervalMs = 10_000;

function serve(socket: Duplex, head: Buffer, o: StreamServerOptions, onUnframeable: (detail: string) => void): void {
  (socket as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  const reader = new FrameReader();
  const writer = new FrameWriter((data) => { if (!socket.destroyed) socket.write(data); });
  let inFlight = 0;
  const reply = (requestId: number, r: SubmitReply): void => {
    writer.send(encodeStreamFrame(requestId, encodeSubmitReply(r)));
  };
  const onData = (chunk: Buffer): void => {
    let frames;
    try {
      frames = reader.push(chunk);
    } catch (err) {
      onUnframeable((err as Error).message);
      socket.destroy();
      return;
    }
    for (const f of frames) handle(f.requestId, f.body);
  };
  const handle = (requestId: number, body: Uint8Array): void => {
    const d = decodeSubmit(body, frameBytesMax);
    if (!d.ok) { reply(requestId, { error: `InvalidCommand: ${d.reason}` }); return; }
    if (inFlight >= inFlightMax) { reply(requestId, { error: `Overloaded: ${inFlightMax} requests already in flight on this connection; wait for answers` }); return; }
    inFlight++;
    const started = performance.now();
    const command = { ...d.command, timestampMs: Date.now() } as Command;
    o.submit(command).then(
      (result) => {
        inFlight--;
        o.onCommand?.(command.op, result.ok ? 'ok' : 'refused', (performance.now() - started) / 1000);
        reply(requestId, { result });
      },
      (err: unknown) => {
        inFlight--;
        o.onCommand?.(command.op, 'error', (performance.now() - started) / 1000);
        reply(requestId, { error: `${(err as Error).name}: ${(err as Error).message}` });
      },
    );
  };
  socket.on('data', onData);
  // The client hung up its side: nothing more will arrive, and answers have nowhere to go.
  socket.on('end', () => { writer.flush(); socket.end(); });
  socket.on('error', (err) => o.logger.debug({ err: err.message }, 'submit stream connection error'));
  if (head.length > 0) onData(head);
}
