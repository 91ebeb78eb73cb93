// Test kit of the agent bundle (agent/cli/bundle.ts): a test that reads or runs dist/agent.mjs
// builds it first when an edit since the last build made it stale.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { bundleStaleness, projectRoot } from './bundle.ts';

/** Builds the bundle unless it is fresh, and fails the test if it is not fresh after. */
export function freshBundle(): void {
  if (bundleStaleness() !== null) {
    const build = spawnSync(process.execPath, [join(projectRoot, 'agent/cli/build-bundle.ts')], { encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
  }
  assert.equal(bundleStaleness(), null, 'the bundle just built is fresh');
}
