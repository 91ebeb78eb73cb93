// The agent's HTTP API: status, key-value and task operations, members, the roster and the voter
// set, plugins, devices, metrics, health. Every request body is validated (zod); a bad request gets
// a 4xx with a JSON `error` saying what was wrong, never a crash. The API listens on localhost by
// default; elsewhere a bearer token is required (the config enforces it).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Registry } from 'prom-client';
import { type CommandResult, type Operation, peerIdPattern } from '../consensus/index.ts';
import { joinTokenBytesMax } from './join-token.ts';
import type { Logger } from './log.ts';
import type { PluginStatus } from './plugins/host.ts';
import type { DeviceSpec } from '../devices/registry.ts';
import type { DeviceKind, DeviceStatus } from '../devices/types.ts';
import { parseKvListQuery, type KvEntry, type KvListQuery } from './kv-list.ts';
import { LiveHttpError, type LiveRoutes } from './live/http-routes.ts';
import { cookieToken, sameToken } from './live/ui-routes.ts';
import { reasonCharsMax, votersMax, type VotersRequest, type VotersView } from './voters-api.ts';

/** One configured device as `GET /devices` and `status().devices` list it. */
export interface DeviceInfo {
  readonly name: string;
  readonly kind: DeviceKind;
  readonly driver: DeviceSpec['driver'];
  /** `{ state: 'available' }`, or `{ state: 'unavailable', reason }` (failed to open, link lost, or still opening). */
  readonly status: DeviceStatus;
}

/** What the HTTP API needs from an agent. */
export interface AgentApi {
  status(): Record<string, unknown>;
  /** Linearizable: through consensus. Rejects with a DeadlineError-like message when no quorum answers. */
  submit(op: Operation, opts: SubmitOptions): Promise<CommandResult>;
  /** Stale local reads (voters only); says how stale they may be. */
  staleGet(key: string): StaleAnswer<string | null>;
  staleTasks(): StaleAnswer<unknown[]>;
  /** One page of the local keys under a prefix (voters only; agent/kv-list.ts). Optional so test doubles need not serve it. */
  staleList?(q: KvListQuery): StaleAnswer<KvEntry[]> & { readonly next: string | null };
  members(): unknown[];
  /** Recent membership events, oldest first. */
  memberEvents(): unknown[];
  /** The plugin host's view of every plugin: state, restarts, last error (agent/plugins/host.ts). */
  plugins(): PluginStatus[];
  /** The configured devices (config `devices:`), each with its kind, driver and status. */
  devices(): DeviceInfo[];
  readiness(): { ready: boolean; reason: string };
  /** The swarm roster as this agent holds it (agent/roster.ts): who is admitted, and why. */
  peers(): Record<string, unknown>;
  /** Admits or revokes a peer through consensus (voters only; docs/security.md). */
  changeRoster(op: 'peer.admit' | 'peer.revoke', peerId: string, opts: SubmitOptions): Promise<CommandResult>;
  /** The voter set of the current epoch as this agent holds it (agent/voters-api.ts). */
  voters(): VotersView;
  /**
   * Plans a change of the voter set (agent/voters-api.ts plannedVoters) and proposes it through
   * consensus (voters only; docs/reconfiguration.md). A plan refused before consensus is an HttpError 409.
   */
  changeVoters(req: VotersRequest, opts: SubmitOptions): Promise<CommandResult>;
  /** Admits the peer a join token names, when an admitted peer signed it (agent/join-token.ts). */
  redeemJoinToken(token: string): Promise<CommandResult>;
  readonly registry: Registry;
  /** Test-only fault injection (config `faultInjection: true`); undefined when off. */
  readonly faults?: { cut(peers: readonly string[]): Promise<void>; heal(): void };
}

export interface SubmitOptions {
  readonly clientId?: string;
  readonly requestId?: number;
  readonly timeoutMs?: number;
}

export interface StaleAnswer<T> {
  readonly value: T;
  readonly stale: true;
  /** How far behind the majority this answer may be: see `status` and docs/agent.md. */
  readonly staleness: Record<string, unknown>;
}

/** A request the client got wrong: 4xx with this message. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export const bodyBytesMax = 2 * 1024 * 1024;
/** The one unauthenticated body: a join token and its JSON. */
const joinBodyBytesMax = 4096;

