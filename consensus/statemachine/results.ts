// Canonical, frozen command results and task views.
//
// Results are remembered for deduplication and end up in snapshots and digests, so two replicas
// with the same state must hold byte-identical JSON. Building every object here, with one fixed key
// order, makes that true whether a result was computed by apply or parsed back from a snapshot.
// Freezing keeps a caller that mutates a returned result from changing what a retry later gets.

import type { CommandResult, TaskView } from './commands.ts';

export function freezeView(t: TaskView): TaskView {
  return Object.freeze({
    taskId: t.taskId,
    spec: t.spec,
    status: t.status,
    owner: t.owner,
    token: t.token,
    leaseExpiresMs: t.leaseExpiresMs,
    result: t.result,
  });
}

const okResult: CommandResult = Object.freeze({ ok: true });

/** Same content as r, keys in the order ok, error, value, swapped, task; absent fields left out. */
export function freezeResult(r: CommandResult): CommandResult {
  if (r.ok && r.value === undefined && r.swapped === undefined && r.task === undefined) return okResult; // the usual put
  const out: Record<string, unknown> = { ok: r.ok };
  if (!r.ok) out.error = r.error;
  if (r.ok && r.value !== undefined) out.value = r.value;
  if (r.ok && r.swapped !== undefined) out.swapped = r.swapped;
  if (r.task !== undefined) out.task = freezeView(r.task);
  return Object.freeze(out) as CommandResult;
}
