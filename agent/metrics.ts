// Prometheus metrics of an agent (prom-client), served at /metrics. One registry per agent, so two
// agents in one process (tests) never mix their figures. Figures that live elsewhere (the
// replica's counters, plugin states, devices, the task board) are read at scrape time through
// MetricsSources, so nothing has to remember to update a gauge.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PluginStatus } from './plugins/host.ts';
import type { DeviceInfo } from './http.ts';
import type { TaskView } from '../consensus/index.ts';
import { registerTelemetryMetrics, type TelemetryStats } from './telemetry-stats.ts';

export interface AgentMetrics {
  readonly registry: Registry;
  readonly commands: Counter<'op' | 'outcome'>;
  readonly commandSeconds: Histogram<'op'>;
  readonly reachableVoters: Gauge;
}

export interface MetricsSources {
  /** Called at scrape time: the replica's counters, or null on a non-voter. */
  replica(): { committed: number; applied: number; pending: number; queued: number; fsyncs: number; durableWrites: number | null; recoveries: number } | null;
  /** The plugin host's view of every plugin (empty before the plugins start). */
  plugins?(): readonly PluginStatus[];
  /** The configured devices and their status. */
  devices?(): readonly DeviceInfo[];
  /** The voter's local task board and its clock (ms), or null on a non-voter. */
  tasks?(): { readonly tasks: readonly TaskView[]; readonly nowMs: number } | null;
  /** Telemetry counted by the plugin environment (agent/telemetry-stats.ts). */
  telemetry?: TelemetryStats;
  /** The voter set this agent acts in: its epoch, its size, and whether this agent votes in it. */
  voters?(): { readonly epoch: number; readonly n: number; readonly voting: boolean };
}

/** Every state a plugin can be in: each gets a sample (1 for the current one), so a dashboard sees the 0s too. */
export const pluginStates = ['configured', 'active', 'failed', 'inactive'] as const;
/** The task board's states as the metric counts them: a claim whose lease ran out is "expired". */
export const taskStates = ['open', 'claimed', 'expired', 'done'] as const;

export function createMetrics(sources: MetricsSources): AgentMetrics {
  const registry = new Registry();
  // prom-client names its own figures process_* and nodejs_*: "covey_" alone makes them
  // covey_process_cpu_seconds_total, not covey_process_process_cpu_seconds_total.
  collectDefaultMetrics({ register: registry, prefix: 'covey_' });
  const commands = new Counter({
    name: 'covey_commands_total', help: 'Client commands handled by this agent, by operation and outcome (ok, refused, timeout, error)',
    labelNames: ['op', 'outcome'] as const, registers: [registry],
  });
  const commandSeconds = new Histogram({
    name: 'covey_command_seconds', help: 'Time from receiving a client command to its answer',
    labelNames: ['op'] as const, buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry],
  });
  const reachableVoters = new Gauge({ name: 'covey_reachable_voters', help: 'Voters this agent can reach now, itself included', registers: [registry] });
  const fromReplica = (name: string, help: string, pick: (r: NonNullable<ReturnType<MetricsSources['replica']>>) => number | null): void => {
    new Gauge({
      name, help, registers: [registry],
      collect() { const r = sources.replica(); const v = r === null ? null : pick(r); if (v !== null) this.set(v); },
    });
  };
  fromReplica('covey_instances_committed', 'Instances committed at this voter since it started', (r) => r.committed);
  fromReplica('covey_instances_applied', 'Instances applied to the state machine at this voter since it started', (r) => r.applied);
  fromReplica('covey_instances_pending', 'Instances known here and not yet committed', (r) => r.pending);
  fromReplica('covey_commands_queued', 'Client commands waiting to be proposed (batching, back-pressure)', (r) => r.queued);
  fromReplica('covey_storage_syncs', 'Group commits made durable since start', (r) => r.fsyncs);
  fromReplica('covey_storage_durable_writes', 'Durable writes (syncs) this voter\'s storage made since start: group commits nobody waits on share them', (r) => r.durableWrites);
  fromReplica('covey_recoveries_started', 'Recoveries of stalled instances started here since start', (r) => r.recoveries);
  registerPluginMetrics(registry, sources);
  registerDeviceMetrics(registry, sources);
  registerTaskMetrics(registry, sources);
  if (sources.telemetry !== undefined) registerTelemetryMetrics(registry, sources.telemetry);
  const voters = sources.voters;
  if (voters !== undefined) {
    new Gauge({ name: 'covey_voters_epoch', help: 'The epoch of the voter set this agent acts in (0: the config\'s voters)', registers: [registry], collect() { this.set(voters().epoch); } });
    new Gauge({ name: 'covey_voters', help: 'Voters in the current epoch', registers: [registry], collect() { this.set(voters().n); } });
    new Gauge({ name: 'covey_voting', help: '1 when this agent votes in the current epoch, else 0', registers: [registry], collect() { this.set(voters().voting ? 1 : 0); } });
  }
  return { registry, commands, commandSeconds, reachableVoters };
}

