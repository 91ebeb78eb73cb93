import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSwarmJson } from './swarm-json.ts';
import { parseVotersMessage } from './voters-topic.ts';

const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

test('a swarm message is bounded UTF-8 JSON, one object of known fields, of this swarm', () => {
  assert.deepEqual(parseSwarmJson(bytes({ swarm: 's', epoch: 1 }), 's', 100, ['epoch']), { swarm: 's', epoch: 1 });
  assert.equal(parseSwarmJson(bytes({ swarm: 's', epoch: 1 }), 's', 10, ['epoch']), 'over 10 bytes');
  assert.match(parseSwarmJson(bytes('{"swarm": '), 's', 100, []) as string, /^not JSON/);
  assert.match(parseSwarmJson(new Uint8Array([0x7b, 0xff, 0x7d]), 's', 100, []) as string, /^not JSON/);
  assert.equal(parseSwarmJson(bytes([1]), 's', 100, []), 'not an object');
  assert.equal(parseSwarmJson(bytes('null'), 's', 100, []), 'not an object');
  assert.equal(parseSwarmJson(bytes({ swarm: 's', epoch: 1, colour: 2 }), 's', 100, ['epoch']), 'unknown field colour');
  assert.equal(parseSwarmJson(bytes({ swarm: 't', epoch: 1 }), 's', 100, ['epoch']), 'another swarm');
});

test('the voters announcement keeps its own checks on top', () => {
  assert.deepEqual(parseVotersMessage(bytes({ swarm: 's', epoch: 2, voters: ['a', 'b', 'c'] }), 's'), { epoch: 2, voters: ['a', 'b', 'c'] });
  assert.equal(parseVotersMessage(bytes({ swarm: 's', epoch: 0, voters: ['a', 'b', 'c'] }), 's'), 'epoch: expected a positive integer');
  assert.match(parseVotersMessage(bytes({ swarm: 's', epoch: 2, voters: ['a', 'b'] }), 's') as string, /^voters: expected 3, 5, 7/);
  assert.equal(parseVotersMessage(bytes({ swarm: 's', epoch: 2, voters: ['a', 'b', 'c'], x: 1 }), 's'), 'unknown field x');
});
