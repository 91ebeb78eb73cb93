// A small run of the wire fuzzer (npm run fuzz:wire runs 1,000,000 frames): a real 3-agent swarm
// as child processes, fast-check frames on every decoder (join offers and the voters topic
// included), and the checks that make it a test —
// nobody crashed, everybody still commits, and the frames demonstrably reached each decoder (each
// agent counts what it refused, per decoder, on /metrics). Memory is reported, not asserted here:
// a 20 000-frame run is too short for the RSS figure to mean anything (npm run fuzz:wire checks it).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runWireFuzz } from './wire-fuzzer.ts';
import { metricSum } from './watch.ts';

const frames = 20_000;

test('fuzz:wire (20 000 frames): every agent stays up and commits, and every decoder was reached', { timeout: 300_000 }, async () => {
  const seed = Number(process.env.COVEY_FUZZ_SEED ?? 13);
  const r = await runWireFuzz({ frames, seed, warmupFrames: 1000, settleMs: 2000, rssToleranceMiB: 4096 });
  const context = `seed ${seed}: ${JSON.stringify({ failure: r.failure, byTarget: r.byTarget, agents: r.agents }, null, 1)}`;
  assert.equal(r.failure, null, context);
  assert.equal(r.crashes, 0, context);
  assert.ok(r.commitChecks >= 1, `no commit check passed during the flood; ${context}`);
  assert.ok(r.frames >= frames * 0.99, `only ${r.frames} frames sent; ${context}`);
  const refused = (k: Exclude<keyof (typeof r.agents)[number]['refused'], 'votersDropped'>) => r.agents.reduce((s, a) => s + a.refused[k], 0);
  // Every consensus frame sent is invalid by construction, so each one an agent read is one drop.
  assert.ok(refused('consensusDropped') >= r.byTarget.consensus.sent * 0.9, `consensus: ${refused('consensusDropped')} refused of ${r.byTarget.consensus.sent} sent; ${context}`);
  assert.ok(refused('submitInvalid') >= r.byTarget.submit.sent * 0.8, `submit: ${refused('submitInvalid')} refused of ${r.byTarget.submit.sent}; ${context}`);
  assert.ok(refused('snapshotReceived') >= r.byTarget.snapshot.sent * 0.8, `snapshot: ${refused('snapshotReceived')} received of ${r.byTarget.snapshot.sent}; ${context}`);
  // Stream frames are refused once (by their agent), topic messages once per agent: more refusals
  // than stream frames sent means the topic's messages reached the decoder too.
  assert.ok(refused('membershipDropped') > r.byTarget.membership.sent, `membership: ${refused('membershipDropped')} refused, stream frames ${r.byTarget.membership.sent}; ${context}`);
  assert.ok(r.httpStreamReplies >= r.byTarget.httpStream.sent * 0.8, `http stream: ${r.httpStreamReplies} answers of ${r.byTarget.httpStream.sent}; ${context}`);
  // Every join offer sent is invalid or breaks the framing; the receiver counts each refusal (and acks it).
  assert.ok(r.byTarget.join.sent > 0, `no join offer sent; ${context}`);
  assert.ok(refused('joinRefused') >= r.byTarget.join.sent * 0.8, `join: ${refused('joinRefused')} refused of ${r.byTarget.join.sent} sent (${r.joinAcks} acks read); ${context}`);
  // A voters announcement reaches every agent, each of which drops it: more drops than messages
  // sent means the topic's messages reached the decoder.
  const votersDropped = r.agents.map((a) => a.refused.votersDropped);
  assert.ok(votersDropped.every((d) => d !== null),
    `an agent does not show covey_voters_announcements_dropped_total on /metrics (agent/agent.ts must pass its registry to VotersSync); ${context}`);
  const votersDroppedSum = votersDropped.reduce<number>((s, d) => s + (d ?? 0), 0);
  assert.ok(votersDroppedSum > r.byTarget.votersTopic.sent, `voters topic: ${votersDroppedSum} dropped, ${r.byTarget.votersTopic.sent} sent (${r.votersPublished} published); ${context}`);
});

test('metricSum adds the series of one name whose labels match', () => {
  const text = [
    '# HELP covey_rpc_frames_dropped_total x',
    'covey_rpc_frames_dropped_total{reason="malformed"} 5',
    'covey_rpc_frames_dropped_total{reason="oversized"} 2',
    'covey_rpc_frames_dropped_total_other 100',
    'covey_rpc_submits_served_total{outcome="invalid"} 7',
    'covey_rpc_submits_served_total{outcome="ok"} 1',
  ].join('\n');
  assert.equal(metricSum(text, 'covey_rpc_frames_dropped_total'), 7);
  assert.equal(metricSum(text, 'covey_rpc_submits_served_total', { outcome: 'invalid' }), 7);
  assert.equal(metricSum(text, 'covey_missing'), 0);
});
