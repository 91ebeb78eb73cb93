// The table and figure panels: members, consensus, task board, keys, and the header. Every
// value goes in as text (never as HTML), so a key or a task spec cannot inject markup.

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

/** A peer id's last 8 characters, the way the dashboard names agents. */
export function short(peerId) {
  return typeof peerId === 'string' && peerId.length > 12 ? `…${peerId.slice(-8)}` : String(peerId);
}

function ago(ms) {
  if (ms === null || ms === undefined) return '—';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function pct(x) {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : `${Math.round(x * 100)} %`;
}

function replace(id, rows) {
  document.getElementById(id).replaceChildren(...rows);
}

export function renderHeader(state) {
  const s = state.status;
  document.getElementById('swarm').textContent = s ? `swarm ${s.swarm}` : '';
  document.getElementById('self').textContent = s ? `this agent ${short(s.peerId)} (${s.role})` : '';
  const link = document.getElementById('link');
  link.textContent = state.linkUp ? `live · ${state.eventsSeen} events` : 'reconnecting…';
  link.className = `link ${state.linkUp ? 'up' : 'down'}`;
}

/** A member's battery: what it advertises, else what its drones report. */
function batteryOf(state, m) {
  if (typeof m.meta?.battery === 'number') return m.meta.battery;
  let b = null;
  for (const p of state.positions.values()) if (p.agent === m.peerId && typeof p.battery === 'number') b = Math.max(b ?? 0, p.battery);
  return b;
}

export function renderMembers(state) {
  const members = [...state.members.values()].sort((a, b) => (a.role === b.role ? (a.peerId < b.peerId ? -1 : 1) : a.role === 'voter' ? -1 : 1));
  replace('members', members.map((m) => el('tr', { 'data-peer': m.peerId },
    el('td', { title: m.peerId }, short(m.peerId) + (m.self ? ' (this agent)' : '')),
    el('td', {}, m.role),
    el('td', { class: `state-${m.state}` }, m.state),
    el('td', {}, pct(batteryOf(state, m))),
    el('td', {}, m.self ? 'self' : ago(m.lastHeardMsAgo)),
    el('td', {}, m.consensusReachable === null ? '—' : m.consensusReachable ? 'reachable' : 'not reached'),
  )));
}

export function renderConsensus(state) {
  const last = state.consensus[state.consensus.length - 1];
  const fmt = (x, unit, digits = 1) => (x === null || x === undefined ? '—' : `${x.toFixed(digits)}${unit}`);
  const figure = (label, value, key) => el('div', { class: 'figure', 'data-figure': key }, el('b', {}, value), el('span', {}, label));
  const voters = [...state.members.values()].filter((m) => m.role === 'voter');
  replace('consensus', [
    figure('voters reached', last ? `${last.reachableVoters} / ${last.voters}` : `— / ${voters.length || '—'}`, 'voters'),
    figure('commits per second', fmt(last?.commitsPerS, '/s'), 'commits'),
    figure('command latency here (10 s)', fmt(last?.latencyMs, ' ms'), 'latency'),
    figure('fast path, led here (10 s)', pct(last?.fastPathShare), 'fast'),
    figure('recoveries started', last?.recoveries ?? '—', 'recoveries'),
    figure('committed here', last?.committed ?? '—', 'committed'),
  ]);
  drawConsensusChart(state);
}

let consensusChart = null;
function drawConsensusChart(state) {
  const box = document.getElementById('consensus-chart');
  const xs = state.consensus.map((c) => c.atMs / 1000);
  const data = [xs, state.consensus.map((c) => c.commitsPerS), state.consensus.map((c) => c.latencyMs)];
  if (typeof uPlot === 'undefined' || xs.length < 2) return;
  if (consensusChart === null) {
    consensusChart = new uPlot({
      width: Math.max(300, box.clientWidth), height: 140,
      series: [{}, { label: 'commits/s', stroke: '#2f6fde' }, { label: 'latency ms', stroke: '#d98c00', scale: 'ms' }],
      axes: [{}, {}, { scale: 'ms', side: 1, grid: { show: false } }],
    }, data, box);
  } else {
    consensusChart.setData(data);
  }
}

function leaseLeft(t) {
  if (t.status !== 'claimed') return '—';
  const left = t.leaseExpiresMs - Date.now();
  return left <= 0 ? 'expired' : `${(left / 1000).toFixed(1)} s`;
}

const statusOrder = { claimed: 0, open: 1, done: 2 };

export function renderTasks(state) {
  document.getElementById('tasks-note').textContent = state.tasksNote;
  const tasks = [...state.tasks.values()].sort((a, b) => statusOrder[a.status] - statusOrder[b.status] || (a.taskId < b.taskId ? -1 : 1)).slice(0, 100);
  replace('tasks', tasks.map((t) => el('tr', { 'data-task': t.taskId, 'data-owner': t.owner ?? '' },
    el('td', { title: t.spec }, t.taskId),
    el('td', { class: `status-${t.status}` }, t.status),
    el('td', { title: t.owner ?? '' }, t.owner === null ? '—' : short(t.owner)),
    el('td', {}, leaseLeft(t)),
    el('td', {}, t.token),
  )));
}

export function renderKeys(state) {
  document.getElementById('keys-note').textContent = state.keysNote;
  const keys = [...state.keys.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).slice(0, 200);
  replace('keys', keys.map(([k, v]) => el('tr', { 'data-key': k }, el('td', { title: k }, k), el('td', { class: 'value', title: v }, v.length > 200 ? `${v.slice(0, 200)}…` : v))));
}
