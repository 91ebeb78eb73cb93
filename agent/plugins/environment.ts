// What a host environment supplies to the plugin host: the real agent (agent/plugins/agent-env.ts)
// and the simulator (sim/plugins/) each implement this once; plugins never see it. Everything
// with time or randomness in it comes from here, so a plugin under the simulator is as
// deterministic as the simulator.

import type { ZodType } from 'zod';
import type { DeviceClock } from '../../devices/clock.ts';
import type { Device } from '../../devices/types.ts';
import type { CommandResult, Operation, TaskView } from '../../consensus/index.ts';
import type { KvListQuery, KvPage } from '../kv-list.ts';
import type { Cancel, MemberChange, MemberView, PluginLogger, PluginStore, StaleRead } from './api.ts';

export interface PluginEnvironment {
  readonly agentId: string;
  readonly role: 'voter' | 'worker';
  /** Monotonic ms and timers (virtual in the simulator). Supervision backoff uses it too. */
  readonly timers: DeviceClock;
  /** The agent's wall clock, ms since the epoch (the simulated agent's skewed clock in the simulator). */
  wallClock(): number;
  random(): number;
  /** A command through consensus; rejects with UnavailableError when no majority answers in time. */
  submit(op: Operation): Promise<CommandResult>;
  /** This agent's replica's copy (voters); rejects with an error saying where to ask otherwise. */
  staleGet(key: string): Promise<StaleRead<string | null>>;
  /** One page of this agent's replica's keys under a prefix (voters); rejects like staleGet elsewhere. */
  staleList(q: KvListQuery): Promise<StaleRead<KvPage>>;
  /** This agent's replica's task board, sorted by task id (voters); rejects like staleGet elsewhere. */
  staleTasks(): Promise<StaleRead<TaskView[]>>;
  /** Broadcast on a telemetry topic (best effort, like gossipsub). */
  publish(topic: string, data: Uint8Array): Promise<void>;
  /** A plugin made a topic with this schema (the agent's live layer shows it; optional: the simulator has none). */
  declareTopic?(topic: string, schema: ZodType): void;
  /** Messages from other agents on a topic. */
  subscribe(topic: string, fn: (data: Uint8Array, from: string) => void): Cancel;
  /** Told of each message a subscription dropped (not JSON, or not the topic's schema), for metrics; optional. */
  telemetryDropped?(topic: string): void;
  members(): MemberView[];
  onMemberChange(fn: (change: MemberChange) => void): Cancel;
  readonly devices: ReadonlyMap<string, Device>;
  /** A child logger named for the plugin. */
  logger(plugin: string): PluginLogger;
  /** The plugin's private durable store on this agent. */
  store(plugin: string): PluginStore;
}

/** What a worker answers when asked for a listing: the same words in the agent and the simulator. */
export function listingServedByVoters(agentId: string, what: string): Error {
  return new Error(`${what} is a local read of the replicated state, which voters hold; this agent (${agentId}) is a worker: run the listing in the plugin on a voter, or read known keys and tasks with kv.get and tasks.get, which work from any agent`);
}
