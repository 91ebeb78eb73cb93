// `covey sim --plugin PATH`: a plugin module (its plugin and its `simulation` scenario) run on
// every agent of a simulated swarm, under the engine's faults, to the scenario's end. The result
// joins the engine's checkers (task board fencing over the plugins' task operations, durability,
// invariants, liveness) with the scenario's own report.

import { loadFailureHint, pluginOf, resolvePluginModule, PluginLoadError } from '../../agent/plugins/loader.ts';
import type { PluginDefinition } from '../../agent/plugins/api.ts';
import { runSimulationAsync, type SimProgress, type SimulationOptions, type SimulationResult, type VoterCount } from '../engine/simulation.ts';
import { SimPluginHost, type LogLine } from './host.ts';
import { isScenario, type MissionMap, type PluginScenario, type Published } from './scenario.ts';

export interface PluginModule {
  readonly plugin: PluginDefinition<unknown, unknown>;
  readonly scenario: PluginScenario;
  readonly source: string;
}

/** Loads a plugin module for the simulator: a path (relative to cwd) or a package; a directory means its index.ts. */
export async function loadPluginModule(path: string, cwd = process.cwd()): Promise<PluginModule> {
  const candidates = /\.(ts|js|mjs)$/.test(path) ? [path] : [`${path.replace(/\/$/, '')}/index.ts`, `${path.replace(/\/$/, '')}/index.js`, path];
  let lastError: unknown;
  for (const c of candidates) {
    const spec = c.startsWith('.') || c.startsWith('/') ? c : (c.includes('/') && !c.startsWith('@') ? `./${c}` : c);
    try {
      const mod = await import(resolvePluginModule(spec, cwd)) as Record<string, unknown>;
      const plugin = pluginOf(mod, path);
      if (!isScenario(mod.simulation)) {
        throw new PluginLoadError(`${path}: exports a plugin but no \`simulation\` scenario; export const simulation = { options, devices, idealTimeMs, done, report } (see sim/README.md)`);
      }
      return { plugin, scenario: mod.simulation, source: path };
    } catch (err) {
      if (err instanceof PluginLoadError) throw err;
      lastError = err;
    }
  }
  const e = lastError as NodeJS.ErrnoException;
  const hint = e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND' ? 'give a plugin module path, a directory with index.ts, or an installed package\'s name' : loadFailureHint(e);
  throw new PluginLoadError(`--plugin ${path}: cannot load it: ${e.message.split('\n')[0]} (${hint})`);
}

export interface PluginRunOptions {
  readonly module: PluginModule;
  readonly seed: number;
  readonly voters: VoterCount;
  readonly agents: number;
  /** Engine faults; `crash` also kills `killShare` of the mortal agents for good, `partition` adds one long partition. */
  readonly crashes: boolean;
  readonly partitions: boolean;
  readonly loss?: number;
  readonly duplicate?: number;
  readonly reorder?: number;
  readonly pauses?: boolean;
  readonly skew?: boolean;
  readonly killShare?: number;
  /** Upper bound on virtual time (default 4 × the ideal time + 60 s). */
  readonly limitMs?: number;
  readonly keepLogs?: boolean;
  /** Sample every agent's position (scenario.position) each second of virtual time, for the report's flight paths. */
  readonly keepTracks?: boolean;
  /** Called every few thousand events (a progress bar); durationMs is the limit on virtual time. */
  readonly onProgress?: (p: SimProgress) => void;
}

/** Where an agent was, metres north/east of the map's origin, at virtual time atMs. */
export interface TrackPoint {
  readonly atMs: number;
  readonly north: number;
  readonly east: number;
}

/** Track points kept per agent at most (one a second: over five hours of virtual time). */
export const trackPointsMax = 20_000;
const trackEveryMs = 1000;

export interface PluginRunResult {
  readonly sim: SimulationResult;
  readonly report: Record<string, unknown>;
  readonly missionComplete: boolean;
  readonly idealTimeMs: number;
  readonly pluginFailures: number;
  /** Each plugin failure (a restart under supervision): when, where, its message and fields (the error's stack). */
  readonly failures: readonly { readonly agent: number; readonly atMs: number; readonly error: string; readonly fields: object }[];
  /** Log lines of every plugin, when keepLogs was set. */
  readonly logs: readonly LogLine[];
  /** The mission's map at the end (scenario.map), or null when the scenario has none. */
  readonly map: MissionMap | null;
  /** Per agent with a position, its path (keepTracks); agents killed for good are in view.killed. */
  readonly tracks: ReadonlyMap<number, readonly TrackPoint[]>;
  /** Agents lost for good, with when. */
  readonly killed: readonly { readonly agent: number; readonly atMs: number }[];
  /** When the mission was done (virtual ms), or null. */
  readonly completeAtMs: number | null;
  /** Every telemetry message published, as published. */
  readonly published: readonly Published[];
  /** From the history: tasks completed (an ok task-complete), and how many were completed more than once. */
  readonly completions: { readonly tasks: number; readonly moreThanOnce: number };
}

