// The task-board workload: workers create tasks, claim them under a lease, renew the lease while
// they work, and complete them. Now and then a worker dies mid-task: it goes silent for several
// lease lengths, its lease runs out and another worker may claim the task, and when it comes back
// it reports its work with its old fencing token — which the board must refuse if the task was
// claimed again. sim/check/tasks.ts checks the history this writes.
//
// History events use `f` values the register checker skips (HISTORY-FORMAT.md): task-create,
// task-claim (ok value: the fencing token), task-renew and task-complete (invoke value: the token).

import type { CommandResult } from '../../consensus/index.ts';
import type { Random } from '../engine/random.ts';
import type { Completion, OpSpec, Proc, Workload } from './workload.ts';

export interface TasksWorkloadOptions {
  /** Lease asked for by claims and renewals (ms of the submitting agent's clock). */
  readonly leaseMs: number;
  /** Probability that a worker holding a task dies before its next step. */
  readonly dieRate: number;
  /** Think time of an idle worker (ms). */
  readonly thinkMs: { readonly min: number; readonly max: number };
}

export const defaultTasksOptions: TasksWorkloadOptions = { leaseMs: 400, dieRate: 0.05, thinkMs: { min: 0, max: 20 } };

interface Holding {
  readonly taskId: string;
  readonly token: number;
  /** Renewals left before the work is done. */
  renewsLeft: number;
}

interface Worker {
  holding: Holding | null;
  /** A dead worker's report, sent when it comes back. */
  lateReport: Holding | null;
  created: number;
}

export function tasksWorkload(o: TasksWorkloadOptions = defaultTasksOptions): Workload {
  const workers = new Map<number, Worker>();
  /** Tasks created and not known to be done, in creation order (claims pick among them). */
  const open: string[] = [];
  const openIndex = new Map<string, number>();
  const addOpen = (taskId: string): void => {
    if (openIndex.has(taskId)) return;
    openIndex.set(taskId, open.length);
    open.push(taskId);
  };
  const removeOpen = (taskId: string): void => {
    const i = openIndex.get(taskId);
    if (i === undefined) return;
    const last = open.pop()!;
    if (last !== taskId) { open[i] = last; openIndex.set(last, i); }
    openIndex.delete(taskId);
  };
  const worker = (p: Proc): Worker => {
    let w = workers.get(p.id);
    if (w === undefined) { w = { holding: null, lateReport: null, created: 0 }; workers.set(p.id, w); }
    return w;
  };
  const name = (p: Proc): string => `w${p.id}`;

  return {
    name: 'tasks',
    next(p: Proc, rng: Random): OpSpec {
      const w = worker(p);
      const late = w.lateReport;
      if (late !== null) {
        w.lateReport = null;
        return complete(p, late, 'late');
      }
      const h = w.holding;
      if (h !== null) {
        if (h.renewsLeft <= 0) return complete(p, h, 'done');
        return { op: { op: 'task.renew', taskId: h.taskId, worker: name(p), token: h.token, leaseMs: o.leaseMs }, f: 'task-renew', key: h.taskId, value: h.token };
      }
      if (open.length === 0 || rng.chance(0.2)) {
        const taskId = `t-${p.id}-${++w.created}`;
        return { op: { op: 'task.create', taskId, spec: `cell ${taskId}` }, f: 'task-create', key: taskId };
      }
      const taskId = open[rng.int(0, open.length - 1)];
      return { op: { op: 'task.claim', taskId, worker: name(p), leaseMs: o.leaseMs }, f: 'task-claim', key: taskId };
    },
    complete(p: Proc, spec: OpSpec, result: CommandResult, rng: Random): Completion {
      const w = worker(p);
      const op = spec.op;
      if (result.task?.status === 'done') removeOpen(spec.key);
      switch (op.op) {
        case 'task.create':
          if (result.ok) addOpen(op.taskId);
          return { type: result.ok ? 'ok' : 'fail' };
        case 'task.claim':
          if (!result.ok) return { type: 'fail' };
          w.holding = { taskId: op.taskId, token: result.task!.token, renewsLeft: rng.int(1, 4) };
          return { type: 'ok', value: result.task!.token };
        case 'task.renew':
          if (!result.ok) { w.holding = null; return { type: 'fail' }; }
          if (w.holding !== null) w.holding.renewsLeft--;
          return { type: 'ok' };
        case 'task.complete':
          if (w.holding?.taskId === op.taskId) w.holding = null;
          return { type: result.ok ? 'ok' : 'fail' };
        default:
          return { type: result.ok ? 'ok' : 'fail' };
      }
    },
    unknown(p: Proc, spec: OpSpec): void {
      // Whatever happened, this worker no longer knows whether it holds the task: let it go.
      const w = worker(p);
      if (w.holding?.taskId === spec.key) w.holding = null;
    },
    thinkUs(p: Proc, rng: Random): number {
      const w = worker(p);
      if (w.holding !== null) {
        if (rng.chance(o.dieRate)) {
          // Dies mid-task: silent for 2–5 leases, then reports with the token it had.
          w.lateReport = w.holding;
          w.holding = null;
          return rng.int(2 * o.leaseMs * 1000, 5 * o.leaseMs * 1000);
        }
        return rng.int(Math.round(o.leaseMs * 200), Math.round(o.leaseMs * 400)); // renew at 20–40% of the lease
      }
      return rng.int(Math.round(o.thinkMs.min * 1000), Math.round(o.thinkMs.max * 1000));
    },
  };

  function complete(p: Proc, h: Holding, why: string): OpSpec {
    return {
      op: { op: 'task.complete', taskId: h.taskId, worker: name(p), token: h.token, result: `${why} by ${name(p)}` },
      f: 'task-complete', key: h.taskId, value: h.token,
    };
  }
}
