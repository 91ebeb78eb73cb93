// The client of the submit stream (frames.ts, server.ts): one connection to an agent carries any
// number of commands at once, each written as a small protobuf frame, many per socket write. What
// a program that talks to Covey a lot uses; `AgentClient` (HTTP and JSON) is for everything else.
//
//   const c = await StreamClient.connect('http://127.0.0.1:7070', { token });
//   await c.put('k', 'v'); await c.get('k'); await c.cas('k', 'v', 'w');
//
// Every command carries this client's id and a request id that only grows; a command retried under
// the same two ids (`submit(op, { clientId, requestId })`, at this agent or another) takes effect
// once. When the connection is lost, every command in flight fails with StreamClosedError: it may
// still take effect, so retry it under the same ids to learn its outcome.

import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { decodeSubmitReply, encodeSubmit } from '../../transports/wire/codec.ts';
import type { Command, CommandResult, Operation } from '../../consensus/index.ts';
import { encodeStreamFrame, FrameReader, FrameWriter, streamPath, streamProtocol } from './frames.ts';

/** The agent refused or failed the command; `kind` is the agent's error name (DeadlineError, UnavailableError, …). */
export class StreamCommandError extends Error {
  readonly kind: string;
  constructor(kind: string, message: string) {
    super(message);
    this.name = 'StreamCommandError';
    this.kind = kind;
  }
}

/** The connection ended with the command in flight: it may still take effect. */
export class StreamClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StreamClosedError';
  }
}

export interface StreamClientOptions {
  /** Bearer token, when the agent's HTTP API requires one. */
  readonly token?: string;
  /** This client's id in commands (default: a new random one per connection). */
  readonly clientId?: string;
  /** Give up connecting after this long. */
  readonly connectTimeoutMs?: number;
}

interface Waiter {
  resolve(r: CommandResult): void;
  reject(e: Error): void;
}

export class StreamClient {
  readonly clientId: string;
  private readonly socket: Socket;
  private readonly writer: FrameWriter;
  private readonly waiters = new Map<number, Waiter>();
  private nextFrameId = 1;
  private nextRequestId = 1;
  private closed: Error | null = null;

  private constructor(socket: Socket, clientId: string, head: Buffer) {
    this.socket = socket;
    this.clientId = clientId;
    socket.setNoDelay(true);
    this.writer = new FrameWriter((data) => { if (!socket.destroyed) socket.write(data); });
    const reader = new FrameReader();
    const onData = (chunk: Buffer): void => {
      let frames;
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.fail(new StreamClosedError(`the agent sent unframeable bytes (${(err as Error).message}); connection closed`));
        socket.destroy();
        return;
      }
      for (const f of frames) this.answer(f.requestId, f.body);
    };
    socket.on('data', onData);
    socket.on('error', (err) => this.fail(new StreamClosedError(`connection to the agent failed (${err.message}); commands in flight may still take effect — retry them under the same ids`)));
    socket.on('close', () => this.fail(new StreamClosedError('connection to the agent closed; commands in flight may still take effect — retry them under the same ids')));
    if (head.length > 0) onData(head);
  }

  /** Opens a submit stream to the agent whose HTTP API is at `baseUrl`. */
  static connect(baseUrl: string, o: StreamClientOptions = {}): Promise<StreamClient> {
    const u = new URL(baseUrl);
    const headers: Record<string, string> = { connection: 'Upgrade', upgrade: streamProtocol };
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    return new Promise((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, path: streamPath, method: 'GET', headers, timeout: o.connectTimeoutMs ?? 10_000 });
      req.on('upgrade', (_res, socket: Socket, head: Buffer) => {
        resolve(new StreamClient(socket, o.clientId ?? `stream-${randomBytes(6).toString('hex')}`, head));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let why = Buffer.concat(chunks).toString('utf8').trim();
          try { why = (JSON.parse(why) as { error?: string }).error ?? why; } catch { /* not JSON */ }
          reject(new Error(`the agent at ${baseUrl} refused the submit stream: ${res.statusCode} ${why}`));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${baseUrl} within the connect timeout`)));
      req.on('error', (err) => reject(new Error(`cannot reach the agent at ${baseUrl} (${(err as NodeJS.ErrnoException).code ?? err.message}); is it running?`)));
      req.end();
    });
  }

  /**
   * Submits one command. `ids` retries an earlier command (same client id and request id: it takes
   * effect once); without it the command gets this client's id and the next request id.
   */
  submit(op: Operation, ids: { clientId?: string; requestId?: number } = {}): Promise<CommandResult> {
    if (this.closed !== null) return Promise.reject(this.closed);
    const command = { clientId: ids.clientId ?? this.clientId, requestId: ids.requestId ?? this.nextRequestId++, timestampMs: 0, ...op } as Command;
    const frameId = this.nextFrameId;
    this.nextFrameId = this.nextFrameId === 0xffffffff ? 1 : this.nextFrameId + 1;
    return new Promise<CommandResult>((resolve, reject) => {
      this.waiters.set(frameId, { resolve, reject });
      this.writer.send(encodeStreamFrame(frameId, encodeSubmit(command)));
    });
  }

  async put(key: string, value: string): Promise<CommandResult> {
    return this.submit({ op: 'put', key, value });
  }

  async get(key: string): Promise<CommandResult> {
    return this.submit({ op: 'get', key });
  }

  async cas(key: string, expected: string | null, value: string | null): Promise<CommandResult> {
    return this.submit({ op: 'cas', key, expected, value });
  }

  async delete(key: string): Promise<CommandResult> {
    return this.submit({ op: 'delete', key });
  }

  /** Commands sent and not yet answered. */
  get inFlight(): number {
    return this.waiters.size;
  }

  close(): void {
    this.writer.flush();
    this.socket.end();
    this.fail(new StreamClosedError('the client closed the connection; commands in flight may still take effect'));
  }

  private answer(frameId: number, body: Uint8Array): void {
    const w = this.waiters.get(frameId);
    if (w === undefined) return; // an answer after the caller gave up on the connection
    this.waiters.delete(frameId);
    const d = decodeSubmitReply(body);
    if (!d.ok) { w.reject(new StreamCommandError('MalformedReply', `the agent's answer could not be read: ${d.reason}`)); return; }
    if ('result' in d.reply) { w.resolve(d.reply.result); return; }
    const m = /^(\w+): ([\s\S]*)$/.exec(d.reply.error);
    w.reject(m !== null ? new StreamCommandError(m[1], m[2]) : new StreamCommandError('Error', d.reply.error));
  }

  private fail(err: Error): void {
    if (this.closed === null) this.closed = err;
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
  }
}
