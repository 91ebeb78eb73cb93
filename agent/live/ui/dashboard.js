// The dashboard's state and its feeds: one snapshot of each API at load (members, status, tasks,
// keys, telemetry), then the agent's Server-Sent Events (/events) keep it live. The panels are
// redrawn at most a few times a second from this state, never once per event.
// Served by the agent (agent/live/ui-routes.ts); docs/agent.md, "Dashboard", describes it.

import { renderMembers, renderConsensus, renderTasks, renderKeys, renderHeader } from './panels.js';
import { renderMap } from './map.js';
import { renderTelemetry } from './charts.js';

/** What the panels draw from. */
export const state = {
  status: null,
  /** peerId → member as GET /members lists it. */
  members: new Map(),
  /** taskId → TaskView. */
  tasks: new Map(),
  tasksNote: '',
  prefix: '',
  /** key → value under the prefix. */
  keys: new Map(),
  keysNote: '',
  /** topic → { schema, count, ratePerS, last, samples: [{ atMs, from, value }] } */
  topics: new Map(),
  /** `${agent} ${device}` → { agent, device, lat, lon, alt, battery, atMs, trail: [[lat, lon]] } */
  positions: new Map(),
  /** The latest consensus samples, oldest first. */
  consensus: [],
  linkUp: false,
  eventsSeen: 0,
};

/** Bounds on what the page keeps, so a tab left open for days stays small. */
export const limits = { samplesPerTopic: 300, trailPoints: 60, consensusSamples: 120, keys: 500, tasks: 500, topics: 64 };

let dirty = true;
export function changed() { dirty = true; }

async function getJson(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(body.error ?? `${res.status} ${res.statusText}`), { status: res.status });
  return body;
}

async function loadMembers() {
  try {
    const { members } = await getJson('/members');
    state.members = new Map(members.map((m) => [m.peerId, m]));
    changed();
  } catch { /* shown as stale; the next poll tries again */ }
}

async function loadStatus() {
  try { state.status = await getJson('/status'); changed(); } catch { /* next poll */ }
}

async function loadTasks() {
  try {
    const { value } = await getJson('/tasks');
    state.tasks = new Map(value.slice(0, limits.tasks).map((t) => [t.taskId, t]));
    state.tasksNote = '';
  } catch (err) {
    state.tasksNote = err.status === 409 ? 'The task board is served by voters; this agent is a worker: changes appear here as they happen.' : `Could not read the task board: ${err.message}`;
  }
  changed();
}

async function loadKeys() {
  const prefix = state.prefix;
  state.keys = new Map();
  try {
    const page = await getJson(`/kv?prefix=${encodeURIComponent(prefix)}&limit=${limits.keys}`);
    if (prefix !== state.prefix) return;
    for (const e of page.value ?? []) state.keys.set(e.key, e.value);
    state.keysNote = page.next ? `showing the first ${state.keys.size} keys; narrow the prefix to see the rest` : '';
  } catch (err) {
    state.keysNote = err.status === 409 ? 'Key listings are served by voters; this agent is a worker: keys appear here as they change.'
      : err.status === 404 || err.status === 400 ? 'This agent cannot list keys; keys appear here as they change.' : `Could not list keys: ${err.message}`;
  }
  changed();
}

async function loadTelemetry() {
  try {
    const { topics } = await getJson('/telemetry');
    for (const t of topics) {
      const known = topicEntry(t.topic);
      if (known === null) continue;
      known.schema = t.schema;
      known.count = t.count;
      known.ratePerS = t.ratePerS;
      if (known.last === null && t.last !== null) addSample(known, t.last);
    }
    changed();
  } catch { /* next poll */ }
}

function topicEntry(topic) {
  let t = state.topics.get(topic);
  if (t === undefined) {
    if (state.topics.size >= limits.topics) return null;
    t = { topic, schema: null, count: 0, ratePerS: 0, last: null, samples: [] };
    state.topics.set(topic, t);
  }
  return t;
}

function addSample(t, s) {
  t.last = s;
  t.samples.push(s);
  if (t.samples.length > limits.samplesPerTopic) t.samples.shift();
}

const handlers = {
  member: () => { void loadMembers(); },
  task: (e) => {
    state.tasks.set(e.task.taskId, e.task);
    if (state.tasks.size > limits.tasks) state.tasks.delete(state.tasks.keys().next().value);
  },
  kv: (e) => {
    if (!e.key.startsWith(state.prefix)) return;
    if (e.value === null) state.keys.delete(e.key);
    else if (state.keys.has(e.key) || state.keys.size < limits.keys) state.keys.set(e.key, e.value);
  },
  telemetry: (e) => {
    const t = topicEntry(e.topic);
    if (t === null) return;
    t.count++;
    addSample(t, { atMs: e.atMs, from: e.from, value: e.value });
  },
  position: (e) => {
    const id = `${e.agent} ${e.device}`;
    const p = state.positions.get(id) ?? { trail: [] };
    Object.assign(p, e);
    p.trail.push([e.lat, e.lon]);
    if (p.trail.length > limits.trailPoints) p.trail.shift();
    state.positions.set(id, p);
  },
  consensus: (e) => {
    state.consensus.push(e);
    if (state.consensus.length > limits.consensusSamples) state.consensus.shift();
  },
};

function connect() {
  const source = new EventSource('/events');
  source.onopen = () => { state.linkUp = true; changed(); void loadMembers(); void loadTasks(); };
  // EventSource reconnects by itself (the agent says after 2 s); the header shows the gap.
  source.onerror = () => { state.linkUp = false; changed(); };
  for (const [kind, fn] of Object.entries(handlers)) {
    source.addEventListener(kind, (m) => {
      state.eventsSeen++;
      fn(JSON.parse(m.data));
      changed();
    });
  }
}

function render() {
  if (!dirty) return;
  dirty = false;
  renderHeader(state);
  renderMembers(state);
  renderConsensus(state);
  renderTasks(state);
  renderKeys(state);
  renderMap(state);
  renderTelemetry(state);
}

document.getElementById('prefix-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.prefix = document.getElementById('prefix').value;
  void loadKeys();
});

connect();
void Promise.all([loadStatus(), loadMembers(), loadTasks(), loadKeys(), loadTelemetry()]);
setInterval(render, 250);
// Last heard, lease left and rates move without events: refresh them now and then.
setInterval(() => { void loadMembers(); void loadTelemetry(); changed(); }, 2000);
setInterval(() => { void loadStatus(); }, 5000);
