// The page of `covey sim --report`: draws the run's data (the JSON in #covey-report-data, built
// by sim/report/data.ts) as a fault timeline per agent (SVG), throughput and latency over
// virtual time (uPlot), the checkers' verdicts, plugin failures and logs, and a mission's map
// (SVG). Plain browser JavaScript, inlined into the report file by sim/report/html.ts.
/* global document, Node, uPlot */
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('covey-report-data').textContent);
  const root = document.getElementById('report');
  const svgNs = 'http://www.w3.org/2000/svg';
  /** Timeline rows drawn at most; the rest are counted under the chart. */
  const timelineRowsMax = 200;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  function svg(tag, attrs, title) {
    const e = document.createElementNS(svgNs, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (title !== undefined) {
      const t = document.createElementNS(svgNs, 'title');
      t.textContent = title;
      e.append(t);
    }
    return e;
  }
  function section(id, heading, ...children) {
    const s = el('section', { id }, el('h2', {}, heading), ...children);
    root.append(s);
    return s;
  }
  const seconds = (ms) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  /** A colour per agent, spread around the wheel by the golden angle. */
  const colourOf = (agent) => `hsl(${Math.round((agent * 137.508) % 360)} 65% 42%)`;
  const agentName = (a) => `agent-${a}`;

  // ---- header and verdicts ------------------------------------------------------------------

  function header() {
    root.append(el('header', {},
      el('h1', {}, `covey sim — ${data.title}`),
      el('p', { id: 'verdict', class: data.passed ? 'pass' : 'fail' }, data.passed ? 'PASSED: every checker passed' : 'FAILED: see the verdicts and violations below'),
      el('p', {}, 'trace hash ', el('code', { id: 'trace-hash' }, data.traceHash), ` · seed ${data.seed} · ${data.events.toLocaleString('en')} events · ${seconds(data.endMs)} virtual`,
        data.plugin === null || data.plugin.failures.length === 0 ? '' : el('a', { href: '#failures', class: 'fail' }, ` · ${data.plugin.failures.length} plugin failures (restarted; not a checker's verdict)`)),
      el('p', {}, 'replay: ', el('code', {}, data.replay))));
  }

  function verdicts() {
    const rows = data.verdicts.map((v) => el('tr', { class: v.ok ? 'pass' : 'fail', 'data-verdict': v.name },
      el('td', {}, v.ok ? '✓' : '✗'), el('td', {}, v.name), el('td', {}, v.detail)));
    const s = section('verdicts', 'Checkers', el('table', {}, el('tbody', {}, ...rows)));
    if (data.violations.length > 0) s.append(el('h3', {}, `Violations (${data.violations.length})`), el('ul', { class: 'violations' }, ...data.violations.map((v) => el('li', {}, v))));
  }

  // ---- the fault timeline -------------------------------------------------------------------

  /** Intervals and marks per agent, from the fault log (chronological). */
  function faultMarks() {
    const per = new Map();
    const marks = (a) => { let m = per.get(a); if (!m) per.set(a, (m = [])); return m; };
    const downSince = new Map();
    const killedAt = new Map();
    const cutKind = { split: 'partition', scripted: 'partition', isolate: 'isolated', oneway: 'link', flap: 'link', silence: 'silence' };
    for (const e of data.faults.log) {
      switch (e.kind) {
        case 'crash': downSince.set(e.agent, e); break;
        case 'kill': killedAt.set(e.agent, e.atMs); break;
        case 'restart': {
          const c = downSince.get(e.agent);
          if (c) marks(e.agent).push({ kind: 'crash', from: c.atMs, to: e.atMs, text: `${agentName(e.agent)} crashed at ${seconds(c.atMs)}${c.inFlush ? ' (an fsync in flight)' : ''}, restarted at ${seconds(e.atMs)}` });
          downSince.delete(e.agent);
          break;
        }
        case 'cut':
          for (const a of e.agents) {
            marks(a).push({ kind: cutKind[e.shape], from: e.startMs, to: e.endMs ?? data.endMs, text: `${e.shape === 'silence' ? 'radio silence' : `${e.shape} cut`} of ${e.agents.map(agentName).join(', ')} from ${seconds(e.startMs)} to ${e.endMs === null ? 'the end' : seconds(e.endMs)}` });
          }
          break;
        case 'stall': marks(e.agent).push({ kind: 'stall', from: e.startMs, to: e.endMs, text: `${agentName(e.agent)} stalled (paused) from ${seconds(e.startMs)} to ${seconds(e.endMs)}` }); break;
        case 'skew': marks(e.agent).push({ kind: 'skew', from: e.atMs, to: e.atMs, text: `${agentName(e.agent)}'s clock ${e.jumpMs !== null ? `jumped ${e.jumpMs} ms forward` : `now runs at ×${e.rate}`} at ${seconds(e.atMs)}` }); break;
      }
    }
    for (const f of data.plugin === null ? [] : data.plugin.failures) {
      marks(f.agent).push({ kind: 'failure', from: f.atMs, to: f.atMs, text: `${agentName(f.agent)} at ${seconds(f.atMs)}: ${f.error}` });
    }
    for (const [a, c] of downSince) {
      const lost = killedAt.has(a);
      marks(a).push({ kind: lost ? 'lost' : 'crash', from: c.atMs, to: data.endMs, text: lost ? `${agentName(a)} lost for good at ${seconds(killedAt.get(a))}` : `${agentName(a)} crashed at ${seconds(c.atMs)}, down to the end` });
    }
    return per;
  }

  function niceStep(rangeMs, ticks) {
    const raw = rangeMs / ticks;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }

  function timeline() {
    const per = faultMarks();
    const rows = data.agents.filter((a) => a.role === 'voter' || per.has(a.index));
    const shown = rows.slice(0, timelineRowsMax);
    const labelW = 110, width = 1100, rowH = 18, top = 22;
    const plotW = width - labelW - 10;
    const height = top + shown.length * rowH + 24;
    const x = (ms) => labelW + (Math.max(0, Math.min(ms, data.endMs)) / Math.max(1, data.endMs)) * plotW;
    const g = svg('svg', { id: 'fault-timeline', viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img', 'aria-label': 'faults per agent over virtual time' });
    const step = niceStep(data.endMs, 10);
    for (let t = 0; t <= data.endMs; t += step) {
      g.append(svg('line', { x1: x(t), x2: x(t), y1: top - 4, y2: height - 20, class: 'grid' }));
      const label = svg('text', { x: x(t), y: height - 6, class: 'tick', 'text-anchor': 'middle' });
      label.textContent = seconds(t);
      g.append(label);
    }
    const endLine = svg('line', { x1: x(data.faultsEndMs), x2: x(data.faultsEndMs), y1: 8, y2: height - 20, class: 'faults-end' }, data.mode === 'plugin' ? 'the mission ended here: faults stop, the swarm settles' : 'faults stop here; the swarm settles');
    g.append(endLine);
    shown.forEach((agent, i) => {
      const y = top + i * rowH;
      g.append(svg('rect', { x: labelW, y, width: plotW, height: rowH - 2, class: `row ${i % 2 ? 'odd' : 'even'}` }));
      const label = svg('text', { x: labelW - 6, y: y + rowH - 6, class: 'agent-label', 'text-anchor': 'end' });
      label.textContent = `${agent.id}${agent.role === 'voter' ? ' (voter)' : ''}`;
      g.append(label);
      for (const m of per.get(agent.index) || []) {
        const network = m.kind === 'partition' || m.kind === 'isolated' || m.kind === 'link' || m.kind === 'silence';
        if (m.kind === 'skew' || m.kind === 'failure') {
          g.append(svg('rect', { x: x(m.from) - 1, y, width: m.kind === 'failure' ? 3 : 2, height: rowH - 2, class: `fault fault-${m.kind}`, 'data-kind': m.kind, 'data-agent': agent.index }, m.text));
          continue;
        }
        const y0 = network ? y + (rowH - 2) / 2 : y;
        g.append(svg('rect', { x: x(m.from), y: y0, width: Math.max(1.5, x(m.to) - x(m.from)), height: (rowH - 2) / 2, class: `fault fault-${m.kind}`, 'data-kind': m.kind, 'data-agent': agent.index }, m.text));
      }
    });
    const c = data.faults.counts;
    const keys = [['crash', 'crashed (down until restart)'], ['lost', 'lost for good'], ['stall', 'paused (stalled)'], ['partition', 'partition (cut-off side)'],
      ['isolated', 'isolated'], ['link', 'one-way or flapping link'], ['silence', 'radio silence (pause)'], ['skew', 'clock skew'], ...(data.plugin === null ? [] : [['failure', 'plugin failure']])];
    const legend = el('p', { class: 'legend' }, ...keys.map(([k, t]) => el('span', { class: 'key' }, el('i', { class: `swatch fault-${k}` }), t)));
    const s = section('timeline', 'Faults per agent', el('p', {},
      `${c.crashes} crashes, ${c.partitions} partitions (${c.splits} splits, ${c.isolated} isolated, ${c.oneWay} one-way, ${c.flapping} flapping), ${c.pauses} pauses, ${c.skews} clock skews; `
      + `${c.dropped} messages dropped, ${c.duplicated} duplicated, ${c.reordered} reordered. Agent state above the middle of each row, its network below.`),
    legend, g);
    if (rows.length > shown.length) s.append(el('p', {}, `${rows.length - shown.length} more agents with faults are not drawn.`));
    if (rows.length === 0) s.append(el('p', {}, 'No faults were injected.'));
  }

  // ---- throughput and latency ---------------------------------------------------------------

  function charts() {
    const o = data.ops;
    const s = section('operations', 'Throughput and latency over virtual time', el('p', {}, `Completed client operations per second of virtual time, in ${o.bucketMs} ms buckets; latency of the successful ones.`));
    const width = Math.max(400, Math.min(1100, root.clientWidth - 20));
    const throughput = el('div', { id: 'throughput-chart', class: 'chart' });
    const latency = el('div', { id: 'latency-chart', class: 'chart' });
    s.append(throughput, latency);
    if (typeof uPlot !== 'function') { s.append(el('p', { class: 'fail' }, 'uPlot did not load: charts are missing.')); return; }
    const axes = (unit) => [{ label: 'virtual time (s)' }, { label: unit }];
    new uPlot({
      title: 'throughput', width, height: 240, axes: axes('operations / s'), scales: { x: { time: false } },
      series: [{}, { label: 'ok /s', stroke: '#2a7d2a', width: 1.5 }, { label: 'fail /s', stroke: '#c77c00', width: 1 }, { label: 'unknown outcome /s', stroke: '#b22', width: 1 }],
    }, [o.atS, o.okPerS, o.failPerS, o.infoPerS], throughput);
    new uPlot({
      title: 'latency', width, height: 240, axes: axes('ms'), scales: { x: { time: false } },
      series: [{}, { label: 'p50 ms', stroke: '#1f5fbf', width: 1.5 }, { label: 'p99 ms', stroke: '#8a2be2', width: 1 }],
    }, [o.atS, o.p50Ms, o.p99Ms], latency);
  }

  // ---- a mission's map ----------------------------------------------------------------------

  function missionMap() {
    const p = data.plugin;
    if (p === null || p.map === null) return;
    const map = p.map;
    let minN = 0, maxN = map.heightM, minE = 0, maxE = map.widthM;
    for (const t of p.tracks) for (const q of t.points) { minN = Math.min(minN, q.north); maxN = Math.max(maxN, q.north); minE = Math.min(minE, q.east); maxE = Math.max(maxE, q.east); }
    const pad = Math.max(5, 0.03 * Math.max(maxN - minN, maxE - minE));
    minN -= pad; maxN += pad; minE -= pad; maxE += pad;
    // SVG y grows downwards: north is up, so y = maxN - north.
    const X = (e) => e - minE, Y = (n) => maxN - n;
    const w = maxE - minE, h = maxN - minN;
    const g = svg('svg', { id: 'mission-map', viewBox: `0 0 ${w} ${h}`, width: '100%', style: `max-width: 720px; aspect-ratio: ${w} / ${h}`, role: 'img', 'aria-label': 'the mission map' });
    const stroke = Math.max(w, h) / 500;
    const twice = map.cells.filter((c) => c.coveredBy.length >= 2).length;
    for (const c of map.cells) {
      const by = c.doneBy === null ? null : Number(c.doneBy.replace('agent-', ''));
      const attrs = { x: X(c.east), y: Y(c.north + c.sizeM), width: c.sizeM, height: c.sizeM, class: `cell status-${c.status ?? 'none'}${c.coveredBy.length >= 2 ? ' twice' : ''}`, 'data-cell': c.id, 'stroke-width': stroke };
      if (by !== null && Number.isFinite(by)) attrs.fill = colourOf(by);
      g.append(svg('rect', attrs, `${c.id}: ${c.status ?? 'no task'}${c.doneBy ? `, done by ${c.doneBy}` : ''}${c.coveredBy.length ? `; flown end to end by ${c.coveredBy.join(', ')}` : ''}`));
    }
    const lostAt = new Map(p.killed.map((k) => [k.agent, k.atMs]));
    for (const t of p.tracks) {
      if (t.points.length === 0) continue;
      const colour = colourOf(t.agent);
      g.append(svg('polyline', { points: t.points.map((q) => `${X(q.east).toFixed(1)},${Y(q.north).toFixed(1)}`).join(' '), class: 'track', stroke: colour, 'stroke-width': stroke * 1.5, 'data-agent': t.agent }, `${agentName(t.agent)}'s flight path`));
      const first = t.points[0];
      g.append(svg('circle', { cx: X(first.east), cy: Y(first.north), r: stroke * 4, fill: colour, class: 'home' }, `${agentName(t.agent)} started here`));
      if (lostAt.has(t.agent)) {
        const at = lostAt.get(t.agent);
        const before = t.points.filter((q) => q.atMs <= at);
        const q = before.length > 0 ? before[before.length - 1] : first;
        const r = stroke * 7;
        const cross = svg('g', { class: 'lost', 'data-agent': t.agent, transform: `translate(${X(q.east)} ${Y(q.north)})` }, `${agentName(t.agent)} lost at ${seconds(at)}`);
        cross.append(svg('circle', { r: r * 1.3, class: 'lost-ring', 'stroke-width': stroke }), svg('path', { d: `M${-r},${-r}L${r},${r}M${-r},${r}L${r},${-r}`, 'stroke-width': stroke * 2.5 }));
        g.append(cross);
      }
    }
    const done = map.cells.filter((c) => c.status === 'done').length;
    const drones = [...new Set(p.tracks.map((t) => t.agent))];
    const legend = el('p', { class: 'legend' }, ...drones.map((a) => el('span', { class: 'key' }, el('i', { class: 'swatch', style: `background:${colourOf(a)}` }),
      `${agentName(a)}: ${map.cells.filter((c) => c.doneBy === agentName(a)).length} cells${lostAt.has(a) ? ` (lost at ${seconds(lostAt.get(a))})` : ''}`)));
    section('map', 'Mission map', el('p', {},
      `${done} of ${map.cells.length} cells done${twice > 0 ? `, ${twice} flown end to end by two or more drones (outlined red)` : ''}; ${p.killed.length} drones lost (✕ where each was lost). A cell is coloured by the drone the task board credits; lines are the flight paths, dots the homes.`),
    legend, g);
  }

  // ---- plugin failures and logs -------------------------------------------------------------

  function pluginFailures() {
    const p = data.plugin;
    if (p === null) return;
    const s = section('failures', `Plugin failures (${p.failures.length})`);
    if (p.failures.length === 0) { s.append(el('p', {}, 'No plugin failed.')); return; }
    s.append(el('p', {}, 'Each failure restarted the plugin on that agent under supervision (with backoff).'));
    s.append(el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'virtual time'), el('th', {}, 'agent'), el('th', {}, 'error'))),
      el('tbody', {}, ...p.failures.map((f) => el('tr', { class: 'failure' }, el('td', {}, seconds(f.atMs)), el('td', {}, agentName(f.agent)),
        el('td', {}, f.error, f.stack === null ? '' : el('details', {}, el('summary', {}, 'stack'), el('pre', {}, f.stack))))))));
  }

  function pluginLogs() {
    const p = data.plugin;
    if (p === null) return;
    const filter = el('input', { type: 'search', placeholder: 'filter: agent, level or text', id: 'log-filter' });
    const body = el('tbody', {}, ...p.logs.map((l) => el('tr', { class: `log level-${l.level}` }, el('td', {}, seconds(l.atMs)), el('td', {}, agentName(l.agent)), el('td', {}, l.level),
      el('td', {}, l.msg), el('td', { class: 'fields' }, Object.keys(l.fields).length === 0 ? '' : JSON.stringify(l.fields, (k, v) => k === 'stack' ? undefined : v)))));
    filter.addEventListener('input', () => {
      const q = filter.value.toLowerCase();
      for (const tr of body.children) tr.hidden = q !== '' && !tr.textContent.toLowerCase().includes(q);
    });
    const d = el('details', {}, el('summary', {}, `${p.logs.length} log lines${p.logsLeftOut > 0 ? ` (${p.logsLeftOut} more left out)` : ''}`), filter,
      el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'virtual time'), el('th', {}, 'agent'), el('th', {}, 'level'), el('th', {}, 'message'), el('th', {}, 'fields'))), body));
    if (p.failures.length > 0) d.open = true;
    section('logs', 'Plugin logs', d);
  }

  function summary() {
    section('summary', 'Summary (as --json prints it)', el('pre', {}, JSON.stringify(data.summary, null, 2)));
  }

  header();
  verdicts();
  timeline();
  missionMap();
  charts();
  pluginFailures();
  pluginLogs();
  summary();
  document.body.dataset.rendered = 'true';
})();
