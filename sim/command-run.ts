// The running half of `covey sim` (sim/command.ts holds its options): one simulation or a sweep
// of seeds, a plugin scenario, and their summaries. Loaded only when the command runs.

import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { runSimulation, type SimProgress, type SimulationResult, type VoterCount } from './engine/simulation.ts';
import { parseHistory, toOperations } from './history.ts';
import { loadPluginModule, runPluginSimulation, type PluginRunResult } from './plugins/run.ts';
import type { LogLine } from './plugins/host.ts';
import { pluginReport, workloadReport, type ReportData } from './report/data.ts';
import { renderReport } from './report/html.ts';
import { duplicateRate, lossRate, passed, reorderRate, replayCommand, showProgress, simulationOptions, type Fault, type SimArgs } from './command.ts';

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
    ...(r.membership === null ? {} : { membership: r.membership }),
    ...(r.epochs.length === 1 && (a.reconfig ?? 'none') === 'none' ? {} : { epochs: r.epochs }),
    settled: r.settled,
    violations: r.violations,
    ...(wallMs === undefined ? {} : { wallMs: Math.round(wallMs) }),
  };
}

/**
 * A one-line progress bar on stderr, redrawn in place (on a terminal without --json, or when
 * --progress asks); `ofLimit`: the bar runs to a limit the run may end before (a plugin's mission).
 */
interface ProgressBar {
  (p: SimProgress): void;
  drawn: boolean;
}

function progressBar(show: boolean, ofLimit = false): ProgressBar | undefined {
  if (!show) return undefined;
  const bar: ProgressBar = (p) => {
    bar.drawn = true;
    const frac = Math.min(1, p.virtualMs / p.durationMs);
    const width = 30;
    const done = Math.round(frac * width);
    const line = `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${(frac * 100).toFixed(0).padStart(3)}%${ofLimit ? ` of the ${Math.round(p.durationMs / 1000)} s limit` : ''}  ${(p.virtualMs / 1000).toFixed(1)} s virtual, ${p.events} events, ${p.ops} ops `;
    // Redrawn in place on a terminal; one line per update into a file or pipe (--progress).
    process.stderr.write(process.stderr.isTTY === true ? `\r${line}` : `${line}\n`);
  };
  bar.drawn = false;
  return bar;
}

/** Ends the bar: erased on a terminal (elsewhere each update was a line of its own). */
function clearProgress(bar: ProgressBar | undefined): void {
  if (bar?.drawn === true && process.stderr.isTTY === true) process.stderr.write('\r\x1b[K');
}

/** Writes the HTML report; a path that cannot be written is the user's to fix (exit 2). */
function writeReport(file: string, data: ReportData): void {
  try {
    writeFileSync(file, renderReport(data));
  } catch (err) {
    process.stderr.write(`covey sim: cannot write the report to ${file}: ${(err as Error).message} (give a writable path ending in .html)\n`);
    process.exit(2);
  }
  process.stderr.write(`report: ${file}\n`);
}

