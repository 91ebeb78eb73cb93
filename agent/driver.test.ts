import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineError, ReplicaDriver } from './driver.ts';
import { group, silentLogger } from './testing.ts';
import {
  type AppendOptions, type Command, emptyDeps, type Envelope, instanceId, MemoryStorage, type PersistRecord, type PreAccept,
  type ReplicaStorage,
} from '../consensus/index.ts';

let nextRequest = 1;
function put(key: string, value: string): Command {
  return { clientId: 'test', requestId: nextRequest++, timestampMs: Date.now(), op: 'put', key, value };
}
function get(key: string): Command {
  return { clientId: 'test', requestId: nextRequest++, timestampMs: Date.now(), op: 'get', key };
}

test('commands submitted at any voter commit and read back linearizably', async () => {
  const { drivers } = await group();
  for (let i = 0; i < 3; i++) assert.deepEqual(await drivers[i].submit(put('k' + i, 'v' + i), 5000), { ok: true });
  for (let i = 0; i < 3; i++) assert.deepEqual(await drivers[(i + 1) % 3].submit(get('k' + i), 5000), { ok: true, value: 'v' + i });
  await Promise.all(drivers.map((d) => d.stop()));
  assert.ok(drivers.every((d) => d.stats.fsyncs > 0));
});

test('a replica without a majority fails the command at its deadline, and saying why', async () => {
  const { drivers, down } = await group();
  down.add(1); down.add(2);
  await assert.rejects(drivers[0].submit(put('x', '1'), 300, () => 'reached 0 of 2 other voters'), (err: Error) => {
    assert.ok(err instanceof DeadlineError);
    assert.match(err.message, /within 300 ms: reached 0 of 2 other voters/);
    return true;
  });
  down.clear();
  await Promise.all(drivers.map((d) => d.stop()));
});

test('commands whose clients stopped waiting are dropped if not yet proposed: after the heal they never take effect', async () => {
  const { drivers, down } = await group();
  down.add(1); down.add(2);
  const attempts = ['a', 'b', 'c'].map((k) => drivers[0].submit(put('cut-' + k, '1'), 200).catch((e: Error) => e));
  assert.equal(drivers[0].core.queuedCommands(), 2, 'the first is proposed at once (and cut off); two queue behind it');
  for (const r of await Promise.all(attempts)) assert.ok(r instanceof DeadlineError);
  await new Promise((r) => setImmediate(r));
  assert.equal(drivers[0].core.queuedCommands(), 0, 'the queued two were withdrawn at their deadline');
  down.clear();
  assert.deepEqual(await drivers[0].submit(put('after', '1'), 5000), { ok: true });
  const kv = new Map(drivers[0].stateMachine.snapshot().kv);
  assert.equal(kv.get('cut-b'), undefined, 'withdrawn: never applied');
  assert.equal(kv.get('cut-c'), undefined, 'withdrawn: never applied');
  await Promise.all(drivers.map((d) => d.stop()));
});

test('an invalid command is refused with the reason and changes nothing', async () => {
  const { drivers } = await group();
  const bad = { clientId: 'test', requestId: nextRequest++, timestampMs: Date.now(), op: 'put', key: 'k' } as unknown as Command;
  await assert.rejects(drivers[0].submit(bad, 1000), /invalid command: .*value/);
  assert.equal(drivers[0].stats.rejectedCommands, 1);
  await Promise.all(drivers.map((d) => d.stop()));
});

test('a restarted driver rebuilds its state from storage and keeps answering', async () => {
  const g = await group();
  assert.deepEqual(await g.drivers[0].submit(put('durable', 'yes'), 5000), { ok: true });
  await Promise.all(g.drivers.map((d) => d.stop()));
  const again = await group(g.storages);
  // Every voter applied the write before stopping? At least the submitter did; its local state has it.
  assert.deepEqual(again.drivers[0].stateMachine.snapshot().kv, [['durable', 'yes']]);
  assert.deepEqual(await again.drivers[2].submit(get('durable'), 5000), { ok: true, value: 'yes' });
  await Promise.all(again.drivers.map((d) => d.stop()));
});

test('a storage failure stops the replica and fails its clients instead of breaking a promise', async () => {
  class FailingStorage extends MemoryStorage {
    fail = false;
    override async append(records: readonly PersistRecord[]): Promise<void> {
      if (this.fail) throw new Error('disk full');
      return super.append(records);
    }
  }
  const broken = new FailingStorage();
  const { drivers } = await group([broken, new MemoryStorage(), new MemoryStorage()]);
  broken.fail = true;
  await assert.rejects(drivers[0].submit(put('y', '1'), 2000), /storage failed, the replica stopped.*disk full/);
  assert.match(drivers[0].failed?.message ?? '', /disk full/);
  await assert.rejects(drivers[0].submit(put('y', '2'), 2000), (err: Error) => err.name === 'UnavailableError' && /storage failed/.test(err.message));
  await Promise.all(drivers.map((d) => d.stop()));
});

// ---- persist before you promise: the driver's own ordering, with a disk the test holds back ----

/** A storage whose appends stay pending until the test lets them complete (in order). */
class GatedStorage extends MemoryStorage {
  readonly gates: (() => void)[] = [];
  override async append(records: readonly PersistRecord[]): Promise<void> {
    await new Promise<void>((resolve) => this.gates.push(resolve));
    return super.append(records);
  }
  /** Completes every append so far. */
  openAll(): void {
    for (const g of this.gates.splice(0)) g();
  }
}

