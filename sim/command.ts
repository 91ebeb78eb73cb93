// `covey sim`: one deterministic simulation, or a sweep of seeds, from the command line. Prints a
// summary (or one JSON object), writes the history on request, and exits non-zero when any
// checker finds a violation, so a failing seed can be replayed from the line it prints.

import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { runSimulation, type SimProgress, type SimulationOptions, type SimulationResult } from './engine/simulation.ts';
import { parseHistory, toOperations } from './history.ts';
import { workloadNames, type WorkloadName } from './workload/workload.ts';
import { loadPluginModule, runPluginSimulation, type PluginRunResult } from './plugins/run.ts';

export const faults = ['crash', 'partition', 'pause', 'loss', 'dup', 'reorder', 'skew'] as const;
export type Fault = (typeof faults)[number];

export interface SimArgs {
  readonly voters: 3 | 5;
  /** Agents in the swarm, voters included. */
  readonly agents: number;
  readonly seeds: readonly number[];
  readonly durationMs: number;
  readonly faults: ReadonlySet<Fault>;
  readonly workload: WorkloadName;
  readonly clients: number;
  readonly keys: number;
  /** Share of kv operations on shared keys, 0..1. */
  readonly conflict: number;
  /** Open-loop operations per second per client, or null for closed-loop clients. */
  readonly rate: number | null;
  readonly history?: string;
  readonly json: boolean;
}

export const defaultSimArgs: SimArgs = {
  voters: 3, agents: 3, seeds: [1], durationMs: 10_000, faults: new Set(), workload: 'kv', clients: 8, keys: 5, conflict: 1, rate: null, json: false,
};

export function parseDuration(value: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(value.trim());
  if (m === null) throw new InvalidArgumentError(`--duration takes a number with a unit: 500ms, 10s or 10m (got "${value}")`);
  const n = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
  if (n <= 0) throw new InvalidArgumentError(`--duration must be above zero (got "${value}")`);
  return n;
}

export function parseFaults(value: string): Set<Fault> {
  const out = new Set<Fault>();
  for (const raw of value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (raw === 'all') { for (const f of faults) out.add(f); continue; }
    if (!(faults as readonly string[]).includes(raw)) throw new InvalidArgumentError(`--faults: unknown fault "${raw}"; accepted: ${faults.join(', ')} (or all)`);
    out.add(raw as Fault);
  }
  return out;
}

/** `7` or `1..500` (inclusive). */
export function parseSeeds(value: string): number[] {
  const range = /^(\d+)\.\.(\d+)$/.exec(value.trim());
  if (range !== null) {
    const a = Number(range[1]), b = Number(range[2]);
    if (b < a) throw new InvalidArgumentError(`--seeds: the range ${value} is empty; write it low..high`);
    if (b - a >= 1_000_000) throw new InvalidArgumentError('--seeds: at most 1,000,000 seeds in one sweep');
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  }
  if (/^\d+$/.test(value.trim())) return [Number(value)];
  throw new InvalidArgumentError(`--seed/--seeds take a whole number or a range like 1..500 (got "${value}")`);
}

function voterCount(value: string): 3 | 5 {
  if (value === '3' || value === '5') return Number(value) as 3 | 5;
  throw new InvalidArgumentError(`--voters: accepted values are 3 and 5 (got "${value}")`);
}

function count(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max} (got "${value}")`);
    return n;
  };
}

function fraction(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${name} must be a number from 0 to 1 (got "${value}")`);
    return n;
  };
}

function positive(name: string, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) throw new InvalidArgumentError(`${name} must be a number above 0 and at most ${max} (got "${value}")`);
    return n;
  };
}

function workloadName(value: string): WorkloadName {
  if ((workloadNames as readonly string[]).includes(value)) return value as WorkloadName;
  throw new InvalidArgumentError(`--workload: accepted values are ${workloadNames.join(' and ')} (got "${value}")`);
}

export function replayCommand(a: SimArgs, seed: number): string {
  return [
    `npm run covey -- sim --voters ${a.voters} --agents ${a.agents} --seed ${seed} --duration ${a.durationMs}ms`,
    `--faults ${[...a.faults].join(',') || "''"} --workload ${a.workload} --clients ${a.clients} --keys ${a.keys} --conflict ${a.conflict}`,
    ...(a.rate === null ? [] : [`--rate ${a.rate}`]),
  ].join(' ');
}

/** Loss, duplication and reordering rates when those faults are on. */
const lossRate = 0.05;
const duplicateRate = 0.05;
const reorderRate = 0.05;

