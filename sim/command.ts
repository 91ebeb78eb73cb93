// `covey sim`: one deterministic simulation, or a sweep of seeds, from the command line. Prints a
// summary (or one JSON object), writes the history on request, and exits non-zero when any
// checker finds a violation, so a failing seed can be replayed from the line it prints.

import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { runSimulation, type SimulationOptions, type SimulationResult } from './engine/simulation.ts';
import { parseHistory, toOperations } from './history.ts';

export const faultsBuilt = ['crash', 'partition', 'loss', 'dup'] as const;
/** Faults issue 3 names that the engine does not inject yet: refused by name, never ignored. */
const faultsNotBuilt = ['pause', 'reorder', 'skew'];
type Fault = (typeof faultsBuilt)[number];

export interface SimArgs {
  readonly voters: 3 | 5;
  readonly seeds: readonly number[];
  readonly durationMs: number;
  readonly faults: ReadonlySet<Fault>;
  readonly clients: number;
  readonly keys: number;
  readonly history?: string;
  readonly json: boolean;
}

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
    if ((faultsBuilt as readonly string[]).includes(raw)) out.add(raw as Fault);
    else if (faultsNotBuilt.includes(raw)) throw new InvalidArgumentError(`--faults: "${raw}" is not built yet; accepted: ${faultsBuilt.join(', ')}`);
    else throw new InvalidArgumentError(`--faults: unknown fault "${raw}"; accepted: ${faultsBuilt.join(', ')}`);
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

export function replayCommand(a: SimArgs, seed: number): string {
  return `npm run covey -- sim --voters ${a.voters} --seed ${seed} --duration ${a.durationMs}ms --faults ${[...a.faults].join(',') || "''"} --clients ${a.clients} --keys ${a.keys}`;
}

/** Loss and duplication rates when those faults are on. */
const lossRate = 0.05;
const duplicateRate = 0.05;

/**
 * The one mapping from command-line arguments to a run. The sweep test uses it too, so the replay
 * command a failure prints reproduces that very run.
 */
export function simulationOptions(a: SimArgs, seed: number): SimulationOptions {
  return {
    seed, voters: a.voters, durationMs: a.durationMs, clients: a.clients, keys: a.keys,
    crashes: a.faults.has('crash'), partitions: a.faults.has('partition'),
    loss: a.faults.has('loss') ? lossRate : 0, duplicate: a.faults.has('dup') ? duplicateRate : 0,
  };
}

function simulate(a: SimArgs, seed: number): SimulationResult {
  return runSimulation(simulationOptions(a, seed));
}

/** Summary of one run: what issue 3 asks for, in virtual time. */
export function summarize(a: SimArgs, seed: number, r: SimulationResult): Record<string, unknown> {
  const ops = toOperations(parseHistory(r.history));
  const latencies = ops.filter((o) => o.status === 'ok').map((o) => (o.completeNs - o.invokeNs) / 1e6).sort((x, y) => x - y);
  const pct = (p: number): number | null => latencies.length === 0 ? null : latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return {
    seed, voters: a.voters, durationMs: a.durationMs, faults: [...a.faults],
    traceHash: r.traceHash, ops: r.ops, events: r.events,
    throughput: Math.round(r.ops / (r.endMs / 1000)),
    latencyMs: { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99) },
    injected: r.faults,
    linearizable: r.linearizable,
    violations: r.violations,
  };
}

export function simCommand(): Command {
  return new Command('sim')
    .description('run the deterministic swarm simulation: voters, register clients, faults; check every history')
    .option('--voters <n>', 'voters: 3 or 5', voterCount, 3 as 3 | 5)
    .option('--seed <n>', 'the seed of one run', parseSeeds, [1])
    .option('--seeds <a..b>', 'sweep these seeds; prints each failing one with its replay command', parseSeeds)
    .option('--duration <d>', 'virtual time with clients and faults: 500ms, 10s, 10m', parseDuration, 10_000)
    .option('--faults <list>', `comma-separated: ${faultsBuilt.join(', ')}`, parseFaults, new Set<Fault>())
    .option('--clients <n>', 'closed-loop register clients', count('--clients', 1, 10_000), 8)
    .option('--keys <n>', 'registers the clients share', count('--keys', 1, 1_000_000), 5)
    .option('--history <file>', 'write the history (JSON Lines, shared/HISTORY-FORMAT.md) of a single run')
    .option('--json', 'print the summary as one JSON object', false)
    .action((o: { voters: 3 | 5; seed: number[]; seeds?: number[]; duration: number; faults: Set<Fault>; clients: number; keys: number; history?: string; json: boolean }, cmd: Command) => {
      const a: SimArgs = { voters: o.voters, seeds: o.seeds ?? o.seed, durationMs: o.duration, faults: o.faults, clients: o.clients, keys: o.keys, history: o.history, json: o.json };
      if (a.history !== undefined && a.seeds.length > 1) cmd.error('covey sim: --history writes one run; use it with --seed, not --seeds', { exitCode: 2 });
      process.exitCode = a.seeds.length === 1 ? runOne(a) : runSweep(a);
    });
}

function runOne(a: SimArgs): number {
  const seed = a.seeds[0];
  const r = simulate(a, seed);
  if (a.history !== undefined) writeFileSync(a.history, r.history);
  const s = summarize(a, seed, r);
  if (a.json) process.stdout.write(JSON.stringify(s) + '\n');
  else {
    const l = s.latencyMs as { p50: number | null; p90: number | null; p99: number | null };
    process.stdout.write([
      `seed ${seed}, ${a.voters} voters, ${a.durationMs} ms virtual, faults: ${[...a.faults].join(', ') || 'none'}`,
      `operations ${r.ops} (${s.throughput as number}/s virtual), latency p50 ${l.p50} ms, p90 ${l.p90} ms, p99 ${l.p99} ms`,
      `injected: ${r.faults.crashes} crashes, ${r.faults.partitions} partitions, ${r.faults.dropped} messages dropped, ${r.faults.duplicated} duplicated`,
      `linearizable: ${r.linearizable}; invariant violations: ${r.violations.length}`,
      ...r.violations.slice(0, 20).map((v) => `  ${v}`),
      `trace hash ${r.traceHash}`,
    ].join('\n') + '\n');
  }
  return r.linearizable && r.violations.length === 0 ? 0 : 1;
}

function runSweep(a: SimArgs): number {
  const failing: { seed: number; violations: string[]; replay: string }[] = [];
  const tty = process.stderr.isTTY === true;
  for (let i = 0; i < a.seeds.length; i++) {
    const seed = a.seeds[i];
    const r = simulate(a, seed);
    if (!r.linearizable || r.violations.length > 0) {
      const f = { seed, violations: r.violations.slice(0, 5), replay: replayCommand(a, seed) };
      failing.push(f);
      if (!a.json) process.stdout.write(`${tty ? '\n' : ''}FAIL seed ${seed}: ${f.violations.join('; ')}\n  replay: ${f.replay}\n`);
    }
    if (tty) process.stderr.write(`\rseed ${i + 1}/${a.seeds.length}, ${failing.length} failing`);
  }
  if (tty) process.stderr.write('\n');
  if (a.json) process.stdout.write(JSON.stringify({ seeds: a.seeds.length, failing }) + '\n');
  else process.stdout.write(`${a.seeds.length} seeds, ${failing.length} failing\n`);
  return failing.length === 0 ? 0 : 1;
}
