// The clients of bench:vs-etcd behind one interface: etcd through the npm `etcd3` client (gRPC:
// one HTTP/2 connection per member, requests multiplexed), Covey through its submit stream (one
// connection per member, requests pipelined; agent/stream) or, with --covey-client http, its
// HTTP API with keep-alive connections. Each bench client talks to one member; reads are
// linearizable on both sides (etcd's default ReadIndex read; Covey's read is a command through
// consensus).

import { Agent as HttpAgent, request } from 'node:http';
import { Etcd3 } from 'etcd3';
import { StreamClient } from '../agent/stream/client.ts';
import type { CommandResult } from '../consensus/index.ts';

export interface KvClient {
  put(key: string, value: string): Promise<void>;
  get(key: string): Promise<string | null>;
  /** Swaps when the key holds `expected` (null: the key is absent); true when it swapped. */
  cas(key: string, expected: string | null, value: string): Promise<boolean>;
  close(): Promise<void>;
}

export function etcdClient(url: string): KvClient {
  const etcd = new Etcd3({ hosts: [url] });
  return {
    put: async (key, value) => { await etcd.put(key).value(value).exec(); },
    get: (key) => etcd.get(key).string(),
    cas: async (key, expected, value) => {
      const guard = expected === null ? etcd.if(key, 'Create', '==', 0) : etcd.if(key, 'Value', '==', expected);
      const r = await guard.then(etcd.put(key).value(value)).commit();
      return r.succeeded;
    },
    close: async () => { etcd.close(); },
  };
}

/** Covey's HTTP API over keep-alive connections (one per concurrent request, reused). */
export function coveyClient(baseUrl: string, maxSockets: number): KvClient {
  const u = new URL(baseUrl);
  const agent = new HttpAgent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  const call = (method: string, path: string, body?: string): Promise<Record<string, unknown>> => new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (body !== undefined) { headers['content-type'] = 'application/json'; headers['content-length'] = Buffer.byteLength(body); }
    const req = request({ host: u.hostname, port: u.port, method, path, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200 && res.statusCode !== 409) { reject(new Error(`${method} ${path}: ${res.statusCode} ${text.trim()}`)); return; }
        resolve(JSON.parse(text) as Record<string, unknown>);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
  const ok = (r: Record<string, unknown>, what: string): Record<string, unknown> => {
    if (r.ok !== true) throw new Error(`${what}: ${JSON.stringify(r)}`);
    return r;
  };
  return {
    put: async (key, value) => { ok(await call('PUT', `/kv/${encodeURIComponent(key)}`, JSON.stringify({ value })), 'put'); },
    get: async (key) => (ok(await call('GET', `/kv/${encodeURIComponent(key)}`), 'get').value as string | null) ?? null,
    cas: async (key, expected, value) => ok(await call('POST', `/cas/${encodeURIComponent(key)}`, JSON.stringify({ expected, value })), 'cas').swapped === true,
    close: async () => { agent.destroy(); },
  };
}

/** Covey's submit stream: one connection, every request pipelined on it. */
export async function coveyStreamClient(baseUrl: string): Promise<KvClient> {
  const c = await StreamClient.connect(baseUrl);
  const ok = (r: CommandResult, what: string): CommandResult & { ok: true } => {
    if (!r.ok) throw new Error(`${what}: ${r.error}`);
    return r;
  };
  return {
    put: async (key, value) => { ok(await c.put(key, value), 'put'); },
    get: async (key) => ok(await c.get(key), 'get').value ?? null,
    cas: async (key, expected, value) => ok(await c.cas(key, expected, value), 'cas').swapped === true,
    close: async () => { c.close(); },
  };
}
