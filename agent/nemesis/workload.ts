// The nemesis's clients and watchers, all in the harness process but each bound to one agent, as a
// client in that agent's namespace would be: a fault between agents never cuts a client from its
// own agent. Every operation goes into the history (../shared/HISTORY-FORMAT.md) and into a record
// of which agent served it, when, and how long it took, for the per-side figures.

import { randomBytes } from 'node:crypto';
import { AgentClient, AgentClientError } from '../client.ts';

export interface HistoryLine { process: number; type: 'invoke' | 'ok' | 'info'; f: string; key: string; value?: unknown; time: number }

/** One finished operation: which agent served it, when it began and ended (ms on the run's clock), whether it was acked. */
export interface OpRecord { agent: number; beginMs: number; endMs: number; ok: boolean; probe: boolean }

/** /ready answers of one agent over time: each change, with when it was seen. */
export interface ReadyChange { atMs: number; ready: boolean }

export class Recorder {
  readonly lines: HistoryLine[] = [];
  readonly ops: OpRecord[] = [];
  readonly #t0 = process.hrtime.bigint();
  readonly run = randomBytes(3).toString('hex');

  nowNs(): number {
    return Number(process.hrtime.bigint() - this.#t0);
  }

  nowMs(): number {
    return this.nowNs() / 1e6;
  }
}

interface Op { f: 'read' | 'write' | 'cas'; key: string; value: string; expected: string | null }

export interface ClientLoopOptions {
  readonly agent: number;
  readonly process: number;
  readonly client: AgentClient;
  readonly keys: number;
  readonly attemptMs: number;
  readonly rand: () => number;
  readonly lastSeen: Map<string, string | null>;
  readonly stop: () => boolean;
}

/** A closed loop of register operations at one agent until stop(); one attempt each (no failover). */
export async function clientLoop(rec: Recorder, o: ClientLoopOptions): Promise<void> {
  let requestId = 0;
  while (!o.stop()) {
    requestId++;
    const key = `k${Math.floor(o.rand() * o.keys)}`;
    const r = o.rand();
    const f = r < 0.5 ? 'read' : r < 0.8 ? 'write' : 'cas';
    const op: Op = { f, key, value: `v-${o.process}-${requestId}`, expected: f === 'cas' ? o.lastSeen.get(key) ?? null : null };
    const result = await attempt(rec, o.client, o.process, o.agent, op, { clientId: `nem-${rec.run}-${o.process}`, requestId, timeoutMs: o.attemptMs }, false);
    if (result.ok) {
      if (f === 'read') o.lastSeen.set(key, result.value as string | null);
      else if (f === 'write' || result.value === true) o.lastSeen.set(key, op.value);
    } else {
      await sleep(100); // refused or timed out: the agent is on the wrong side of a cut
    }
  }
}

/** Writes at agent `agent` every 100 ms until one is acked; resolves with when it was (ms on the run's clock). */
export async function probeWrite(rec: Recorder, client: AgentClient, process: number, agent: number, attemptMs: number, give: () => boolean): Promise<number | null> {
  for (let n = 1; !give(); n++) {
    const op: Op = { f: 'write', key: `probe-${agent}`, value: `p-${process}-${n}`, expected: null };
    const r = await attempt(rec, client, process, agent, op, { clientId: `nem-${rec.run}-${process}`, requestId: n, timeoutMs: attemptMs }, true);
    if (r.ok) return r.endMs;
    await sleep(100);
  }
  return null;
}

async function attempt(rec: Recorder, c: AgentClient, p: number, agent: number, op: Op, ids: { clientId: string; requestId: number; timeoutMs: number }, probe: boolean): Promise<{ ok: boolean; value?: unknown; endMs: number }> {
  const invokeValue = op.f === 'write' ? op.value : op.f === 'cas' ? [op.expected, op.value] : undefined;
  const begin = rec.nowNs();
  rec.lines.push({ process: p, type: 'invoke', f: op.f, key: op.key, ...(invokeValue === undefined ? {} : { value: invokeValue }), time: begin });
  let value: unknown;
  let ok = false;
  try {
    const signal = AbortSignal.timeout(ids.timeoutMs + 1000);
    let res: Record<string, unknown>;
    if (op.f === 'read') res = await c.request('GET', `/kv/${op.key}?timeoutMs=${ids.timeoutMs}`, undefined, signal) as Record<string, unknown>;
    else if (op.f === 'write') res = await c.put(op.key, op.value, ids, signal) as Record<string, unknown>;
    else res = await c.cas(op.key, op.expected, op.value, ids, signal) as Record<string, unknown>;
    if (res.ok === true) {
      ok = true;
      value = op.f === 'read' ? res.value ?? null : op.f === 'cas' ? res.swapped === true : undefined;
    }
  } catch (err) {
    if (!(err instanceof AgentClientError) && (err as Error).name !== 'TimeoutError' && (err as Error).name !== 'AbortError') throw err;
  }
  const end = rec.nowNs();
  // Not acked: it may still take effect (a 503 after a timeout, a cut mid-flight), so never "fail".
  rec.lines.push(ok
    ? { process: p, type: 'ok', f: op.f, key: op.key, ...(value === undefined ? {} : { value }), time: end }
    : { process: p, type: 'info', f: op.f, key: op.key, time: end });
  rec.ops.push({ agent, beginMs: begin / 1e6, endMs: end / 1e6, ok, probe });
  return { ok, value, endMs: end / 1e6 };
}

/** Polls agent's /ready every `everyMs` until stop(), recording each change. */
export async function watchReady(rec: Recorder, client: AgentClient, changes: ReadyChange[], everyMs: number, stop: () => boolean): Promise<void> {
  let last: boolean | null = null;
  while (!stop()) {
    const at = rec.nowMs();
    let ready: boolean;
    try {
      await client.request('GET', '/ready', undefined, AbortSignal.timeout(1000));
      ready = true;
    } catch {
      ready = false; // 503, or no answer within 1 s: either way not ready to serve
    }
    if (ready !== last) changes.push({ atMs: at, ready });
    last = ready;
    await sleep(Math.max(0, everyMs - (rec.nowMs() - at)));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
