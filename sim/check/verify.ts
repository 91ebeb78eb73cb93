// `covey verify`'s judgement of one history, as data: a verdict per key, the task board's
// checks when the history has task operations, and totals. The command (verify-run.ts) reads the
// file and prints this; tests and the bench call it directly.

import type { History, Operation } from '../history.ts';
import { checkLinearizable } from './linearizability.ts';
import type { RegisterVerdict, Verdict } from './check-register.ts';
import { checkTasks, type TaskCheckResult } from './tasks.ts';

export interface VerifyOptions {
  statesMax: number;
  /** Called after each key, for progress on long histories. */
  onKey?: (done: number, total: number, operations: number) => void;
}

export interface WitnessOperation {
  line: number;
  process: number;
  f: string;
  value?: unknown;
  output?: unknown;
  status: string;
  invokeNs: number;
  /** null for an operation of unknown outcome (it never completes). */
  completeNs: number | null;
}

export interface KeyReport {
  key: string;
  verdict: Verdict;
  operations: number;
  infoOperations: number;
  method: RegisterVerdict['method'];
  segments: number;
  states: number;
  reason?: string;
  witness?: WitnessOperation[];
  witnessStartValues?: string[];
}

export interface VerifyReport {
  /** not-linearizable when any key is refuted or the task board's checks fail; unknown when a key is undecided. */
  verdict: Verdict;
  keys: KeyReport[];
  totals: { keys: number; linearizable: number; notLinearizable: number; unknown: number; operations: number; infoOperations: number; states: number; memoBytesMax: number };
  /** The task board's checks, when the history has task-* operations. */
  tasks: TaskCheckResult | null;
  checkMs: number;
}

/** Exit codes of `covey verify`. */
export const exitCodes = { linearizable: 0, 'not-linearizable': 1, unknown: 2, badInput: 3 } as const;

export function verifyHistory(history: History, options: VerifyOptions): VerifyReport {
  const started = performance.now();
  let operations = 0;
  const lin = checkLinearizable(history, {
    searchStatesMax: options.statesMax,
    onKey: (v, done, total) => { operations += v.operations; options.onKey?.(done, total, operations); },
  });
  const hasTasks = history.other.some((e) => e.f.startsWith('task-'));
  const tasks = hasTasks ? checkTasks(history) : null;
  const keys = lin.verdicts.map(keyReport);
  const count = (v: Verdict): number => keys.filter((k) => k.verdict === v).length;
  const totals = {
    keys: keys.length, linearizable: count('linearizable'), notLinearizable: count('not-linearizable'), unknown: count('unknown'),
    operations: lin.operations, infoOperations: keys.reduce((n, k) => n + k.infoOperations, 0),
    states: keys.reduce((n, k) => n + k.states, 0), memoBytesMax: lin.verdicts.reduce((n, v) => Math.max(n, v.memoBytesMax), 0),
  };
  const verdict: Verdict = totals.notLinearizable > 0 || (tasks !== null && !tasks.ok) ? 'not-linearizable' : totals.unknown > 0 ? 'unknown' : 'linearizable';
  return { verdict, keys, totals, tasks, checkMs: performance.now() - started };
}

function keyReport(v: RegisterVerdict): KeyReport {
  return {
    key: v.key, verdict: v.verdict, operations: v.operations, infoOperations: v.infoOperations, method: v.method,
    segments: v.segments, states: v.states,
    ...(v.reason !== undefined ? { reason: v.reason } : {}),
    ...(v.witness !== undefined ? { witness: v.witness.map(witnessOperation) } : {}),
    ...(v.witnessStartValues !== undefined ? { witnessStartValues: v.witnessStartValues } : {}),
  };
}

function witnessOperation(op: Operation): WitnessOperation {
  return {
    line: op.line, process: op.process, f: op.f,
    ...(op.value !== undefined ? { value: op.value } : {}),
    ...(op.output !== undefined ? { output: op.output } : {}),
    status: op.status, invokeNs: op.invokeNs, completeNs: Number.isFinite(op.completeNs) ? op.completeNs : null,
  };
}
