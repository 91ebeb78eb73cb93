import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentEnv } from './node-flags.ts';

test('an agent\'s environment turns io_uring on unless the caller set it either way, and leaves the caller\'s alone', () => {
  const base: NodeJS.ProcessEnv = { PATH: '/usr/bin', HOME: '/home/covey' };
  const env = agentEnv(base);
  assert.equal(env.UV_USE_IO_URING, '1');
  assert.equal(env.PATH, '/usr/bin');
  assert.equal(base.UV_USE_IO_URING, undefined, 'the caller\'s environment is not changed');
  assert.equal(agentEnv({ ...base, UV_USE_IO_URING: '0' }).UV_USE_IO_URING, '0');
  assert.equal(agentEnv({ ...base, UV_USE_IO_URING: '1' }).UV_USE_IO_URING, '1');
});
