// What a simulated client does. The engine owns processes, time, the network and the history; a
// workload only decides each process's next operation, turns the state machine's answer into the
// history's completion, and says how long the process thinks before its next one.

import type { CommandResult, Operation } from '../../consensus/index.ts';
import type { Random } from '../engine/random.ts';

/** One history process: a client with at most one operation open (HISTORY-FORMAT.md). */
export interface Proc {
  /** The history's `process` number. */
  readonly id: number;
  /** The state machine's client id; request ids grow per client. */
  readonly clientId: string;
  /** The agent the client runs on. */
  readonly agent: number;
}

/** An operation the workload wants to run, and how the history names it. */
export interface OpSpec {
  readonly op: Operation;
  readonly f: string;
  readonly key: string;
  /** The invoke's `value`, when the format wants one. */
  readonly value?: unknown;
}

export interface Completion {
  readonly type: 'ok' | 'fail';
  readonly value?: unknown;
}

export interface Workload {
  readonly name: WorkloadName;
  next(p: Proc, rng: Random): OpSpec;
  /** The state machine answered (ok or refused): the completion to record. */
  complete(p: Proc, spec: OpSpec, result: CommandResult, rng: Random): Completion;
  /** The outcome is unknown (timeout, the agent crashed): recorded as `info`. */
  unknown(p: Proc, spec: OpSpec): void;
  /** Virtual µs before a closed-loop process invokes again. */
  thinkUs(p: Proc, rng: Random): number;
}

export const workloadNames = ['kv', 'tasks'] as const;
export type WorkloadName = (typeof workloadNames)[number];
