import { Cluster } from '../consensus/testing/cluster.ts';
import { formatId } from '../consensus/core/ids.ts';
import { runSchedule } from '../consensus/testing/schedule.ts';
const orig = Cluster.prototype.settle;
let printed = false;
Cluster.prototype.settle = function (this: Cluster, ...a: [number?, number?]) {
  const ok = orig.apply(this, a as []);
  if (!ok && !printed) {
    printed = true;
    for (let round = 0; round < 3; round++) {
      this.tickAll(3000, round);
      for (let k = 0; k < 200 && this.network.length > 0; k++) {
        const env = this.network[0];
        const m = env.msg as any;
        if ('id' in m && (formatId(m.id) === '2.0' || formatId(m.id) === '1.2')) console.log(`  ${env.from}->${env.to} ${m.type} ${formatId(m.id)} b=${m.b ?? ''} ${m.type === 'RecoverOK' ? m.phase + ' abal' + m.abal + ' dep' + JSON.stringify(m.dep.ids.map(formatId)) + ' initDep' + JSON.stringify(m.initDep.ids.map(formatId)) : ''}${m.type === 'ValidateOK' ? JSON.stringify(m.I.map(([i, p]: [number, string]) => formatId(i) + p)) : ''}${m.type === 'Waiting' ? ' k=' + m.k : ''}${m.type==='Accept'? ' cmd=' + (m.cmd==='NOP'?'NOP':'c') : ''}`);
        this.deliver(0);
      }
      for (const rep of this.replicas) {
        const leads = [...(rep as any).leads.entries()].map(([id, l]: [number, any]) => `${formatId(id)}:${l.kind}@${l.b}${l.I ? ' I=' + l.I.map(formatId) : ''}`);
        console.log('replica', rep.self, 'leads', leads.join(' '), 'uncertain', [...(rep as any).uncertainOwn].map(formatId).join(','));
      }
    }
  }
  return ok;
};
const [n, f, e, batch] = JSON.parse(process.argv[3] ?? '[3,1,1,1]');
try { runSchedule(n, f, e, batch, JSON.parse(process.argv[2])); console.log('ok'); } catch (err) { console.log('FAIL', (err as Error).message); }
