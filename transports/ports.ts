// Free TCP ports on loopback, for a local swarm's agents (agent/swarm.ts) and for tests that start
// real nodes or servers. The kernel picks them; they are free when returned, not reserved.

import { createServer, type AddressInfo, type Server } from 'node:net';

/** Ports the kernel says are free now (bound to 0 and released). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<Server>((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => res(s));
  })));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
