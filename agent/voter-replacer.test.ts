// VoterReplacer: the policy run on a voter — it submits the change the policy asks for, once, and
// looks again only after that submission is answered; a reason to wait is logged once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CommandResult } from '../consensus/index.ts';
import { silentLogger } from './testing.ts';
import { realAgentClock } from './ports.ts';
import { VoterReplacer } from './voter-replacer.ts';
import type { ReplacementView } from './voter-replacement.ts';

const policy = { replaceAfterMs: 1000, roles: ['worker'], batteryFloor: 0.3 };
const view = (o: Partial<ReplacementView> = {}): ReplacementView => ({
  self: 'a', nowMs: 10_000, voters: ['a', 'b', 'c'], deadSinceMs: new Map([['c', 0]]), reachable: new Set(['a', 'b']), changeInFlight: false,
  candidates: [{ id: 'w', role: 'worker', battery: null, alive: true }], ...o,
});

test('it submits the replacement the policy decides, and not again until that submission is answered', async () => {
  const submitted: [readonly string[], string][] = [];
  let answer: (r: CommandResult) => void = () => {};
  const r = new VoterReplacer({
    policy, clock: realAgentClock(), logger: silentLogger, view: () => view(),
    submit: (voters, reason) => { submitted.push([voters, reason]); return new Promise((res) => { answer = res; }); },
  });
  r.look();
  r.look();
  assert.deepEqual(submitted, [[['a', 'b', 'w'], 'automatic: c dead for 10 s; w takes its seat']]);
  assert.equal(r.last.kind, 'replace');
  answer({ ok: true, value: '1' });
  await new Promise((res) => setImmediate(res));
  r.look();
  assert.equal(submitted.length, 2, 'answered: the next look may submit again (here the view did not move on)');
});

test('where it must wait it submits nothing and says why; where this agent does not vote it says nothing', () => {
  const submitted: unknown[] = [];
  let current: ReplacementView | null = view({ reachable: new Set(['a']) });
  const r = new VoterReplacer({
    policy, clock: realAgentClock(), logger: silentLogger, view: () => current,
    submit: async (voters) => { submitted.push(voters); return { ok: true, value: '1' }; },
  });
  r.look();
  assert.equal(r.last.kind, 'wait');
  assert.match((r.last as { reason: string }).reason, /minority side/);
  current = null;
  r.look();
  assert.deepEqual(r.last, { kind: 'none' });
  assert.deepEqual(submitted, []);
});
