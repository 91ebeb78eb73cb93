// `covey sim`: one deterministic simulation, or a sweep of seeds, from the command line. Prints a
// summary (or one JSON object), writes the history on request, and exits non-zero when any
// checker finds a violation, so a failing seed can be replayed from the line it prints.

import { accessSync, constants } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { SimulationOptions, SimulationResult, VoterCount } from './engine/simulation.ts';
import { workloadNames, type WorkloadName } from './workload/workload.ts';

// This file holds the command's options and parsers and loads only commander, so `covey --help`
// stays fast; the simulator itself (command-run.ts) loads when the command runs.

export const faults = ['crash', 'partition', 'pause', 'loss', 'dup', 'reorder', 'skew'] as const;
export type Fault = (typeof faults)[number];

/**
 * Reconfiguration among the faults (SimulationOptions.reconfig): a voter swapped for an agent that
 * does not vote, the group moved between 3, 5 and 7 voters too, or voters lost for good one at a
 * time and replaced.
 */
export const reconfigModes = ['none', 'replace', 'resize', 'lose'] as const;
export type ReconfigMode = (typeof reconfigModes)[number];

export interface SimArgs {
  readonly voters: VoterCount;
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
  /** Membership among the voters: none (recovery by timeouts) or SWIM (SimulationOptions.membership). */
  readonly membership: 'none' | 'swim';
  /** With SWIM: the voters' cores are told which voters SWIM holds alive (SimulationOptions.reachableHint). */
  readonly reachableHint: boolean;
  /** State transfer to a voter this many ids behind (ReplicaOptions.catchUpBySnapshotIds), or null: the core's default. */
  readonly catchUpSnapshotIds: number | null;
  /** Voter-set changes among the faults (reconfigModes). */
  readonly reconfig?: ReconfigMode;
  readonly history?: string;
  /** Write the HTML report of the run here (sim/report/). */
  readonly report?: string;
  readonly json: boolean;
  /** Draw a progress bar on stderr (on a terminal without --json, or when --progress asks). */
  readonly progress: boolean;
}

export const defaultSimArgs: SimArgs = {
  voters: 3, agents: 3, seeds: [1], durationMs: 10_000, faults: new Set(), workload: 'kv', clients: 8, keys: 5, conflict: 1, rate: null, membership: 'none', reachableHint: false, catchUpSnapshotIds: null, json: false, progress: false,
};

function reconfigMode(value: string): ReconfigMode {
  if ((reconfigModes as readonly string[]).includes(value)) return value as ReconfigMode;
  throw new InvalidArgumentError(`--reconfig: accepted values are ${reconfigModes.join(', ')} (got "${value}")`);
}

function membershipName(value: string): 'none' | 'swim' {
  if (value !== 'none' && value !== 'swim') throw new InvalidArgumentError(`--membership is none or swim (got "${value}")`);
  return value;
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

/** The voter group sizes `--voters` takes (VoterCount). */
const voterCounts: readonly VoterCount[] = [3, 5, 7];

function voterCount(value: string): VoterCount {
  const n = voterCounts.find((v) => String(v) === value);
  if (n !== undefined) return n;
  throw new InvalidArgumentError(`--voters: accepted values are ${voterCounts.slice(0, -1).join(', ')} and ${voterCounts.at(-1)} (got "${value}")`);
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
    ...(a.membership === 'none' ? [] : [`--membership ${a.membership}`]),
    ...(a.reachableHint ? ['--reachable-hint'] : []),
    ...(a.catchUpSnapshotIds === null ? [] : [`--catch-up-snapshot-ids ${a.catchUpSnapshotIds}`]),
    ...(a.reconfig === undefined || a.reconfig === 'none' ? [] : [`--reconfig ${a.reconfig}`]),
  ].join(' ');
}

/** SWIM's timing when it stands in for an agent's link health (--reachable-hint). */
export const briskSwim = { probeIntervalMs: 300, probeTimeoutMs: 100, indirectTimeoutMs: 150, suspicionMult: 2 } as const;

/** Loss, duplication and reordering rates when those faults are on. */
export const lossRate = 0.05;
export const duplicateRate = 0.05;
export const reorderRate = 0.05;

/**
 * The one mapping from command-line arguments to a run. The sweep test uses it too, so the replay
 * command a failure prints reproduces that very run.
 */
