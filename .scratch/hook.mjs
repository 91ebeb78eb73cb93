import { registerHooks } from 'node:module';
const seen = new Set();
registerHooks({ resolve(s, c, n) { const r = n(s, c); seen.add(r.url); return r; } });
process.on('exit', () => { const m = [...seen].filter((u) => /mavlink|node-mavlink|serialport/.test(u)); console.log('mavlink-ish modules loaded:', m.length, m.slice(0, 3)); });
