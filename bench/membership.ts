// bench:membership — failure detection and partition merge of the SWIM/Lifeguard membership core
// (transports/membership) in the deterministic simulator (sim/membership), side by side with what
// HashiCorp memberlist's defaults would give (probe every 1 s; suspicion timeout
// 4·max(1, log10 N) s). For 5, 50 and 500 agents at 0% and 5% loss:
//   - detection: crash one agent after the swarm converged; time until every live agent marks it
//     dead (median and p99 over the seeds);
//   - false positives: "dead" verdicts about running, reachable agents, over the same runs;
//   - merge: split the swarm in halves for 30 s (both sides must declare the other dead), heal,
//     time until every agent sees every agent alive again (median and max over the seeds).
// Link model: a radio mesh, 5–40 ms one way, 1 MB/s per link (sim/membership/harness.ts).
//
// Usage: npm run bench:membership [-- --seeds 20 --merge-seeds 20 --sizes 5,50,500 --json]

import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { detectionRun, partitionRun } from '../sim/membership/scenarios.ts';
import { memberlistSuspicionTimeoutMs, membershipDefaults } from '../transports/membership/index.ts';

const { values: args } = parseArgs({
  options: {
    seeds: { type: 'string', default: '20' },
    'merge-seeds': { type: 'string', default: '20' },
    sizes: { type: 'string', default: '5,50,500' },
    losses: { type: 'string', default: '0,0.05' },
    json: { type: 'boolean', default: false },
  },
});
const seeds = Number(args.seeds);
const mergeSeeds = Number(args['merge-seeds']);
const sizes = args.sizes.split(',').map(Number);
const losses = args.losses.split(',').map(Number);
if (!(Number.isSafeInteger(seeds) && seeds > 0) || !(Number.isSafeInteger(mergeSeeds) && mergeSeeds >= 0) || sizes.some((n) => !(Number.isSafeInteger(n) && n >= 3)) || losses.some((l) => !(l >= 0 && l < 1))) {
  process.stderr.write('bench:membership: --seeds N (≥1), --merge-seeds N (≥0), --sizes 5,50,500 (each ≥3), --losses 0,0.05 (each in [0,1))\n');
  process.exit(2);
}

interface Row {
  readonly agents: number;
  readonly loss: number;
  readonly seeds: number;
  readonly detectMedianMs: number | null;
  readonly detectP99Ms: number | null;
  readonly undetected: number;
  readonly falsePositives: number;
  readonly mergeSeeds: number;
  readonly apartAll: boolean;
  readonly mergeMedianMs: number | null;
  readonly mergeMaxMs: number | null;
  readonly memberlistDetectMs: number;
  readonly targetDetectMs: number;
  readonly targetMergeMs: number;
  readonly wallMs: number;
}

const started = performance.now();
const rows: Row[] = [];
for (const agents of sizes) {
  for (const loss of losses) {
    const t0 = performance.now();
    const detect: number[] = [];
    let undetected = 0;
    let falsePositives = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const r = detectionRun({ agents, seed, network: { loss }, validate: agents <= 50 });
      if (r.detectMs === null) undetected++;
      else detect.push(r.detectMs);
      falsePositives += r.falsePositives;
      progress(`n=${agents} loss=${loss * 100}% detection seed ${seed}/${seeds}: ${r.detectMs ?? 'never'} ms, ${r.falsePositives} false positives`);
    }
    const merge: number[] = [];
    let apartAll = true;
    for (let seed = 1; seed <= mergeSeeds; seed++) {
      const r = partitionRun({ agents, seed, network: { loss }, validate: agents <= 50 });
      if (r.apartMs === null) apartAll = false;
      merge.push(r.mergeMs ?? Infinity);
      falsePositives += r.falsePositives;
      progress(`n=${agents} loss=${loss * 100}% partition seed ${seed}/${mergeSeeds}: apart after ${r.apartMs ?? 'never'} ms, merged ${r.mergeMs ?? 'never'} ms after heal`);
    }
    const memberlistDetectMs = memberlistSuspicionTimeoutMs(agents);
    rows.push({
      agents, loss, seeds,
      detectMedianMs: quantile(detect, 0.5), detectP99Ms: quantile(detect, 0.99), undetected, falsePositives,
      mergeSeeds, apartAll, mergeMedianMs: quantile(merge, 0.5), mergeMaxMs: merge.length === 0 ? null : Math.max(...merge),
      memberlistDetectMs, targetDetectMs: memberlistDetectMs / 2, targetMergeMs: 2 * membershipDefaults.pushPullIntervalMs,
      wallMs: Math.round(performance.now() - t0),
    });
  }
}

if (args.json) {
  process.stdout.write(`${JSON.stringify({ config: membershipDefaults, rows, wallMs: Math.round(performance.now() - started) }, null, 2)}\n`);
} else {
  const s = (ms: number | null): string => (ms === null ? '—' : ms === Infinity ? 'never' : `${(ms / 1000).toFixed(2)} s`);
  const ok = (b: boolean): string => (b ? 'yes' : 'NO');
  const lines = [
    '| agents | loss | detect median | detect p99 | memberlist timeout | aim (½) | median ≤ aim | false positives | merge median | merge max | aim (2 push-pull) | merge ≤ aim |',
    '|---:|---:|---:|---:|---:|---:|:-:|---:|---:|---:|---:|:-:|',
  ];
  for (const r of rows) {
    const detectOk = r.undetected === 0 && r.detectMedianMs !== null && r.detectMedianMs <= r.targetDetectMs;
    const mergeOk = r.mergeSeeds === 0 ? '—' : ok(r.apartAll && r.mergeMaxMs !== null && r.mergeMaxMs <= r.targetMergeMs);
    const cells = [
      r.agents, `${r.loss * 100}%`, s(r.detectMedianMs), s(r.detectP99Ms), s(r.memberlistDetectMs), s(r.targetDetectMs), ok(detectOk),
      r.falsePositives, s(r.mergeMedianMs), s(r.mergeMaxMs), s(r.targetMergeMs), mergeOk,
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n\n${seeds} detection seeds and ${mergeSeeds} partition seeds per row; p99 of 20 samples is their maximum.\n`);
}

/** Nearest-rank quantile; null for no samples. */
function quantile(xs: number[], q: number): number | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

function progress(line: string): void {
  const elapsed = ((performance.now() - started) / 1000).toFixed(0);
  process.stderr.write(`[bench:membership ${elapsed}s] ${line}\n`);
}
