// `covey swarm bench`: a register workload against a real local swarm while voters are killed
// (SIGKILL) and restarted, with the history written in ../shared/HISTORY-FORMAT.md (time on the
// host's monotonic clock) and judged by the project's linearizability checker. It also counts
// acknowledged writes lost: after the run, each key is read; an acknowledged write that began
// after the write whose value the key ends with had completed was lost (something older won).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseHistory } from '../sim/history.ts';
import { checkLinearizable } from '../sim/check/linearizability.ts';
import { AgentClient, AgentClientError } from '../agent/client.ts';
import { createSwarm, startAgent, stopAgent, swarmDown, waitReady, isAlive, type Swarm } from '../agent/swarm.ts';

export interface BenchOptions {
  readonly voters: number;
  /** Agents in the swarm (voters first); clients spread over all of them. */
  readonly agents: number;
  readonly clients: number;
  readonly ops: number;
  readonly keys: number;
  /** Kill -9 one voter this often (0: never); it restarts `downMs` later. */
  readonly killEveryMs: number;
  readonly downMs: number;
  readonly history?: string;
  /** Keep the swarm directory (default: a temporary one, removed at the end). */
  readonly dir?: string;
  readonly seed?: number;
}

export interface BenchSummary {
  ops: number;
  acked: number;
  ackedWrites: number;
  failed: number;
  unknown: number;
  lost: number;
  linearizable: boolean;
  violations: string[];
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  kills: number;
  wallMs: number;
  voters: number;
  agents: number;
  clients: number;
}

/** One attempt at one agent may take this long; the operation retries elsewhere until its deadline. */
const attemptMs = 2000;
const opDeadlineMs = 20_000;

interface Line { process: number; type: string; f: string; key: string; value?: unknown; time: number }

