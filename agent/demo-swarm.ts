// The swarm `npm start` brings up: three voters that are ground stations (they plan the survey's
// cells) and two workers that are drones, each with a simulated autopilot, all running the
// survey example (examples/survey). Every run flies a new mission (a new name, so new tasks),
// so the dashboard's map moves each time, not only the first.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { createSwarm, readSwarm, type Swarm } from './swarm.ts';

/** The survey plugin, by path: the agent room does not import examples/, the agents load it. */
const surveyModule = new URL('../examples/survey/index.ts', import.meta.url).pathname;

/** Where the demo flies (a field near Zürich); 160 × 120 m in 40 m cells: 12 cells, a few minutes for two drones. */
const origin = { lat: 47.397, lon: 8.545 };
export const demoVoters = 3;
export const demoDrones = 2;

function surveyOptions(mission: string): Record<string, unknown> {
  return { mission, area: { origin, widthM: 160, heightM: 120 }, cellSizeM: 40, trackSpacingM: 10, altitudeM: 15, speedMps: 6, transitSpeedMps: 10, leaseMs: 15_000 };
}

/** A metre offset from the origin as lat/lon (a few hundred metres: flat enough). */
function offset(northM: number, eastM: number): { lat: number; lon: number } {
  const rad = Math.PI / 180;
  return { lat: origin.lat + northM / 6_371_000 / rad, lon: origin.lon + eastM / (6_371_000 * Math.cos(origin.lat * rad)) / rad };
}

/**
 * The demo swarm in `dir`: made on the first run; on a later run, every agent's survey mission
 * is renamed so that the drones fly again. Null when `dir` holds a swarm of another shape (an
 * older demo): the caller says how to start afresh.
 */
export async function demoSwarm(dir: string, name: string): Promise<{ swarm: Swarm; mission: string } | null> {
  const mission = `demo-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '').slice(2)}`;
  if (!existsSync(join(dir, 'swarm.json'))) {
    const swarm = await createSwarm(dir, {
      voters: demoVoters,
      workers: demoDrones,
      name,
      plugins: [{ module: surveyModule, options: surveyOptions(mission) }],
      devices: (_i, a) => a.voter ? [] : [{ driver: 'sim-autopilot', name: 'autopilot', home: offset(-10, 20 + 30 * a.workerIndex!), maxSpeed: 12, maxAccel: 4, maxClimb: 4 }],
    });
    return { swarm, mission };
  }
  const s = readSwarm(dir);
  if (s.agents.length !== demoVoters + demoDrones) return null;
  for (const a of s.agents) {
    const config = parseYaml(readFileSync(a.config, 'utf8')) as { plugins?: Array<{ module?: string; options?: Record<string, unknown> }> };
    for (const p of config.plugins ?? []) if (p.module === surveyModule) p.options = surveyOptions(mission);
    writeFileSync(a.config, `# agent ${a.index} of the demo swarm (npm start renames the survey mission each run)\n${stringify(config)}`);
  }
  return { swarm: s, mission };
}
