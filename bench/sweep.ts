// sweep:sim — the long seed sweep of issue 3: many seeds, every fault on, each seed mapped to a run
// exactly as the 200-seed sweep inside npm test maps it (sim/sweep.ts), but longer runs. Prints
// each failing seed with the command that replays it, progress on a terminal, and a summary.
// Exit code 1 when any seed fails.
//
// With --reconfig, each seed maps to its run with voter-set changes among the faults
// (reconfigSweepArgs: replace, resize or lose by seed; issue 15).
//
// Usage: npm run sweep:sim [-- --seeds 1..2000 --duration 5s --reconfig --json]

import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { runSimulation } from '../sim/engine/simulation.ts';
import { parseDuration, parseSeeds, passed, replayCommand, simulationOptions } from '../sim/command.ts';
import { reconfigSweepArgs, sweepArgs } from '../sim/sweep.ts';

const { values: args } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1..2000' },
    duration: { type: 'string', default: '5s' },
    json: { type: 'boolean', default: false },
    reconfig: { type: 'boolean', default: false },
  },
});

let seeds: number[];
let durationMs: number;
try {
  seeds = parseSeeds(args.seeds);
  durationMs = parseDuration(args.duration);
} catch (err) {
  process.stderr.write(`sweep:sim: ${(err as Error).message}\n`);
  process.exit(2);
}

const tty = process.stderr.isTTY === true;
const started = performance.now();
const failing: { seed: number; violations: string[]; replay: string }[] = [];
let ops = 0;
let events = 0;
const injected = { crashes: 0, partitions: 0, pauses: 0, skews: 0, dropped: 0, duplicated: 0, reordered: 0, reconfigurations: 0 };
/** Voter-set changes that took effect (epochs beyond the first), over all runs. */
let epochsOpened = 0;
for (let i = 0; i < seeds.length; i++) {
  const seed = seeds[i];
  const a = args.reconfig ? reconfigSweepArgs(seed, durationMs) : sweepArgs(seed, durationMs);
  const r = runSimulation(simulationOptions(a, seed));
  ops += r.ops;
  epochsOpened += r.epochs.length - 1;
  events += r.events;
  for (const k of Object.keys(injected) as (keyof typeof injected)[]) injected[k] += r.faults[k];
  if (!passed(r)) {
    const f = { seed, violations: r.violations.slice(0, 5), replay: replayCommand(a, seed) };
    failing.push(f);
    if (!args.json) process.stdout.write(`${tty ? '\r\x1b[K' : ''}FAIL seed ${seed}: ${f.violations.join('; ')}\n  replay: ${f.replay}\n`);
  }
  if (tty) process.stderr.write(`\rseed ${i + 1}/${seeds.length}, ${failing.length} failing, ${((performance.now() - started) / 1000).toFixed(0)} s`);
}
if (tty) process.stderr.write('\r\x1b[K');
const wallSeconds = (performance.now() - started) / 1000;
const summary = { seeds: seeds.length, first: seeds[0], last: seeds[seeds.length - 1], durationMs, reconfig: args.reconfig, failing, ops, events, injected, epochsOpened, wallSeconds: Math.round(wallSeconds) };
if (args.json) process.stdout.write(JSON.stringify(summary) + '\n');
else {
  process.stdout.write(
    `${seeds.length} seeds (${seeds[0]}..${seeds[seeds.length - 1]}), ${durationMs} ms virtual each, every fault on${args.reconfig ? ' and voter-set changes' : ''}: ${failing.length} failing\n` +
    `${ops} operations, ${events} events; injected ${injected.crashes} crashes, ${injected.partitions} partitions, ${injected.pauses} pauses, ` +
    `${injected.skews} clock skews, ${injected.dropped} dropped, ${injected.duplicated} duplicated, ${injected.reordered} reordered` +
      `${args.reconfig ? `, ${injected.reconfigurations} voter-set changes submitted (${epochsOpened} took effect)` : ''}; ${wallSeconds.toFixed(0)} s wall\n`,
  );
}
process.exitCode = failing.length === 0 ? 0 : 1;
