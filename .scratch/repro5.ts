import { Cluster } from '../consensus/testing/cluster.ts';
import { formatId } from '../consensus/core/ids.ts';
import { runSchedule } from '../consensus/testing/schedule.ts';
const orig = Cluster.prototype.settle;
let printed = false;
Cluster.prototype.settle = function (this: Cluster, ...a: [number?, number?]) {
  const ok = orig.apply(this, a as []);
  if (!ok && !printed) {
    printed = true;
    for (const rep of this.replicas) {
      const rows = [...rep.instanceIds()].map((id) => { const i = rep.instance(id)!; return `${formatId(id)}:${i.phase[0]}/b${i.bal}/a${i.abal}/${rep.isApplied(id) ? 'A' : '-'}`; });
      console.log('replica', rep.self, 'up', this.up[rep.self], 'pending', rep.pendingIds().map(formatId).join(','), 'queued', rep.queuedCommands(), rows.join(' '));
    }
  }
  return ok;
};
const [n, f, e, batch] = JSON.parse(process.argv[3] ?? '[3,1,1,1]');
try { runSchedule(n, f, e, batch, JSON.parse(process.argv[2])); console.log('ok'); } catch (err) { console.log('FAIL', (err as Error).message); }
