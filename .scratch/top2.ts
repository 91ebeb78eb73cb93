import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const fromEnd = Number(process.argv[3] ?? 7.5) * 1e6, toEnd = Number(process.argv[4] ?? 1.5) * 1e6;
const focus = process.argv[5];
const byId = new Map(p.nodes.map((n: any) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (n: any) => `${n.callFrame.functionName} ${n.callFrame.url.replace(/.*node_modules\//, 'nm/').replace(/.*\/work\/main\//, '')}:${n.callFrame.lineNumber}`;
const self = new Map<string, number>(); const incl = new Map<string, number>(); const callers = new Map<string, number>();
let t = p.startTime; let tot = 0;
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i];
  if (t < p.endTime - fromEnd || t > p.endTime - toEnd) continue;
  const d = p.timeDeltas[i]; tot += d;
  const n: any = byId.get(p.samples[i]);
  self.set(name(n), (self.get(name(n)) ?? 0) + d);
  const seen = new Set<string>();
  const stack: string[] = [];
  for (let cur: any = p.samples[i]; cur !== undefined; cur = parent.get(cur)) { const k = name(byId.get(cur)); stack.push(k); if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + d); } }
  if (focus && name(n).startsWith(focus)) { const k = stack.slice(1, 6).join(' < '); callers.set(k, (callers.get(k) ?? 0) + d); }
}
console.log('--- self'); for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log((v / tot * 100).toFixed(1).padStart(5), k);
console.log('--- inclusive'); for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 60)) console.log((v / tot * 100).toFixed(1).padStart(5), k);
if (focus) { console.log('--- callers of', focus); for (const [k, v] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log((v / tot * 100).toFixed(1).padStart(5), k); }
