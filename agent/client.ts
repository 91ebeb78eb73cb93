// A small client for an agent's HTTP API, used by the CLI's client commands, `covey swarm` and
// the tests. It reports an unreachable agent and an API error in words a user can act on.

import type { CommandResult } from '../consensus/index.ts';
import type { PluginStatus } from './plugins/host.ts';
import { readSse, type SseMessage } from './live/sse-reader.ts';
import type { VotersRequest, VotersView } from './voters-api.ts';

export class AgentClientError extends Error {
  /** HTTP status, or 0 when the agent could not be reached at all. */
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, message: string, body: unknown = null) {
    super(message);
    this.name = 'AgentClientError';
    this.status = status;
    this.body = body;
  }
}

export interface ClientIds {
  readonly clientId?: string;
  readonly requestId?: number;
  readonly timeoutMs?: number;
}

export class AgentClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;

  constructor(baseUrl: string, token?: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.token = token;
  }

  /** Any request; resolves with the parsed JSON body for 2xx and for 409 (a refused command). */
  async request(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new AgentClientError(0, `cannot reach the agent at ${this.baseUrl} (${cause}); is it running? start one with \`covey agent --config FILE\` or point --agent at it`);
    }
    const text = await res.text();
    let parsed: unknown = text;
    try { parsed = JSON.parse(text); } catch { /* metrics are text */ }
    if (res.ok || res.status === 409) return parsed;
    const msg = typeof parsed === 'object' && parsed !== null && 'error' in parsed ? String((parsed as { error: unknown }).error) : text.trim();
    throw new AgentClientError(res.status, `${method} ${path}: ${res.status} ${msg}`, parsed);
  }

  /**
   * The agent's live events (GET /events, Server-Sent Events) that pass the query (kinds, prefix,
   * topic), as they come; ends when the agent closes the stream or the signal aborts.
   */
  async *events(query: Record<string, string>, signal?: AbortSignal): AsyncGenerator<SseMessage> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    const path = `/events?${new URLSearchParams(query)}`;
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, { headers, signal });
    } catch (err) {
      if (signal?.aborted === true) return;
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new AgentClientError(0, `cannot reach the agent at ${this.baseUrl} (${cause}); is it running? start one with \`covey agent --config FILE\` or point --agent at it`);
    }
    if (!res.ok || res.body === null) {
      const text = await res.text();
      let msg = text.trim();
      try { msg = String((JSON.parse(text) as { error?: unknown }).error ?? msg); } catch { /* not JSON */ }
      throw new AgentClientError(res.status, `GET ${path}: ${res.status} ${res.status === 404 ? 'this agent has no live events (an older version?)' : msg}`);
    }
    try {
      yield* readSse(res.body);
    } catch (err) {
      if (signal?.aborted === true) return;
      throw err;
    }
  }

  /** Every telemetry topic the agent tracks (GET /telemetry), or one with its recent history (?topic=). */
  telemetry(topic?: string): Promise<Record<string, unknown>> {
    return this.request('GET', topic === undefined ? '/telemetry' : `/telemetry?topic=${encodeURIComponent(topic)}`) as Promise<Record<string, unknown>>;
  }

  status(): Promise<Record<string, unknown>> {
    return this.request('GET', '/status') as Promise<Record<string, unknown>>;
  }

  /** The swarm roster as the agent holds it (GET /peers). */
  peers(): Promise<Record<string, unknown>> {
    return this.request('GET', '/peers') as Promise<Record<string, unknown>>;
  }

  /** Admits or revokes a peer through consensus; at a voter. */
  changeRoster(action: 'admit' | 'revoke', peerId: string): Promise<CommandResult> {
    return this.request('POST', `/peers/${action}`, { peerId }) as Promise<CommandResult>;
  }

  /** The voter set of the current epoch as the agent holds it (GET /voters). */
  voters(): Promise<VotersView> {
    return this.request('GET', '/voters') as Promise<VotersView>;
  }

  /** Asks for a change of the voter set, planned by the agent and proposed through consensus (POST /voters); at a voter. */
  changeVoters(req: VotersRequest, ids: ClientIds = {}): Promise<CommandResult> {
    return this.request('POST', '/voters', { ...req, ...ids }) as Promise<CommandResult>;
  }

  members(): Promise<{ members: Record<string, unknown>[] }> {
    return this.request('GET', '/members') as Promise<{ members: Record<string, unknown>[] }>;
  }

  /** Every plugin's status: name, version, source, state, restarts, last error (GET /plugins). */
  plugins(): Promise<{ plugins: PluginStatus[] }> {
    return this.request('GET', '/plugins') as Promise<{ plugins: PluginStatus[] }>;
  }

  get(key: string, o: { stale?: boolean; timeoutMs?: number } = {}): Promise<CommandResult | Record<string, unknown>> {
    const q = o.stale === true ? '?stale=true' : o.timeoutMs !== undefined ? `?timeoutMs=${o.timeoutMs}` : '';
    return this.request('GET', `/kv/${encodeURIComponent(key)}${q}`) as Promise<CommandResult>;
  }

  put(key: string, value: string, ids: ClientIds = {}, signal?: AbortSignal): Promise<CommandResult> {
    return this.request('PUT', `/kv/${encodeURIComponent(key)}`, { value, ...ids }, signal) as Promise<CommandResult>;
  }

  cas(key: string, expected: string | null, value: string | null, ids: ClientIds = {}, signal?: AbortSignal): Promise<CommandResult> {
    return this.request('POST', `/cas/${encodeURIComponent(key)}`, { expected, value, ...ids }, signal) as Promise<CommandResult>;
  }

  del(key: string, ids: ClientIds = {}): Promise<CommandResult> {
    return this.request('DELETE', `/kv/${encodeURIComponent(key)}`, { ...ids }) as Promise<CommandResult>;
  }

  /** One page of a voter's local keys under a prefix (GET /kv?prefix=); pass `next` back as `after` to read on. */
  kvList(q: { prefix?: string; after?: string | null; limit?: number } = {}): Promise<{ value: { key: string; value: string }[]; next: string | null; stale: true; staleness: Record<string, unknown> }> {
    const params = new URLSearchParams();
    if (q.prefix !== undefined && q.prefix !== '') params.set('prefix', q.prefix);
    if (q.after !== undefined && q.after !== null) params.set('after', q.after);
    if (q.limit !== undefined) params.set('limit', String(q.limit));
    const query = params.size === 0 ? '' : `?${params}`;
    return this.request('GET', `/kv${query}`) as Promise<{ value: { key: string; value: string }[]; next: string | null; stale: true; staleness: Record<string, unknown> }>;
  }

  /** One task, linearizable (GET /tasks/ID); `ok: false` when it does not exist. */
  getTask(taskId: string): Promise<CommandResult> {
    return this.request('GET', `/tasks/${encodeURIComponent(taskId)}`) as Promise<CommandResult>;
  }

  tasks(): Promise<{ value: Record<string, unknown>[] }> {
    return this.request('GET', '/tasks') as Promise<{ value: Record<string, unknown>[] }>;
  }

  task(action: 'create' | 'claim' | 'renew' | 'complete' | 'release', taskId: string, fields: Record<string, unknown>): Promise<CommandResult> {
    if (action === 'create') return this.request('POST', '/tasks', { taskId, ...fields }) as Promise<CommandResult>;
    return this.request('POST', `/tasks/${encodeURIComponent(taskId)}/${action}`, fields) as Promise<CommandResult>;
  }
}
