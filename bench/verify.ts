// bench:verify — `covey verify` on a history as large as the simulator and the swarm bench write:
// by default 100,000 operations over 100 keys, 10 clients a key, 10% of unknown outcome (and 10%
// failed), linearizable by construction (sim/workload/register-history.ts). Prints the time, the peak
// RSS of the verify process and the verdicts; exit code 1 unless every key is judged linearizable.
//
// Usage: npm run bench:verify [-- --keys 100 --ops 100000 --clients 10 --unknown 0.1 --seed 1 --file F --json]

import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerHistory } from '../sim/workload/register-history.ts';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '100' },
    ops: { type: 'string', default: '100000' },
    clients: { type: 'string', default: '10' },
    unknown: { type: 'string', default: '0.1' },
    seed: { type: 'string', default: '1' },
    file: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const keys = Number(args.keys), ops = Number(args.ops), clients = Number(args.clients), unknown = Number(args.unknown), seed = Number(args.seed);
for (const [name, v, ok] of [['--keys', keys, Number.isInteger(keys) && keys >= 1], ['--ops', ops, Number.isInteger(ops) && ops >= keys],
  ['--clients', clients, Number.isInteger(clients) && clients >= 1], ['--unknown', unknown, unknown >= 0 && unknown <= 0.5], ['--seed', seed, Number.isInteger(seed)]] as const) {
  if (!ok) { process.stderr.write(`bench:verify: ${name} is out of range (got ${String(v)}); see the usage line in bench/verify.ts\n`); process.exit(2); }
}

const dir = mkdtempSync(join(tmpdir(), 'covey-bench-verify-'));
const file = args.file ?? join(dir, 'history.jsonl');
try {
  process.stderr.write(`generating ${ops} operations over ${keys} keys ...\n`);
  const g0 = performance.now();
  writeFileSync(file, registerHistory({ keys, opsPerKey: Math.floor(ops / keys), clientsPerKey: clients, unknownShare: unknown, seed }));
  const generateMs = performance.now() - g0;
  const cli = fileURLToPath(new URL('../agent/cli/covey.ts', import.meta.url));
  process.stderr.write(`covey verify ${file} --json ...\n`);
  const v0 = performance.now();
  const r = spawnSync(process.execPath, [cli, 'verify', file, '--json'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const wallMs = performance.now() - v0;
  if (r.status === 3 || r.stdout === '') { process.stderr.write(r.stderr); process.exit(1); }
  const report = JSON.parse(r.stdout) as {
    verdict: string; totals: { keys: number; linearizable: number; notLinearizable: number; unknown: number; operations: number; infoOperations: number; states: number; memoBytesMax: number };
    parseMs: number; checkMs: number; cpuMs: number; peakRssBytes: number;
  };
  const t = report.totals;
  const figures = {
    operations: t.operations, keys: t.keys, infoOperations: t.infoOperations, fileBytes: statSync(file).size,
    verdict: report.verdict, linearizableKeys: t.linearizable, undecidedKeys: t.unknown, refutedKeys: t.notLinearizable,
    searchStates: t.states, memoBytesMax: t.memoBytesMax,
    generateMs: Math.round(generateMs), parseMs: report.parseMs, checkMs: report.checkMs, processWallMs: Math.round(wallMs), processCpuMs: report.cpuMs,
    peakRssMiB: Math.round(report.peakRssBytes / 2 ** 20),
  };
  if (args.json) process.stdout.write(JSON.stringify(figures) + '\n');
  else {
    process.stdout.write([
      `history: ${t.operations} operations judged (${t.infoOperations} of unknown outcome) over ${t.keys} keys, ${(figures.fileBytes / 2 ** 20).toFixed(1)} MiB`,
      `verdict: ${report.verdict} — ${t.linearizable} keys linearizable, ${t.notLinearizable} not, ${t.unknown} undecided; ${t.states} search states, largest memo ${(t.memoBytesMax / 2 ** 20).toFixed(1)} MiB`,
      `covey verify: ${(wallMs / 1000).toFixed(2)} s wall (parse ${(report.parseMs / 1000).toFixed(2)} s, check ${(report.checkMs / 1000).toFixed(2)} s; ${(report.cpuMs / 1000).toFixed(2)} s of CPU), peak RSS ${figures.peakRssMiB} MiB`,
    ].join('\n') + '\n');
  }
  process.exitCode = report.verdict === 'linearizable' ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
