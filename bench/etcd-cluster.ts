// A 3-member etcd cluster on loopback for side-by-side benchmarks (Debian's `etcd-server`, 3.4).
// Each member gets its own data directory on the same disk Covey's agents use, and, when the
// bench asks for link delay, advertises a peer URL that points at a delaying proxy in front of
// its real peer listener (bench/delay-proxy.ts), so member-to-member traffic is delayed exactly
// as Covey's voter-to-voter traffic is.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';

export interface EtcdMember {
  readonly name: string;
  /** http://127.0.0.1:PORT — what clients dial. */
  readonly clientUrl: string;
  readonly peerPort: number;
  /** The port other members dial (the proxy's, or the peer port itself). */
  readonly advertisedPeerPort: number;
  process: ChildProcess | null;
}

export interface EtcdCluster {
  readonly members: EtcdMember[];
  stop(): Promise<void>;
}

/** True when an `etcd` binary is on PATH; `etcd --version` printed its version. */
export function etcdVersion(): string | null {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) return null;
  return /etcd Version: (\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
}

export interface EtcdOptions {
  readonly dir: string;
  /** Per member: [client port, peer port, advertised peer port]. */
  readonly ports: readonly (readonly [number, number, number])[];
}

export async function startEtcdCluster(o: EtcdOptions): Promise<EtcdCluster> {
  const members: EtcdMember[] = o.ports.map(([client, peer, advertised], i) => ({
    name: `e${i}`, clientUrl: `http://127.0.0.1:${client}`, peerPort: peer, advertisedPeerPort: advertised, process: null,
  }));
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.advertisedPeerPort}`).join(',');
  for (const m of members) {
    const dataDir = join(o.dir, m.name);
    mkdirSync(dataDir, { recursive: true });
    const log = openSync(join(o.dir, `${m.name}.log`), 'a');
    m.process = spawn('etcd', [
      '--name', m.name,
      '--data-dir', dataDir,
      '--listen-client-urls', m.clientUrl,
      '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.advertisedPeerPort}`,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', 'covey-bench',
      '--logger', 'zap',
      '--log-level', 'warn',
    ], { stdio: ['ignore', log, log] });
    closeSync(log);
  }
  return {
    members,
    stop: async () => {
      await Promise.all(members.map((m) => new Promise<void>((resolve) => {
        const p = m.process;
        if (p === null || p.exitCode !== null) { resolve(); return; }
        p.once('exit', () => resolve());
        p.kill('SIGTERM');
        setTimeout(() => p.kill('SIGKILL'), 5000).unref();
      })));
    },
  };
}
