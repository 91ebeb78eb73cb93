// The survey under `covey sim --plugin examples/survey`: voters are ground stations (they plan),
// every other agent is a drone with a simulated autopilot, lined up along the area's south edge.
// The report compares the completion time with the ideal: cells ÷ drones × time to fly one cell.

import { ManualClock } from '../../devices/clock.ts';
import { SimAutopilot } from '../../devices/sim/autopilot.ts';
import type { MissionMap, PluginScenario, ScenarioSetup, ScenarioView } from '../../sim/plugins/scenario.ts';
import { cellsOf, lawnmower, pathLength, toLatLon, type Area } from './geometry.ts';
import { coverageTopic, followPath, surveyOptions, taskIdOf, type CoverageMessage, type SurveyOptions } from './plugin.ts';

/** The area: 400 m × 400 m of 40 m cells (100 cells), somewhere flat. */
export const simArea: Area = { origin: { lat: 47.3977, lon: 8.5456 }, widthM: 400, heightM: 400 };
const mission = 'sim';

function optionsFor(): SurveyOptions {
  return surveyOptions.parse({ mission, area: simArea, cellSizeM: 40, trackSpacingM: 10, altitudeM: 20, speedMps: 5, leaseMs: 20_000 });
}

const drones = (s: ScenarioSetup): number => s.agents - s.voters;

/** A drone's home, metres from the area's origin: spread evenly along the south edge, 5 m south of it. */
function homeOf(agent: number, s: ScenarioSetup): { north: number; east: number } {
  const slot = (agent - s.voters + 0.5) / Math.max(1, drones(s));
  return { north: -5, east: simArea.widthM * slot };
}

const vehicle = { maxSpeed: 10, maxAccel: 3 };

/** Time to fly one cell's lawnmower path at the survey speed, on paper (length ÷ speed). */
export function cellPathTimeMs(o: SurveyOptions): number {
  const cell = cellsOf(o.area, o.cellSizeM)[0];
  return (pathLength(lawnmower(cell, o.trackSpacingM)) / o.speedMps) * 1000;
}

/**
 * Time one drone takes to fly one cell, measured: the same simulated vehicle, alone, already at
 * the cell's first waypoint, flies the rest of the path with the plugin's own followPath (so the
 * turns at each leg count). This is the "time per cell" of the ideal.
 */
export async function measureCellTimeMs(o: SurveyOptions): Promise<number> {
  const cell = cellsOf(o.area, o.cellSizeM)[0];
  const path = lawnmower(cell, o.trackSpacingM);
  const clock = new ManualClock(0);
  const ap = new SimAutopilot({ id: 'probe', clock, home: toLatLon(o.area.origin, path[0].north, path[0].east), ...vehicle });
  const tick = async (): Promise<void> => { clock.advance(200); await Promise.resolve(); };
  await ap.open();
  await ap.arm();
  await ap.takeoff(o.altitudeM);
  while ((ap.position()?.alt ?? 0) < o.altitudeM - o.arriveWithinM) await tick();
  const start = clock.now();
  await followPath(ap, o, path, tick, () => false, () => {});
  await ap.close();
  return clock.now() - start;
}

let measuredCellMs: number | null = null;
function cellTimeMs(): number {
  if (measuredCellMs === null) throw new Error('survey scenario: prepare() was not awaited before the run');
  return measuredCellMs;
}

