// Area survey: the area is split into square cells, one task per cell on the replicated task
// board. An agent without an autopilot (a ground station) plans: it creates the cells' tasks.
// Every drone loops: pick the nearest cell it does not know to be taken, claim it (a lease and a
// fencing token), fly the cell's lawnmower path while renewing the lease, complete the task with
// its token, and publish coverage telemetry all along so the others know what is taken and done.
//
// Failures: a drone that dies mid-cell stops renewing; its lease runs out and another drone claims
// the cell with a larger token, so the dead drone's late report (if it ever comes) is refused. A
// drone that cannot renew (cut off) stops flying the cell before its lease ends, so two drones
// rarely fly the same cell; when it happens anyway, the task board still counts the cell once.

import { z } from 'zod';
import { definePlugin, PluginStoppedError, UnavailableError, type PluginContext, type TaskClaim, type TaskOutcome } from '../../agent/plugins/api.ts';
import type { Autopilot } from '../../devices/types.ts';
import { cellCentre, cellsOf, lawnmower, toLatLon, toNorthEast, type Cell } from './geometry.ts';

export const surveyOptions = z.strictObject({
  /** Names this mission's tasks: survey/<mission>/<cell>. */
  mission: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, { error: 'a short lowercase name, e.g. "field-7"' }).default('survey'),
  area: z.strictObject({
    origin: z.strictObject({ lat: z.number().min(-85).max(85), lon: z.number().min(-180).max(180) }),
    widthM: z.number().positive().max(20_000),
    heightM: z.number().positive().max(20_000),
  }),
  cellSizeM: z.number().min(5).max(1000).default(40),
  trackSpacingM: z.number().min(1).max(200).default(10),
  altitudeM: z.number().min(2).max(120).default(20),
  speedMps: z.number().positive().max(20).default(5),
  /** Speed between cells (not surveying). */
  transitSpeedMps: z.number().positive().max(30).default(10),
  leaseMs: z.number().int().min(2000).max(600_000).default(20_000),
  /** The autopilot device's name in the agent config. */
  autopilot: z.string().default('autopilot'),
  arriveWithinM: z.number().positive().default(1.5),
  /** Turn to the next waypoint this far before reaching a corner, so the drone does not stop at every leg (≈ braking distance). */
  cornerM: z.number().nonnegative().default(4),
  returnHome: z.boolean().default(true),
  /** Below this battery fraction a drone takes no new cell: it flies home and lands. */
  batteryReserve: z.number().min(0).max(1).default(0.3),
  /** A landed drone flies again once its battery is back above this (swapped or charged). */
  batteryResume: z.number().min(0).max(1).default(0.9),
});
export type SurveyOptions = z.output<typeof surveyOptions>;

export const coverageTopic = 'survey/coverage';
export const coverageMessage = z.strictObject({
  mission: z.string(),
  cell: z.string(),
  drone: z.string(),
  /** claimed: leased; progress: flying it; covered: flown end to end; done: completed on the board; lost: gave it up. */
  state: z.enum(['claimed', 'progress', 'covered', 'done', 'lost']),
  token: z.number().int().nonnegative(),
  /** The claimer's clock (ms): until when the lease holds. */
  leaseExpiresMs: z.number(),
  pct: z.number().min(0).max(100),
  /** Where the drone was, metres north/east of the area's origin (lets the others leave it the cells nearest it). */
  north: z.number().optional(),
  east: z.number().optional(),
});
export type CoverageMessage = z.output<typeof coverageMessage>;

export function taskIdOf(mission: string, cell: Cell | string): string {
  return `survey/${mission}/${typeof cell === 'string' ? cell : cell.id}`;
}

/** What a drone believes about a cell (a hint: the task board decides). */
interface Belief {
  state: 'claimed' | 'done';
  /** Own-clock time after which a claim may be tried again. */
  retryAt: number;
}

type Ctx = PluginContext<SurveyOptions>;

export const survey = definePlugin({
  name: 'survey',
  version: '1.0.0',
  capabilities: { tasks: ['survey/'], topics: [coverageTopic], devices: ['kind:autopilot'] },
  options: surveyOptions,
  start(ctx: Ctx) {
    const ap = ctx.devices.find('autopilot') as Autopilot | undefined;
    if (ap === undefined) ctx.spawn('survey planner', () => plan(ctx));
    else ctx.spawn('survey drone', () => fly(ctx, ctx.devices.autopilot(ctx.options.autopilot)));
  },
  async stop(ctx: Ctx) {
    // Make the hardware safe: a drone whose plugin stops holds its position.
    const ap = ctx.devices.find('autopilot') as Autopilot | undefined;
    if (ap !== undefined && ap.status.state === 'available' && ap.state().armed) await ap.setMode('LOITER').catch(() => {});
  },
});