export async function runSwarmBench(o: BenchOptions, progress?: (done: number, total: number, kills: number) => void): Promise<BenchSummary> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'covey-bench-'));
  const swarm = await createSwarm(dir, { agents: o.agents, voters: o.voters, name: 'bench', requestTimeoutMs: attemptMs });
  const t0 = process.hrtime.bigint();
  const now = (): number => Number(process.hrtime.bigint() - t0);
  const lines: Line[] = [];
  const latencies: number[] = [];
  const run = randomBytes(3).toString('hex');
  let rng = (o.seed ?? Date.now()) >>> 0 || 1;
  const rand = (): number => { rng ^= rng << 13; rng >>>= 0; rng ^= rng >>> 17; rng ^= rng << 5; rng >>>= 0; return rng / 2 ** 32; };
  let issued = 0;
  let done = 0;
  let kills = 0;
  const lastSeen = new Map<string, string | null>();
  const counts = { acked: 0, ackedWrites: 0, failed: 0, unknown: 0 };
  const started = Date.now();
  let workloadMs: number;
  try {
    for (const a of swarm.agents) startAgent(swarm, a.index);
    await waitReady(swarm, 60_000);
    const clients = swarm.agents.map((a) => new AgentClient(a.http));

    let stopKilling = false;
    const killer = (async () => {
      if (o.killEveryMs <= 0) return;
      while (!stopKilling) {
        await sleep(o.killEveryMs);
        if (stopKilling) break;
        const victim = Math.floor(rand() * o.voters);
        await stopAgent(swarm, victim, { hard: true });
        kills++;
        await sleep(o.downMs);
        startAgent(swarm, victim);
      }
    })();

    const clientLoop = async (p: number): Promise<void> => {
      let requestId = 0;
      for (;;) {
        if (issued >= o.ops) return;
        issued++;
        requestId++;
        const key = `k${Math.floor(rand() * o.keys)}`;
        const r = rand();
        const f = r < 0.5 ? 'read' : r < 0.8 ? 'write' : 'cas';
        const value = `v-${p}-${requestId}`;
        // A cas expects the value some client last saw on the key, so that many of them swap.
        const expected = f === 'cas' ? lastSeen.get(key) ?? null : null;
        const invokeValue = f === 'write' ? value : f === 'cas' ? [expected, value] : undefined;
        const begin = now();
        lines.push({ process: p, type: 'invoke', f, key, ...(invokeValue === undefined ? {} : { value: invokeValue }), time: begin });
        const ids = { clientId: `bench-${run}-${p}`, requestId, timeoutMs: attemptMs };
        const deadline = performance.now() + opDeadlineMs;
        let outcome: { type: 'ok'; value: unknown } | null = null;
        for (let attempt = 0; performance.now() < deadline; attempt++) {
          const c = clients[(p + attempt) % clients.length];
          try {
            const signal = AbortSignal.timeout(attemptMs + 500);
            let res: Record<string, unknown>;
            if (f === 'read') res = await c.request('GET', `/kv/${key}?timeoutMs=${attemptMs}`, undefined, signal) as Record<string, unknown>;
            else if (f === 'write') res = await c.put(key, value, ids, signal) as Record<string, unknown>;
            else res = await c.cas(key, expected, value, ids, signal) as Record<string, unknown>;
            if (res.ok === true) { outcome = { type: 'ok', value: f === 'read' ? res.value ?? null : f === 'cas' ? res.swapped === true : undefined }; break; }
            // ok:false is "overloaded" or the like: not applied this time, but an earlier attempt may have been.
          } catch (err) {
            if (!(err instanceof AgentClientError) && (err as Error).name !== 'TimeoutError' && (err as Error).name !== 'AbortError') throw err;
          }
          await sleep(Math.min(50 * (attempt + 1), 500));
        }
        const end = now();
        if (outcome !== null) {
          lines.push({ process: p, type: 'ok', f, key, ...(outcome.value === undefined ? {} : { value: outcome.value }), time: end });
          latencies.push((end - begin) / 1e6);
          counts.acked++;
          if (f === 'write' || (f === 'cas' && outcome.value === true)) counts.ackedWrites++;
          if (f === 'read') lastSeen.set(key, outcome.value as string | null);
          else if (f === 'write' || outcome.value === true) lastSeen.set(key, value);
        } else {
          // Every attempt may have reached a voter: the outcome is unknown, never "fail".
          lines.push({ process: p, type: 'info', f, key, time: end });
          counts.unknown++;
        }
        done++;
        progress?.(done, o.ops, kills);
      }
    };
    const workloadStart = performance.now();
    await Promise.all(Array.from({ length: o.clients }, (_, p) => clientLoop(p)));
    workloadMs = performance.now() - workloadStart;
    stopKilling = true;
    await killer;
    for (const a of swarm.agents) if (!isAlive(a.pid)) startAgent(swarm, a.index);
    await waitReady(swarm, 60_000);

    // Final reads, one process per key, so the checker sees where every key ended.
    const finals = new Map<string, string | null>();
    for (let k = 0; k < o.keys; k++) {
      const key = `k${k}`;
      const p = o.clients + k;
      lines.push({ process: p, type: 'invoke', f: 'read', key, time: now() });
      const res = await clients[k % clients.length].request('GET', `/kv/${key}?timeoutMs=10000`) as { ok: boolean; value?: string | null };
      if (res.ok !== true) throw new Error(`final read of ${key} failed: ${JSON.stringify(res)}`);
      finals.set(key, res.value ?? null);
      lines.push({ process: p, type: 'ok', f: 'read', key, value: res.value ?? null, time: now() });
    }
    const text = lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
    if (o.history !== undefined) writeFileSync(o.history, text);
    const lin = checkLinearizable(parseHistory(text));
    latencies.sort((a, b) => a - b);
    const wallMs = Date.now() - started;
    return {
      ops: done,
      ...counts,
      lost: countLost(lines, finals),
      linearizable: lin.linearizable,
      violations: lin.violations.map((v) => `${v.key}: ${v.reason}`),
      // Acknowledged operations per second while the clients ran (not counting start-up and checks).
      throughput: Math.round((counts.acked / workloadMs) * 1000),
      p50Ms: round(percentile(latencies, 0.5)),
      p99Ms: round(percentile(latencies, 0.99)),
      kills,
      wallMs,
      voters: o.voters,
      agents: o.agents,
      clients: o.clients,
    };
  } finally {
    await swarmDown(swarm.dir).catch(() => {});
    if (o.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Acknowledged writes that the final state contradicts: the key ends with the value of write F, yet
 * an acknowledged write W began after F had completed — so W should have replaced F (or been
 * replaced by something later than W, not by something earlier). Such a W was lost.
 */
export function countLost(lines: readonly Line[], finals: ReadonlyMap<string, string | null>): number {
  interface W { key: string; value: string; invoke: number; complete: number; acked: boolean }
  const open = new Map<number, W>();
  const writes: W[] = [];
  for (const l of lines) {
    if (l.type === 'invoke') {
      if (l.f === 'write') open.set(l.process, { key: l.key, value: l.value as string, invoke: l.time, complete: Infinity, acked: false });
      else if (l.f === 'cas') open.set(l.process, { key: l.key, value: (l.value as [unknown, string])[1], invoke: l.time, complete: Infinity, acked: false });
      continue;
    }
    const w = open.get(l.process);
    if (w === undefined) continue;
    open.delete(l.process);
    if (l.type === 'ok' && (l.f === 'write' || l.value === true)) { w.complete = l.time; w.acked = true; }
    if (l.type === 'ok' && l.f === 'cas' && l.value !== true) continue; // a cas that did not swap wrote nothing
    if (l.type !== 'fail') writes.push(w);
  }
  const byValue = new Map(writes.map((w) => [w.value, w]));
  let lost = 0;
  for (const w of writes) {
    if (!w.acked) continue;
    const fv = finals.get(w.key);
    if (fv === undefined) continue;
    const last = fv === null ? null : byValue.get(fv);
    // Ends absent, or with a value no write wrote, or with one that was over before W began.
    if (last === null || last === undefined || last.complete < w.invoke) lost++;
  }
  return lost;
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export type { Swarm };
