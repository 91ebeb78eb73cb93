// Device positions on the live stream and across the swarm. Every agent publishes the fixes of
// its own autopilots (simulated or MAVLink, devices/) once a second on the reserved telemetry
// topic `covey/position`, so any agent's dashboard can draw every drone; the telemetry tap hears
// the others' (and this agent's own) and each message becomes a `position` event.

import { z } from 'zod';
import type { Autopilot, Device } from '../../devices/types.ts';
import type { PositionEventData } from './events.ts';
import type { TelemetrySample } from './telemetry-tap.ts';

export const positionTopic = 'covey/position';
/** How often each local autopilot's fix is published. */
export const positionEveryMs = 1000;

export const positionMessage = z.strictObject({
  device: z.string().min(1).max(128),
  lat: z.number().min(-90).max(90),
  lon: z.number().min(-180).max(180),
  /** Metres above home. */
  alt: z.number().optional(),
  /** Battery fraction 0..1. */
  battery: z.number().min(0).max(1).optional(),
  mode: z.string().max(32).optional(),
  armed: z.boolean().optional(),
});
export type PositionMessage = z.output<typeof positionMessage>;

/** The current fixes of the available autopilots among `devices`, as messages to publish. */
export async function localPositions(devices: ReadonlyMap<string, Device>): Promise<PositionMessage[]> {
  const out: PositionMessage[] = [];
  for (const [name, d] of devices) {
    if (d.kind !== 'autopilot' || d.status.state !== 'available') continue;
    const ap = d as Autopilot;
    const p = ap.position();
    if (p === undefined || !Number.isFinite(p.lat) || !Number.isFinite(p.lon)) continue;
    const battery = await batteryOf(ap);
    const s = ap.state();
    out.push({ device: name, lat: p.lat, lon: p.lon, alt: Number.isFinite(p.alt) ? p.alt : undefined, battery, mode: s.mode.slice(0, 32), armed: s.armed });
  }
  return out;
}

/** The autopilot battery's remaining fraction, or undefined when it is unknown or unreadable now. */
async function batteryOf(ap: Autopilot): Promise<number | undefined> {
  if (ap.battery === undefined || ap.battery.status.state !== 'available') return undefined;
  try {
    const r = (await ap.battery.read()).remaining;
    return Number.isFinite(r) && r >= 0 && r <= 1 ? r : undefined;
  } catch {
    return undefined;
  }
}

/** A telemetry sample on the position topic as a position event, or null when it is not a valid fix. */
export function positionEventOf(s: TelemetrySample): PositionEventData | null {
  if (s.topic !== positionTopic) return null;
  const m = positionMessage.safeParse(s.value);
  if (!m.success) return null;
  const { device, lat, lon, alt, battery } = m.data;
  return { kind: 'position', agent: s.from, device, lat, lon, alt, battery, atMs: s.atMs };
}
