// The survey area as a grid of square cells, and the lawnmower path that covers one cell.
// Local north/east metres around the area's south-west corner; an equirectangular projection is
// plenty for areas of a few kilometres.

const EARTH_RADIUS = 6_371_000;
const RAD = Math.PI / 180;

export interface LatLon {
  readonly lat: number;
  readonly lon: number;
}

export interface Area {
  /** South-west corner. */
  readonly origin: LatLon;
  /** Extent east (m) and north (m). */
  readonly widthM: number;
  readonly heightM: number;
}

export interface Cell {
  readonly id: string;
  readonly row: number;
  readonly col: number;
  /** South-west corner of the cell, metres from the area's origin. */
  readonly north: number;
  readonly east: number;
  readonly size: number;
}

export function cellsOf(area: Area, cellSizeM: number): Cell[] {
  const rows = Math.ceil(area.heightM / cellSizeM);
  const cols = Math.ceil(area.widthM / cellSizeM);
  const out: Cell[] = [];
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      out.push({ id: `r${row}c${col}`, row, col, north: row * cellSizeM, east: col * cellSizeM, size: cellSizeM });
    }
  }
  return out;
}

export function toLatLon(origin: LatLon, north: number, east: number): LatLon {
  return {
    lat: origin.lat + (north / EARTH_RADIUS) / RAD,
    lon: origin.lon + (east / (EARTH_RADIUS * Math.cos(origin.lat * RAD))) / RAD,
  };
}

export function toNorthEast(origin: LatLon, p: LatLon): { north: number; east: number } {
  return {
    north: (p.lat - origin.lat) * RAD * EARTH_RADIUS,
    east: (p.lon - origin.lon) * RAD * EARTH_RADIUS * Math.cos(origin.lat * RAD),
  };
}

type Point = { north: number; east: number };

/**
 * A back-and-forth path covering the cell, legs `spacing` apart and half a spacing in from the
 * edges. Of the eight such paths (legs north-south or east-west, from any corner), the one that
 * starts nearest `from`; among those, the one that ends farthest from it, so a drone working
 * through neighbouring cells sweeps onward instead of doubling back.
 */
export function lawnmower(cell: Cell, spacing: number, from?: Point): Point[] {
  const legs = Math.max(1, Math.round(cell.size / spacing));
  const step = cell.size / legs;
  const variants: Point[][] = [];
  for (const alongNorth of [true, false]) {
    for (const flipAlong of [false, true]) {
      for (const flipAcross of [false, true]) {
        const path: Point[] = [];
        for (let i = 0; i < legs; i++) {
          const across = step * (i + 0.5);
          const ends = i % 2 === 0 ? [step / 2, cell.size - step / 2] : [cell.size - step / 2, step / 2];
          for (const along of ends) {
            const a = flipAlong ? cell.size - along : along;
            const c = flipAcross ? cell.size - across : across;
            path.push(alongNorth ? { north: cell.north + a, east: cell.east + c } : { north: cell.north + c, east: cell.east + a });
          }
        }
        variants.push(path);
      }
    }
  }
  if (from === undefined) return variants[0];
  const dist = (p: Point): number => Math.hypot(p.north - from.north, p.east - from.east);
  let best = variants[0];
  for (const v of variants) {
    const d = dist(v[0]) - dist(best[0]);
    if (d < -1e-6 || (Math.abs(d) <= 1e-6 && dist(v[v.length - 1]) > dist(best[best.length - 1]))) best = v;
  }
  return best;
}

export function pathLength(points: readonly { north: number; east: number }[]): number {
  let d = 0;
  for (let i = 1; i < points.length; i++) d += Math.hypot(points[i].north - points[i - 1].north, points[i].east - points[i - 1].east);
  return d;
}

export function cellCentre(cell: Cell): { north: number; east: number } {
  return { north: cell.north + cell.size / 2, east: cell.east + cell.size / 2 };
}