/**
 * The one mapping from command-line arguments to a run. The sweep test uses it too, so the replay
 * command a failure prints reproduces that very run.
 */
export function simulationOptions(a: SimArgs, seed: number): SimulationOptions {
  const f = a.faults;
  return {
    seed, voters: a.voters, agents: a.agents, durationMs: a.durationMs, workload: a.workload, clients: a.clients, keys: a.keys, conflict: a.conflict,
    openLoop: a.rate === null ? undefined : { ratePerSec: a.rate },
    crashes: f.has('crash'), partitions: f.has('partition'), pauses: f.has('pause'), skew: f.has('skew'),
    loss: f.has('loss') ? lossRate : 0, duplicate: f.has('dup') ? duplicateRate : 0, reorder: f.has('reorder') ? reorderRate : 0,
  };
}

export function passed(r: SimulationResult): boolean {
  return r.linearizable && r.violations.length === 0;
}

/** Summary of one run: what issue 3 asks for, in virtual time. */
export function summarize(a: SimArgs, seed: number, r: SimulationResult, wallMs?: number): Record<string, unknown> {
  const ops = toOperations(parseHistory(r.history));
  const latencies = ops.filter((o) => o.status === 'ok').map((o) => (o.completeNs - o.invokeNs) / 1e6).sort((x, y) => x - y);
  const pct = (p: number): number | null => latencies.length === 0 ? null : latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return {
    seed, voters: a.voters, agents: a.agents, workload: a.workload, durationMs: a.durationMs, faults: [...a.faults],
    traceHash: r.traceHash, ops: r.ops, events: r.events,
    throughput: Math.round(r.ops / (r.endMs / 1000)),
    latencyMs: { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99) },
    injected: r.faults,
    ...(a.rate === null ? {} : { shed: r.shed }),
    linearizable: r.linearizable,
    ...(r.tasks === null ? {} : { tasks: r.tasks.stats }),
    settled: r.settled,
    violations: r.violations,
    ...(wallMs === undefined ? {} : { wallMs: Math.round(wallMs) }),
  };
}

export function simCommand(): Command {
  return new Command('sim')
    .description('run the deterministic swarm simulation: voters and agents, clients, faults; check every history')
    .option('--voters <n>', 'voters: 3 or 5', voterCount, 3 as 3 | 5)
    .option('--agents <n>', 'agents in the swarm, voters included (the rest submit through voters; default: the voters)', count('--agents', 1, 100_000))
    .option('--seed <n>', 'the seed of one run', parseSeeds, [1])
    .option('--seeds <a..b>', 'sweep these seeds; prints each failing one with its replay command', parseSeeds)
    .option('--duration <d>', 'virtual time with clients and faults: 500ms, 10s, 10m', parseDuration, 10_000)
    .option('--faults <list>', `comma-separated: ${faults.join(', ')}, or all`, parseFaults, new Set<Fault>())
    .option('--workload <w>', `${workloadNames.join(' or ')}`, workloadName, 'kv' as WorkloadName)
    .option('--clients <n>', 'clients (on the non-voter agents when there are any)', count('--clients', 1, 100_000), 8)
    .option('--keys <n>', 'kv: shared registers', count('--keys', 1, 1_000_000), 5)
    .option('--conflict <p>', 'kv: share of operations on shared registers (the rest use a private one)', fraction('--conflict'), 1)
    .option('--rate <ops>', 'open-loop clients: operations per second per client (default: closed loop)', positive('--rate', 100_000))
    .option('--history <file>', 'write the history (JSON Lines, shared/HISTORY-FORMAT.md) of a single run')
    .option('--json', 'print the summary as one JSON object', false)
    .option('--plugin <path>', 'run a plugin module (its plugin and `simulation` scenario) on every agent instead of a workload, e.g. examples/survey')
    .option('--kill-share <p>', 'with --plugin and the crash fault: share of the mortal agents (drones) lost for good', fraction('--kill-share'), 0.3)
    .action(async (o: { voters: 3 | 5; agents?: number; seed: number[]; seeds?: number[]; duration: number; faults: Set<Fault>; workload: WorkloadName; clients: number; keys: number; conflict: number; rate?: number; history?: string; json: boolean; plugin?: string; killShare: number }, cmd: Command) => {
      const agents = o.agents ?? o.voters;
      if (agents < o.voters) cmd.error(`covey sim: --agents (${agents}) counts the voters too, so it must be at least --voters (${o.voters})`, { exitCode: 2 });
      if (o.plugin !== undefined) {
        if (agents <= o.voters) cmd.error(`covey sim --plugin: give --agents above --voters (${o.voters}); the agents beyond the voters carry the devices`, { exitCode: 2 });
        process.exitCode = await runPlugin(o.plugin, { voters: o.voters, agents, seeds: o.seeds ?? o.seed, faults: o.faults, killShare: o.killShare, history: o.history, json: o.json }, cmd);
        return;
      }
      const a: SimArgs = {
        voters: o.voters, agents, seeds: o.seeds ?? o.seed, durationMs: o.duration, faults: o.faults, workload: o.workload,
        clients: o.clients, keys: o.keys, conflict: o.conflict, rate: o.rate ?? null, history: o.history, json: o.json,
      };
      if (a.history !== undefined && a.seeds.length > 1) cmd.error('covey sim: --history writes one run; use it with --seed, not --seeds', { exitCode: 2 });
      process.exitCode = a.seeds.length === 1 ? runOne(a) : runSweep(a);
    });
}

