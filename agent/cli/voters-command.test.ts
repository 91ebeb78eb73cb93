// `covey voters` run as processes against an in-process API (agent/cli/testing.ts): the table and
// --json of `ls`, the requests `add`, `remove` and `replace` send, and their exit codes (0 done,
// 1 refused or unreachable, 2 usage), as docs/agent.md says.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpError, type AgentApi } from '../http.ts';
import { groupVoterIds } from '../testing.ts';
import type { VotersRequest } from '../voters-api.ts';
import { runCli, serveGroup } from './testing.ts';
import { formatVoters } from './voters-command.ts';

const [a, b, c] = groupVoterIds;
const x = '12D3KooWKz3HqNbmrmHnj3ahvUNNx5rYAUDpMgTwGbDQzwEFrsxh';
const y = '12D3KooWKz3HqNbmrmHnj3ahvUNNx5rYAUDpMgTwGbDQzwEFrsxj';

test('voters ls prints the epoch and a row a seat, and --json the API\'s answer', async () => {
  const s = await serveGroup();
  try {
    s.g.down.add(2);
    const text = await runCli(['voters', 'ls', '--agent', s.url]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'epoch 0: 3 voters; this agent is voter 0; no automatic replacement');
    assert.match(lines[1], /^INDEX +PEER ID +SELF +REACHABLE$/);
    assert.match(lines[2], new RegExp(`^0 +${a} +yes +yes$`));
    assert.match(lines[3], new RegExp(`^1 +${b} +- +yes$`));
    assert.match(lines[4], new RegExp(`^2 +${c} +- +no$`));
    const json = await runCli(['voters', 'ls', '--json', '--agent', s.url]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), s.api.voters());
  } finally {
    await s.close();
  }
});

test('a worker\'s view: no seat of its own, reachability not tracked', () => {
  const out = formatVoters({ epoch: 2, self: null, replaceAfterMs: 30_000, voters: [{ peerId: a, index: 0, self: false, reachable: null }] });
  assert.match(out, /^epoch 2: 1 voters; this agent does not vote; a voter dead for 30 s is replaced\n/);
  assert.match(out, new RegExp(`\\n0 +${a} +- +-\\n$`));
});

test('a voter to be replaced shows in ls with why it is not yet', () => {
  const out = formatVoters({
    epoch: 0, self: 0, replaceAfterMs: 30_000, voters: [{ peerId: a, index: 0, self: true, reachable: true }],
    replacement: { kind: 'wait', reason: 'no eligible replacement for X' },
  });
  assert.match(out, /^epoch 0: 1 voters; this agent is voter 0; a voter dead for 30 s is replaced\nreplacement: waiting: no eligible replacement for X\n/);
});

test('add, remove and replace send their request; the agent\'s refusal is printed and exits 1', async () => {
  const seen: VotersRequest[] = [];
  // A refusal as consensus gives one (a change made for an epoch already over).
  const refusal = 'superseded: the voter set is at epoch 1, this change was made for epoch 0';
  const s = await serveGroup({ changeVoters: async (req) => { seen.push(req); return { ok: false, error: refusal }; } });
  try {
    const add = await runCli(['voters', 'add', x, y, '--reason', 'grow to five', '--agent', s.url]);
    assert.equal(add.code, 1, 'a refused change exits 1');
    assert.deepEqual(JSON.parse(add.stdout), { ok: false, error: refusal });
    assert.equal((await runCli(['voters', 'remove', b, '--json', '--agent', s.url])).code, 1);
    assert.equal((await runCli(['voters', 'replace', c, x, '--agent', s.url])).code, 1);
    assert.deepEqual(seen, [
      { op: 'add', peers: [x, y], reason: 'grow to five' },
      { op: 'remove', peers: [b] },
      { op: 'replace', out: c, in: x },
    ]);
  } finally {
    await s.close();
  }
});

test('a change refused before consensus (a worker, a plan) is one line on stderr and exit 1, for the roster\'s changes too', async () => {
  const atWorker = (what: string) => async (): Promise<never> => { throw new HttpError(409, `${what} are made at a voter (this agent is a worker)`); };
  const s = await serveGroup({ changeVoters: atWorker('voter-set changes') as AgentApi['changeVoters'], changeRoster: atWorker('roster changes') as AgentApi['changeRoster'] });
  try {
    const voters = await runCli(['voters', 'replace', c, x, '--agent', s.url]);
    assert.deepEqual([voters.code, voters.stdout, voters.stderr], [1, '', 'covey voters replace: voter-set changes are made at a voter (this agent is a worker)\n']);
    const peers = await runCli(['peers', 'admit', x, '--agent', s.url]);
    assert.deepEqual([peers.code, peers.stdout, peers.stderr], [1, '', 'covey peers admit: roster changes are made at a voter (this agent is a worker)\n']);
  } finally {
    await s.close();
  }
});

test('replace through consensus: refused off the roster, then the new peer takes the seat', async () => {
  const s = await serveGroup();
  try {
    const off = await runCli(['voters', 'replace', b, x, '--agent', s.url]);
    assert.equal(off.code, 1);
    assert.equal(off.stderr, `covey voters replace: ${x} is not on the swarm roster; admit it first (covey peers admit ${x})\n`);
    assert.deepEqual(await s.client.changeRoster('admit', x), { ok: true, value: '1' });
    const four = await runCli(['voters', 'add', x, '--agent', s.url]);
    assert.equal(four.code, 1);
    assert.match(four.stderr, /this would leave 4: add two peers at once \(covey voters add A B\)/);
    const done = await runCli(['voters', 'replace', b, x, '--reason', 'b lost at sea', '--agent', s.url]);
    assert.equal(done.code, 0, done.stderr);
    assert.deepEqual(JSON.parse(done.stdout), { ok: true, value: '1' });
    const after = JSON.parse((await runCli(['voters', 'ls', '--json', '--agent', s.url])).stdout) as { epoch: number; voters: { peerId: string }[] };
    assert.deepEqual([after.epoch, after.voters.map((v) => v.peerId)], [1, [a, x, c]]);
  } finally {
    await s.close();
  }
});

test('voters: usage errors exit 2, an unreachable agent exits 1', async () => {
  for (const args of [['voters', 'add'], ['voters', 'replace', a], ['voters', 'replace', a, b, c], ['voters', 'ls', '--colour']]) {
    const r = await runCli([...args, '--agent', 'http://127.0.0.1:9']);
    assert.equal(r.code, 2, `covey ${args.join(' ')}: ${r.stderr}`);
  }
  const unreachable = await runCli(['voters', 'ls', '--agent', 'http://127.0.0.1:9']);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /^covey voters ls: cannot reach the agent at http:\/\/127\.0\.0\.1:9/);
});