/** Creates every cell's task (a task that exists already is fine: another planner made it). */
async function plan(ctx: Ctx): Promise<void> {
  const cells = cellsOf(ctx.options.area, ctx.options.cellSizeM);
  for (const cell of cells) {
    const spec = JSON.stringify({ row: cell.row, col: cell.col, north: cell.north, east: cell.east, size: cell.size });
    for (;;) {
      const r = await attempt(ctx, () => ctx.tasks.create(taskIdOf(ctx.options.mission, cell), spec));
      if (r !== null) break;
    }
  }
  ctx.log.info({ cells: cells.length, mission: ctx.options.mission }, 'survey planned');
}

/** Runs op; on UnavailableError waits a little and returns null so the caller retries. */
async function attempt<T>(ctx: Ctx, op: () => Promise<T>): Promise<T | null> {
  try {
    return await op();
  } catch (err) {
    if (!(err instanceof UnavailableError)) throw err;
    await ctx.sleep(500 + 500 * ctx.random());
    return null;
  }
}

async function fly(ctx: Ctx, ap: Autopilot): Promise<void> {
  const o = ctx.options;
  const me = ctx.agent.id;
  const cells = cellsOf(o.area, o.cellSizeM);
  const byId = new Map(cells.map((c) => [c.id, c]));
  const beliefs = new Map<string, Belief>();
  /** Other drones' last reported positions, with when we heard them (own clock). */
  const others = new Map<string, { north: number; east: number; at: number }>();
  const topic = ctx.telemetry.topic(coverageTopic, coverageMessage);
  topic.subscribe((m) => {
    if (m.mission !== o.mission || !byId.has(m.cell)) return;
    if (m.north !== undefined && m.east !== undefined) others.set(m.drone, { north: m.north, east: m.east, at: ctx.clock.now() });
    if (m.state === 'done') beliefs.set(m.cell, { state: 'done', retryAt: Infinity });
    else if ((m.state === 'claimed' || m.state === 'progress') && beliefs.get(m.cell)?.state !== 'done') beliefs.set(m.cell, { state: 'claimed', retryAt: m.leaseExpiresMs });
    else if (m.state === 'lost' && beliefs.get(m.cell)?.state === 'claimed') beliefs.delete(m.cell);
  });
  const say = (cell: Cell, state: CoverageMessage['state'], claim: TaskClaim, pct: number): void => {
    const p = ap.position();
    const where = p === undefined ? {} : toNorthEast(o.area.origin, p);
    topic.publish({ mission: o.mission, cell: cell.id, drone: me, state, token: claim.token, leaseExpiresMs: claim.leaseExpiresMs, pct, ...where }).catch(() => {});
  };
  /** What a refusal says about the cell. */
  const learn = (cell: Cell, r: TaskOutcome<unknown>): void => {
    const t = r.task;
    if (t === undefined) return;
    if (t.status === 'done') beliefs.set(cell.id, { state: 'done', retryAt: Infinity });
    else if (t.status === 'claimed') beliefs.set(cell.id, { state: 'claimed', retryAt: t.leaseExpiresMs });
    else beliefs.delete(cell.id);
  };

  await untilAvailable(ctx, ap);
  // After a restart, a claim this drone held may still be good: resume that cell first.
  let resume = (await ctx.store.get('claim')) as (TaskClaim & { cell: string }) | undefined;

  for (;;) {
    let cell: Cell | undefined;
    let claim: TaskClaim | undefined;
    if (resume !== undefined) {
      const r = await attempt(ctx, () => ctx.tasks.renew(resume!, o.leaseMs));
      if (r === null) continue;
      cell = byId.get(resume.cell);
      resume = undefined;
      if (!r.ok || cell === undefined) { await ctx.store.delete('claim'); continue; }
      claim = r.value;
    } else {
      if (cells.every((c) => beliefs.get(c.id)?.state === 'done')) break;
      if (await batteryLow(ctx, ap)) { await rechargeAtHome(ctx, ap); continue; }
      cell = bestCandidate(ctx, ap, cells, beliefs, others);
      if (cell === undefined) { await ctx.sleep(1000); continue; }
      const r = await attempt(ctx, () => ctx.tasks.claim(taskIdOf(o.mission, cell!), o.leaseMs));
      if (r === null) continue;
      if (!r.ok) {
        // Our own earlier claim whose answer was lost (same worker): adopt it. Otherwise, learn.
        if (r.task?.status === 'claimed' && r.task.owner === me) claim = { taskId: r.task.taskId, token: r.task.token, leaseExpiresMs: r.task.leaseExpiresMs };
        else if (/unknown task/.test(r.error)) { await ctx.sleep(1000); continue; } // not planned yet
        else { learn(cell, r); continue; }
      } else claim = r.value;
      await ctx.store.put('claim', { ...claim, cell: cell.id });
    }
    beliefs.set(cell.id, { state: 'claimed', retryAt: claim.leaseExpiresMs });
    say(cell, 'claimed', claim, 0);
    const flown = await flyCell(ctx, ap, cell, claim, (c, pct) => { claim = c; say(cell!, 'progress', c, pct); });
    if (flown.outcome === 'covered') {
      say(cell, 'covered', flown.claim, 100);
      const done = await completeCell(ctx, flown.claim, cell);
      if (done !== null) {
        beliefs.set(cell.id, { state: 'done', retryAt: Infinity });
        say(cell, 'done', flown.claim, 100);
      } else {
        say(cell, 'lost', flown.claim, 100);
      }
    } else {
      say(cell, 'lost', flown.claim, flown.pct);
      beliefs.delete(cell.id);
      await ctx.sleep(1000 + 1000 * ctx.random()); // whatever went wrong, do not spin on it
    }
    await ctx.store.delete('claim');
  }
  ctx.log.info({ mission: o.mission }, 'survey: every cell is done');
  if (o.returnHome && ap.state().armed) await ap.returnToHome().catch((err: Error) => ctx.log.warn({ err: err.message }, 'return to home refused'));
}

