import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineError } from './driver.ts';
import { group } from './testing.ts';
import { MemoryStorage } from '../consensus/storage/memory.ts';
import type { PersistRecord } from '../consensus/core/types.ts';
import type { Command } from '../consensus/statemachine/commands.ts';

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
