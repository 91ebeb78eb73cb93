// VotersSync's drops are counted on the registry it is given (covey_voters_announcements_dropped_total,
// by reason), so an agent's /metrics shows what its voters topic refused: the wire fuzzer proves
// with it that its messages reached the decoder. A fake pubsub delivers the messages.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PubSub } from '@libp2p/interface';
import { Registry } from 'prom-client';
import { silentLogger } from './testing.ts';
import { VotersSync, votersTopic, type VotersAnnouncement } from './voters-sync.ts';

const voter = '12D3KooWAbCdEfGhiJkLmNoPqRsTuVwXyZ123456789abcdefghij';
const utf8 = new TextEncoder();

function fakePubsub(): { pubsub: PubSub; deliver(from: string | null, topic: string, data: Uint8Array): void } {
  const target = new EventTarget();
  const pubsub = Object.assign(target, {
    subscribe: () => {}, unsubscribe: () => {}, publish: () => Promise.resolve({ recipients: [] }),
  }) as unknown as PubSub;
  return {
    pubsub,
    deliver: (from, topic, data) => {
      const detail = from === null ? { type: 'unsigned', topic, data } : { type: 'signed', from: { toString: () => from }, topic, data };
      target.dispatchEvent(new CustomEvent('message', { detail }));
    },
  };
}

async function dropped(registry: Registry, reason: string): Promise<number> {
  const m = await registry.getSingleMetric('covey_voters_announcements_dropped_total')?.get();
  return m?.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

test('VotersSync counts what it drops on the registry it is given, by reason, and takes a valid announcement', async () => {
  const registry = new Registry();
  const { pubsub, deliver } = fakePubsub();
  const taken: VotersAnnouncement[] = [];
  const sync = new VotersSync({
    swarm: 's', pubsub, registry, logger: silentLogger,
    announce: () => null, trusts: (p) => p === voter, onAnnouncement: (_from, a) => taken.push(a),
  });
  sync.start();
  const topic = votersTopic('s');
  const valid = utf8.encode(JSON.stringify({ swarm: 's', epoch: 2, voters: ['a', 'b', 'c'] }));
  deliver('12D3KooWsomeoneElse', topic, valid); // not a voter
  deliver(null, topic, valid); // not signed
  deliver(voter, topic, utf8.encode('{"swarm":"s","epoch":2,"voters":["a","a","c"]}')); // a voter twice
  deliver(voter, topic, Uint8Array.of(0xc3, 0x28)); // not UTF-8
  deliver(voter, topic, valid);
  deliver(voter, 'covey/s/membership', Uint8Array.of(1)); // another topic: not this one's to count
  sync.stop();
  assert.equal(await dropped(registry, 'non_voter'), 2);
  assert.equal(await dropped(registry, 'invalid'), 2);
  assert.equal(sync.dropped, 4);
  assert.deepEqual(taken, [{ epoch: 2, voters: ['a', 'b', 'c'] }]);
  // A second VotersSync on the same registry shares the counter (an agent restarted in-process).
  const again = new VotersSync({ swarm: 's', pubsub, registry, logger: silentLogger, announce: () => null, trusts: () => true, onAnnouncement: () => {} });
  again.start();
  deliver(voter, topic, utf8.encode('[]'));
  again.stop();
  assert.equal(await dropped(registry, 'invalid'), 3);
});