/** Counts the ok task-complete operations per task in a history (JSON Lines). */
export function completionsOf(history: string): { tasks: number; moreThanOnce: number } {
  const perTask = new Map<string, number>();
  for (const line of history.split('\n')) {
    if (line === '' || !line.includes('"task-complete"')) continue;
    const e = JSON.parse(line) as { type: string; key: string };
    if (e.type === 'ok') perTask.set(e.key, (perTask.get(e.key) ?? 0) + 1);
  }
  return { tasks: perTask.size, moreThanOnce: [...perTask.values()].filter((n) => n > 1).length };
}

export async function runPluginSimulation(o: PluginRunOptions): Promise<PluginRunResult> {
  const setup = { agents: o.agents, voters: o.voters, seed: o.seed };
  await o.module.scenario.prepare?.(setup);
  const idealTimeMs = o.module.scenario.idealTimeMs(setup);
  const host = new SimPluginHost({
    plugin: o.module.plugin,
    source: o.module.source,
    scenario: o.module.scenario,
    seed: o.seed,
    killShare: o.crashes ? (o.killShare ?? 0.3) : 0,
    longPartition: o.partitions ? { share: 0.25, durationMs: 60_000, atIdealShare: 0.3 } : null,
    keepLogs: o.keepLogs,
  });
  let completeAtMs: number | null = null;
  const tracks = new Map<number, TrackPoint[]>();
  let trackedAtMs = -Infinity;
  const sampleTracks = (view: ReturnType<SimPluginHost['view']>): void => {
    const position = o.module.scenario.position;
    if (o.keepTracks !== true || position === undefined || view.nowMs < trackedAtMs + trackEveryMs) return;
    trackedAtMs = view.nowMs;
    for (let a = 0; a < o.agents; a++) {
      const p = position(view, a);
      if (p === undefined) continue;
      let list = tracks.get(a);
      if (list === undefined) tracks.set(a, (list = []));
      const last = list.at(-1);
      if (list.length >= trackPointsMax || (last !== undefined && Math.hypot(last.north - p.north, last.east - p.east) < 0.5)) continue;
      list.push({ atMs: view.nowMs, north: round1(p.north), east: round1(p.east) });
    }
  };
  const scenarioHost = {
    attach: host.attach.bind(host),
    crashed: host.crashed.bind(host),
    restarted: host.restarted.bind(host),
    deliver: host.deliver.bind(host),
    end: host.end.bind(host),
    done: (): boolean => {
      if (o.keepTracks === true) sampleTracks(host.view());
      const d = host.done();
      if (d && completeAtMs === null) completeAtMs = host.view().nowMs;
      return d;
    },
  };
  const options: SimulationOptions = {
    seed: o.seed,
    voters: o.voters,
    agents: o.agents,
    clients: 0,
    durationMs: o.limitMs ?? Math.round(4 * idealTimeMs + 60_000),
    crashes: o.crashes,
    // Agent software crashes (restarted) every 20–60 s of virtual time; kills come on top.
    crashEveryMs: { min: 20_000, max: 60_000 },
    partitions: o.partitions,
    loss: o.loss ?? 0,
    duplicate: o.duplicate ?? 0,
    reorder: o.reorder ?? 0,
    pauses: o.pauses ?? false,
    skew: o.skew ?? false,
    requestTimeoutMs: 5000,
    host: scenarioHost,
    onProgress: o.onProgress,
  };
  const sim = await runSimulationAsync(options);
  const view = host.view();
  return {
    sim,
    report: { ...o.module.scenario.report(view), completionTime: completeAtMs },
    missionComplete: completeAtMs !== null,
    idealTimeMs,
    pluginFailures: host.failures.length,
    failures: host.failures,
    logs: host.logs,
    map: o.module.scenario.map?.(view) ?? null,
    tracks,
    killed: host.killed,
    completeAtMs,
    published: host.published,
    completions: completionsOf(sim.history),
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