export const simulation: PluginScenario = {
  async prepare() {
    measuredCellMs ??= await measureCellTimeMs(optionsFor());
  },
  options: () => optionsFor(),
  devices(agent, _setup, hw) {
    if (agent.role === 'voter') return [];
    const at = homeOf(agent.index, _setup);
    const home = toLatLon(simArea.origin, at.north, at.east);
    const ap = new SimAutopilot({ id: 'autopilot', clock: hw.clock, random: hw.random, home, ...vehicle, positionNoise: 0.2 });
    // The ground crew: a drone landed (disarmed) with a low battery gets a fresh one 60 s later.
    let swapping = false;
    hw.clock.every(5000, () => {
      if (swapping || ap.status.state !== 'available' || ap.state().armed || ap.battery.remaining >= 0.5) return;
      swapping = true;
      hw.clock.after(60_000, () => { swapping = false; ap.battery.setRemaining(1); });
    });
    return [ap];
  },
  mortal: (agent) => agent.role === 'worker',
  idealTimeMs(setup) {
    const o = optionsFor();
    const cells = cellsOf(o.area, o.cellSizeM).length;
    return Math.round((cells / Math.max(1, drones(setup))) * cellTimeMs());
  },
  done(view) {
    const o = optionsFor();
    const total = cellsOf(o.area, o.cellSizeM).length;
    const prefix = taskIdOf(mission, '');
    return view.tasks().filter((t) => t.taskId.startsWith(prefix) && t.status === 'done').length === total;
  },
  map(view: ScenarioView): MissionMap {
    const o = optionsFor();
    const byTask = new Map(view.tasks().map((t) => [t.taskId, t]));
    const coveredBy = new Map<string, Set<string>>();
    for (const p of view.published) {
      const m = p.topic === coverageTopic ? p.value as CoverageMessage : null;
      if (m === null || m.state !== 'covered') continue;
      let s = coveredBy.get(m.cell);
      if (s === undefined) coveredBy.set(m.cell, (s = new Set()));
      s.add(m.drone);
    }
    return {
      widthM: o.area.widthM,
      heightM: o.area.heightM,
      cells: cellsOf(o.area, o.cellSizeM).map((c) => {
        const t = byTask.get(taskIdOf(mission, c));
        return { id: c.id, north: c.north, east: c.east, sizeM: c.size, status: t?.status ?? null, doneBy: t?.status === 'done' ? t.owner : null, coveredBy: [...(coveredBy.get(c.id) ?? [])].sort() };
      }),
    };
  },
  position(view: ScenarioView, agent: number) {
    // The simulated vehicle's true position (no noise drawn), from its home.
    const ap = view.devices(agent).find((d) => d instanceof SimAutopilot);
    if (ap === undefined) return undefined;
    const p = ap.truePosition();
    const home = homeOf(agent, view.setup);
    return { north: home.north + p.n, east: home.east + p.e };
  },
  report(view: ScenarioView) {
    const o = optionsFor();
    const cells = cellsOf(o.area, o.cellSizeM);
    const prefix = taskIdOf(mission, '');
    const tasks = view.tasks().filter((t) => t.taskId.startsWith(prefix));
    // Cells flown end to end by two or more drones (ground truth: what the drones published).
    const coveredBy = new Map<string, Set<number>>();
    for (const p of view.published) {
      if (p.topic !== coverageTopic) continue;
      const m = p.value as CoverageMessage;
      if (m.state !== 'covered') continue;
      let s = coveredBy.get(m.cell);
      if (s === undefined) coveredBy.set(m.cell, (s = new Set()));
      s.add(p.agent);
    }
    const completedBy = new Map<number, number>();
    for (const t of tasks) {
      if (t.status !== 'done' || t.owner === null) continue;
      const a = Number(t.owner.replace('agent-', ''));
      completedBy.set(a, (completedBy.get(a) ?? 0) + 1);
    }
    return {
      cellsTotal: cells.length,
      cellsCovered: tasks.filter((t) => t.status === 'done').length,
      cellsCoveredTwice: [...coveredBy.values()].filter((s) => s.size >= 2).length,
      drones: drones(view.setup),
      dronesLost: view.killed.length,
      idealTime: simulation.idealTimeMs(view.setup),
      cellTimeMs: Math.round(cellTimeMs()),
      cellPathTimeMs: Math.round(cellPathTimeMs(o)),
      cellsPerDrone: Object.fromEntries([...completedBy.entries()].sort((a, b) => a[0] - b[0])),
    };
  },
};
