// `covey init` writes only configs the agent starts from: everything it writes goes through the
// agent's own schema (agent/config.ts) first, and a refusal exits 2 with nothing written.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../config.ts';

const cli = new URL('./covey.ts', import.meta.url).pathname;
const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'covey-init-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('without --voters, init writes a config that forms its swarm by itself, and the agent\'s schema accepts it', async () => {
  const plain = await run(process.execPath, [cli, 'init', '--dir', join(root, 'a')]);
  const written = loadConfig(JSON.parse(plain.stdout).config);
  assert.equal(written.swarm.expectVoters, 3);
  assert.deepEqual(written.voters, []);
  assert.match(plain.stderr, /the first 3 agents of swarm "covey" that find each other .* become its voters/);
  const five = await run(process.execPath, [cli, 'init', '--dir', join(root, 'b'), '--swarm', 'field', '--expect-voters', '5']);
  assert.equal(loadConfig(JSON.parse(five.stdout).config).swarm.expectVoters, 5);
});

test('init refuses, with exit 2, the field named and nothing written, anything the agent would refuse', async () => {
  const refused: [string[], RegExp][] = [
    [['--http', '0.0.0.0:7070'], /http\.token: required because http\.listen \(0\.0\.0\.0:7070\) is reachable/],
    [['--listen', 'tcp:4001'], /listen\[0\]: expected a multiaddr/],
    [['--bootstrap', 'nowhere'], /bootstrap\[0\]: expected a multiaddr/],
    [['--expect-voters', '2'], /swarm\.expectVoters: expect at least 3 voters/],
    [['--voters', '12D3KooWDemdn6ajgFYf7xhSa8RZzD4kSqVqe2uUjn4ivpibigLG'], /voters: list at least 3 voters/],
    [['--voters', 'a,b,c', '--expect-voters', '3'], /give --voters or --expect-voters, not both/],
  ];
  for (const [i, [args, why]] of refused.entries()) {
    const dir = join(root, `refused-${i}`);
    await assert.rejects(run(process.execPath, [cli, 'init', '--dir', dir, ...args]), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2, args.join(' '));
      assert.match(err.stderr, why);
      return true;
    });
    assert.ok(!existsSync(join(dir, 'config.yaml')) && !existsSync(join(dir, 'identity.key')), `nothing written for ${args.join(' ')}`);
  }
});