function registerPluginMetrics(registry: Registry, sources: MetricsSources): void {
  const plugins = (): readonly PluginStatus[] => sources.plugins?.() ?? [];
  new Gauge({
    name: 'covey_plugin_state', help: 'Each plugin\'s state: 1 for the state it is in, 0 for the others (configured, active, failed, inactive)',
    labelNames: ['plugin', 'state'] as const, registers: [registry],
    collect() {
      this.reset();
      for (const p of plugins()) for (const s of pluginStates) this.set({ plugin: p.name, state: s }, p.state === s ? 1 : 0);
    },
  });
  // Counters kept by the plugin host; copied at scrape time (they only grow while the agent runs).
  new Counter({
    name: 'covey_plugin_restarts_total', help: 'Restarts of each plugin after a failure, since the agent started',
    labelNames: ['plugin'] as const, registers: [registry],
    collect() {
      this.reset();
      for (const p of plugins()) this.inc({ plugin: p.name }, p.restarts);
    },
  });
  new Counter({
    name: 'covey_plugin_telemetry_dropped_total', help: 'Telemetry messages each plugin\'s subscriptions dropped (not JSON, or not matching the topic\'s schema)',
    labelNames: ['plugin'] as const, registers: [registry],
    collect() {
      this.reset();
      for (const p of plugins()) this.inc({ plugin: p.name }, p.telemetryDropped);
    },
  });
}

function registerDeviceMetrics(registry: Registry, sources: MetricsSources): void {
  new Gauge({
    name: 'covey_device_available', help: 'Whether each configured device is available now (1) or not (0: failed to open, link lost, opening, closed)',
    labelNames: ['device', 'kind', 'driver'] as const, registers: [registry],
    collect() {
      this.reset();
      for (const d of sources.devices?.() ?? []) this.set({ device: d.name, kind: d.kind, driver: d.driver }, d.status.state === 'available' ? 1 : 0);
    },
  });
}

function registerTaskMetrics(registry: Registry, sources: MetricsSources): void {
  new Gauge({
    name: 'covey_tasks', help: 'Tasks on this voter\'s copy of the board by state: open, claimed (lease running), expired (claimed, lease ran out: anyone may claim it), done',
    labelNames: ['state'] as const, registers: [registry],
    collect() {
      this.reset();
      const board = sources.tasks?.() ?? null;
      if (board === null) return;
      const counts = countTasks(board.tasks, board.nowMs);
      for (const s of taskStates) this.set({ state: s }, counts[s]);
    },
  });
}

/** Tasks by state; a claim whose lease ended before nowMs counts as expired. */
export function countTasks(tasks: readonly TaskView[], nowMs: number): Record<(typeof taskStates)[number], number> {
  const counts = { open: 0, claimed: 0, expired: 0, done: 0 };
  for (const t of tasks) {
    if (t.status === 'claimed') counts[t.leaseExpiresMs <= nowMs ? 'expired' : 'claimed']++;
    else counts[t.status]++;
  }
  return counts;
}