export function simulationOptions(a: SimArgs, seed: number): SimulationOptions {
  const f = a.faults;
  return {
    seed, voters: a.voters, agents: a.agents, durationMs: a.durationMs, workload: a.workload, clients: a.clients, keys: a.keys, conflict: a.conflict,
    openLoop: a.rate === null ? undefined : { ratePerSec: a.rate },
    membership: a.membership,
    reachableHint: a.reachableHint,
    ...(a.catchUpSnapshotIds === null ? {} : { catchUpBySnapshotIds: a.catchUpSnapshotIds }),
    // An agent's hint comes from its link health, which stops hearing a cut voter within a second;
    // SWIM's own timing suspects in seconds, so under the hint it is tuned brisk to play that part.
    ...(a.reachableHint ? { swimTuning: briskSwim } : {}),
    ...(a.reconfig === undefined || a.reconfig === 'none' ? {} : { reconfig: a.reconfig === 'resize' ? { sizes: voterCounts } : a.reconfig === 'lose' ? { lose: true } : {} }),
    crashes: f.has('crash'), partitions: f.has('partition'), pauses: f.has('pause'), skew: f.has('skew'),
    loss: f.has('loss') ? lossRate : 0, duplicate: f.has('dup') ? duplicateRate : 0, reorder: f.has('reorder') ? reorderRate : 0,
  };
}

export function passed(r: SimulationResult): boolean {
  return r.linearizable && r.violations.length === 0;
}

/** What commander hands simCommand's action. */
interface SimCommandOptions {
  voters: VoterCount; agents?: number; seed: number[]; seeds?: number[]; duration: number; faults: Set<Fault>; workload: WorkloadName;
  clients: number; keys: number; conflict: number; rate?: number; membership: 'none' | 'swim'; reachableHint: boolean;
  catchUpSnapshotIds?: number; reconfig: ReconfigMode; history?: string; report?: string; json: boolean; progress: boolean; plugin?: string; killShare: number; pluginLogs: boolean;
}

/** Options of workload mode that a plugin run has no use for: its agents' plugins are the clients. */
const workloadOnly = ['workload', 'clients', 'keys', 'conflict', 'rate', 'membership', 'reachableHint', 'catchUpSnapshotIds', 'reconfig'] as const;
/** Options of plugin mode only. */
const pluginOnly = ['killShare', 'pluginLogs'] as const;

