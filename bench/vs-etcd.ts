// bench:vs-etcd — Covey's real path side by side with etcd, the coordination service a user
// would otherwise pick. A 3-member etcd cluster (Debian `etcd-server`) and a 3-voter Covey swarm
// run on loopback on the same disk; the same closed-loop workloads run against both in
// interleaved rounds (etcd, Covey, etcd, Covey, …), and the medians are compared.
//
// Workloads: `put` — 100-byte values to distinct keys; `mix` — the register mix of
// `covey swarm bench` (50% linearizable reads, 30% writes, 20% compare-and-swap over --keys keys).
// Clients are spread over all members (etcd followers forward to the leader; every Covey voter
// coordinates), or with --clients-at followers only over the members that are not etcd's leader.
// --delay MS puts a user-space delaying proxy (bench/delay-proxy.ts) on every link between
// members of both systems, so a round trip between members costs 2 × MS. For Covey it also
// prints the durable writes (syncs) its three agents made per command answered (their
// covey_storage_durable_writes over the round, warm-up included): what a command costs the disk.
//
// Usage: npm run bench:vs-etcd [-- --clients 1,64,256 --workload put,mix --rounds 3 --seconds 5
//        --delay 10 --clients-at followers --covey-client stream|http --json] (--help: the usage)
// Exit codes: 0 done, 1 a system failed during the run, 2 bad arguments or etcd missing.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { parse as parseYaml, stringify } from 'yaml';
import { Etcd3 } from 'etcd3';
import { freePorts } from '../transports/ports.ts';
import { createSwarm, startAgent, swarmDown, waitReady, type Swarm } from '../agent/swarm.ts';
import { startEtcdCluster, etcdVersion, type EtcdCluster } from './etcd-cluster.ts';
import { coveyClient, coveyStreamClient, etcdClient, type KvClient } from './kv-clients.ts';
import { metricSum } from '../agent/fuzz/watch.ts';

type System = 'etcd' | 'covey';
type Workload = 'put' | 'mix';

interface RoundResult {
  readonly system: System;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  /** Covey only: durable writes (syncs) of all three agents per command answered, warm-up included. */
  readonly syncsPerCommand?: number;
}

interface CaseResult {
  readonly workload: Workload;
  readonly clients: number;
  readonly rounds: { etcd: RoundResult[]; covey: RoundResult[] };
  readonly etcd: { opsPerSecond: number; p50Ms: number; p99Ms: number };
  readonly covey: { opsPerSecond: number; p50Ms: number; p99Ms: number; syncsPerCommand: number };
  /** Covey ÷ etcd: throughput (higher is better for Covey) and p50 latency (lower is better). */
  readonly throughputRatio: number;
  readonly p50Ratio: number;
}

const usage = 'usage: npm run bench:vs-etcd -- [--clients 1,64,256] [--workload put,mix] [--rounds 3] [--seconds 5] [--delay MS] [--clients-at all|followers] [--keys 100] [--covey-client stream|http] [--json]';

function fail(msg: string, code = 2): never {
  process.stderr.write(`bench:vs-etcd: ${msg}\n${code === 2 ? usage + '\n' : ''}`);
  process.exit(code);
}

