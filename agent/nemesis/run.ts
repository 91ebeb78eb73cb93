// The network nemesis: a real local swarm, each agent in its own network namespace (netns.ts),
// clients at every agent writing one history, and faults on the network one after another — a
// no-fault window before each fault (what that fault is compared with: the machine's load drifts
// over a long run), then the fault for `cutMs`, healed, and a pause to recover. The history is
// judged by the project's linearizability checker; after the final heal every voter must hold the
// same value for every key; and each fault is measured for how smoothly the swarm rode it
// (report.ts). Needs root; see netns.ts.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { parseHistory } from '../../sim/history.ts';
import { checkLinearizable } from '../../sim/check/linearizability.ts';
import { AgentClient } from '../client.ts';
import { agentEnv, agentNodeFlags } from '../node-flags.ts';
import { createSwarm, isAlive, saveSwarm, stopAgent, waitReady, type Swarm } from '../swarm.ts';
import { planFault, type FaultName, type FaultPlan } from './faults.ts';
import { NetLab } from './netns.ts';
import { faultReport, p50, type FaultReport, type Window } from './report.ts';
import { clientLoop, probeWrite, Recorder, sleep, watchReady, type ReadyChange } from './workload.ts';

export interface NemesisOptions {
  readonly voters: number;
  readonly clientsPerAgent: number;
  readonly keys: number;
  readonly faults: readonly FaultName[];
  /** How long each fault lasts. */
  readonly cutMs: number;
  /** The no-fault window before each fault that the fault is compared with. */
  readonly baselineMs: number;
  /** After each heal, before the next fault. */
  readonly recoverMs: number;
  /** One client attempt (and the agents' request timeout). */
  readonly attemptMs: number;
  readonly lossPercent?: number;
  readonly history?: string;
  /** Keep the swarm directory here (default: a temporary one, removed). */
  readonly dir?: string;
  readonly seed?: number;
  /** The agents' log level (default info; debug shows each state transfer with the lag that caused it). */
  readonly logLevel?: string;
  readonly progress?: (line: string) => void;
}

export interface NemesisSummary {
  voters: number;
  clients: number;
  ops: number;
  acked: number;
  unknown: number;
  linearizable: boolean;
  violations: string[];
  /** Keys on which the voters still disagreed after the final heal (empty: they agree). */
  disagreements: string[];
  /** Over all the no-fault windows. */
  baseline: { throughput: number; p50Ms: number };
  faults: FaultReport[];
  wallMs: number;
}

const httpPort = 8080;
const warmupMs = 3000;
const p2pPort = 4001;
const coveyCli = new URL('../cli/covey.mjs', import.meta.url).pathname;