const clientFields = {
  clientId: z.string().min(1).max(256).optional(),
  requestId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  timeoutMs: z.number().int().min(1).max(600_000).optional(),
};
const peerId = z.string().regex(peerIdPattern, { error: 'expected a libp2p peer id such as 12D3KooW… (`covey peers ls` on the device, or its agent.log, shows it)' });
const votersFields = { reason: z.string().min(1).max(reasonCharsMax).optional(), ...clientFields };
const bodies = {
  put: z.strictObject({ value: z.string(), ...clientFields }),
  cas: z.strictObject({ expected: z.string().nullable(), value: z.string().nullable(), ...clientFields }),
  del: z.strictObject({ ...clientFields }),
  create: z.strictObject({ taskId: z.string().min(1), spec: z.string().default(''), ...clientFields }),
  claim: z.strictObject({ worker: z.string().min(1), leaseMs: z.number().int().positive(), ...clientFields }),
  renew: z.strictObject({ worker: z.string().min(1), token: z.number().int().positive(), leaseMs: z.number().int().positive(), ...clientFields }),
  complete: z.strictObject({ worker: z.string().min(1), token: z.number().int().positive(), result: z.string().default(''), ...clientFields }),
  release: z.strictObject({ worker: z.string().min(1), token: z.number().int().positive(), ...clientFields }),
  cut: z.strictObject({ peers: z.array(z.string().min(1)).min(1) }),
  join: z.strictObject({ token: z.string().min(1).max(joinTokenBytesMax) }),
  peer: z.strictObject({ peerId, ...clientFields }),
  voters: z.discriminatedUnion('op', [
    z.strictObject({ op: z.literal('add'), peers: z.array(peerId).min(1).max(votersMax), ...votersFields }),
    z.strictObject({ op: z.literal('remove'), peers: z.array(peerId).min(1).max(votersMax), ...votersFields }),
    z.strictObject({ op: z.literal('replace'), out: peerId, in: peerId, ...votersFields }),
  ], { error: (issue) => (issue.code === 'invalid_union' ? 'expected "add", "remove" or "replace"' : undefined) }),
};

export interface HttpOptions {
  readonly token?: string;
  readonly logger: Logger;
  /** The live layer's routes: /events, /telemetry (agent/live/http-routes.ts). */
  readonly live?: LiveRoutes;
}

export function createHttpApi(api: AgentApi, o: HttpOptions): Server {
  const server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    handle(api, o, req, res).catch((err: unknown) => {
      if (req.destroyed && !res.headersSent && (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
        // The client went away mid-request: nobody to answer, nothing wrong here.
        o.logger.debug({ url: req.url }, 'HTTP client disconnected before its request was read');
        return;
      }
      const name = (err as Error).name;
      const status = err instanceof HttpError || err instanceof LiveHttpError ? err.status
        : name === 'InvalidCommandError' ? 400
        : name === 'DeadlineError' || name === 'UnavailableError' ? 503 : 500;
      if (status === 500) o.logger.error({ err, url: req.url }, 'HTTP handler failed');
      if (status === 401) {
        // A stranger's body is never read: answer and hang up rather than wait for it to arrive.
        res.setHeader('connection', 'close');
        res.once('finish', () => req.socket.destroy());
      }
      send(res, status, { error: (err as Error).message });
    });
  });
  // Receiving a request (headers and body, never the answer, which may wait up to timeoutMs) may
  // take this long: a body that drips in slower is answered 408 and its connection closed.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return server;
}

/** `/ready?commit=true` waits this long for its read to commit. */
export const commitProbeTimeoutMs = 2_000;
/** The key the probe reads (a read commits an instance like a write; it changes nothing). */
export const commitProbeKey = 'covey/ready-probe';

/**
 * The second probe, `/ready?commit=true`: what /ready reports is what this agent hears, and a
 * majority heard is not yet a majority that answers (voters cut from each other, a stalled
 * disk); a linearizable read through consensus is. It costs one consensus instance: poll it
 * every few seconds at most, and plain /ready as often as you like.
 */
async function commitProbe(api: AgentApi, r: { ready: boolean; reason: string }, res: ServerResponse): Promise<void> {
  const started = performance.now();
  try {
    await api.submit({ op: 'get', key: commitProbeKey }, { timeoutMs: commitProbeTimeoutMs });
    return send(res, 200, { ready: true, reason: `${r.reason}; a read through consensus committed in ${Math.round(performance.now() - started)} ms` });
  } catch (err) {
    return send(res, 503, { ready: false, reason: `${r.reason}, but a read through consensus did not commit within ${commitProbeTimeoutMs} ms (${(err as Error).message.split(';')[0]})` });
  }
}