/** The command line, or exit 2 with the usage when it names an unknown option. */
function parseOptions() {
  try {
    return parseArgs({
      options: {
        clients: { type: 'string', default: '1,64,256' },
        workload: { type: 'string', default: 'put,mix' },
        rounds: { type: 'string', default: '3' },
        seconds: { type: 'string', default: '5' },
        delay: { type: 'string', default: '0' },
        'clients-at': { type: 'string', default: 'all' },
        keys: { type: 'string', default: '100' },
        'covey-client': { type: 'string', default: 'stream' },
        'keep-dir': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    return fail((err as Error).message);
  }
}
const { values: a } = parseOptions();
if (a.help) {
  process.stdout.write(usage + '\n');
  process.exit(0);
}
const clientCounts = a.clients.split(',').map(Number);
if (!clientCounts.every((c) => Number.isInteger(c) && c >= 1 && c <= 4096)) fail(`--clients must be a comma-separated list of whole numbers from 1 to 4096, got "${a.clients}"`);
const workloads = a.workload.split(',') as Workload[];
if (!workloads.every((w) => w === 'put' || w === 'mix')) fail(`--workload must list put and/or mix, got "${a.workload}"`);
const rounds = Number(a.rounds);
const seconds = Number(a.seconds);
const delayMs = Number(a.delay.replace(/ms$/, ''));
const keys = Number(a.keys);
if (!Number.isInteger(rounds) || rounds < 1) fail(`--rounds must be a whole number ≥ 1, got "${a.rounds}"`);
if (!(seconds > 0)) fail(`--seconds must be a positive number, got "${a.seconds}"`);
if (!(delayMs >= 0)) fail(`--delay must be a non-negative number of milliseconds (e.g. 10 or 10ms), got "${a.delay}"`);
if (!Number.isInteger(keys) || keys < 1) fail(`--keys must be a whole number ≥ 1, got "${a.keys}"`);
if (a['covey-client'] !== 'stream' && a['covey-client'] !== 'http') fail(`--covey-client must be stream or http, got "${a['covey-client']}"`);
if (a['clients-at'] !== 'all' && a['clients-at'] !== 'followers') fail(`--clients-at must be all or followers, got "${a['clients-at']}"`);
const version = etcdVersion();
if (version === null) fail('etcd is not on PATH; install it with `apt-get install etcd-server` (Debian) and run again');

const log = (msg: string): void => { process.stderr.write(`bench:vs-etcd: ${msg}\n`); };
const warmupMs = 1000;
const value100 = 'v'.repeat(100);

const dir = mkdtempSync(join(tmpdir(), 'covey-vs-etcd-'));
let etcd: EtcdCluster | null = null;
let swarm: Swarm | null = null;
let proxy: ChildProcess | null = null;
const cleanup = async (): Promise<void> => {
  proxy?.kill('SIGTERM');
  await etcd?.stop().catch(() => {});
  if (swarm !== null) await swarmDown(swarm.dir).catch(() => {});
  if (!a['keep-dir']) rmSync(dir, { recursive: true, force: true });
};
process.on('SIGINT', () => { void cleanup().then(() => process.exit(130)); });

try {
  const ports = await freePorts(3 * 3 + 3);
  const proxied = delayMs > 0;
  // etcd: client, peer and (with a delay) proxied peer port per member.
  const etcdPorts = [0, 1, 2].map((i) => [ports[3 * i], ports[3 * i + 1], proxied ? ports[3 * i + 2] : ports[3 * i + 1]] as const);
  swarm = await createSwarm(join(dir, 'covey'), { agents: 3, voters: 3, name: 'vs-etcd', logLevel: 'warn', requestTimeoutMs: 10_000 });
  const coveyProxyPorts = [ports[9], ports[10], ports[11]];
  const routes: string[] = [];
  if (proxied) {
    for (const [, peer, adv] of etcdPorts) routes.push(`127.0.0.1:${adv}=127.0.0.1:${peer}`);
    routeCoveyThroughProxies(swarm, coveyProxyPorts, routes);
    proxy = await startProxyProcess(routes, delayMs);
  }
  etcd = await startEtcdCluster({ dir: join(dir, 'etcd'), ports: etcdPorts });
  for (const ag of swarm.agents) startAgent(swarm, ag.index);
  await waitReady(swarm, 60_000);
  const leader = await waitEtcdLeader(etcd);
  const members = a['clients-at'] === 'all' ? [0, 1, 2] : [0, 1, 2].filter((i) => i !== leader);
  log(`etcd ${version} (leader e${leader}) and Covey up; ${proxied ? `${delayMs} ms one-way delay on every member link` : 'no added delay'}; clients at members ${members.join(', ')}`);

  const results: CaseResult[] = [];
  for (const workload of workloads) {
    for (const clients of clientCounts) {
      const byRound = { etcd: [] as RoundResult[], covey: [] as RoundResult[] };
      for (let r = 0; r < rounds; r++) {
        for (const system of ['etcd', 'covey'] as const) {
          const urls = system === 'etcd' ? etcd.members.map((m) => m.clientUrl) : swarm.agents.map((ag) => ag.http);
          const perMember = Math.ceil(clients / members.length);
          const kv = await Promise.all(urls.map((u) => system === 'etcd' ? etcdClient(u)
            : a['covey-client'] === 'stream' ? coveyStreamClient(u) : coveyClient(u, perMember + 4)));
          const syncsBefore = system === 'covey' ? await coveySyncs(swarm) : 0;
          const round = await runRound(system, kv, members, clients, workload, `${system}-${workload}-${clients}-${r}`);
          const res = system === 'covey' ? { ...round, syncsPerCommand: round2((await coveySyncs(swarm) - syncsBefore) / Math.max(round.answered, 1)) } : round;
          await Promise.all(kv.map((c) => c.close()));
          byRound[system].push(res);
          log(`${workload} × ${clients} clients, round ${r + 1}/${rounds}, ${system}: ${res.opsPerSecond} ops/s, p50 ${res.p50Ms} ms, p99 ${res.p99Ms} ms${res.syncsPerCommand !== undefined ? `, ${res.syncsPerCommand} syncs a command` : ''}${res.errors > 0 ? `, ${res.errors} errors` : ''}`);
        }
      }
      results.push(summarise(workload, clients, byRound));
    }
  }
  const report = { etcdVersion: version, coveyClient: a['covey-client'], delayMs, clientsAt: a['clients-at'], etcdLeader: leader, rounds, seconds, results };
  process.stdout.write(a.json ? JSON.stringify(report, null, 2) + '\n' : formatTable(report.results) + '\n');
  await cleanup();
} catch (err) {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  await cleanup();
  process.exit(1);
}

/** Rewrites each agent's config so that voters dial each other through the delaying proxies. */
function routeCoveyThroughProxies(s: Swarm, proxyPorts: readonly number[], routes: string[]): void {
  const configs = s.agents.map((ag) => parseYaml(readFileSync(ag.config, 'utf8')) as Record<string, unknown>);
  const voters = configs[0].voters as { id: string; addrs: string[] }[];
  const tcpPorts = voters.map((v) => Number(/\/tcp\/(\d+)/.exec(v.addrs[0])![1]));
  tcpPorts.forEach((port, i) => routes.push(`127.0.0.1:${proxyPorts[i]}=127.0.0.1:${port}`));
  const proxiedVoters = voters.map((v, i) => ({ id: v.id, addrs: [`/ip4/127.0.0.1/tcp/${proxyPorts[i]}`] }));
  s.agents.forEach((ag, i) => {
    const c = { ...configs[i], voters: proxiedVoters, bootstrap: [], announce: [`/ip4/127.0.0.1/tcp/${proxyPorts[i]}`], listen: [`/ip4/127.0.0.1/tcp/${tcpPorts[i]}`] };
    writeFileSync(ag.config, stringify(c));
  });
}

async function startProxyProcess(routes: readonly string[], delay: number): Promise<ChildProcess> {
  const p = spawn(process.execPath, [new URL('./delay-proxy.ts', import.meta.url).pathname, '--delay-ms', String(delay), ...routes.flatMap((r) => ['--route', r])], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: p.stdout! });
    rl.once('line', resolve);
    p.once('exit', (code) => reject(new Error(`the delay proxy exited (${code}) before it was ready`)));
  });
  if (!(JSON.parse(line) as { ready?: boolean }).ready) throw new Error(`the delay proxy said ${line}`);
  return p;
}