/** The option's flag as a user types it: reachableHint → --reachable-hint. */
function flagOf(name: string): string {
  return `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** Options given on the command line (not defaults), among these. */
function given(cmd: Command, names: readonly string[]): string[] {
  return names.filter((n) => cmd.getOptionValueSource(n) === 'cli').map(flagOf);
}

/** Whether a file can be created in the folder of `file` (checked before a run, not after it). */
function writableDir(file: string): boolean {
  try {
    accessSync(dirname(resolve(file)), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether to draw a progress bar: asked for, or on a terminal when stdout is not JSON. */
export function showProgress(o: { readonly progress: boolean; readonly json: boolean }): boolean {
  return o.progress || (process.stderr.isTTY === true && !o.json);
}

export function simCommand(): Command {
  return new Command('sim')
    .description('run the deterministic swarm simulation: voters and agents, clients (a workload) or a plugin on every agent, faults; check every history')
    .addOption(new Option('--voters <n>', 'voters: 3, 5 or 7').argParser(voterCount).default(3 as VoterCount))
    .option('--agents <n>', 'agents in the swarm, voters included (the rest submit through voters; default: the voters)', count('--agents', 1, 100_000))
    .addOption(new Option('--seed <n>', 'the seed of one run').argParser(parseSeeds).default([1], '1'))
    .option('--seeds <a..b>', 'sweep these seeds; prints each failing one with its replay command', parseSeeds)
    .addOption(new Option('--duration <d>', 'virtual time with clients and faults, with a unit: 500ms, 10s, 10m; with --plugin, the most the mission may take')
      .argParser(parseDuration).default(10_000, '10s; with --plugin, 4 × the mission\'s ideal time + 60s'))
    .addOption(new Option('--faults <list>', `comma-separated: ${faults.join(', ')}, or all`).argParser(parseFaults).default(new Set<Fault>(), 'none'))
    .addOption(new Option('--workload <w>', `workload mode: ${workloadNames.join(' or ')}`).argParser(workloadName).default('kv' as WorkloadName, 'kv'))
    .addOption(new Option('--clients <n>', 'workload mode: clients (on the non-voter agents when there are any)').argParser(count('--clients', 1, 100_000)).default(8))
    .addOption(new Option('--keys <n>', 'kv: shared registers').argParser(count('--keys', 1, 1_000_000)).default(5))
    .addOption(new Option('--conflict <p>', 'kv: share of operations on shared registers (the rest use a private one)').argParser(fraction('--conflict')).default(1))
    .option('--rate <ops>', 'open-loop clients: operations per second per client (default: closed loop)', positive('--rate', 100_000))
    .addOption(new Option('--membership <m>', 'workload mode: membership among the voters: none (instances of a lost voter are recovered on timeouts) or swim (SWIM declares it dead and the others recover its instances at once, as agents do)')
      .argParser(membershipName).default('none' as 'none' | 'swim', 'none'))
    .addOption(new Option('--reachable-hint', 'with --membership swim: each voter\'s consensus core is told which voters SWIM holds alive, as an agent\'s is from its links (quorums and commit learning route around the suspected)').default(false, 'off'))
    .option('--catch-up-snapshot-ids <n>', 'workload mode: send a voter a snapshot when it is this many instances behind (a peer\'s watermark), instead of one recovery per missed instance; 0 only across truncated history (default: the agent\'s, 128)', count('--catch-up-snapshot-ids', 0, 1_000_000_000))
    .addOption(new Option('--reconfig <mode>', 'workload mode: voter-set changes among the faults, every 1-3 s: replace (a voter swapped for an agent that does not vote), '
      + 'resize (to 3, 5 or 7 voters, or a swap), lose (a voter lost for good, within the fault budget, and replaced); needs --agents above --voters (docs/reconfiguration.md)')
      .argParser(reconfigMode).default('none' as ReconfigMode, 'none'))
    .option('--history <file>', 'write the history (JSON Lines, shared/HISTORY-FORMAT.md) of a single run')
    .option('--report <file.html>', 'write a self-contained HTML report of a single run: faults per agent on a timeline, throughput and latency, verdicts, trace hash; with --plugin also plugin failures, logs and the mission map')
    .addOption(new Option('--json', 'print the summary as one JSON object').default(false, 'off'))
    .addOption(new Option('--progress', 'draw a progress bar on stderr even when it is not a terminal or with --json').default(false, 'on a terminal without --json'))
    .option('--plugin <path>', 'run a plugin module (its plugin and `simulation` scenario) on every agent instead of a workload, e.g. examples/survey')
    .addOption(new Option('--kill-share <p>', 'with --plugin and the crash fault: share of the mortal agents (drones) lost for good').argParser(fraction('--kill-share')).default(0.3))
    .addOption(new Option('--plugin-logs', 'with --plugin: print every plugin log line and failure (with its error) to stderr').default(false, 'off'))
    .action(async (o: SimCommandOptions, cmd: Command) => {
      const agents = o.agents ?? o.voters;
      const seeds = o.seeds ?? o.seed;
      if (agents < o.voters) cmd.error(`covey sim: --agents (${agents}) counts the voters too, so it must be at least --voters (${o.voters})`, { exitCode: 2 });
      if (o.history !== undefined && seeds.length > 1) cmd.error('covey sim: --history writes one run; use it with --seed, not --seeds', { exitCode: 2 });
      if (o.report !== undefined && seeds.length > 1) cmd.error('covey sim: --report writes one run; use it with --seed, not --seeds (replay a failing seed of a sweep with it)', { exitCode: 2 });
      for (const [flag, file] of [['--history', o.history], ['--report', o.report]] as const) {
        if (file !== undefined && !writableDir(file)) cmd.error(`covey sim: ${flag} ${file}: the folder ${dirname(resolve(file))} does not exist or is not writable; create it or give another path`, { exitCode: 2 });
      }
      if (o.plugin !== undefined) {
        const refused = given(cmd, workloadOnly);
        if (refused.length > 0) cmd.error(`covey sim --plugin: ${refused.join(', ')} ${refused.length === 1 ? 'applies' : 'apply'} to workload runs only (the plugins on the agents are the clients); drop ${refused.length === 1 ? 'it' : 'them'}`, { exitCode: 2 });
        if (agents <= o.voters) cmd.error(`covey sim --plugin: give --agents above --voters (${o.voters}); the agents beyond the voters carry the devices`, { exitCode: 2 });
        const limitMs = cmd.getOptionValueSource('duration') === 'cli' ? o.duration : undefined;
        const { runPlugin } = await import('./command-run.ts');
        process.exitCode = await runPlugin(o.plugin, {
          voters: o.voters, agents, seeds, faults: o.faults, killShare: o.killShare, limitMs, history: o.history, report: o.report, json: o.json, progress: o.progress, pluginLogs: o.pluginLogs,
        }, cmd);
        return;
      }
      const refused = given(cmd, pluginOnly);
      if (refused.length > 0) cmd.error(`covey sim: ${refused.join(', ')} ${refused.length === 1 ? 'applies' : 'apply'} to plugin runs only; add --plugin PATH or drop ${refused.length === 1 ? 'it' : 'them'}`, { exitCode: 2 });
      if (o.reachableHint && o.membership !== 'swim') cmd.error('covey sim: --reachable-hint comes from SWIM; add --membership swim', { exitCode: 2 });
      if (o.reconfig !== 'none' && agents <= o.voters) cmd.error(`covey sim --reconfig: give --agents above --voters (${o.voters}); the voter set moves to agents that do not vote yet`, { exitCode: 2 });
      const a: SimArgs = {
        voters: o.voters, agents, seeds, durationMs: o.duration, faults: o.faults, workload: o.workload,
        clients: o.clients, keys: o.keys, conflict: o.conflict, rate: o.rate ?? null, membership: o.membership, reachableHint: o.reachableHint,
        catchUpSnapshotIds: o.catchUpSnapshotIds ?? null, reconfig: o.reconfig, history: o.history, report: o.report, json: o.json, progress: o.progress,
      };
      const { runOne, runSweep } = await import('./command-run.ts');
      process.exitCode = a.seeds.length === 1 ? runOne(a) : runSweep(a);
    });
}