/** Completes the task with the claim's token; null when refused because another claim superseded ours. */
async function completeCell(ctx: Ctx, claim: TaskClaim, cell: Cell): Promise<TaskClaim | null> {
  const result = JSON.stringify({ drone: ctx.agent.id, cell: cell.id, at: ctx.clock.now() });
  for (;;) {
    const r = await attempt(ctx, () => ctx.tasks.complete(claim, result));
    if (r === null) continue; // unknown outcome: try again; a repeat is refused as "already done" with our token
    if (r.ok) return claim;
    const t = r.task;
    if (t?.status === 'done' && t.token === claim.token && t.owner === ctx.agent.id) return claim; // our earlier attempt took effect
    ctx.log.info({ cell: cell.id, token: claim.token, error: r.error }, 'survey: completion refused');
    return null;
  }
}

/**
 * The cell to claim next, among those not believed done or validly claimed: the one this drone is
 * nearest to relative to the other drones (its distance minus the nearest other drone's), then the
 * nearest. Greedy nearest-first leaves far corners to the end, where one drone has a long trip;
 * relative distance hands each corner early to the drone closest to it.
 */
function bestCandidate(ctx: Ctx, ap: Autopilot, cells: readonly Cell[], beliefs: ReadonlyMap<string, Belief>, others: ReadonlyMap<string, { north: number; east: number; at: number }>): Cell | undefined {
  const now = ctx.clock.now();
  const pos = ap.position();
  const here = pos === undefined ? { north: 0, east: 0 } : toNorthEast(ctx.options.area.origin, pos);
  const fresh = [...others.values()].filter((p) => now - p.at <= positionFreshMs);
  let best: Cell | undefined;
  let bestScore = Infinity;
  let bestD = Infinity;
  for (const c of cells) {
    const b = beliefs.get(c.id);
    if (b !== undefined && (b.state === 'done' || now < b.retryAt)) continue;
    const m = cellCentre(c);
    const d = Math.hypot(m.north - here.north, m.east - here.east);
    let nearestOther = Infinity;
    for (const p of fresh) nearestOther = Math.min(nearestOther, Math.hypot(m.north - p.north, m.east - p.east));
    const score = Number.isFinite(nearestOther) ? d - nearestOther : d;
    if (score < bestScore - 1e-6 || (Math.abs(score - bestScore) <= 1e-6 && d < bestD)) { best = c; bestScore = score; bestD = d; }
  }
  return best;
}

/** Positions older than this are not counted (the drone may be gone). */
const positionFreshMs = 15_000;

interface Flight {
  readonly outcome: 'covered' | 'lost';
  readonly claim: TaskClaim;
  readonly pct: number;
}

/**
 * Flies the cell's lawnmower path, renewing the lease every quarter lease. Gives the cell up (and
 * holds position) when a renewal is refused, or when the lease is about to run out without one
 * having succeeded — then someone else may already be on it.
 */
