// For tests: the Foxglove protocol's own client (FoxgloveClient of @foxglove/ws-protocol over
// `ws`), connected to a bridge, recording what it is advertised and sent, with waits on them.

import { FoxgloveClient } from '@foxglove/ws-protocol';
import { WebSocket } from 'ws';

export interface Advertised { id: number; topic: string; encoding: string; schemaName: string; schema: string; schemaEncoding?: string }
export interface Received { subscriptionId: number; timestamp: bigint; data: DataView }

/** A connected FoxgloveClient that records advertisements and messages, with waits on them. */
export async function connectFoxglove(url: string) {
  const ws = new WebSocket(url, [FoxgloveClient.SUPPORTED_SUBPROTOCOL]);
  const client = new FoxgloveClient({ ws: ws as never });
  const channels = new Map<string, Advertised>();
  const removed: number[] = [];
  const messages: Received[] = [];
  const waiters = new Set<() => void>();
  const poke = (): void => { for (const w of [...waiters]) w(); };
  client.on('advertise', (cs) => { for (const c of cs as unknown as Advertised[]) channels.set(c.topic, c); poke(); });
  client.on('unadvertise', (ids) => { removed.push(...ids); poke(); });
  client.on('message', (m) => { messages.push(m as unknown as Received); poke(); });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  const until = <T>(what: string, get: () => T | undefined): Promise<T> => new Promise((resolve, reject) => {
    const check = (): void => {
      const v = get();
      if (v === undefined) return;
      waiters.delete(check); clearTimeout(timer); resolve(v);
    };
    const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timed out waiting for ${what}`)); }, 5000);
    waiters.add(check);
    check();
  });
  return { ws, client, channels, removed, messages, until, close: (): void => client.close() };
}

