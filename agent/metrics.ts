// Prometheus metrics of an agent (prom-client), served at /metrics. One registry per agent, so two
// agents in one process (tests) never mix their figures.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface AgentMetrics {
  readonly registry: Registry;
  readonly commands: Counter<'op' | 'outcome'>;
  readonly commandSeconds: Histogram<'op'>;
  readonly reachableVoters: Gauge;
}

export interface MetricsSources {
  /** Called at scrape time: the replica's counters, or null on a non-voter. */
  replica(): { committed: number; applied: number; pending: number; queued: number; fsyncs: number; recoveries: number } | null;
}

export function createMetrics(sources: MetricsSources): AgentMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'covey_process_' });
  const commands = new Counter({
    name: 'covey_commands_total', help: 'Client commands handled by this agent, by operation and outcome (ok, refused, timeout, error)',
    labelNames: ['op', 'outcome'] as const, registers: [registry],
  });
  const commandSeconds = new Histogram({
    name: 'covey_command_seconds', help: 'Time from receiving a client command to its answer',
    labelNames: ['op'] as const, buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry],
  });
  const reachableVoters = new Gauge({ name: 'covey_reachable_voters', help: 'Voters this agent can reach now, itself included', registers: [registry] });
  const fromReplica = (name: string, help: string, pick: (r: NonNullable<ReturnType<MetricsSources['replica']>>) => number): void => {
    new Gauge({
      name, help, registers: [registry],
      collect() { const r = sources.replica(); if (r !== null) this.set(pick(r)); },
    });
  };
  fromReplica('covey_instances_committed', 'Instances committed at this voter since it started', (r) => r.committed);
  fromReplica('covey_instances_applied', 'Instances applied to the state machine at this voter since it started', (r) => r.applied);
  fromReplica('covey_instances_pending', 'Instances known here and not yet committed', (r) => r.pending);
  fromReplica('covey_commands_queued', 'Client commands waiting to be proposed (batching, back-pressure)', (r) => r.queued);
  fromReplica('covey_storage_syncs', 'Group commits made durable since start', (r) => r.fsyncs);
  fromReplica('covey_recoveries_started', 'Recoveries of stalled instances started here since start', (r) => r.recoveries);
  return { registry, commands, commandSeconds, reachableVoters };
}