async function waitEtcdLeader(c: EtcdCluster): Promise<number> {
  const until = Date.now() + 60_000;
  for (;;) {
    for (let i = 0; i < c.members.length; i++) {
      const client = new Etcd3({ hosts: [c.members[i].clientUrl] });
      try {
        const s = await client.maintenance.status();
        if (s.leader !== '0' && s.leader === s.header.member_id) return i;
      } catch { /* not up yet */ } finally { client.close(); }
    }
    if (Date.now() > until) throw new Error(`etcd elected no leader within 60 s; logs in ${join(dir, 'etcd')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The durable writes (syncs) of all the swarm's agents so far, from their /metrics. */
async function coveySyncs(s: Swarm | null): Promise<number> {
  if (s === null) return 0;
  let sum = 0;
  for (const ag of s.agents) {
    const text = await (await fetch(`${ag.http}/metrics`)).text();
    if (!/^covey_storage_durable_writes /m.test(text)) throw new Error(`agent ${ag.index} reports no covey_storage_durable_writes`);
    sum += metricSum(text, 'covey_storage_durable_writes');
  }
  return sum;
}

/** One round: `clients` closed-loop clients for warm-up + `seconds`; only the measured window counts. */
async function runRound(system: System, kv: readonly KvClient[], members: readonly number[], clients: number, workload: Workload, tag: string): Promise<RoundResult & { answered: number }> {
  const start = performance.now();
  const from = start + warmupMs;
  const until = from + seconds * 1000;
  const latencies: number[] = [];
  let errors = 0;
  let answered = 0;
  const lastSeen = new Map<string, string | null>();
  let seed = 0x9e3779b9 ^ clients;
  const rand = (): number => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed / 2 ** 32; };
  const worker = async (p: number): Promise<void> => {
    const c = kv[members[p % members.length]];
    for (let i = 0; performance.now() < until; i++) {
      const begin = performance.now();
      try {
        if (workload === 'put') await c.put(`${tag}/${p}/${i}`, value100);
        else {
          const key = `k${Math.floor(rand() * keys)}`;
          const r = rand();
          const value = `${tag}-${p}-${i}`;
          if (r < 0.5) lastSeen.set(key, await c.get(key));
          else if (r < 0.8) { await c.put(key, value); lastSeen.set(key, value); } else if (await c.cas(key, lastSeen.get(key) ?? null, value)) lastSeen.set(key, value);
        }
      } catch (err) {
        errors++;
        if (errors === 1) log(`${system}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      const end = performance.now();
      answered++;
      if (begin >= from && end <= until) latencies.push(end - begin);
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, p) => worker(p)));
  latencies.sort((x, y) => x - y);
  return { system, opsPerSecond: Math.round(latencies.length / seconds), p50Ms: pct(latencies, 0.5), p99Ms: pct(latencies, 0.99), errors, answered };
}