async function handle(api: AgentApi, o: HttpOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://agent');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  // A join token is its own credential (signed by an admitted peer): a new device has no HTTP token.
  if (path === '/peers/join' && method === 'POST') {
    const b = await body(req, bodies.join, false, joinBodyBytesMax);
    return answer(res, await api.redeemJoinToken(b.token));
  }
  if (o.live?.beforeAuth(req, res, url, o.token) === true) return;
  if (o.token !== undefined && !authorized(req, o.token)) throw new HttpError(401, 'missing or wrong bearer token: send "Authorization: Bearer <http.token from the agent config>"');
  const stale = url.searchParams.get('stale');
  if (stale !== null && stale !== 'true' && stale !== 'false') throw new HttpError(400, `query "stale" must be true or false, got "${stale}"`);

  if (o.live?.handle(req, res, url) === true) return;
  if (path === '/health' && method === 'GET') return send(res, 200, { ok: true });
  if (path === '/ready' && method === 'GET') {
    const commit = url.searchParams.get('commit');
    if (commit !== null && commit !== 'true' && commit !== 'false') throw new HttpError(400, `query "commit" must be true or false, got "${commit}"`);
    const r = api.readiness();
    if (!r.ready || commit !== 'true') return send(res, r.ready ? 200 : 503, r);
    return commitProbe(api, r, res);
  }
  if (path === '/status' && method === 'GET') return send(res, 200, api.status());
  if (path === '/members' && method === 'GET') return send(res, 200, { members: api.members() });
  if (path === '/members/events' && method === 'GET') return send(res, 200, { events: api.memberEvents() });
  if (path === '/plugins') {
    if (method !== 'GET') throw methodNotAllowed(method, path, 'GET');
    return send(res, 200, { plugins: api.plugins() });
  }
  if (path === '/devices') {
    if (method !== 'GET') throw methodNotAllowed(method, path, 'GET');
    return send(res, 200, { devices: api.devices() });
  }
  if (path === '/metrics' && method === 'GET') {
    const text = await api.registry.metrics();
    res.writeHead(200, { 'content-type': api.registry.contentType });
    res.end(text);
    return;
  }

  if (path === '/kv') {
    if (method !== 'GET') throw methodNotAllowed(method, path, 'GET (writes go to /kv/KEY)');
    const q = parseKvListQuery(url.searchParams);
    if (typeof q === 'string') throw new HttpError(400, q);
    if (api.staleList === undefined) throw new HttpError(404, 'this API serves no key listings');
    return send(res, 200, api.staleList(q));
  }
  if (path.startsWith('/kv/')) {
    const key = decodeSegment(path.slice(4), 'key');
    switch (method) {
      case 'GET':
        if (stale === 'true') return send(res, 200, api.staleGet(key));
        return answer(res, await api.submit({ op: 'get', key }, submitOptions(url)));
      case 'PUT': {
        const b = await body(req, bodies.put);
        return answer(res, await api.submit({ op: 'put', key, value: b.value }, b));
      }
      case 'DELETE': {
        const b = await body(req, bodies.del, true);
        return answer(res, await api.submit({ op: 'delete', key }, b));
      }
      case 'POST': throw new HttpError(404, `POST /kv/KEY is not an operation; compare-and-swap is POST /cas/KEY`);
      default: throw methodNotAllowed(method, path, 'GET, PUT, DELETE');
    }
  }
  if (path.startsWith('/cas/')) {
    if (method !== 'POST') throw methodNotAllowed(method, path, 'POST');
    const key = decodeSegment(path.slice(5), 'key');
    const b = await body(req, bodies.cas);
    return answer(res, await api.submit({ op: 'cas', key, expected: b.expected, value: b.value }, b));
  }
  if (path === '/tasks') {
    if (method === 'GET') return send(res, 200, api.staleTasks());
    if (method === 'POST') {
      const b = await body(req, bodies.create);
      return answer(res, await api.submit({ op: 'task.create', taskId: b.taskId, spec: b.spec }, b));
    }
    throw methodNotAllowed(method, path, 'GET, POST');
  }
  const task = /^\/tasks\/([^/]+)(?:\/(claim|renew|complete|release))?$/.exec(path);
  if (task !== null) {
    const taskId = decodeSegment(task[1], 'task id');
    const action = task[2];
    if (action === undefined) {
      if (method !== 'GET') throw methodNotAllowed(method, path, 'GET');
      return answer(res, await api.submit({ op: 'task.get', taskId }, submitOptions(url)));
    }
    if (method !== 'POST') throw methodNotAllowed(method, path, 'POST');
    switch (action) {
      case 'claim': { const b = await body(req, bodies.claim); return answer(res, await api.submit({ op: 'task.claim', taskId, worker: b.worker, leaseMs: b.leaseMs }, b)); }
      case 'renew': { const b = await body(req, bodies.renew); return answer(res, await api.submit({ op: 'task.renew', taskId, worker: b.worker, token: b.token, leaseMs: b.leaseMs }, b)); }
      case 'complete': { const b = await body(req, bodies.complete); return answer(res, await api.submit({ op: 'task.complete', taskId, worker: b.worker, token: b.token, result: b.result }, b)); }
      default: { const b = await body(req, bodies.release); return answer(res, await api.submit({ op: 'task.release', taskId, worker: b.worker, token: b.token }, b)); }
    }
  }
  if (path === '/peers') {
    if (method !== 'GET') throw methodNotAllowed(method, path, 'GET');
    return send(res, 200, api.peers());
  }
  const peers = /^\/peers\/(admit|revoke)$/.exec(path);
  if (peers !== null) {
    if (method !== 'POST') throw methodNotAllowed(method, path, 'POST');
    const b = await body(req, bodies.peer);
    return answer(res, await api.changeRoster(peers[1] === 'admit' ? 'peer.admit' : 'peer.revoke', b.peerId, b));
  }
  if (path === '/voters') {
    if (method === 'GET') return send(res, 200, api.voters());
    if (method !== 'POST') throw methodNotAllowed(method, path, 'GET, POST');
    // Behind the token like the roster's changes; the dashboard's cookie only reads (authorized()).
    const b = await body(req, bodies.voters);
    const change: VotersRequest = b.op === 'replace' ? { op: b.op, out: b.out, in: b.in } : { op: b.op, peers: b.peers };
    return answer(res, await api.changeVoters(b.reason === undefined ? change : { ...change, reason: b.reason }, b));
  }
  if (path === '/debug/partition') {
    if (api.faults === undefined) throw new HttpError(404, 'fault injection is off; it is for tests only (config faultInjection: true)');
    if (method === 'POST') { await api.faults.cut((await body(req, bodies.cut)).peers); return send(res, 200, { ok: true }); }
    if (method === 'DELETE') { api.faults.heal(); return send(res, 200, { ok: true }); }
    throw methodNotAllowed(method, path, 'POST, DELETE');
  }
  throw new HttpError(404, `no such endpoint: ${method} ${path} (see docs/agent.md for the API)`);
}