export async function runNemesis(o: NemesisOptions): Promise<NemesisSummary> {
  const say = o.progress ?? (() => {});
  const started = Date.now();
  const lab = new NetLab(o.voters);
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'covey-nemesis-'));
  let swarm: Swarm | null = null;
  // Whatever happens — an error, Ctrl-C — the agents die and the namespaces go.
  const cleanup = (): void => {
    for (const a of swarm?.agents ?? []) if (isAlive(a.pid)) try { process.kill(a.pid!, 'SIGKILL'); } catch { /* gone */ }
    lab.destroy();
  };
  const onSignal = (sig: NodeJS.Signals): void => { cleanup(); process.exit(sig === 'SIGINT' ? 130 : 143); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', cleanup);
  try {
    lab.create();
    say(`lab: ${o.voters} namespaces on 10.213.${lab.subnet}.0/24`);
    const placed = await placeSwarm(lab, dir, o);
    swarm = placed.swarm;
    for (const a of swarm.agents) startInLab(lab, swarm, a.index);
    await waitReady(swarm, 60_000);
    say('swarm ready');
    return await drive(lab, swarm, placed.token, o, say, started);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', cleanup);
    if (swarm !== null) await Promise.all(swarm.agents.map((a) => stopAgent(swarm!, a.index, { graceMs: 3000 }).catch(() => {})));
    cleanup();
    if (o.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

async function drive(lab: NetLab, swarm: Swarm, token: string, o: NemesisOptions, say: (l: string) => void, started: number): Promise<NemesisSummary> {
  const rec = new Recorder();
  const clients = swarm.agents.map((a) => new AgentClient(a.http, token));
  let rng = (o.seed ?? Date.now()) >>> 0 || 1;
  const rand = (): number => { rng ^= rng << 13; rng >>>= 0; rng ^= rng >>> 17; rng ^= rng << 5; rng >>>= 0; return rng / 2 ** 32; };
  const lastSeen = new Map<string, string | null>();
  let stopping = false;
  const stop = (): boolean => stopping;
  const ready: ReadyChange[][] = swarm.agents.map(() => []);
  const watchers = clients.map((c, i) => watchReady(rec, c, ready[i], 100, stop));
  const loops: Promise<void>[] = [];
  for (let i = 0; i < o.voters; i++) {
    for (let k = 0; k < o.clientsPerAgent; k++) {
      loops.push(clientLoop(rec, { agent: i, process: i * o.clientsPerAgent + k, client: clients[i], keys: o.keys, attemptMs: o.attemptMs, rand, lastSeen, stop }));
    }
  }
  let nextProbeProcess = o.voters * o.clientsPerAgent;
  // The first seconds of a fresh swarm are slower (connections, JIT): not a fair baseline.
  await sleep(warmupMs);
  const baselines: Window[] = [];
  const reports: FaultReport[] = [];
  for (const name of o.faults) {
    const baseline: Window = { fromMs: rec.nowMs(), toMs: 0 };
    await sleep(o.baselineMs);
    baseline.toMs = rec.nowMs();
    baselines.push(baseline);
    const plan = planFault(name, o.voters, o.lossPercent);
    say(`fault: ${plan.what} for ${o.cutMs} ms`);
    const cut = await holdFault(lab, plan, o.cutMs, rec);
    // From the heal on, every agent writes until one write is acked: how long until commits resume.
    const probes = clients.map((c, i) => probeWrite(rec, c, nextProbeProcess++, i, o.attemptMs, () => rec.nowMs() - cut.toMs > o.recoverMs + 10_000));
    await sleep(o.recoverMs);
    const resumedAt = await Promise.all(probes);
    reports.push(faultReport(plan, cut, baseline, rec.ops, ready, resumedAt));
    say(`healed: ${JSON.stringify(reports.at(-1)!.figures)}`);
  }
  stopping = true;
  await Promise.all([...loops, ...watchers]);
  const disagreements = await finalReads(rec, clients, o, nextProbeProcess);
  const text = rec.lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
  if (o.history !== undefined) writeFileSync(o.history, text);
  say(`checking ${rec.lines.length / 2} operations for linearizability`);
  const lin = checkLinearizable(parseHistory(text));
  const base = rec.ops.filter((x) => !x.probe && x.ok && baselines.some((b) => x.endMs >= b.fromMs && x.endMs < b.toMs));
  const baseS = baselines.reduce((t, b) => t + (b.toMs - b.fromMs), 0) / 1000;
  const acked = rec.ops.filter((x) => x.ok).length;
  return {
    voters: o.voters,
    clients: o.voters * o.clientsPerAgent,
    ops: rec.ops.length,
    acked,
    unknown: rec.ops.length - acked,
    linearizable: lin.linearizable,
    violations: lin.violations.map((v) => `${v.key}: ${v.reason}`),
    disagreements,
    baseline: { throughput: Math.round(base.length / baseS), p50Ms: p50(base) },
    faults: reports,
    wallMs: Date.now() - started,
  };
}

/** Applies the fault, keeps it (ticking flaps) for cutMs, heals; returns the window it held. */
async function holdFault(lab: NetLab, plan: FaultPlan, cutMs: number, rec: Recorder): Promise<Window> {
  const fromMs = rec.nowMs();
  plan.apply(lab);
  if (plan.tick !== undefined && plan.tickMs !== undefined) {
    for (let n = 1; rec.nowMs() - fromMs + plan.tickMs <= cutMs; n++) {
      await sleep(plan.tickMs);
      plan.tick(lab, n);
    }
    await sleep(Math.max(0, cutMs - (rec.nowMs() - fromMs)));
  } else {
    await sleep(cutMs);
  }
  lab.heal();
  return { fromMs, toMs: rec.nowMs() };
}

/**
 * One linearizable read of every key (so the checker sees where each ended), then stale reads of
 * every key at every voter until they agree (up to 15 s: the last commits may still be applying).
 * Returns the keys on which they do not.
 */
async function finalReads(rec: Recorder, clients: readonly AgentClient[], o: NemesisOptions, firstProcess: number): Promise<string[]> {
  const keys = [...Array.from({ length: o.keys }, (_, k) => `k${k}`), ...clients.map((_, i) => `probe-${i}`)];
  for (const [k, key] of keys.entries()) {
    const p = firstProcess + k;
    rec.lines.push({ process: p, type: 'invoke', f: 'read', key, time: rec.nowNs() });
    const res = await clients[k % clients.length].request('GET', `/kv/${key}?timeoutMs=10000`) as { ok: boolean; value?: string | null };
    if (res.ok !== true) throw new Error(`the final read of ${key} failed after the heal: ${JSON.stringify(res)}`);
    rec.lines.push({ process: p, type: 'ok', f: 'read', key, value: res.value ?? null, time: rec.nowNs() });
  }
  const until = Date.now() + 15_000;
  for (;;) {
    const differ: string[] = [];
    for (const key of keys) {
      const values = await Promise.all(clients.map(async (c) => JSON.stringify(((await c.request('GET', `/kv/${key}?stale=true`)) as { value?: unknown }).value ?? null)));
      if (new Set(values).size > 1) differ.push(`${key}: ${values.join(' / ')}`);
    }
    if (differ.length === 0 || Date.now() > until) return differ;
    await sleep(500);
  }
}

/** Makes the swarm's keys and configs, then points every address at the lab's. */
async function placeSwarm(lab: NetLab, dir: string, o: NemesisOptions): Promise<{ swarm: Swarm; token: string }> {
  const made = await createSwarm(dir, { agents: o.voters, voters: o.voters, name: 'nemesis', requestTimeoutMs: o.attemptMs, logLevel: o.logLevel });
  const addr = (i: number): string => `/ip4/${lab.address(i)}/tcp/${p2pPort}`;
  const voters = made.agents.map((a) => ({ id: a.peerId, addrs: [addr(a.index)] }));
  const token = randomBytes(16).toString('hex');
  for (const a of made.agents) {
    const config = parseYaml(readFileSync(a.config, 'utf8')) as Record<string, unknown>;
    config.listen = [addr(a.index)];
    config.voters = voters;
    config.bootstrap = a.index === 0 ? [] : [`${addr(0)}/p2p/${made.agents[0].peerId}`];
    // Reachable from outside the host (the bridge), so the agent insists on a token.
    config.http = { ...(config.http as object), listen: `${lab.address(a.index)}:${httpPort}`, token };
    writeFileSync(a.config, `# agent ${a.index} of the network nemesis's swarm, in namespace ${lab.namespace(a.index)}\n` + stringify(config));
  }
  const swarm: Swarm = { ...made, agents: made.agents.map((a) => ({ ...a, http: `http://${lab.address(a.index)}:${httpPort}` })) };
  saveSwarm(swarm);
  return { swarm, token };
}

/** Starts agent i inside its namespace, logging to its agent.log. */
function startInLab(lab: NetLab, s: Swarm, i: number): void {
  const a = s.agents[i];
  const fd = openSync(a.log, 'a');
  const [cmd, ...args] = lab.exec(i, [process.execPath, ...agentNodeFlags, coveyCli, 'agent', '--config', a.config]);
  // `ip netns exec` execs the command, so the pid is the agent's own.
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env: agentEnv() });
  closeSync(fd);
  child.unref();
  a.pid = child.pid ?? null;
  saveSwarm(s);
}
