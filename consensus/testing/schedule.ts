// Fault schedules for a replica group: a list of actions (submit, deliver in any order, drop,
// duplicate, tick, crash between or in the middle of a turn, restart) played on a Cluster with
// INV1–INV8 checked after every action, then the end-to-end promise once the faults stop. The
// property tests generate schedules; regression tests replay the ones that once failed.

import assert from 'node:assert/strict';
import { Cluster, type Command, type CoveyStateMachine } from '../index.ts';

export type Action =
  | { t: 'submit'; r: number; key: number; op: 'put' | 'get' | 'cas' | 'delete' }
  | { t: 'deliver'; i: number }
  | { t: 'drop'; i: number }
  | { t: 'dup'; i: number }
  | { t: 'tick'; r: number; ms: number; entropy: number }
  | { t: 'crash'; r: number }
  | { t: 'crashMidTurn'; i: number }
  | { t: 'restart'; r: number };


interface Client { command: Command; answered: boolean; at: number }

/**
 * Play `actions` on an n-replica group and assert: the invariants after every action; then, with
 * every replica restarted and clients retrying unanswered commands, that every proposed id commits
 * and applies everywhere, every client is answered, and all state machines agree.
 */
export function runSchedule(n: number, f: number, e: number, batch: number, actions: Action[], snapshotEveryApplied?: number): Cluster {
  const cluster = new Cluster({
    n, f, e, batchCommandsMax: batch, pipelineInstancesMax: 2, recoveryTimeoutMs: 300, recoveryTimeoutMaxMs: 2000, retransmitMs: 100, watermarkEveryTicks: 1, indexLagExchanges: 1,
    snapshotEveryApplied,
  });
  const clients: Client[] = [];
  let seq = 0;
  const check = (what: string): void => {
    const v = cluster.violations();
    assert.deepEqual(v, [], `after ${what}: ${v.join('; ')}`);
  };
  for (const a of actions) {
    const pick = (i: number): number => i % cluster.network.length;
    switch (a.t) {
      case 'submit': {
        if (!cluster.up[a.r]) continue;
        const base = { clientId: `client-${seq}`, requestId: 1, timestampMs: cluster.nowMs, key: `k${a.key}` };
        const v = `v${seq++}`;
        const command: Command =
          a.op === 'put' ? { ...base, op: 'put', value: v }
          : a.op === 'get' ? { ...base, op: 'get' }
          : a.op === 'delete' ? { ...base, op: 'delete' }
          : { ...base, op: 'cas', expected: null, value: v };
        clients.push({ command, answered: false, at: a.r });
        cluster.submit(a.r, command);
        break;
      }
      case 'deliver': if (cluster.network.length > 0) cluster.deliver(pick(a.i)); break;
      case 'drop': if (cluster.network.length > 0) cluster.drop(pick(a.i)); break;
      case 'dup': if (cluster.network.length > 0) cluster.duplicate(pick(a.i)); break;
      case 'tick': if (cluster.up[a.r]) { cluster.nowMs += a.ms; cluster.tick(a.r, a.entropy); } break;
      case 'crash': if (cluster.up[a.r]) cluster.crash(a.r); break;
      case 'crashMidTurn': if (cluster.network.length > 0) cluster.deliverThenCrash(pick(a.i)); break;
      case 'restart': if (!cluster.up[a.r]) cluster.restart(a.r); break;
    }
    check(JSON.stringify(a));
  }
  // Faults stop: every replica comes back, and clients whose answer never came retry their
  // command (same request id) at the replica they used, as a real client does after a timeout.
  for (let r = 0; r < n; r++) if (!cluster.up[r]) cluster.restart(r);
  for (let round = 0; round < 5; round++) {
    const answered = new Set(cluster.replies.flatMap((list) => list.map((x) => `${x.clientId}/${x.requestId}`)));
    for (const c of clients) c.answered ||= answered.has(`${c.command.clientId}/${c.command.requestId}`);
    const waiting = clients.filter((c) => !c.answered);
    if (waiting.length === 0) break;
    for (const c of waiting) cluster.submit(c.at, c.command);
    assert.ok(cluster.settle(400), `group did not settle after the faults stopped (round ${round})`);
    check('settling');
  }
  assert.ok(cluster.settle(400), 'group did not settle after the faults stopped');
  check('settling');
  for (const id of cluster.ghost.proposals.keys()) {
    for (const rep of cluster.replicas) {
      // A truncated id is gone from the replica, and was applied there (and committed: the views
      // the invariants check keep its last record).
      if (rep.instance(id) === undefined && rep.isApplied(id)) continue;
      assert.equal(rep.instance(id)?.phase, 'COMMITTED', `proposed id ${id} not committed at replica ${rep.self}`);
    }
  }
  const unanswered = clients.filter((c) => !c.answered).map((c) => c.command.clientId);
  assert.deepEqual(unanswered, [], 'every client command is answered once the faults stop');
  const digests = cluster.machines.map((m) => (m as CoveyStateMachine).digest());
  for (const d of digests) assert.equal(d, digests[0], 'replicas disagree on the state machine');
  return cluster;
}

