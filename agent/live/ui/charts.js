// One card per telemetry topic: its rate and count, its JSON schema, the last value and who sent
// it, and a uPlot chart of its numeric fields over time (per sender when several agents publish;
// lat and lon are left to the map).

import { el, short } from './panels.js';

/** Series drawn per chart: more would be unreadable. */
const seriesMax = 6;
const palette = ['#2f6fde', '#d98c00', '#1f9d55', '#d64545', '#7a4cc2', '#0f8b8d'];
/** Numbers this large are times or ids, not quantities: not charted. */
const chartableAbsMax = 1e9;
/** Coordinates are drawn on the map; as lines on one scale with altitude and battery they are flat and hide the rest. */
const mapFields = new Set(['lat', 'lon']);

/** The numeric fields of a value (nested up to two levels), as [path, number]. */
function numbers(value, prefix = '', depth = 0) {
  if (typeof value === 'number' && Number.isFinite(value) && Math.abs(value) < chartableAbsMax) return [[prefix || 'value', value]];
  if (value === null || typeof value !== 'object' || depth >= 2) return [];
  return Object.entries(value).filter(([k]) => !mapFields.has(k)).flatMap(([k, v]) => numbers(v, prefix ? `${prefix}.${k}` : k, depth + 1));
}

const cards = new Map();

function card(topic) {
  let c = cards.get(topic);
  if (c !== undefined) return c;
  const chart = el('div', { class: 'chart' });
  const meta = el('div', { class: 'meta' });
  const last = el('pre', { 'data-last': '' });
  const schema = el('pre');
  const root = el('div', { class: 'topic', 'data-topic': topic },
    el('div', {}, el('b', {}, topic), meta, last, el('details', {}, el('summary', {}, 'schema'), schema)),
    chart);
  document.getElementById('telemetry').append(root);
  c = { root, chart, meta, last, schema, plot: null, seriesKey: '' };
  cards.set(topic, c);
  return c;
}

/** uPlot's aligned data: one x (seconds) and one y array per series, null where a series has no sample. */
function alignedData(samples, senders) {
  const keys = [];
  for (const s of samples) {
    for (const [path] of numbers(s.value)) {
      const key = senders > 1 ? `${short(s.from)} ${path}` : path;
      if (!keys.includes(key) && keys.length < seriesMax) keys.push(key);
    }
  }
  const xs = samples.map((s) => s.atMs / 1000);
  const ys = keys.map((key) => samples.map((s) => {
    const found = numbers(s.value).find(([path]) => (senders > 1 ? `${short(s.from)} ${path}` : path) === key);
    return found === undefined ? null : found[1];
  }));
  return { keys, data: [xs, ...ys] };
}

export function renderTelemetry(state) {
  for (const t of [...state.topics.values()].sort((a, b) => (a.topic < b.topic ? -1 : 1))) {
    const c = card(t.topic);
    c.meta.textContent = `${t.ratePerS.toFixed(1)} msg/s · ${t.count} messages${t.last ? ` · last from ${short(t.last.from)}` : ''}`;
    c.last.textContent = t.last === null ? '—' : JSON.stringify(t.last.value, null, 1);
    c.schema.textContent = t.schema === null ? 'not declared by any agent yet' : JSON.stringify(t.schema, null, 1);
    if (typeof uPlot === 'undefined' || t.samples.length < 2) continue;
    const senders = new Set(t.samples.map((s) => s.from)).size;
    const { keys, data } = alignedData(t.samples, senders);
    if (keys.length === 0) continue;
    const seriesKey = keys.join('|');
    if (c.plot !== null && c.seriesKey !== seriesKey) { c.plot.destroy(); c.plot = null; }
    if (c.plot === null) {
      c.seriesKey = seriesKey;
      c.plot = new uPlot({
        width: Math.max(320, c.chart.clientWidth), height: 160,
        series: [{}, ...keys.map((k, i) => ({ label: k, stroke: palette[i % palette.length], spanGaps: true }))],
      }, data, c.chart);
    } else {
      c.plot.setData(data);
    }
  }
}
