import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const self = new Map<string, number>();
const byUrl = new Map<string, number>();
const byId = new Map(p.nodes.map((n: any) => [n.id, n]));
for (let i = 0; i < p.samples.length; i++) {
  const n: any = byId.get(p.samples[i]);
  const k = `${n.callFrame.functionName} ${n.callFrame.url.replace(/.*node_modules\//, 'nm/').replace(/.*\/work\/main\//, '')}:${n.callFrame.lineNumber}`;
  self.set(k, (self.get(k) ?? 0) + p.timeDeltas[i]);
  const u = n.callFrame.url.replace(/.*node_modules\//, 'nm/').replace(/.*\/work\/main\//, '').replace(/\/[^/]*$/, '');
  byUrl.set(u, (byUrl.get(u) ?? 0) + p.timeDeltas[i]);
}
const tot = p.timeDeltas.reduce((a: number, b: number) => a + b, 0);
console.log('--- by self function');
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[3] ?? 40))) console.log((v / tot * 100).toFixed(1).padStart(5), k);
console.log('--- by dir');
for (const [k, v] of [...byUrl].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log((v / tot * 100).toFixed(1).padStart(5), k);
