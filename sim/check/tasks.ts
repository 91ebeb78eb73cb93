// The task board's checker: judges the task-* operations of a history (sim/workload/tasks.ts
// writes them; HISTORY-FORMAT.md lets them sit beside register operations). Only what clients
// saw is used: an `ok` claim's fencing token, the token a renew or complete carried, and the
// real-time order of operations (A before B when A completed before B was invoked).
//
// What must hold, for each task:
//  - one fencing token is granted to one claim: no two workers ever hold a task with the same token;
//  - tokens grow in real time: a claim that starts after another one finished gets a larger token;
//  - fencing: a renew or complete is accepted only if no claim with a larger token had finished
//    before it started (the board must refuse a superseded holder's late report);
//  - a task is completed at most once.
// `info` operations may or may not have happened; the rules use `ok` ones only, which is sound.

import type { History, HistoryEvent } from '../history.ts';

export interface TaskCheckResult {
  readonly ok: boolean;
  readonly violations: string[];
  readonly stats: { tasksCreated: number; claims: number; completions: number; refusedCompletions: number };
}

interface TaskOp {
  readonly process: number;
  readonly f: string;
  readonly key: string;
  readonly invokeNs: number;
  readonly completeNs: number;
  readonly type: 'ok' | 'fail' | 'info';
  /** claim: the token granted (ok); renew/complete: the token carried. */
  readonly token: number | null;
}

export function checkTasks(history: History): TaskCheckResult {
  const ops = pair(history.other.filter((e) => e.f.startsWith('task-')));
  const violations: string[] = [];
  const byTask = new Map<string, TaskOp[]>();
  const stats = { tasksCreated: 0, claims: 0, completions: 0, refusedCompletions: 0 };
  for (const op of ops) {
    let list = byTask.get(op.key);
    if (list === undefined) { list = []; byTask.set(op.key, list); }
    list.push(op);
    if (op.type !== 'ok') { if (op.f === 'task-complete' && op.type === 'fail') stats.refusedCompletions++; continue; }
    if (op.f === 'task-create') stats.tasksCreated++;
    else if (op.f === 'task-claim') stats.claims++;
    else if (op.f === 'task-complete') stats.completions++;
  }
  for (const [task, list] of byTask) checkTask(task, list, violations);
  return { ok: violations.length === 0, violations, stats };
}

function checkTask(task: string, list: readonly TaskOp[], v: string[]): void {
  for (const o of list) {
    if (o.type === 'ok' && o.f !== 'task-create' && o.token === null) v.push(`task ${task}: an ok ${o.f} of process ${o.process} has no fencing token`);
  }
  const claims = list.filter((o) => o.f === 'task-claim' && o.type === 'ok' && o.token !== null);
  // One token, one holder.
  const holder = new Map<number, TaskOp>();
  for (const c of claims) {
    const other = holder.get(c.token!);
    if (other !== undefined) v.push(`task ${task}: fencing token ${c.token} granted twice, to processes ${other.process} and ${c.process}`);
    else holder.set(c.token!, c);
  }
  // Sweep operations by invoke time; `maxDone` is the largest token of a claim that completed
  // before the current operation was invoked.
  const finished = claims.slice().sort((a, b) => a.completeNs - b.completeNs);
  const checked = list.filter((o) => o.type === 'ok' && o.token !== null && (o.f === 'task-claim' || o.f === 'task-renew' || o.f === 'task-complete'))
    .sort((a, b) => a.invokeNs - b.invokeNs);
  let i = 0;
  let maxDone = 0;
  let maxDoneBy = -1;
  for (const op of checked) {
    while (i < finished.length && finished[i].completeNs < op.invokeNs) {
      if (finished[i].token! > maxDone) { maxDone = finished[i].token!; maxDoneBy = finished[i].process; }
      i++;
    }
    if (op.f === 'task-claim' && op.token! <= maxDone) {
      v.push(`task ${task}: process ${op.process} was granted token ${op.token} after process ${maxDoneBy} had been granted ${maxDone}`);
    } else if (op.f !== 'task-claim' && op.token! < maxDone) {
      v.push(`task ${task}: ${op.f.slice(5)} with stale token ${op.token} by process ${op.process} was accepted after token ${maxDone} was granted to process ${maxDoneBy}`);
    }
  }
  const completes = list.filter((o) => o.f === 'task-complete' && o.type === 'ok');
  if (completes.length > 1) v.push(`task ${task}: completed ${completes.length} times (processes ${completes.map((c) => c.process).join(', ')})`);
}

function pair(events: readonly HistoryEvent[]): TaskOp[] {
  const open = new Map<number, HistoryEvent>();
  const out: TaskOp[] = [];
  const push = (inv: HistoryEvent, done: HistoryEvent | undefined): void => {
    const type = done === undefined ? 'info' : (done.type as 'ok' | 'fail' | 'info');
    const carried = inv.f === 'task-claim' ? (type === 'ok' ? done!.value : null) : inv.value;
    out.push({
      process: inv.process, f: inv.f, key: inv.key, invokeNs: inv.time,
      completeNs: type === 'ok' ? done!.time : Infinity, type,
      token: typeof carried === 'number' ? carried : null,
    });
  };
  for (const e of events) {
    if (e.type === 'invoke') { open.set(e.process, e); continue; }
    const inv = open.get(e.process);
    if (inv === undefined) continue; // parseHistory already refuses this
    open.delete(e.process);
    push(inv, e);
  }
  for (const inv of open.values()) push(inv, undefined);
  return out;
}
