// Property tests (fast-check): 3- and 5-replica groups driven through random message orders,
// losses, duplicates and restarts (persisted state kept, unpersisted lost: a replica can crash
// between a step and its group commit, losing what the step changed and produced). INV1–INV8 of
// PROTOCOL.md §8 are asserted after every step; once the faults stop, every proposed id must
// commit and apply everywhere, every client must get its answer, and all replicas must agree.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Cluster } from '../testing/cluster.ts';
import type { CoveyStateMachine } from '../statemachine/machine.ts';
import type { Command } from '../statemachine/commands.ts';

type Action =
  | { t: 'submit'; r: number; key: number; op: 'put' | 'get' | 'cas' | 'delete' }
  | { t: 'deliver'; i: number }
  | { t: 'drop'; i: number }
  | { t: 'dup'; i: number }
  | { t: 'tick'; r: number; ms: number; entropy: number }
  | { t: 'crash'; r: number }
  | { t: 'crashMidTurn'; i: number }
  | { t: 'restart'; r: number };

const action = (n: number, keys: number): fc.Arbitrary<Action> => fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('submit' as const), r: fc.nat(n - 1), key: fc.nat(keys - 1), op: fc.constantFrom('put' as const, 'get' as const, 'cas' as const, 'delete' as const) }) },
  { weight: 12, arbitrary: fc.record({ t: fc.constant('deliver' as const), i: fc.nat(50) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('drop' as const), i: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('dup' as const), i: fc.nat(50) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('tick' as const), r: fc.nat(n - 1), ms: fc.integer({ min: 10, max: 400 }), entropy: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('crash' as const), r: fc.nat(n - 1) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('crashMidTurn' as const), i: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restart' as const), r: fc.nat(n - 1) }) },
);

interface Client { command: Command; answered: boolean; at: number }

function run(n: number, f: number, e: number, batch: number, actions: Action[]): void {
  const cluster = new Cluster({ n, f, e, batchCommandsMax: batch, pipelineInstancesMax: 2, recoveryTimeoutMs: 300, recoveryTimeoutMaxMs: 2000, retransmitMs: 100, watermarkEveryTicks: 2 });
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
    for (const rep of cluster.replicas) assert.equal(rep.instance(id)?.phase, 'COMMITTED', `proposed id ${id} not committed at replica ${rep.self}`);
  }
  const unanswered = clients.filter((c) => !c.answered).map((c) => c.command.clientId);
  assert.deepEqual(unanswered, [], 'every client command is answered once the faults stop');
  const digests = cluster.machines.map((m) => (m as CoveyStateMachine).digest());
  for (const d of digests) assert.equal(d, digests[0], 'replicas disagree on the state machine');
}

// COVEY_PROPERTY_RUNS scales the number of runs for a long hunt (e.g. 100); npm test uses 10.
const scale = Number(process.env.COVEY_PROPERTY_RUNS ?? 10);

const configs = [
  { n: 3, f: 1, e: 1 },
  { n: 5, f: 2, e: 2 },
  { n: 5, f: 2, e: 1 },
];

for (const { n, f, e } of configs) {
  for (const batch of [1, 4]) {
    test(`n=${n} f=${f} e=${e} batch=${batch}: invariants hold under loss, duplication, reordering and restarts; everything commits after`, () => {
      fc.assert(fc.property(fc.array(action(n, 3), { minLength: 20, maxLength: 200, size: 'max' }), (actions) => run(n, f, e, batch, actions)), {
        numRuns: Math.ceil((n === 3 ? 150 : 60) * scale),
      });
    });
  }
}
