import { registerHooks } from 'node:module';
const seen = new Set();
registerHooks({ resolve(s, c, n) { const r = n(s, c); seen.add(r.url); return r; } });
process.on('exit', () => {
  const by = new Map();
  for (const u of seen) { const m = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(u); const k = m ? m[1] : (u.startsWith('file:') ? u.replace(/.*\/work\/main\//, '').split('/').slice(0, 2).join('/') : 'node:'); by.set(k, (by.get(k) ?? 0) + 1); }
  console.log([...by].sort((a, b) => b[1] - a[1]).slice(0, 40).map(([k, v]) => `${v} ${k}`).join('\n'));
});
