// The three Ready drivers against one contract (ready-conformance.ts): the agent's driver and the
// test cluster run the same script with appends the test holds back; the simulator, whose fsyncs
// run on virtual time, is judged by the same checker over a run with crashes inside flushes and
// over a run whose fsyncs never complete. The checker itself must say no to each breach.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readyDriverConformance, ReadyConformance, type HeldDriver } from './ready-conformance.ts';
import { runSimulation } from './simulation.ts';
import { ReplicaDriver } from '../../agent/driver.ts';
import { silentLogger } from '../../agent/testing.ts';
import {
  Cluster, MemoryStorage, emptyDeps, instanceId, type ClientReply, type Envelope, type PersistRecord, type Ready,
} from '../../consensus/index.ts';

const noTimers = { n: 3, f: 1, e: 1, tickMs: 60_000, recoveryTimeoutMs: 1e9, recoveryTimeoutMaxMs: 1e9 };

/** A storage whose appends stay pending until the test completes or fails them, oldest first. */
class HeldStorage extends MemoryStorage {
  readonly pending: { readonly records: readonly PersistRecord[]; resolve(): void; reject(e: Error): void }[] = [];
  override append(records: readonly PersistRecord[]): Promise<void> {
    return new Promise<void>((resolve, reject) => this.pending.push({ records, resolve, reject }));
  }
}

async function idle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Wraps a replica's takeReady so that every Ready it hands its driver is reported with its position. */
function reportReadies(replica: { takeReady(): Ready }, onReady: (ready: Ready) => void): void {
  const take = replica.takeReady.bind(replica);
  replica.takeReady = () => {
    const ready = take();
    onReady(ready);
    return ready;
  };
}

async function agentDriver(): Promise<{ held: HeldDriver; stop(): Promise<void> }> {
  let log = new ReadyConformance();
  const storage = new HeldStorage();
  const driver = await ReplicaDriver.start({ replica: { self: 0, ...noTimers }, storage, logger: silentLogger, send: (envs) => log.sent(envs) });
  let appended = 0;
  let durable = 0;
  reportReadies(driver.core, (ready) => log.ready(0, ready, (appended += ready.persist.length)));
  // A started replica (restored, here from an empty disk) sends its first proposal only once its
  // record is durable: nothing above its last own id on disk is known durable (docs/consensus.md).
  // One command first, all of it durable, so the script sees a replica in its steady state.
  const flush = async (): Promise<void> => {
    while (storage.pending.length > 0) { const p = storage.pending.shift()!; storage.appendSync(p.records); p.resolve(); await idle(); }
  };
  const answered = driver.submit({ clientId: 'warm-up', requestId: 1, timestampMs: 0, op: 'put', key: 'w', value: 'v' }, 60_000);
  await idle();
  await flush();
  const ownId = [...driver.core.instanceIds()][0];
  driver.receive(1, { type: 'PreAcceptOK', id: ownId, dep: driver.core.instance(ownId)!.initDep });
  await idle();
  await flush();
  assert.deepEqual(await answered, { ok: true }, 'the warm-up command was answered');
  log = new ReadyConformance();
  appended = 0;
  durable = 0;
  const held: HeldDriver = {
    log,
    receive: async (from, msg) => { driver.receive(from, msg); await idle(); },
    submit: async (command) => {
      void driver.submit(command, 60_000).then((result) => log.answered(0, { clientId: command.clientId, requestId: command.requestId, result }), () => {});
      await idle();
    },
    pendingAppends: () => storage.pending.length,
    completeAppend: async (ok) => {
      const p = storage.pending.shift()!;
      if (ok) {
        storage.appendSync(p.records);
        log.durable(0, (durable += p.records.length));
        p.resolve();
      } else {
        log.lost(0);
        p.reject(new Error('disk failed'));
      }
      await idle();
    },
  };
  return { held, stop: () => driver.stop() };
}

function clusterDriver(): HeldDriver {
  const log = new ReadyConformance();
  const c = new Cluster({ ...noTimers, sync: 'explicit' });
  const seen = new Set<Envelope>();
  let repliesSeen = 0;
  /** Reports what voter 0 put on the network or answered since the last look. */
  const look = (): void => {
    const fresh = c.network.filter((e) => e.from === 0 && !seen.has(e));
    for (const e of fresh) seen.add(e);
    if (fresh.length > 0) log.sent(fresh);
    for (const r of c.replies[0].slice(repliesSeen)) log.answered(0, r);
    repliesSeen = c.replies[0].length;
  };
  let appended = 0;
  let durable = 0;
  reportReadies(c.replicas[0], (ready) => { look(); log.ready(0, ready, (appended += ready.persist.length)); });
  const storage = c.storages[0];
  const appendSync = storage.appendSync.bind(storage);
  storage.appendSync = (records) => {
    look();
    appendSync(records);
    log.durable(0, (durable += records.length));
  };
  /** The cluster puts the voter's own votes on the network once durable: hand them back. */
  const ownVotesBack = (): void => {
    for (let i = c.network.findIndex((e) => e.from === 0 && e.to === 0); i >= 0; i = c.network.findIndex((e) => e.from === 0 && e.to === 0)) {
      c.deliver(i);
      look();
    }
  };
  return {
    log,
    receive: async (from, msg) => { c.step(0, { type: 'message', from, msg }); look(); },
    submit: async (command) => { c.submit(0, command); look(); },
    pendingAppends: () => c.unsynced[0].length,
    completeAppend: async (ok) => {
      if (ok) {
        c.sync(0);
        look();
        ownVotesBack();
      } else {
        c.crash(0); // the append never completes: the crash loses it and what queued behind it
        log.lost(0);
      }
    },
  };
}