function pct(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 100) / 100;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function summarise(workload: Workload, clients: number, byRound: CaseResult['rounds']): CaseResult {
  const med = (rs: readonly RoundResult[]) => ({ opsPerSecond: Math.round(median(rs.map((r) => r.opsPerSecond))), p50Ms: round2(median(rs.map((r) => r.p50Ms))), p99Ms: round2(median(rs.map((r) => r.p99Ms))) });
  const e = med(byRound.etcd);
  const c = { ...med(byRound.covey), syncsPerCommand: round2(median(byRound.covey.map((r) => r.syncsPerCommand ?? NaN))) };
  return { workload, clients, rounds: byRound, etcd: e, covey: c, throughputRatio: round2(c.opsPerSecond / e.opsPerSecond), p50Ratio: round2(c.p50Ms / e.p50Ms) };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function formatTable(rs: readonly CaseResult[]): string {
  const head = ['workload', 'clients', 'etcd ops/s', 'covey ops/s', 'ratio', 'etcd p50', 'covey p50', 'p50 ratio', 'etcd p99', 'covey p99', 'covey syncs/cmd'];
  const rows = rs.map((r) => [r.workload, String(r.clients), String(r.etcd.opsPerSecond), String(r.covey.opsPerSecond), `${r.throughputRatio}×`,
    `${r.etcd.p50Ms} ms`, `${r.covey.p50Ms} ms`, `${r.p50Ratio}×`, `${r.etcd.p99Ms} ms`, `${r.covey.p99Ms} ms`, String(r.covey.syncsPerCommand)]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padStart(w[i])).join('  ');
  return [line(head), ...rows.map(line)].join('\n') + `\n(medians of ${rounds} interleaved rounds of ${seconds} s each)`;
}
