// What the delaying proxy of bench:vs-etcd costs by itself: 100-byte round trips to an echo server,
// direct and through the proxy at delay 0 (median of 5 runs of 1,000 each).
// Usage: node bench/delay-proxy-cost.ts

import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { startDelayProxy } from './delay-proxy.ts';
const echo = createServer((s) => s.on('data', (d) => s.write(d)));
await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
const port = (echo.address() as AddressInfo).port;
const proxy = await startDelayProxy([{ listen: '127.0.0.1:0', target: `127.0.0.1:${port}` }], 0);
const pport = Number(proxy.addresses[0].split(':')[1]);
async function rtts(p: number, n: number): Promise<number> {
  const s: Socket = connect(p, '127.0.0.1'); s.setNoDelay(true);
  await new Promise((r) => s.once('connect', r));
  const t: number[] = [];
  for (let i = 0; i < n; i++) { const a = performance.now(); s.write('x'.repeat(100)); await new Promise((r) => s.once('data', r)); t.push(performance.now() - a); }
  s.destroy(); t.sort((a, b) => a - b); return t[Math.floor(n / 2)];
}
const res: Record<string, number[]> = { direct: [], proxy: [] };
for (let r = 0; r < 5; r++) { res.direct.push(await rtts(port, 1000)); res.proxy.push(await rtts(pport, 1000)); }
const med = (a: number[]) => a.sort((x, y) => x - y)[2];
console.log(`round trip p50 (median of 5 × 1000): direct ${med(res.direct).toFixed(3)} ms, through the proxy at delay 0 ${med(res.proxy).toFixed(3)} ms: +${(med(res.proxy) - med(res.direct)).toFixed(3)} ms per round trip`);
await proxy.close(); echo.close();
