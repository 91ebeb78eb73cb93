// The map: every drone the swarm reports (position events), drawn in a local flat projection
// around them (metres east and north of the area's corner), with its recent trail and the task
// its agent holds. No tile server: it works offline, and a few kilometres are flat enough.

import { short } from './panels.js';

const svgNs = 'http://www.w3.org/2000/svg';
const width = 800;
const height = 400;
const padPx = 40;
/** The smallest span drawn, so that one hovering drone is not an infinite zoom. */
const spanMinM = 60;
const earthRadiusM = 6_371_000;
const rad = Math.PI / 180;

function node(tag, attrs = {}, text) {
  const e = document.createElementNS(svgNs, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Maps lat/lon to SVG pixels so that every point fits, north up, metres the same both ways. */
function projection(points) {
  const lats = points.map((p) => p[0]);
  const lons = points.map((p) => p[1]);
  const lat0 = (Math.min(...lats) + Math.max(...lats)) / 2;
  const lon0 = (Math.min(...lons) + Math.max(...lons)) / 2;
  const toM = ([lat, lon]) => [(lon - lon0) * rad * earthRadiusM * Math.cos(lat0 * rad), (lat - lat0) * rad * earthRadiusM];
  const ms = points.map(toM);
  const spanE = Math.max(spanMinM, ...ms.map((m) => Math.abs(m[0]) * 2));
  const spanN = Math.max(spanMinM, ...ms.map((m) => Math.abs(m[1]) * 2));
  const pxPerM = Math.min((width - 2 * padPx) / spanE, (height - 2 * padPx) / spanN);
  return {
    pxPerM,
    at: (p) => { const [e, n] = toM(p); return [width / 2 + e * pxPerM, height / 2 - n * pxPerM]; },
  };
}

/** A round length for the scale bar: about a fifth of the map's width. */
function scaleLengthM(pxPerM) {
  const target = width / 5 / pxPerM;
  const p = 10 ** Math.floor(Math.log10(target));
  return [1, 2, 5, 10].map((k) => k * p).filter((x) => x <= target).pop() ?? p;
}

export function renderMap(state) {
  const svg = document.getElementById('map');
  const drones = [...state.positions.values()];
  if (drones.length === 0) {
    svg.replaceChildren(node('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle', class: 'empty' }, 'no device has reported a position yet'));
    return;
  }
  const proj = projection(drones.flatMap((d) => d.trail));
  const held = new Map();
  for (const t of state.tasks.values()) if (t.status === 'claimed' && t.owner !== null) held.set(t.owner, t.taskId);
  const children = [];
  for (const d of drones) {
    children.push(node('polyline', { class: 'trail', points: d.trail.map((p) => proj.at(p).map((v) => v.toFixed(1)).join(',')).join(' ') }));
  }
  for (const d of drones) {
    const [x, y] = proj.at([d.lat, d.lon]);
    const task = held.get(d.agent);
    const g = node('g', { class: 'drone', 'data-marker': `${d.agent} ${d.device}`, 'data-lat': d.lat, 'data-lon': d.lon, transform: `translate(${x.toFixed(1)},${y.toFixed(1)})` });
    g.append(node('circle', { r: 7 }));
    const alt = typeof d.alt === 'number' ? ` ${d.alt.toFixed(0)} m` : '';
    g.append(node('text', { x: 10, y: 4 }, `${short(d.agent)} ${d.device}${alt}${task ? ` · ${task}` : ''}`));
    children.push(g);
  }
  const scaleM = scaleLengthM(proj.pxPerM);
  const scalePx = scaleM * proj.pxPerM;
  children.push(node('line', { class: 'scale', x1: 20, y1: height - 20, x2: 20 + scalePx, y2: height - 20 }));
  children.push(node('text', { x: 20, y: height - 26 }, `${scaleM} m`));
  svg.replaceChildren(...children);
}
