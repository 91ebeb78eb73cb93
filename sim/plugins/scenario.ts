// What a plugin module exports, besides its plugin, so `covey sim --plugin PATH` can run it: the
// options each agent's copy gets, the simulated hardware each agent carries, when the mission is
// over, and what to report. The plugin itself is unchanged: it runs in the simulator exactly as
// on a device (agent/plugins/).

import type { DeviceClock, RandomSource } from '../../devices/clock.ts';
import type { Device } from '../../devices/types.ts';
import type { TaskView } from '../../consensus/index.ts';

export interface ScenarioAgent {
  readonly index: number;
  /** The agent's id as plugins see it ("agent-7"). */
  readonly id: string;
  readonly role: 'voter' | 'worker';
}

export interface ScenarioSetup {
  readonly agents: number;
  readonly voters: number;
  readonly seed: number;
}

/** A telemetry message as published (ground truth: whether or not any agent received it). */
export interface Published {
  readonly agent: number;
  readonly topic: string;
  readonly value: unknown;
  readonly atMs: number;
}

/** The simulator's view of the run, for done() and report(): ground truth, not any agent's. */
export interface ScenarioView {
  readonly setup: ScenarioSetup;
  /** Virtual time since the start, ms. */
  readonly nowMs: number;
  /** The task board of the most advanced voter (the one that has applied the most). */
  tasks(): TaskView[];
  readonly published: readonly Published[];
  /** Agents the crash fault killed for good, with when. */
  readonly killed: readonly { readonly agent: number; readonly atMs: number }[];
  devices(agent: number): readonly Device[];
}

export interface PluginScenario {
  /** Awaited once before the run (e.g. to measure what the ideal is based on). */
  prepare?(setup: ScenarioSetup): Promise<void>;
  /** Options for the plugin's copy on this agent; validated against the plugin's schema. */
  options(agent: ScenarioAgent, setup: ScenarioSetup): unknown;
  /** The simulated hardware of this agent (it outlives crashes of the agent's software). */
  devices?(agent: ScenarioAgent, setup: ScenarioSetup, hw: { readonly clock: DeviceClock; readonly random: RandomSource }): Device[];
  /** Agents the crash fault may kill for good (say, the drones); default every non-voter. */
  mortal?(agent: ScenarioAgent, setup: ScenarioSetup): boolean;
  /** When the mission should be over if nothing went wrong (ms): kills happen within it, and the report compares against it. */
  idealTimeMs(setup: ScenarioSetup): number;
  done(view: ScenarioView): boolean;
  report(view: ScenarioView): Record<string, unknown>;
  /** For the report's map (`covey sim --report`): the area, its cells and who covered them. */
  map?(view: ScenarioView): MissionMap;
  /**
   * Where an agent is now, metres north/east of the map's origin, or undefined (no vehicle). Read
   * at every second of virtual time for the report's flight paths: it must only read (no
   * randomness, no commands), so the run is the same with or without a report.
   */
  position?(view: ScenarioView, agent: number): { readonly north: number; readonly east: number } | undefined;
}

/** A mission's area for the report's map, in metres north and east of its south-west corner. */
export interface MissionMap {
  readonly widthM: number;
  readonly heightM: number;
  readonly cells: readonly MapCell[];
}

export interface MapCell {
  readonly id: string;
  /** South-west corner and side, metres. */
  readonly north: number;
  readonly east: number;
  readonly sizeM: number;
  /** The task's state on the board (open, claimed, done), or null when it has no task. */
  readonly status: string | null;
  /** The agent the board credits with it (the completing owner), as "agent-7". */
  readonly doneBy: string | null;
  /** Every agent that reported flying it end to end (two or more: flown twice). */
  readonly coveredBy: readonly string[];
}

export function isScenario(x: unknown): x is PluginScenario {
  if (typeof x !== 'object' || x === null) return false;
  const s = x as Record<string, unknown>;
  return typeof s.options === 'function' && typeof s.idealTimeMs === 'function' && typeof s.done === 'function' && typeof s.report === 'function';
}
