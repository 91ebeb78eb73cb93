// Drone positions in the shape Foxglove's Map panel draws: each fix on `covey/position` is also
// sent as a `foxglove.LocationFix` (https://docs.foxglove.dev/docs/visualization/message-schemas/location-fix)
// on a topic of its own per drone, `covey/fix/<agent>/<device>`, so each drone is a layer of its
// own on the map (one topic for all would draw one track hopping between drones).

import { z } from 'zod';
import { jsonSchemaOf, type TelemetrySample } from './telemetry-tap.ts';
import { positionEventOf } from './positions.ts';

export const locationFixSchemaName = 'foxglove.LocationFix';
/** Per-drone fix channels advertised at most; later drones are only on `covey/position`. */
export const fixTopicsMax = 256;

export const locationFix = z.strictObject({
  timestamp: z.strictObject({ sec: z.int().min(0), nsec: z.int().min(0).max(999_999_999) }),
  frame_id: z.string(),
  latitude: z.number(),
  longitude: z.number(),
  /** Metres: Covey's `alt` is above home, not above the ellipsoid (0 when unknown). */
  altitude: z.number(),
  position_covariance: z.array(z.number()).length(9),
  /** 0: unknown (Covey's autopilots do not report one). */
  position_covariance_type: z.int().min(0).max(3),
});
export type LocationFix = z.output<typeof locationFix>;

export const locationFixJsonSchema = JSON.stringify({ ...jsonSchemaOf(locationFix), title: locationFixSchemaName });

/** A telemetry sample on `covey/position` as its drone's topic and LocationFix, or null for anything else. */
export function locationFixOf(s: TelemetrySample): { topic: string; fix: LocationFix } | null {
  const p = positionEventOf(s);
  if (p === null) return null;
  const ms = Math.max(0, Math.round(s.atMs));
  return {
    topic: `covey/fix/${p.agent.slice(-8)}/${p.device}`,
    fix: {
      timestamp: { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 },
      frame_id: p.device,
      latitude: p.lat,
      longitude: p.lon,
      altitude: p.alt ?? 0,
      position_covariance: [0, 0, 0, 0, 0, 0, 0, 0, 0],
      position_covariance_type: 0,
    },
  };
}
