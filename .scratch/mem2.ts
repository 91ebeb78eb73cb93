const m = () => { const u = process.memoryUsage(); return `rss ${(u.rss/1e6).toFixed(0)} heapTotal ${(u.heapTotal/1e6).toFixed(0)} heapUsed ${(u.heapUsed/1e6).toFixed(0)} external ${(u.external/1e6).toFixed(0)} ab ${(u.arrayBuffers/1e6).toFixed(0)}`; };
console.log('start', m());
await import('../agent/agent.ts');
globalThis.gc?.();
console.log('after agent import', m());
