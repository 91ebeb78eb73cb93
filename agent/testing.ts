// Test helpers for the agent's parts: an in-process group of replica drivers over memory storage.

import { pino } from 'pino';
import { ReplicaDriver } from './driver.ts';
import { MemoryStorage } from '../consensus/index.ts';
import { HttpError, type AgentApi } from './http.ts';
import { plannedVoters, requestReason, votersCommand, votersView, type VotersView } from './voters-api.ts';

// Free loopback ports, for tests outside agent/ that may import agent but not transports (the CLI's).
export { freePorts } from '../transports/ports.ts';
export { eventually } from '../transports/testing/eventually.ts';

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


/** Peer ids for the three voters of `group()`, where a test needs them named. */
export const groupVoterIds = [
  '12D3KooWKz3HqNbmrmHnj3ahvUNNx5rYAUDpMgTwGbDQzwEFrsxa',
  '12D3KooWKz3HqNbmrmHnj3ahvUNNx5rYAUDpMgTwGbDQzwEFrsxb',
  '12D3KooWKz3HqNbmrmHnj3ahvUNNx5rYAUDpMgTwGbDQzwEFrsxc',
];

/**
 * The voter-set half of an AgentApi over voter 0 of `group()`, as the agent serves it once it runs
 * epochs: the view is the state machine's (the config's `groupVoterIds` in epoch 0), the plan is
 * agent/voters-api.ts's with the replicated roster enforced, and the change goes through `submit`
 * to consensus.
 */
export function groupVoters(d: ReplicaDriver, down: ReadonlySet<number>, submit: AgentApi['submit']): Pick<AgentApi, 'voters' | 'changeVoters'> {
  const voters = (): VotersView => {
    const state = d.stateMachine.voters();
    const reachable = new Set([0, 1, 2].filter((i) => i === 0 || !down.has(i)));
    return votersView({ epoch: state?.epoch ?? 0, ids: state?.ids ?? groupVoterIds, selfId: groupVoterIds[0], reachable, replaceAfterMs: null });
  };
  return {
    voters,
    changeVoters: async (req, o) => {
      const v = voters();
      const ids = v.voters.map((x) => x.peerId);
      const decisions = new Map(d.stateMachine.roster().decisions);
      const plan = plannedVoters(ids, req, (id) => ids.includes(id) || decisions.get(id) === 'admitted');
      if (!plan.ok) throw new HttpError(409, plan.error);
      return submit(votersCommand(v.epoch, plan.voters, req.reason ?? requestReason(req)), o);
    },
  };
}
