// A TCP proxy that adds a one-way delay to every byte it carries, in both directions: the
// user-space stand-in for `tc qdisc … netem delay`, which this machine's kernel lacks. The
// benches put one in front of each member's peer listener (etcd's peer URL, a Covey voter's
// libp2p address), so every connection between two members crosses exactly one proxy and a
// round trip between them costs 2 × delay. Clients reach members directly.
//
// Bytes keep their order: each direction is a FIFO released by one timer at (arrival + delay).
// At delay 0 chunks are written as they arrive (the bench measures what the proxy itself costs).
//
// As a process: node bench/delay-proxy.ts --delay-ms 10 --route 127.0.0.1:4101=127.0.0.1:4001 …
// prints one JSON line {"ready":true,"routes":[…]} on stdout once every route listens.

import { createServer, connect, type Server, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

export interface Route {
  /** Where the proxy listens (host:port; port 0 picks a free one). */
  readonly listen: string;
  /** Where it forwards to (host:port). */
  readonly target: string;
}

export interface DelayProxy {
  /** The listen address of each route, in order (ports resolved). */
  readonly addresses: readonly string[];
  close(): Promise<void>;
}

/** Bytes a direction may hold back before it stops reading (back-pressure on the sender). */
const heldBytesMax = 8 * 1024 * 1024;

export async function startDelayProxy(routes: readonly Route[], delayMs: number): Promise<DelayProxy> {
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError(`delay must be a non-negative number of milliseconds, got ${delayMs}`);
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const addresses: string[] = [];
  for (const r of routes) {
    const [tHost, tPort] = splitHostPort(r.target);
    const server = createServer({ noDelay: true }, (inbound) => {
      const outbound = connect({ host: tHost, port: tPort, noDelay: true });
      for (const s of [inbound, outbound]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => { inbound.destroy(); outbound.destroy(); });
      }
      relay(inbound, outbound, delayMs);
      relay(outbound, inbound, delayMs);
    });
    const [lHost, lPort] = splitHostPort(r.listen);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(lPort, lHost, () => resolve());
    });
    const a = server.address();
    addresses.push(typeof a === 'object' && a !== null ? `${lHost}:${a.port}` : r.listen);
    servers.push(server);
  }
  return {
    addresses,
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

/** Copies `from` to `to`, each chunk released `delayMs` after it arrived, in order. */
function relay(from: Socket, to: Socket, delayMs: number): void {
  const held: { at: number; chunk: Buffer }[] = [];
  let heldBytes = 0;
  let timer: NodeJS.Timeout | null = null;
  let ended = false;
  const release = (): void => {
    timer = null;
    const now = performance.now();
    while (held.length > 0 && held[0].at <= now) {
      const { chunk } = held.shift()!;
      heldBytes -= chunk.length;
      to.write(chunk);
    }
    if (heldBytes < heldBytesMax && from.isPaused()) from.resume();
    if (held.length > 0) timer = setTimeout(release, Math.max(0, held[0].at - performance.now()));
    else if (ended) to.end();
  };
  from.on('data', (chunk: Buffer) => {
    if (delayMs === 0) {
      if (!to.write(chunk)) { from.pause(); to.once('drain', () => from.resume()); }
      return;
    }
    held.push({ at: performance.now() + delayMs, chunk });
    heldBytes += chunk.length;
    if (heldBytes >= heldBytesMax) from.pause();
    timer ??= setTimeout(release, delayMs);
  });
  from.on('end', () => {
    ended = true;
    if (held.length === 0) to.end();
  });
}

export function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  const port = Number(s.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`expected host:port, got "${s}"`);
  return [s.slice(0, i), port];
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { 'delay-ms': { type: 'string', default: '0' }, route: { type: 'string', multiple: true, default: [] } } });
  const routes = values.route.map((r): Route => {
    const [listen, target] = r.split('=');
    if (listen === undefined || target === undefined) throw new RangeError(`--route expects LISTEN=TARGET (host:port=host:port), got "${r}"`);
    return { listen, target };
  });
  const proxy = await startDelayProxy(routes, Number(values['delay-ms']));
  process.stdout.write(JSON.stringify({ ready: true, routes: proxy.addresses }) + '\n');
  const stop = (): void => { void proxy.close().then(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