async function flyCell(ctx: Ctx, ap: Autopilot, cell: Cell, first: TaskClaim, onProgress: (c: TaskClaim, pct: number) => void): Promise<Flight> {
  const o = ctx.options;
  let claim = first;
  let refused = false;
  const margin = Math.max(1000, o.leaseMs / 5);
  const renew = ctx.every(o.leaseMs / 4, async () => {
    try {
      const r = await ctx.tasks.renew(claim, o.leaseMs);
      if (r.ok) claim = r.value;
      else refused = true;
    } catch (err) {
      if (!(err instanceof UnavailableError)) throw err; // unreachable majority: the margin check decides
    }
  });
  const lost = (): boolean => refused || ctx.clock.now() > claim.leaseExpiresMs - margin;
  const pos = ap.position();
  const path = lawnmower(cell, o.trackSpacingM, pos === undefined ? undefined : toNorthEast(o.area.origin, pos));
  try {
    await airborne(ctx, ap);
    const reached = await followPath(ap, o, path, (ms) => ctx.sleep(ms), lost, (i) => { if (i > 0) onProgress(claim, Math.round((100 * (i + 1)) / path.length)); });
    if (reached < path.length) return await giveUp(ap, claim, (100 * reached) / path.length);
    return { outcome: 'covered', claim, pct: 100 };
  } catch (err) {
    if (err instanceof PluginStoppedError) throw err;
    // The autopilot refused or timed out (a DeviceError): give the cell up, let supervision see repeated trouble.
    ctx.log.warn({ cell: cell.id, err: (err as Error).message }, 'survey: flight interrupted');
    return { outcome: 'lost', claim, pct: 0 };
  } finally {
    renew();
  }
}

export type PathOptions = Pick<SurveyOptions, 'area' | 'altitudeM' | 'speedMps' | 'transitSpeedMps' | 'arriveWithinM' | 'cornerM'>;

/**
 * Flies through the path's waypoints: to the first at transit speed, along the rest at survey
 * speed, turning toward the next waypoint cornerM before each inner corner. Checks `stop` before
 * every waypoint and every poll. Returns how many waypoints were reached (path.length: all).
 */
export async function followPath(ap: Autopilot, o: PathOptions, path: readonly { north: number; east: number }[], wait: (ms: number) => Promise<void>, stop: () => boolean, reached: (i: number) => void): Promise<number> {
  for (let i = 0; i < path.length; i++) {
    if (stop()) return i;
    const target = { ...toLatLon(o.area.origin, path[i].north, path[i].east), alt: o.altitudeM };
    await ap.goto(target, { speed: i === 0 ? o.transitSpeedMps : o.speedMps });
    const within = i === 0 || i === path.length - 1 ? o.arriveWithinM : Math.max(o.arriveWithinM, o.cornerM);
    for (;;) {
      await wait(200);
      if (stop()) return i;
      const p = ap.position();
      if (p === undefined) continue;
      const ne = toNorthEast(o.area.origin, p);
      if (Math.hypot(ne.north - path[i].north, ne.east - path[i].east) <= within && Math.abs(p.alt - o.altitudeM) <= o.arriveWithinM) break;
    }
    reached(i);
  }
  return path.length;
}

async function giveUp(ap: Autopilot, claim: TaskClaim, pct: number): Promise<Flight> {
  await ap.setMode('LOITER').catch(() => {});
  await ap.setMode('GUIDED').catch(() => {});
  return { outcome: 'lost', claim, pct: Math.round(pct) };
}

/** Arms and climbs to the survey altitude unless already flying. */
async function airborne(ctx: Ctx, ap: Autopilot): Promise<void> {
  const s = ap.state();
  const p = ap.position();
  if (s.armed && p !== undefined && p.alt > 1) {
    if (s.mode !== 'GUIDED') await ap.setMode('GUIDED');
    return;
  }
  if (s.mode !== 'GUIDED') await ap.setMode('GUIDED');
  if (!s.armed) await ap.arm();
  await ap.takeoff(ctx.options.altitudeM);
  while ((ap.position()?.alt ?? 0) < ctx.options.altitudeM - ctx.options.arriveWithinM) await ctx.sleep(200);
}

async function batteryLow(ctx: Ctx, ap: Autopilot): Promise<boolean> {
  const b = await ap.battery.read().catch(() => undefined);
  return b !== undefined && Number.isFinite(b.remaining) && b.remaining < ctx.options.batteryReserve;
}

/** Flies home, lands, and waits until the battery is swapped or charged. */
async function rechargeAtHome(ctx: Ctx, ap: Autopilot): Promise<void> {
  ctx.log.info({ drone: ctx.agent.id }, 'survey: battery low, returning home');
  if (ap.state().armed) await ap.returnToHome().catch(() => {});
  while (ap.state().armed) await ctx.sleep(1000);
  for (;;) {
    const b = await ap.battery.read().catch(() => undefined);
    if (b !== undefined && b.remaining >= ctx.options.batteryResume) break;
    await ctx.sleep(5000);
  }
  ctx.log.info({ drone: ctx.agent.id }, 'survey: battery restored, flying again');
}

async function untilAvailable(ctx: Ctx, ap: Autopilot): Promise<void> {
  while (ap.status.state !== 'available') await ctx.sleep(1000);
}
