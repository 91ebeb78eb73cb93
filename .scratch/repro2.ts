import { Cluster } from '/work/main/consensus/testing/cluster.ts';
import { formatId } from '/work/main/consensus/core/ids.ts';
// replicate runSchedule but print state after settle failure
import { runSchedule } from '/work/main/consensus/testing/schedule.ts';
const orig = Cluster.prototype.settle;
Cluster.prototype.settle = function (this: Cluster, ...a: [number?, number?]) {
  const ok = orig.apply(this, a as []);
  if (!ok) {
    for (const rep of this.replicas) {
      const rows = [...rep.instanceIds()].map((id) => { const i = rep.instance(id)!; return `${formatId(id)}:${i.phase}/b${i.bal}/a${i.abal}/${rep.isApplied(id) ? 'A' : '-'}`; });
      console.log('replica', rep.self, 'up', this.up[rep.self], 'pending', rep.pendingIds().map(formatId).join(','), 'queued', rep.queuedCommands(), rows.join(' '));
    }
  }
  return ok;
};
try { runSchedule(3, 1, 1, 1, JSON.parse(process.argv[2])); console.log('ok'); } catch (e) { console.log('FAIL', (e as Error).message); }
