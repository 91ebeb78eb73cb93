// `covey agent --dev`: one agent that is a whole swarm, for plugin authors on their own machine.
// It is the only voter (a group of one, n=1 f=0 e=0: consensus/core/quorum.ts), keeps its data in
// a new temporary directory that is removed when it stops, listens on loopback only, does not
// announce itself with mDNS, and runs the plugins named on the command line. Not for the field:
// it tolerates no crash, and its state is gone when it stops.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { configSchema, type AgentConfig } from './config.ts';
import { createIdentity, saveIdentity } from './identity.ts';

export interface DevAgentOptions {
  /** Plugin modules: paths relative to `baseDir`, or package names. */
  readonly plugins: readonly string[];
  /** The HTTP API's host:port, on loopback (port 0: any free one). */
  readonly http: string;
  /** Where relative plugin paths resolve from (the working directory). */
  readonly baseDir: string;
  readonly logLevel?: AgentConfig['log']['level'];
}

export interface DevAgentSetup {
  readonly config: AgentConfig;
  readonly peerId: string;
  /** The temporary directory: identity key and data. */
  readonly dir: string;
  /** Removes the temporary directory (after the agent stopped). */
  readonly remove: () => void;
}

const loopbackHttp = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d{1,5}$/;

/** Makes the temporary directory, the identity and the config of a dev agent. Throws a RangeError on a non-loopback --http. */
export async function devAgentSetup(o: DevAgentOptions): Promise<DevAgentSetup> {
  if (!loopbackHttp.test(o.http)) throw new RangeError(`--http ${o.http}: a dev agent serves its API on loopback only, for example 127.0.0.1:7070`);
  const dir = mkdtempSync(join(tmpdir(), 'covey-dev-'));
  try {
    const id = await createIdentity();
    saveIdentity(join(dir, 'identity.key'), id);
    // The schema checks and fills in everything but the voters, whose rule (3 or more, so a crash
    // is survived) is the field's; a dev agent is the one exception, made here and only here.
    const parsed = configSchema.omit({ voters: true }).parse({
      swarm: { name: 'dev' },
      identity: join(dir, 'identity.key'),
      dataDir: join(dir, 'data'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      http: { listen: o.http },
      log: { level: o.logLevel ?? 'info' },
      plugins: o.plugins.map((module) => ({ module })),
    });
    const config: AgentConfig = { ...parsed, voters: [{ id: id.peerId, addrs: [] }], baseDir: resolve(o.baseDir) };
    return { config, peerId: id.peerId, dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
