import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keylessExposure } from './exposure.ts';

test('an agent without a swarm key is told it is open when it listens beyond loopback, and only then', () => {
  const open = keylessExposure(['/ip4/0.0.0.0/tcp/4001', '/ip4/127.0.0.1/tcp/4003', '/ip4/0.0.0.0/tcp/4002/ws'], false);
  assert.match(open ?? '', /^no swarm key and no roster, and listening on \/ip4\/0\.0\.0\.0\/tcp\/4001, \/ip4\/0\.0\.0\.0\/tcp\/4002\/ws: anyone who reaches them can join/);
  assert.match(open ?? '', /--new-swarm-key/);
  assert.equal(keylessExposure(['/ip4/0.0.0.0/tcp/4001'], true), null, 'a swarm key keeps strangers out');
  assert.equal(keylessExposure(['/ip4/127.0.0.1/tcp/4001', '/ip6/::1/tcp/4001'], false), null, 'loopback only: nobody else can reach it');
  assert.equal(keylessExposure(['/ip4/0.0.0.0/tcp/4001'], false, true), null, 'a roster keeps strangers out');
});
