// Test kit of the client commands: the HTTP API over voter 0 of an in-process group (everything
// but libp2p and lmdb is real), and the `covey` CLI run as a child process against it. The child
// runs asynchronously, so this process keeps serving its requests meanwhile.

import { execFile, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { createHttpApi, type AgentApi } from '../http.ts';
import { pageKeys } from '../kv-list.ts';
import type { LiveRoutes } from '../live/http-routes.ts';
import { AgentClient } from '../client.ts';
import { group, groupVoters, silentLogger } from '../testing.ts';
import type { Command, Operation } from '../../consensus/index.ts';

export const cliPath = fileURLToPath(new URL('./covey.ts', import.meta.url));

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `covey ...args` to its end; never rejects for a non-zero exit (the code is in the answer). */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return startCli(args, env).done;
}

/** Starts `covey ...args`: the child (to signal it) and its end. Killed after 30 s (code -1 then). */
export function startCli(args: readonly string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<CliRun> } {
  let child!: ChildProcess;
  const done = new Promise<CliRun>((resolve) => {
    child = execFile(process.execPath, [cliPath, ...args], { env: { ...process.env, COVEY_AGENT: '', COVEY_TOKEN: '', ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
  });
  return { child, done };
}

/** An HTTP API over an in-process group of three voters; `close()` stops it all. */
export async function serveGroup(extra: Partial<AgentApi> = {}, o: { live?: LiveRoutes } = {}) {
  const g = await group();
  const d = g.drivers[0];
  let seq = 0;
  const registry = new Registry();
  const api: AgentApi = {
    registry,
    status: () => ({ committed: d.core.stats.committed }),
    submit: (op: Operation, o) => d.submit({ clientId: o.clientId ?? 'cli-test', requestId: o.requestId ?? ++seq, timestampMs: Date.now(), ...op } as Command, o.timeoutMs ?? 3000, () => 'no majority'),
    staleGet: (key) => ({ value: d.stateMachine.get(key), stale: true, staleness: { appliedInstances: d.core.stats.applied } }),
    staleTasks: () => ({ value: d.stateMachine.listTasks(), stale: true, staleness: {} }),
    staleList: (q) => { const p = pageKeys(d.stateMachine, q); return { value: p.entries, next: p.next, stale: true, staleness: { appliedInstances: d.core.stats.applied } }; },
    members: () => [],
    memberEvents: () => [],
    plugins: () => [],
    devices: () => [],
    readiness: () => ({ ready: true, reason: 'in-process group' }),
    peers: () => ({ ...d.stateMachine.roster() }),
    changeRoster: (op, peerId, o) => api.submit({ op, peerId }, o),
    ...groupVoters(d, g.down, (op, o) => api.submit(op, o)),
    redeemJoinToken: async () => ({ ok: false, error: 'not in this test' }),
    ...extra,
  };
  const server = createHttpApi(api, { logger: silentLogger, live: o.live });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    g, url, api, client: new AgentClient(url),
    close: async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)); await Promise.all(g.drivers.map((x) => x.stop())); },
  };
}
