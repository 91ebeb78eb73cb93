import v8 from 'node:v8';
if (process.argv[2] === 'set') v8.setFlagsFromString('--max-semi-space-size=2');
const keep = [];
for (let i = 0; i < 2e6; i++) { keep.push({ a: i, b: 'x' + i }); if (keep.length > 1000) keep.length = 0; }
globalThis.gc?.();
const u = process.memoryUsage();
console.log(process.argv[2] ?? 'default', 'rss', (u.rss / 1e6).toFixed(0), 'heapTotal', (u.heapTotal / 1e6).toFixed(0), v8.getHeapSpaceStatistics().filter(s => s.space_name === 'new_space').map(s => s.space_size));