function submitOptions(url: URL): SubmitOptions {
  const t = url.searchParams.get('timeoutMs');
  if (t === null) return {};
  const n = Number(t);
  if (!Number.isInteger(n) || n < 1 || n > 600_000) throw new HttpError(400, `query "timeoutMs" must be a whole number of milliseconds from 1 to 600000, got "${t}"`);
  return { timeoutMs: n };
}

/** A command's result: 200 when it took effect or read, 409 when the state machine refused it. */
function answer(res: ServerResponse, r: CommandResult): void {
  send(res, r.ok ? 200 : 409, r);
}

function send(res: ServerResponse, status: number, value: unknown): void {
  if (res.headersSent) { res.end(); return; }
  const text = JSON.stringify(value) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function methodNotAllowed(method: string, path: string, allowed: string): HttpError {
  return new HttpError(405, `${method} is not allowed on ${path}; use ${allowed}`);
}

function decodeSegment(s: string, what: string): string {
  let v: string;
  try {
    v = decodeURIComponent(s);
  } catch {
    throw new HttpError(400, `the ${what} in the path is not valid percent-encoding`);
  }
  if (v.length === 0) throw new HttpError(400, `the ${what} in the path is empty`);
  return v;
}

/** Refuses invalid UTF-8 instead of storing U+FFFD in its place. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

async function body<T extends z.ZodType>(req: IncomingMessage, schema: T, optional = false, bytesMax = bodyBytesMax): Promise<z.output<T>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > bytesMax) throw new HttpError(413, `request body over ${bytesMax} bytes`);
    chunks.push(chunk as Buffer);
  }
  let text: string;
  try {
    text = utf8.decode(Buffer.concat(chunks));
  } catch {
    throw new HttpError(400, 'the body is not valid UTF-8');
  }
  let raw: unknown;
  if (text.trim() === '') {
    if (!optional) throw new HttpError(400, 'missing JSON body');
    raw = {};
  } else {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new HttpError(400, 'the body is not valid JSON');
    }
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const field = first.path.length === 0 ? 'body' : first.path.join('.');
    const msg = first.code === 'unrecognized_keys' ? `unknown field(s) ${first.keys.join(', ')}` : first.message;
    throw new HttpError(400, `${field}: ${msg}`);
  }
  return parsed.data;
}

/** The bearer-token check of every route, for the submit stream's upgrade too: null when allowed. */
export function tokenProblem(req: IncomingMessage, token: string | undefined): string | null {
  if (token === undefined || authorized(req, token)) return null;
  return 'missing or wrong bearer token: send "Authorization: Bearer <http.token from the agent config>"';
}

function authorized(req: IncomingMessage, token: string): boolean {
  // The dashboard's cookie (agent/live/ui-routes.ts) may read, never write or open the submit
  // stream (an upgrade): no cross-site request can change state through it.
  if (req.method === 'GET' && req.headers.upgrade === undefined && sameToken(cookieToken(req), token)) return true;
  const h = req.headers.authorization;
  if (h === undefined || !h.startsWith('Bearer ')) return false;
  const a = Buffer.from(h.slice(7));
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
