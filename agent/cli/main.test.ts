// Which arguments main.ts takes straight to the agent: exactly `agent --config FILE`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configuredAgentArgs } from './main.ts';

test('only `agent --config FILE` and `agent --config=FILE` go straight to the agent', () => {
  assert.equal(configuredAgentArgs(['agent', '--config', 'a.yaml']), 'a.yaml');
  assert.equal(configuredAgentArgs(['agent', '--config=/etc/covey/a.yaml']), '/etc/covey/a.yaml');
  for (const args of [
    [], ['agent'], ['agent', '--config'], ['agent', '--config='], ['agent', '--config', ''], ['agent', '--config', '--dev'],
    ['agent', '--dev'], ['agent', '--config', 'a.yaml', '--dev'], ['agent', '--dev', '--config', 'a.yaml'], ['agent', 'a.yaml', '--config'],
    ['agent', '--help'], ['kv', '--config', 'a.yaml'], ['--config', 'a.yaml', 'agent'], ['agent', '--configs', 'a.yaml'],
  ]) {
    assert.equal(configuredAgentArgs(args), null, `covey ${args.join(' ')} is commander's`);
  }
});
