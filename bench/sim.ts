// bench:sim — how fast the deterministic simulator runs, on this machine:
//  1. events per wall second on a small busy swarm (5 voters, 8 closed-loop clients, every fault);
//  2. the wall time of the scale run of issue 3: 1,000 agents (5 voters, 995 agents submitting
//     through them, one open-loop client each) for 10 simulated minutes, every fault on, with all
//     of the end-of-run checkers (linearizability, task board, invariants, durability, liveness).
// The aim for (2) is under 60 s on the project's 2-core machine. Exit code 1 if a checker fails.
//
// The scale run's clients send 10% of their operations to `--keys` shared registers and the rest
// to one of their own.
//
// With `--membership swim` (the default) the voters run the real SWIM core over the simulated
// network and its verdicts start recoveries, as on agents; `--membership none` runs without it.
// SWIM runs on the voters only: agents beyond them are not yet the agent's own composition.
//
// Usage: npm run bench:sim [-- --minutes 10 --agents 1000 --rate 0.5 --keys 100 --seed 1
//          --membership swim|none --scale-only --json]

import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { runSimulation, type SimulationOptions, type SimulationResult } from '../sim/engine/simulation.ts';
import { faults, passed, simulationOptions, defaultSimArgs } from '../sim/command.ts';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    agents: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '0.5' },
    keys: { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    'scale-only': { type: 'boolean', default: false },
    membership: { type: 'string', default: 'swim' },
  },
});
const minutes = Number(args.minutes), agents = Number(args.agents), rate = Number(args.rate), seed = Number(args.seed), keys = Number(args.keys);
for (const [name, v, ok] of [['--minutes', minutes, minutes > 0], ['--agents', agents, Number.isInteger(agents) && agents >= 5], ['--rate', rate, rate > 0], ['--seed', seed, Number.isInteger(seed) && seed >= 0], ['--keys', keys, Number.isInteger(keys) && keys >= 1]] as const) {
  if (!ok) { process.stderr.write(`bench:sim: ${name} is out of range (got ${String(v)}); see the usage line in bench/sim.ts\n`); process.exit(2); }
}

if (args.membership !== 'swim' && args.membership !== 'none') { process.stderr.write(`bench:sim: --membership is swim or none (got "${args.membership}")\n`); process.exit(2); }
const membership = args.membership as 'swim' | 'none';
const tty = process.stderr.isTTY === true;

/** Wall seconds per phase: 'simulation' (the event loop), then each end-of-run step. */
type Phases = Record<string, number>;

function timed(label: string, o: SimulationOptions): { r: SimulationResult; wallS: number; phases: Phases } {
  const t0 = performance.now();
  const phases: Phases = {};
  let current = 'simulation', since = t0;
  const r = runSimulation({
    ...o,
    onPhase: (p) => {
      const t = performance.now();
      phases[current] = Number(((t - since) / 1000).toFixed(2));
      current = p; since = t;
    },
    onProgress: tty ? (p) => process.stderr.write(`\r${label}: ${(p.virtualMs / 1000).toFixed(0)}/${(p.durationMs / 1000).toFixed(0)} s virtual, ${p.events} events`) : undefined,
  });
  if (tty) process.stderr.write('\r\x1b[K');
  return { r, wallS: (performance.now() - t0) / 1000, phases };
}

const every = new Set(faults);
const small = args['scale-only'] ? null : timed('small swarm', simulationOptions({ ...defaultSimArgs, voters: 5, agents: 5, durationMs: 60_000, faults: every, membership }, seed));
const scaleArgs = { ...defaultSimArgs, voters: 5 as const, agents, clients: agents - 5, rate, conflict: 0.1, keys, durationMs: minutes * 60_000, faults: every, membership };
const scale = timed('scale run', simulationOptions(scaleArgs, seed));

const report = (x: { r: SimulationResult; wallS: number; phases: Phases }) => ({
  events: x.r.events, ops: x.r.ops, wallSeconds: Number(x.wallS.toFixed(2)), eventsPerSecond: Math.round(x.r.events / x.wallS),
  simulatedEventsPerSecond: Math.round(x.r.events / (x.phases.simulation ?? x.wallS)), phaseSeconds: x.phases,
  passed: passed(x.r), violations: x.r.violations.slice(0, 5), traceHash: x.r.traceHash, snapshots: x.r.snapshots,
  membership: x.r.membership,
});
const out = {
  machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
  small: small === null ? null : { voters: 5, clients: 8, virtualSeconds: 60, ...report(small) },
  scale: { voters: 5, agents, clients: agents - 5, ratePerClient: rate, sharedKeys: keys, conflict: 0.1, virtualMinutes: minutes, ...report(scale), faults: scale.r.faults },
};
if (args.json) process.stdout.write(JSON.stringify(out) + '\n');
else {
  const s = out.small, l = out.scale;
  const phaseText = (p: Phases): string => Object.entries(p).map(([k, v]) => `${k} ${v} s`).join(', ');
  process.stdout.write(
    (s === null ? '' : `small swarm (5 voters, 8 clients, 60 s virtual, every fault): ${s.events} events in ${s.wallSeconds} s = ${s.eventsPerSecond} events/s; ${s.passed ? 'all checkers pass' : 'FAILED: ' + s.violations.join('; ')}\n`) +
    `scale run (${agents} agents: 5 voters + ${agents - 5} submitting, ${rate} ops/s each, 10% on ${keys} shared keys, ${minutes} min virtual, every fault): ` +
    `${l.wallSeconds} s wall, ${l.events} events (${l.eventsPerSecond}/s), ${l.ops} operations; ${l.passed ? 'all checkers pass' : 'FAILED: ' + l.violations.join('; ')}\n` +
    `  wall by phase: ${phaseText(l.phaseSeconds)}\n` +
    (l.membership === null ? '  membership: none\n' : `  membership (SWIM on the voters): ${JSON.stringify(l.membership.events)}, ${l.membership.recoveries} recoveries started by dead verdicts\n`),
  );
}
process.exitCode = (small === null || passed(small.r)) && passed(scale.r) ? 0 : 1;