export function runOne(a: SimArgs): number {
  const seed = a.seeds[0];
  const onProgress = progressBar(showProgress(a));
  const started = performance.now();
  const r = runSimulation({ ...simulationOptions(a, seed), onProgress });
  const wallMs = performance.now() - started;
  clearProgress(onProgress);
  if (a.history !== undefined) writeFileSync(a.history, r.history);
  const s = summarize(a, seed, r, wallMs);
  if (a.report !== undefined) {
    writeReport(a.report, workloadReport({
      title: `seed ${seed}, ${a.voters} voters, ${a.agents} agents, ${a.workload} workload, ${a.durationMs} ms, faults: ${[...a.faults].join(', ') || 'none'}`,
      replay: replayCommand(a, seed), seed, voters: a.voters, agents: a.agents, durationMs: a.durationMs, summary: s, result: r, passed: passed(r),
    }));
  }
  if (a.json) process.stdout.write(JSON.stringify(s) + '\n');
  else {
    const l = s.latencyMs as { p50: number | null; p90: number | null; p99: number | null };
    const fc = r.faults;
    process.stdout.write([
      `seed ${seed}, ${a.voters} voters, ${a.agents} agents, ${a.workload} workload, ${a.durationMs} ms virtual, faults: ${[...a.faults].join(', ') || 'none'}`,
      `operations ${r.ops} (${s.throughput as number}/s virtual), latency p50 ${l.p50} ms, p90 ${l.p90} ms, p99 ${l.p99} ms${a.rate === null ? '' : `, ${r.shed} arrivals shed`}`,
      `injected: ${fc.crashes} crashes, ${fc.partitions} partitions (${fc.splits} splits, ${fc.isolated} isolated, ${fc.oneWay} one-way, ${fc.flapping} flapping), ` +
        `${fc.pauses} pauses, ${fc.skews} clock skews, ${fc.dropped} messages dropped, ${fc.duplicated} duplicated, ${fc.reordered} reordered`,
      ...((a.reconfig ?? 'none') === 'none' ? [] : [`voter sets (${fc.reconfigurations} changes submitted, ${r.epochs.length - 1} took effect): ${r.epochs.map((e) => `epoch ${e.epoch}: ${e.voters.join(',')}`).join('; ')}`]),
      ...(r.tasks === null ? [] : [`task board: ${r.tasks.stats.tasksCreated} created, ${r.tasks.stats.claims} claims, ${r.tasks.stats.completions} completed, ${r.tasks.stats.refusedCompletions} completions refused`]),
      `linearizable: ${r.linearizable}; settled after the faults: ${r.settled}; violations: ${r.violations.length}`,
      ...r.violations.slice(0, 20).map((v) => `  ${v}`),
      `trace hash ${r.traceHash}  (${r.events} events in ${(wallMs / 1000).toFixed(1)} s wall)`,
    ].join('\n') + '\n');
  }
  return passed(r) ? 0 : 1;
}

export function runSweep(a: SimArgs): number {
  const failing: { seed: number; violations: string[]; replay: string }[] = [];
  const tty = showProgress(a);
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

export interface PluginArgs {
  readonly voters: VoterCount;
  readonly agents: number;
  readonly seeds: readonly number[];
  readonly faults: ReadonlySet<Fault>;
  readonly killShare: number;
  /** --duration: the most virtual time the mission may take (default: the scenario's, 4 × ideal + 60 s). */
  readonly limitMs?: number;
  readonly history?: string;
  readonly report?: string;
  readonly json: boolean;
  readonly progress: boolean;
  /** Print every plugin log line and failure to stderr. */
  readonly pluginLogs: boolean;
}

/** Plugin failures shown in the summary at most (all of them with --plugin-logs and in the report). */
const failuresInSummaryMax = 10;

export function pluginReplayCommand(path: string, a: PluginArgs, seed: number): string {
  return [
    `npm run covey -- sim --plugin ${path} --voters ${a.voters} --agents ${a.agents} --seed ${seed} --faults ${[...a.faults].join(',') || "''"} --kill-share ${a.killShare}`,
    ...(a.limitMs === undefined ? [] : [`--duration ${a.limitMs}ms`]),
  ].join(' ');
}

/** One log line for the terminal: virtual time, agent, level, message, fields (a failure's stack on lines of its own). */
export function formatLogLine(l: LogLine): string {
  const { err, ...rest } = l.fields as { err?: { message?: string; stack?: string } };
  const fields = Object.keys(rest).length === 0 ? '' : ` ${JSON.stringify(rest)}`;
  const stack = typeof err?.stack === 'string' ? `\n    ${err.stack.split('\n').join('\n    ')}` : '';
  return `${(l.atMs / 1000).toFixed(3).padStart(9)} s  agent-${l.agent}  ${l.level.padEnd(5)}  ${l.msg}${fields}${stack}`;
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
    firstPluginFailures: r.failures.slice(0, failuresInSummaryMax).map((f) => ({ agent: f.agent, atMs: Math.round(f.atMs), error: f.error })),
    injected: r.sim.faults,
    taskBoard: r.sim.tasks?.stats ?? null,
    settled: r.sim.settled,
    violations: r.sim.violations,
    traceHash: r.sim.traceHash,
    events: r.sim.events,
    wallMs: Math.round(wallMs),
  };
}

