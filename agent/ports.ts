// What an agent takes from the world (agent.ts `createAgent(config, ports)`): clock and timers,
// the network (its libp2p node), durable storage for the replica, entropy and a logger. The real
// agent passes `realAgentPorts` — the wall clock, libp2p, the WAL in front of lmdb, the CSPRNG and
// pino. The composition reads time, draws randomness and opens its node and store only through
// these; the parts it composes (replica driver, RPC, membership, devices…) still keep their own
// timers inside (the simulator's ports are the next slice, agent/README.md).

import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { configPath, type AgentConfig } from './config.ts';
import type { Identity } from './identity.ts';
import type { Logger } from './log.ts';
import { createAgentNode } from './agent-node.ts';
import type { FormingSwarm } from './formation/forming.ts';
import type { DeviceClock } from '../devices/clock.ts';
import type { CoveyNode } from '../transports/node.ts';
import type { PersistRecord, ReplicaStorage } from '../consensus/index.ts';
import { WalStorage } from '../consensus/storage/wal-storage.ts';
import { EpochStore, type EpochRecord } from './epoch-store.ts';

/** Monotonic time and timers (DeviceClock: devices and the live layer take it too), and the wall clock. */
export interface AgentClock extends DeviceClock {
  /** Milliseconds since the epoch: stamps on commands, leases, events. */
  wallMs(): number;
}

export interface AgentNetwork {
  /** The agent's libp2p node; `admits` (the roster's) decides who may connect. */
  open(admits: (peer: string) => boolean): Promise<CoveyNode>;
  /** Stops the node (and whatever opened it). */
  close(node: CoveyNode): Promise<void>;
}

export interface AgentStorage {
  /**
   * The durable store of this agent's replica in epoch `epoch`'s group (a voter's; a worker never
   * opens one). Epoch 0 when absent; later epochs' stores are made by `epochs.create`.
   */
  open(epoch?: number): Promise<ReplicaStorage>;
  /** The epochs beyond 0 this agent has moved to (agent/epoch-store.ts). */
  readonly epochs: AgentEpochs;
}

export interface AgentEpochs {
  /** Every epoch made whole on this disk, oldest first (throws, naming the file, on damage). */
  list(): EpochRecord[];
  /**
   * Makes an epoch whole on disk, durably: its record, and with `base` (this agent votes in it) its
   * group's storage holding that first record (the state at the change).
   */
  create(record: EpochRecord, base: PersistRecord | null): Promise<void>;
  /** The newest epoch retired here, or -1: its group is never opened again. */
  retiredThrough(): number;
  /** Epoch `epoch` is retired here (its group closed): recorded durably, then its group's records removed. */
  retire(epoch: number): void;
}

export interface AgentEntropy {
  bytes(n: number): Uint8Array;
}

export interface AgentPorts {
  readonly clock: AgentClock;
  readonly network: AgentNetwork;
  readonly storage: AgentStorage;
  readonly entropy: AgentEntropy;
  readonly logger: Logger;
}

/**
 * The wall clock. Its timers do not hold the process open (the node and the HTTP server do, while
 * the agent runs): the agent's periodic work must not keep a stopped-but-leaked agent alive.
 */
export function realAgentClock(): AgentClock {
  return {
    now: () => performance.now(),
    wallMs: () => Date.now(),
    every(ms, fn) {
      const t = setInterval(fn, ms);
      t.unref();
      return () => clearInterval(t);
    },
    after(ms, fn) {
      const t = setTimeout(fn, ms);
      t.unref();
      return () => clearTimeout(t);
    },
  };
}

/**
 * The real agent's ports: libp2p from the config (or the node of a swarm that formed first,
 * agent/formation/forming.ts, whose formation keeps answering late agents until the node stops),
 * the WAL and lmdb under `<dataDir>/consensus`, the wall clock, node:crypto.
 */
export function realAgentPorts(
  config: AgentConfig, identity: Identity, logger: Logger, forming: FormingSwarm | null = null,
): AgentPorts {
  const dataDir = configPath(config, config.dataDir);
  const epochs = new EpochStore(join(dataDir, 'epochs'), join(dataDir, 'consensus'));
  return {
    clock: realAgentClock(),
    network: {
      open: async (admits) => {
        if (forming === null) return createAgentNode(config, identity.privateKey, admits, logger);
        // The forming swarm's node, with its connections: from now on the agent's roster decides who connects.
        forming.admitWith(admits);
        return forming.node;
      },
      close: async (node) => {
        await forming?.formation.stop();
        await node.stop();
      },
    },
    storage: {
      open: (epoch = 0) => {
        // A retired epoch's records are gone: opening would start a replica of it from nothing.
        if (epoch <= epochs.retiredThrough()) return Promise.reject(new Error(`assertion: epoch ${epoch} was retired on this agent; its group is never opened again`));
        const dir = epochs.storageDir(epoch);
        mkdirSync(dir, { recursive: true });
        return WalStorage.open(dir);
      },
      epochs: {
        list: () => epochs.list(),
        retiredThrough: () => epochs.retiredThrough(),
        retire: (epoch) => epochs.retire(epoch),
        create: (record, base) => epochs.create(record, base === null ? null : async (dir) => {
          const s = await WalStorage.open(dir);
          try {
            await s.append([base]);
          } finally {
            await s.close();
          }
        }),
      },
    },
    entropy: { bytes: (n) => randomBytes(n) },
    logger,
  };
}