describe('every Ready driver sends and answers only what is durable', () => {
  it('the agent\'s driver (agent/driver.ts)', async () => {
    const { held, stop } = await agentDriver();
    await readyDriverConformance(held);
    await stop();
  });

  it('the test cluster with explicit syncs (consensus/cluster.ts)', async () => {
    await readyDriverConformance(clusterDriver());
  });

  it('the simulator (simulation.ts): crashes inside flushes, every release checked', () => {
    const log = new ReadyConformance();
    const r = runSimulation({ seed: 3, voters: 3, durationMs: 4000, crashes: true, crashEveryMs: { min: 200, max: 600 }, fsyncMs: { min: 1, max: 5 }, readyProbe: log });
    assert.deepEqual(log.violations(), []);
    assert.deepEqual(log.unreleased({ replies: true }), []);
    assert.ok(r.faults.crashesInFlush > 0, 'some crash hit a flush');
    const s = log.stats;
    assert.ok(s.heldAtReady > 100 && s.released > 100 && s.answered > 10 && s.lostTurns > 0, `the run exercised the rule: ${JSON.stringify(s)}`);
  });

  it('the simulator (simulation.ts): with fsyncs that never complete, only proposals leave', () => {
    const log = new ReadyConformance();
    const r = runSimulation({ seed: 5, voters: 3, durationMs: 500, drainMs: 500, fsyncMs: { min: 1e7, max: 1e7 }, readyProbe: log });
    assert.deepEqual(log.violations(), []);
    assert.equal(log.stats.released, 0, 'no vote or Commit-time message left');
    assert.equal(log.stats.answered, 0, 'no client was answered');
    assert.ok(log.stats.early > 0 && log.stats.heldAtReady > 0, JSON.stringify(log.stats));
    assert.ok(r.history.includes('"invoke"'), 'clients did ask');
  });
});

describe('the conformance checker says no', () => {
  const vote = (to: number): Envelope => ({ from: 0, to, msg: { type: 'PreAcceptOK', id: instanceId(1, 1), dep: emptyDeps(3) } });
  const readyOf = (messages: Envelope[], replies: ClientReply[] = [], records = 1): Ready => ({
    persist: new Array(records).fill({ kind: 'applied', id: instanceId(1, 1) }), early: [], messages, snapshots: [], executed: [], replies, tickMs: null, closed: null,
  });

  it('to a message sent before its records are durable, and to an answer given then', () => {
    const log = new ReadyConformance();
    const m = vote(1);
    const reply: ClientReply = { clientId: 'c', requestId: 1, result: { ok: true } };
    log.ready(0, readyOf([m], [reply]), 1);
    log.sent([m]);
    log.answered(0, reply);
    assert.deepEqual(log.violations(), [
      'voter 0 released PreAcceptOK 0→1 before its turn\'s records were durable',
      'voter 0 released the answer to c/1 before its turn\'s records were durable',
    ]);
  });

  it('to a message of a lost turn, to one sent twice, to turns released out of order, and to one never sent', () => {
    const log = new ReadyConformance();
    const [a, b, lost] = [vote(1), vote(2), vote(1)];
    log.ready(0, readyOf([a]), 1);
    log.ready(0, readyOf([b]), 2);
    log.durable(0, 2);
    log.sent([b]);
    log.sent([a, b]);
    log.ready(0, readyOf([lost]), 3);
    log.lost(0);
    log.sent([lost]);
    assert.deepEqual(log.violations(), [
      'voter 0 released PreAcceptOK 0→1 after effects of a later turn',
      'voter 0 released PreAcceptOK 0→2 twice',
      'voter 0 released PreAcceptOK 0→1 of a turn whose records were lost',
    ]);
    const c = new ReadyConformance();
    c.ready(0, readyOf([vote(2)]), 0);
    assert.deepEqual(c.unreleased({ replies: true }), ['voter 0 never sent PreAcceptOK→2 of a durable turn']);
  });

  it('accepts early messages at once, and a turn without records once the turns before it are durable', () => {
    const log = new ReadyConformance();
    const [a, b, early] = [vote(1), vote(2), vote(2)];
    log.ready(0, { ...readyOf([a]), early: [early] }, 1);
    log.sent([early]);
    log.ready(0, readyOf([b], [], 0), 1);
    log.durable(0, 1);
    log.sent([a]);
    log.sent([b]);
    assert.deepEqual(log.violations(), []);
    assert.deepEqual(log.unreleased({ replies: true }), []);
    assert.deepEqual(log.stats, { turns: 2, heldAtReady: 2, early: 1, released: 2, answered: 0, lostTurns: 0 });
  });
});
