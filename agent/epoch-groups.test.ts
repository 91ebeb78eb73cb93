import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinRefusal } from './epoch-groups.ts';

const offer = (epoch: number, voters: string[]) => ({ epoch, voters, change: '4.0', machine: {} });
const voters1 = ['A', 'B', 'C'];

test('a join offer is taken from a voter this agent knows, for a newer epoch that names it', () => {
  const trusted = (p: string) => ['A', 'B', 'X'].includes(p); // the voters of epoch 0 as C knows them
  assert.equal(joinRefusal('C', 0, 'A', offer(1, voters1), trusted), null);
  assert.equal(joinRefusal('C', 1, 'B', offer(1, voters1), trusted), null, 'a duplicate of the current epoch is acked again');
  assert.equal(joinRefusal('C', 0, 'A', offer(3, voters1), trusted), null, 'a worker that missed epochs may jump to the newest');
  assert.match(joinRefusal('D', 0, 'A', offer(1, voters1), trusted)!, /not among the voters of epoch 1/);
  assert.match(joinRefusal('C', 2, 'A', offer(1, voters1), trusted)!, /at epoch 2 already/);
});

test('a roster member that is no voter cannot move an agent to an epoch of its own making, even naming itself', () => {
  const trusted = (p: string) => ['A', 'B', 'X'].includes(p);
  assert.match(joinRefusal('C', 0, 'W', offer(1, ['W', 'C', 'A']), trusted)!, /W is not a voter of epoch 0/);
});
