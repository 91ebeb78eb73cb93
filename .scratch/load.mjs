import { enableCompileCache } from 'node:module';
enableCompileCache();
const t0 = performance.now();
await import('../agent/agent.ts');
console.log('import agent.ts', (performance.now() - t0).toFixed(0), 'ms; since process start', performance.now().toFixed(0), 'ms');