async function settleLoop(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

async function lonelyVoter(storage: ReplicaStorage) {
  const sent: Envelope[] = [];
  const driver = await ReplicaDriver.start({
    replica: { self: 0, n: 3, f: 1, e: 1, tickMs: 1000, recoveryTimeoutMs: 1e9, recoveryTimeoutMaxMs: 1e9 },
    storage, logger: silentLogger, send: (envs) => { sent.push(...envs); },
  });
  return { driver, sent };
}

test('a vote for a peer leaves only once the record it exposes is durable', async () => {
  const storage = new GatedStorage();
  const { driver, sent } = await lonelyVoter(storage);
  const id = instanceId(1, 1);
  driver.receive(1, { type: 'PreAccept', id, cmd: { commands: [put('a', '1')] }, dep: emptyDeps(3) });
  await settleLoop();
  assert.equal(storage.gates.length, 1, 'the PREACCEPTED record is being written');
  assert.deepEqual(sent.filter((e) => e.msg.type === 'PreAcceptOK'), [], 'no PreAcceptOK before the write is durable');
  storage.openAll();
  await settleLoop();
  assert.deepEqual(sent.filter((e) => e.msg.type === 'PreAcceptOK').map((e) => e.to), [1]);
  storage.openAll();
  await driver.stop();
});

/**
 * A started replica's first proposal: nothing above its last own id on disk is known durable, so its
 * PreAccepts wait for its record (a second crash could otherwise lose an id a peer already holds,
 * and the next start would reuse it: docs/consensus.md). Commits it with peer 1's vote.
 */
async function firstProposal(driver: ReplicaDriver, sent: Envelope[], storage: GatedStorage): Promise<void> {
  const result = driver.submit(put('first', '1'), 10_000);
  await settleLoop();
  assert.deepEqual(sent.filter((e) => e.msg.type === 'PreAccept'), [], 'the first proposal after a start waits for its record');
  storage.openAll();
  await settleLoop();
  const p = sent.find((e) => e.msg.type === 'PreAccept')!.msg as PreAccept;
  driver.receive(1, { type: 'PreAcceptOK', id: p.id, dep: p.dep });
  for (let i = 0; i < 3; i++) { await settleLoop(); storage.openAll(); }
  assert.deepEqual(await result, { ok: true });
  sent.length = 0;
}

test('the coordinator proposes while its record syncs, but commits and answers only once its own vote is durable', async () => {
  const storage = new GatedStorage();
  const { driver, sent } = await lonelyVoter(storage);
  await firstProposal(driver, sent, storage);
  let answered = false;
  const result = driver.submit(put('b', '1'), 10_000).then((r) => { answered = true; return r; });
  await settleLoop();
  const preAccepts = sent.filter((e) => e.msg.type === 'PreAccept');
  // To a fast quorum's worth of peers: one of the two (thrifty, docs/consensus.md).
  assert.equal(preAccepts.length, 1, 'the PreAccept left before the sync');
  assert.ok(preAccepts[0].to === 1 || preAccepts[0].to === 2);
  assert.equal(storage.gates.length, 1);
  const p = preAccepts[0].msg as PreAccept;
  driver.receive(preAccepts[0].to, { type: 'PreAcceptOK', id: p.id, dep: p.dep }); // a fast quorum, were our own vote durable
  await settleLoop();
  assert.deepEqual(sent.filter((e) => e.msg.type === 'Commit'), [], 'no Commit: its own vote is not durable yet');
  assert.equal(answered, false, 'no answer to the client before its own vote is durable');
  storage.openAll();
  await settleLoop();
  storage.openAll(); // the Commit's own record (it does not hold back the answer)
  assert.deepEqual(await result, { ok: true });
  assert.deepEqual(sent.filter((e) => e.msg.type === 'Commit').map((e) => e.to), [1, 2]);
  await driver.stop();
});

/**
 * A storage that holds deferrable appends back until flushed (as the write-ahead log does for its
 * hold) and notes which appends were deferrable.
 */
class HoldingStorage extends MemoryStorage {
  readonly deferrable: boolean[] = [];
  readonly held: (() => void)[] = [];
  flushes = 0;
  override async append(records: readonly PersistRecord[], o: AppendOptions = {}): Promise<void> {
    this.deferrable.push(o.deferrable === true);
    if (o.deferrable === true) await new Promise<void>((resolve) => this.held.push(resolve));
    else this.flush(); // what was held leaves with it, first
    return super.append(records);
  }
  flush(): void {
    this.flushes++;
    for (const h of this.held.splice(0)) h();
  }
}

test('a turn nothing waits on may be deferred; a later one with something to release is not held up by it', async () => {
  const storage = new HoldingStorage();
  const { driver, sent } = await lonelyVoter(storage);
  const id = instanceId(1, 1);
  const cmd = { commands: [put('a', '1')] };
  driver.receive(1, { type: 'PreAccept', id, cmd, dep: emptyDeps(3) });
  await settleLoop();
  assert.deepEqual(storage.deferrable, [false], 'a vote is waited on');
  assert.equal(sent.filter((e) => e.msg.type === 'PreAcceptOK').length, 1);
  driver.receive(1, { type: 'Commit', b: 0, id, cmd, dep: emptyDeps(3) });
  await settleLoop();
  assert.deepEqual(storage.deferrable, [false, true], 'a peer\'s Commit record (and its execution) is waited on by nobody');
  assert.equal(storage.held.length, 1, 'held back');
  // The coordinator asks again: the answer (a Commit) persists nothing, but its release waits for
  // the held turn, so the driver flushes it instead of leaving the answer to the hold.
  const flushesBefore = storage.flushes;
  driver.receive(1, { type: 'PreAccept', id, cmd, dep: emptyDeps(3) });
  await settleLoop();
  assert.ok(storage.flushes > flushesBefore, 'flushed');
  assert.deepEqual(sent.filter((e) => e.msg.type === 'Commit').map((e) => e.to), [1], 'the answer left');
  await driver.stop();
});
