// The durability checker must be able to say no: a write acknowledged to a client that some voter
// never applied is reported, with the voter and the command; when every voter applied it, nothing is.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDurability } from './simulation.ts';
import { SimDisk } from './disk.ts';
import {
  type Command, CoveyStateMachine, emptyDeps, instanceId, type PersistRecord, Replica,
} from '../../consensus/index.ts';

const write: Command = { clientId: 'p1', requestId: 7, timestampMs: 0, op: 'put', key: 'k', value: 'v' };
const id = instanceId(1, 0);
const deps = emptyDeps(3);

/** A voter whose disk holds `records` (synced) and whose replica was restored from it. */
function voter(self: number, records: PersistRecord[]) {
  const disk = new SimDisk();
  disk.append(records);
  disk.sync();
  const replica = Replica.restore({ self, n: 3, f: 1, e: 1 }, disk.load(), new CoveyStateMachine());
  return { replica, disk };
}

const committed: PersistRecord = {
  kind: 'instance', instance: { id, bal: 0, abal: 0, phase: 'COMMITTED', cmd: { commands: [write] }, dep: deps, initCmd: { commands: [write] }, initDep: deps },
};

test('an acknowledged write that a voter never applied is a durability violation naming the voter and the command', () => {
  const applied = voter(0, [committed, { kind: 'applied', id }]);
  const lost = voter(1, []);
  const v = checkDurability([applied, lost], [{ clientId: 'p1', requestId: 7 }]);
  assert.deepEqual(v, ['durability: 1 acknowledged writes never applied at voter 1 (first: p1/7)']);
});

test('an acknowledged write no voter logged is reported at every voter; one every voter applied is not', () => {
  const a = voter(0, [committed, { kind: 'applied', id }]);
  const b = voter(1, [committed, { kind: 'applied', id }]);
  assert.deepEqual(checkDurability([a, b], [{ clientId: 'p1', requestId: 7 }]), []);
  const ghost = checkDurability([a, b], [{ clientId: 'p1', requestId: 8 }]);
  assert.equal(ghost.length, 2);
  assert.ok(ghost.every((line) => line.startsWith('durability: 1 acknowledged writes never applied')));
});