/** A one-line progress bar on stderr, redrawn in place; only on a terminal. */
function progressBar(): ((p: SimProgress) => void) | undefined {
  if (process.stderr.isTTY !== true) return undefined;
  return (p) => {
    const frac = Math.min(1, p.virtualMs / p.durationMs);
    const width = 30;
    const done = Math.round(frac * width);
    process.stderr.write(`\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${(frac * 100).toFixed(0).padStart(3)}%  ${(p.virtualMs / 1000).toFixed(1)} s virtual, ${p.events} events, ${p.ops} ops `);
  };
}

function runOne(a: SimArgs): number {
  const seed = a.seeds[0];
  const onProgress = progressBar();
  const started = performance.now();
  const r = runSimulation({ ...simulationOptions(a, seed), onProgress });
  const wallMs = performance.now() - started;
  if (onProgress !== undefined) process.stderr.write('\r\x1b[K');
  if (a.history !== undefined) writeFileSync(a.history, r.history);
  const s = summarize(a, seed, r, wallMs);
  if (a.json) process.stdout.write(JSON.stringify(s) + '\n');
  else {
    const l = s.latencyMs as { p50: number | null; p90: number | null; p99: number | null };
    const fc = r.faults;
    process.stdout.write([
      `seed ${seed}, ${a.voters} voters, ${a.agents} agents, ${a.workload} workload, ${a.durationMs} ms virtual, faults: ${[...a.faults].join(', ') || 'none'}`,
      `operations ${r.ops} (${s.throughput as number}/s virtual), latency p50 ${l.p50} ms, p90 ${l.p90} ms, p99 ${l.p99} ms${a.rate === null ? '' : `, ${r.shed} arrivals shed`}`,
      `injected: ${fc.crashes} crashes, ${fc.partitions} partitions (${fc.splits} splits, ${fc.isolated} isolated, ${fc.oneWay} one-way, ${fc.flapping} flapping), ` +
        `${fc.pauses} pauses, ${fc.skews} clock skews, ${fc.dropped} messages dropped, ${fc.duplicated} duplicated, ${fc.reordered} reordered`,
      ...(r.tasks === null ? [] : [`task board: ${r.tasks.stats.tasksCreated} created, ${r.tasks.stats.claims} claims, ${r.tasks.stats.completions} completed, ${r.tasks.stats.refusedCompletions} completions refused`]),
      `linearizable: ${r.linearizable}; settled after the faults: ${r.settled}; violations: ${r.violations.length}`,
      ...r.violations.slice(0, 20).map((v) => `  ${v}`),
      `trace hash ${r.traceHash}  (${r.events} events in ${(wallMs / 1000).toFixed(1)} s wall)`,
    ].join('\n') + '\n');
  }
  return passed(r) ? 0 : 1;
}

function runSweep(a: SimArgs): number {
  const failing: { seed: number; violations: string[]; replay: string }[] = [];
  const tty = process.stderr.isTTY === true;
  for (let i = 0; i < a.seeds.length; i++) {
    const seed = a.seeds[i];
    const r = runSimulation(simulationOptions(a, seed));
    if (!passed(r)) {
      const f = { seed, violations: r.violations.slice(0, 5), replay: replayCommand(a, seed) };
      failing.push(f);
      if (!a.json) process.stdout.write(`${tty ? '\r\x1b[K' : ''}FAIL seed ${seed}: ${f.violations.join('; ')}\n  replay: ${f.replay}\n`);
    }
    if (tty) process.stderr.write(`\rseed ${i + 1}/${a.seeds.length}, ${failing.length} failing`);
  }
  if (tty) process.stderr.write('\n');
  if (a.json) process.stdout.write(JSON.stringify({ seeds: a.seeds.length, failing }) + '\n');
  else process.stdout.write(`${a.seeds.length} seeds, ${failing.length} failing\n`);
  return failing.length === 0 ? 0 : 1;
}

