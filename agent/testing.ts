// Test helpers for the agent's parts: an in-process group of replica drivers over memory storage.

import { pino } from 'pino';
import { ReplicaDriver } from './driver.ts';
import { MemoryStorage } from '../consensus/index.ts';

// Free loopback ports, for tests outside agent/ that may import agent but not transports (the CLI's).
export { freePorts } from '../transports/ports.ts';

export const silentLogger = pino({ level: 'silent' });

/** Three drivers joined by an in-process network that can drop everything to or from a replica. */
export async function group(storages: MemoryStorage[] = [new MemoryStorage(), new MemoryStorage(), new MemoryStorage()]) {
  const down = new Set<number>();
  const drivers: ReplicaDriver[] = [];
  for (let self = 0; self < 3; self++) {
    drivers.push(await ReplicaDriver.start({
      replica: { self, n: 3, f: 1, e: 1, tickMs: 5, recoveryTimeoutMs: 50 },
      storage: storages[self],
      logger: silentLogger,
      send: (envs) => {
        for (const e of envs) {
          setImmediate(() => {
            if (down.has(e.from) || down.has(e.to)) return;
            drivers[e.to].receive(e.from, e.msg);
          });
        }
      },
    }));
  }
  return { drivers, down, storages };
}

