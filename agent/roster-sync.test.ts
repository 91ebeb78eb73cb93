import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRosterMessage } from './roster-sync.ts';

const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
const peer = '12D3KooWEeHVPEyEvWumZQghgNecGc3hzisRB6ZsT3injzyUXATM';

test('a roster message: the swarm envelope, then a version and decisions', () => {
  assert.deepEqual(parseRosterMessage(bytes({ swarm: 's', version: 1, decisions: [[peer, 'admitted']] }), 's'), { version: 1, decisions: [[peer, 'admitted']] });
  assert.equal(parseRosterMessage(bytes({ swarm: 's', version: 0, decisions: [] }), 's'), 'version: expected a positive integer');
  assert.equal(parseRosterMessage(bytes({ swarm: 'o', version: 1, decisions: [] }), 's'), 'another swarm');
  assert.equal(parseRosterMessage(bytes({ swarm: 's', version: 1, decisions: [], extra: 1 }), 's'), 'unknown field extra');
  assert.equal(parseRosterMessage(bytes({ swarm: 's', version: 1, decisions: [[peer, 'maybe']] }), 's'), 'decisions: expected admitted or revoked');
});