interface PluginArgs {
  readonly voters: 3 | 5;
  readonly agents: number;
  readonly seeds: readonly number[];
  readonly faults: ReadonlySet<Fault>;
  readonly killShare: number;
  readonly history?: string;
  readonly json: boolean;
}

/** The summary of one plugin run: the scenario's report, the mission's outcome, and every checker's verdict. */
export function summarizePlugin(a: PluginArgs, seed: number, r: PluginRunResult, wallMs: number): Record<string, unknown> {
  const completion = r.report.completionTime as number | null;
  return {
    seed, voters: a.voters, agents: a.agents, faults: [...a.faults],
    ...r.report,
    missionComplete: r.missionComplete,
    completionTime: completion === null ? null : Math.round(completion),
    idealTime: Math.round(r.idealTimeMs),
    ratio: completion === null ? null : Math.round((completion / r.idealTimeMs) * 100) / 100,
    tasksCompletedMoreThanOnce: r.completions.moreThanOnce,
    pluginFailures: r.pluginFailures,
    injected: r.sim.faults,
    taskBoard: r.sim.tasks?.stats ?? null,
    settled: r.sim.settled,
    violations: r.sim.violations,
    traceHash: r.sim.traceHash,
    events: r.sim.events,
    wallMs: Math.round(wallMs),
  };
}

async function runPlugin(path: string, a: PluginArgs, cmd: Command): Promise<number> {
  if (a.history !== undefined && a.seeds.length > 1) cmd.error('covey sim: --history writes one run; use it with --seed, not --seeds', { exitCode: 2 });
  let module;
  try {
    module = await loadPluginModule(path);
  } catch (err) {
    cmd.error(`covey sim: ${(err as Error).message}`, { exitCode: 2 });
  }
  let worst = 0;
  for (const seed of a.seeds) {
    const started = performance.now();
    const f = a.faults;
    const r = await runPluginSimulation({
      module, seed, voters: a.voters, agents: a.agents, killShare: a.killShare,
      crashes: f.has('crash'), partitions: f.has('partition'), pauses: f.has('pause'), skew: f.has('skew'),
      loss: f.has('loss') ? lossRate : 0, duplicate: f.has('dup') ? duplicateRate : 0, reorder: f.has('reorder') ? reorderRate : 0,
    });
    const s = summarizePlugin(a, seed, r, performance.now() - started);
    if (a.history !== undefined) writeFileSync(a.history, r.sim.history);
    const ok = r.missionComplete && r.sim.violations.length === 0 && r.completions.moreThanOnce === 0;
    if (!ok) worst = 1;
    if (a.json) { process.stdout.write(JSON.stringify(s) + '\n'); continue; }
    const fc = r.sim.faults;
    process.stdout.write([
      `seed ${seed}, ${a.voters} voters, ${a.agents} agents, plugin ${path}, faults: ${[...f].join(', ') || 'none'}`,
      `mission ${r.missionComplete ? 'complete' : 'NOT complete'}${s.completionTime === null ? '' : ` at ${((s.completionTime as number) / 1000).toFixed(1)} s virtual`}; ideal ${((s.idealTime as number) / 1000).toFixed(1)} s${s.ratio === null ? '' : ` (×${s.ratio as number})`}`,
      `report: ${JSON.stringify(r.report)}`,
      `injected: ${fc.crashes} crashes (${(r.report.dronesLost as number | undefined) ?? 0} lost for good), ${fc.partitions} partitions, ${fc.dropped} messages dropped; plugin failures ${r.pluginFailures}`,
      `task board: ${r.sim.tasks === null ? 'no task operations' : `${r.sim.tasks.stats.claims} claims, ${r.sim.tasks.stats.completions} completed, ${r.sim.tasks.stats.refusedCompletions} completions refused`}; tasks completed more than once: ${r.completions.moreThanOnce}`,
      `settled: ${r.sim.settled}; violations: ${r.sim.violations.length}`,
      ...r.sim.violations.slice(0, 20).map((v) => `  ${v}`),
      `trace hash ${r.sim.traceHash}  (${r.sim.events} events in ${((s.wallMs as number) / 1000).toFixed(1)} s wall)`,
    ].join('\n') + '\n');
  }
  return worst;
}