export async function runPlugin(path: string, a: PluginArgs, cmd: Command): Promise<number> {
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
    const onProgress = progressBar(showProgress(a), true);
    const r = await runPluginSimulation({
      module, seed, voters: a.voters, agents: a.agents, killShare: a.killShare, limitMs: a.limitMs,
      crashes: f.has('crash'), partitions: f.has('partition'), pauses: f.has('pause'), skew: f.has('skew'),
      loss: f.has('loss') ? lossRate : 0, duplicate: f.has('dup') ? duplicateRate : 0, reorder: f.has('reorder') ? reorderRate : 0,
      keepLogs: a.pluginLogs || a.report !== undefined, keepTracks: a.report !== undefined, onProgress,
    });
    clearProgress(onProgress);
    const s = summarizePlugin(a, seed, r, performance.now() - started);
    if (a.history !== undefined) writeFileSync(a.history, r.sim.history);
    const ok = r.missionComplete && r.sim.violations.length === 0 && r.completions.moreThanOnce === 0;
    if (!ok) worst = 1;
    if (a.pluginLogs) {
      process.stderr.write(`plugin logs, seed ${seed}: ${r.logs.length} lines, ${r.failures.length} failures\n`);
      for (const l of r.logs) process.stderr.write(formatLogLine(l) + '\n');
    }
    if (a.report !== undefined) {
      writeReport(a.report, pluginReport({
        title: `seed ${seed}, ${a.voters} voters, ${a.agents} agents, plugin ${path}, faults: ${[...f].join(', ') || 'none'}`,
        replay: pluginReplayCommand(path, a, seed), seed, voters: a.voters, agents: a.agents, source: path, summary: s, run: r, passed: ok,
      }));
    }
    if (a.json) { process.stdout.write(JSON.stringify(s) + '\n'); continue; }
    const fc = r.sim.faults;
    process.stdout.write([
      `seed ${seed}, ${a.voters} voters, ${a.agents} agents, plugin ${path}, faults: ${[...f].join(', ') || 'none'}`,
      `mission ${r.missionComplete ? 'complete' : 'NOT complete'}${s.completionTime === null ? '' : ` at ${((s.completionTime as number) / 1000).toFixed(1)} s virtual`}; ideal ${((s.idealTime as number) / 1000).toFixed(1)} s${s.ratio === null ? '' : ` (×${s.ratio as number})`}`,
      `report: ${JSON.stringify(r.report)}`,
      `injected: ${fc.crashes} crashes (${(r.report.dronesLost as number | undefined) ?? 0} lost for good), ${fc.partitions} partitions, ${fc.dropped} messages dropped; plugin failures ${r.pluginFailures}`,
      ...r.failures.slice(0, a.pluginLogs ? 0 : 3).map((x) => `  agent-${x.agent} at ${(x.atMs / 1000).toFixed(1)} s: ${x.error}`),
      ...(r.failures.length > 0 && !a.pluginLogs ? [`  (--plugin-logs prints every failure with its stack and every plugin log line; --report FILE.html shows them too)`] : []),
      `task board: ${r.sim.tasks === null ? 'no task operations' : `${r.sim.tasks.stats.claims} claims, ${r.sim.tasks.stats.completions} completed, ${r.sim.tasks.stats.refusedCompletions} completions refused`}; tasks completed more than once: ${r.completions.moreThanOnce}`,
      `settled: ${r.sim.settled}; violations: ${r.sim.violations.length}`,
      ...r.sim.violations.slice(0, 20).map((v) => `  ${v}`),
      `trace hash ${r.sim.traceHash}  (${r.sim.events} events in ${((s.wallMs as number) / 1000).toFixed(1)} s wall)`,
    ].join('\n') + '\n');
  }
  return worst;
}
