import { enableCompileCache } from 'node:module';
enableCompileCache();
const t0 = performance.now();
await import('../agent/./log.ts');
console.log('./log.ts', (performance.now() - t0).toFixed(0), 'ms');
