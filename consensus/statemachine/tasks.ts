// The task board: create, claim under a lease, renew, complete, release (PROTOCOL.md §12).
//
// Each claim gets a fencing token one larger than the last, so a worker whose lease expired and was
// taken over holds a stale token and every later report of it is refused. "Now" is the timestamp
// in the command, never a clock, so all replicas agree on whether a lease has expired.

import type { CommandResult, TaskCommand, TaskStatus } from './commands.ts';
import { freezeView } from './results.ts';

/** Longest lease a claim or renewal may ask for: 24 hours. */
export const leaseMsMax = 24 * 60 * 60 * 1000;

/** The mutable record behind a TaskView. Results carry frozen copies, never this object. */
export interface Task {
  taskId: string;
  spec: string;
  status: TaskStatus;
  owner: string | null;
  token: number;
  leaseExpiresMs: number;
  result: string | null;
}

const q = JSON.stringify; // quotes ids in messages so an empty or odd id is still visible

export function applyTask(tasks: Map<string, Task>, c: TaskCommand, nowMs: number): CommandResult {
  if (c.op === 'task.create') {
    if (tasks.has(c.taskId)) return fail(`task ${q(c.taskId)} already exists`, tasks.get(c.taskId));
    const t: Task = { taskId: c.taskId, spec: c.spec, status: 'open', owner: null, token: 0, leaseExpiresMs: 0, result: null };
    tasks.set(c.taskId, t);
    return ok(t);
  }
  const t = tasks.get(c.taskId);
  if (t === undefined) return { ok: false, error: `unknown task ${q(c.taskId)}` };
  switch (c.op) {
    case 'task.get':
      return ok(t);
    case 'task.claim': {
      const bad = leaseError(c.leaseMs);
      if (bad !== null) return fail(bad, t);
      if (t.status === 'done') return fail(`task ${q(t.taskId)} is already done`, t);
      if (t.status === 'claimed' && nowMs < t.leaseExpiresMs) {
        const hint = t.owner === c.worker ? `; worker ${q(c.worker)} already holds it, renew with token ${t.token}` : '';
        return fail(`task ${q(t.taskId)} is held by worker ${q(t.owner)} until ${t.leaseExpiresMs}${hint}`, t);
      }
      t.status = 'claimed';
      t.owner = c.worker;
      t.token += 1;
      t.leaseExpiresMs = nowMs + c.leaseMs;
      return ok(t);
    }
    case 'task.renew': {
      const bad = leaseError(c.leaseMs) ?? holderError(t, c.worker, c.token);
      if (bad !== null) return fail(bad, t);
      if (nowMs >= t.leaseExpiresMs) {
        return fail(`lease of task ${q(t.taskId)} expired at ${t.leaseExpiresMs} (command time ${nowMs}); claim it again`, t);
      }
      t.leaseExpiresMs = nowMs + c.leaseMs;
      return ok(t);
    }
    case 'task.complete': {
      // No expiry check: while nobody has claimed the task again the token is still current,
      // and accepting the work is safe. Once someone has, the token is stale and refused.
      const bad = holderError(t, c.worker, c.token);
      if (bad !== null) return fail(bad, t);
      t.status = 'done';
      t.result = c.result;
      t.leaseExpiresMs = 0;
      return ok(t);
    }
    case 'task.release': {
      const bad = holderError(t, c.worker, c.token);
      if (bad !== null) return fail(bad, t);
      t.status = 'open';
      t.owner = null;
      t.leaseExpiresMs = 0; // the token stays: the next claim must still outnumber this one
      return ok(t);
    }
    default: {
      const unknown: never = c;
      return { ok: false, error: `unknown task operation ${q((unknown as { op: unknown }).op)}` };
    }
  }
}

function leaseError(leaseMs: number): string | null {
  if (Number.isInteger(leaseMs) && leaseMs > 0 && leaseMs <= leaseMsMax) return null;
  return `leaseMs must be a positive integer of at most ${leaseMsMax}, got ${String(leaseMs)}`;
}

/** Why (worker, token) is not the current holder of t, or null when it is. Token first: a late
 * report from a superseded lease is told its token is stale whatever happened to the task since. */
function holderError(t: Task, worker: string, token: number): string | null {
  const id = q(t.taskId);
  if (token < t.token) return `stale token ${token} for task ${id}: it was claimed again with token ${t.token}`;
  if (token !== t.token) return `token ${String(token)} for task ${id} was never issued (latest is ${t.token})`;
  if (t.status === 'done') return `task ${id} is already done`;
  if (t.status === 'open') return `task ${id} is not claimed${t.token > 0 ? ' (its lease was released)' : ''}`;
  if (t.owner !== worker) return `task ${id} with token ${token} is held by worker ${q(t.owner)}, not ${q(worker)}`;
  return null;
}

function ok(t: Task): CommandResult {
  return { ok: true, task: freezeView(t) };
}

function fail(error: string, t: Task | undefined): CommandResult {
  return t === undefined ? { ok: false, error } : { ok: false, error, task: freezeView(t) };
}
