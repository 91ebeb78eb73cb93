// fuzz:wire — fast-check frames against every decoder of a running local swarm (issue 13):
// consensus, submit (libp2p and the HTTP submit stream), snapshot transfer, membership (stream and
// gossipsub topic), join offers, voter-set announcements (gossipsub topic). Fails when an agent
// exits, stops answering, stops committing, or keeps the memory the flood took
// (agent/fuzz/wire-fuzzer.ts says how).
//
// Usage: npm run fuzz:wire -- [--frames 1000000] [--seed N] [--targets consensus,submit,snapshot,membership,gossip,httpStream,join,votersTopic] [--settle 150s] [--rss-tolerance 30] [--keep] [--json]
// Exit codes: 0 passed, 1 a failure found (the seed and the last frames are printed), 2 bad arguments.

import { parseArgs } from 'node:util';
import { runWireFuzz, type WireFuzzReport } from '../agent/fuzz/wire-fuzzer.ts';
import { fuzzTargets, type FuzzTarget } from '../transports/testing/fuzz-frames.ts';

interface Args { targets: FuzzTarget[]; frames: number; seed: number; settleMs: number; tolerance: number; keep: boolean; json: boolean }

const framesMax = 100_000_000;

function parse(): Args {
  try {
    const { values } = parseArgs({
      options: {
        frames: { type: 'string', default: '1000000' },
        seed: { type: 'string' },
        settle: { type: 'string', default: '150s' },
        'rss-tolerance': { type: 'string', default: '30' },
        keep: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        targets: { type: 'string', default: fuzzTargets.join(',') },
      },
    });
    const frames = Number(values.frames);
    if (!Number.isInteger(frames) || frames < 1000 || frames > framesMax) throw new Error(`--frames must be a whole number from 1000 to ${framesMax}, got "${values.frames}"`);
    const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 31) throw new Error(`--seed must be a whole number from 0 to 2^31-1, got "${values.seed}"`);
    const m = /^(\d+)(ms|s)$/.exec(values.settle);
    if (m === null) throw new Error(`--settle must be a duration such as 20s or 500ms, got "${values.settle}"`);
    const settleMs = Number(m[1]) * (m[2] === 's' ? 1000 : 1);
    if (settleMs > 600_000) throw new Error(`--settle must be at most 600s, got "${values.settle}"`);
    const tolerance = Number(values['rss-tolerance']);
    if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance > 4096) throw new Error(`--rss-tolerance must be MiB from 0 to 4096, got "${values['rss-tolerance']}"`);
    const targets = values.targets.split(',').map((t) => t.trim()) as FuzzTarget[];
    const unknown = targets.filter((t) => !fuzzTargets.includes(t));
    if (unknown.length > 0 || targets.length === 0) throw new Error(`--targets must list some of ${fuzzTargets.join(', ')}; unknown: ${unknown.join(', ') || '(none given)'}`);
    return { targets, frames, seed, settleMs, tolerance, keep: values.keep, json: values.json };
  } catch (err) {
    process.stderr.write(`fuzz:wire: ${(err as Error).message}\n`);
    process.exit(2);
  }
}

function summary(r: WireFuzzReport): string {
  const lines = [
    `fuzz:wire seed ${r.seed}: ${r.ok ? 'PASSED' : 'FAILED'}`,
    `  frames ${r.frames} in ${(r.wallMs / 1000).toFixed(1)} s wall (flood ${(r.floodMs / 1000).toFixed(1)} s, ${r.framesPerSec} frames/s), crashes ${r.crashes}, commit checks passed ${r.commitChecks}`,
    `  per decoder: ${Object.entries(r.byTarget).map(([t, c]) => `${t} ${c.sent} (held back as valid ${c.heldBack})`).join(', ')}`,
    `  answered: http stream ${r.httpStreamReplies}, submit ${r.submitReplies}, join ${r.joinAcks}; published: gossip ${r.gossipPublished}, voters topic ${r.votersPublished}`,
  ];
  for (const a of r.agents) {
    lines.push(`  agent ${a.index}: RSS baseline ${a.rssBaselineMiB} MiB, peak ${a.rssPeakMiB}, after ${a.rssAfterMiB} (${a.backToBaseline ? 'back' : 'NOT back'} within max(${r.rssToleranceMiB} MiB, 20 %)); ` +
      `heap used ${a.heapBaseline?.heapUsedMiB} → ${a.heapAfter?.heapUsedMiB} MiB (committed ${a.heapBaseline?.heapTotalMiB} → ${a.heapAfter?.heapTotalMiB}), external ${a.heapBaseline?.externalMiB} → ${a.heapAfter?.externalMiB} MiB; ` +
      `reclaims ${a.heapAfter?.reclaims} (gave back v8 ${a.heapAfter?.reclaimedMiB.v8} MiB, malloc ${a.heapAfter?.reclaimedMiB.malloc} MiB in all; pause mean ${a.heapAfter?.reclaimPauseMeanMs} ms, each ≤ ${a.heapAfter?.reclaimPauseAtMostS} s); ` +
      `refused consensus ${a.refused.consensusDropped}, membership ${a.refused.membershipDropped}, submit ${a.refused.submitInvalid}, snapshot (received) ${a.refused.snapshotReceived}, ` +
      `join ${a.refused.joinRefused}, voters topic ${a.refused.votersDropped ?? '(not on /metrics)'}`);
  }
  if (r.failure !== null) lines.push(`  failure: ${r.failure}`, `  reproduce: npm run fuzz:wire -- --seed ${r.seed} --frames ${r.frames}`, `  last frames: ${r.counterexample}`, `  swarm kept in ${r.dir}`);
  return lines.join('\n') + '\n';
}

const args = parse();
const report = await runWireFuzz({
  frames: args.frames, seed: args.seed, targets: args.targets, settleMs: args.settleMs, rssToleranceMiB: args.tolerance, keepDir: args.keep,
  onProgress: (p) => {
    if (!args.json) process.stdout.write(`[${p.phase}] frames ${p.frames}, ${p.framesPerSec} frames/s, RSS MiB ${p.rssMiB.map((m) => (m === null ? 'gone' : m.toFixed(0))).join(' / ')}, heap used MiB ${p.heapUsedMiB.map((m) => (m === null ? '?' : m.toFixed(0))).join(' / ')}\n`);
  },
}).catch((err: unknown) => {
  // The harness itself could not run (a swarm that never became ready, a port taken): not a finding.
  process.stderr.write(`fuzz:wire: the run could not go on: ${(err as Error).message}\n`);
  process.exit(1);
});
process.stdout.write(args.json ? JSON.stringify(report, null, 2) + '\n' : summary(report));
process.exit(report.ok ? 0 : 1);
