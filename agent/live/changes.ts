// What an applied batch of commands changed, as live events: a key written, a task created,
// claimed, renewed, completed or released. Reads (get, task.get) and refused commands change
// nothing and make no event; a compare-and-swap makes one only when it swapped.

import type { ExecutedBatch } from '../../consensus/index.ts';
import type { KvEventData, TaskEventData } from './events.ts';

export function changesOf(batch: ExecutedBatch, atMs: number): Array<KvEventData | TaskEventData> {
  const out: Array<KvEventData | TaskEventData> = [];
  batch.commands.forEach((c, i) => {
    const r = batch.results[i];
    if (r === undefined || !r.ok) return;
    switch (c.op) {
      case 'put': out.push({ kind: 'kv', key: c.key, value: c.value, atMs }); break;
      case 'delete': out.push({ kind: 'kv', key: c.key, value: null, atMs }); break;
      case 'cas': if (r.swapped === true) out.push({ kind: 'kv', key: c.key, value: c.value, atMs }); break;
      case 'task.create': case 'task.claim': case 'task.renew': case 'task.complete': case 'task.release':
        if (r.task !== undefined) out.push({ kind: 'task', op: c.op, task: r.task, atMs });
        break;
      default: break;
    }
  });
  return out;
}
