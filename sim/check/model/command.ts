// `covey check`: the exhaustive model checker from the command line. Exit codes: 0 every reachable
// state satisfies INV1–INV8, 1 a violation (printed as its shortest trace), 2 bad arguments,
// 3 incomplete (the state limit was reached before the search ended: not a pass).

import { Command, InvalidArgumentError } from 'commander';
import { check, defaultModel, type CheckResult, type ModelConfig, type Progress } from './model.ts';
import { variantNames, type VariantName } from './variants.ts';

export const exitPass = 0;
export const exitViolation = 1;
export const exitBadArgs = 2;
export const exitIncomplete = 3;

export const maxStatesDefault = 5_000_000;

export function parseReplicas(value: string): 3 {
  if (value.trim() === '3') return 3;
  throw new InvalidArgumentError(`--replicas: only 3 is accepted for now (f = 1, e = 1); got "${value}"`);
}

export function count(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name}: accepted values are whole numbers from ${min} to ${max}; got "${value}"`);
    }
    return n;
  };
}

export function parseVariant(value: string): VariantName {
  if ((variantNames as readonly string[]).includes(value)) return value as VariantName;
  throw new InvalidArgumentError(`--variant: accepted values are ${variantNames.join(', ')}; got "${value}"`);
}

export function formatResult(r: CheckResult): string {
  const c = r.config;
  const lines = [
    `model: ${c.replicas} replicas, ${c.commands} conflicting command(s); core: ${c.variant}`,
    `bounds per run: ≤${c.crashes} crash+restart, ≤${c.duplicates} duplicate(s), message loss: any message may stay undelivered (explicit drops ≤${c.drops}), ` +
      `≤${c.recoveries} recover(id) event(s), ≤${c.ticks} tick(s) (fast-path timeout); time frozen, no retransmission/recovery/watermark timers; ` +
      (c.unsynced === 0 ? 'every step durable at once' : `≤${c.unsynced} unsynced step(s) per replica (early effects leave before the sync; a crash loses the unsynced steps)`),
    `distinct states explored: ${r.states}`,
    `transitions: ${r.transitions} (${r.subsumed} subsumed by their parent), depth reached: ${r.depth}, wall time: ${(r.wallMs / 1000).toFixed(1)} s`,
  ];
  if (r.verdict === 'pass') lines.push('PASS: INV1–INV8 hold in every reachable state');
  else if (r.verdict === 'depth-bounded') lines.push(`DEPTH-BOUNDED: no violation within ${r.depth} steps (--max-depth); deeper states were not explored, so this is not a pass`);
  else if (r.verdict === 'incomplete') lines.push(`INCOMPLETE: stopped at the state limit (--max-states ${r.states}); this is not a pass`);
  else {
    const v = r.violation!;
    lines.push(`VIOLATION of ${v.invariants.join(', ')} after ${v.trace.length} step(s), a shortest trace:`);
    v.steps.forEach((s, i) => lines.push(`  ${String(i + 1).padStart(2)}. ${s}`));
    lines.push('violated:', ...v.messages.map((m) => `  ${m}`));
  }
  return lines.join('\n') + '\n';
}

export function exitCodeOf(r: CheckResult): number {
  return r.verdict === 'pass' ? exitPass : r.verdict === 'violation' ? exitViolation : exitIncomplete;
}

interface CheckArgs {
  replicas: 3; commands: number; crashes: number; duplicates: number; drops: number; recoveries: number; ticks: number; unsynced: number;
  maxStates: number; maxDepth?: number; variant: VariantName; json: boolean;
}

export function checkCommand(): Command {
  return new Command('check')
    .description('exhaustive model check of the real consensus core (INV1–INV8 of PROTOCOL.md §8 in every reachable state)')
    .option('--replicas <n>', 'replicas: only 3 for now', parseReplicas, 3 as const)
    .option('--commands <n>', 'client commands, 1 to 3 (command i at replica i mod 3, all writing one key)', count('--commands', 1, 3), defaultModel.commands)
    .option('--crashes <n>', 'crashes per run, 0 or 1 (a crashed replica may restart from its storage)', count('--crashes', 0, 1), defaultModel.crashes)
    .option('--duplicates <n>', 'messages delivered twice per run, 0 to 3', count('--duplicates', 0, 3), defaultModel.duplicates)
    .option('--drops <n>', 'explicit message losses per run, 0 to 3 (loss is covered without them; see README)', count('--drops', 0, 3), defaultModel.drops)
    .option('--recoveries <n>', 'recover(id) events per run, 0 to 4', count('--recoveries', 0, 4), defaultModel.recoveries)
    .option('--ticks <n>', 'ticks per run (fast-path timeout and execution flush), 0 to 3', count('--ticks', 0, 3), defaultModel.ticks)
    .option('--unsynced <n>', 'steps a replica may take before its records are durable, 0 to 3 (0: every step durable at once; '
      + 'above 0 proposals, Commits and replies leave early and a crash loses the unsynced steps)', count('--unsynced', 0, 3), defaultModel.unsynced)
    .option('--max-states <n>', 'stop after this many distinct states and report "incomplete" (exit 3)', count('--max-states', 1, 1_000_000_000), maxStatesDefault)
    .option('--max-depth <n>', 'explore only states within this many steps; reports "depth-bounded" (exit 3)', count('--max-depth', 1, 1000))
    .option('--variant <name>', `the core to check: ${variantNames.join(', ')} (all but real are test-only variants with a known bug)`, parseVariant, 'real' as VariantName)
    .option('--json', 'print the result as one JSON object', false)
    // Any argument error (unknown option, a value outside the accepted ones) exits with 2.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : exitBadArgs))
    .action((o: CheckArgs) => {
      const cfg: ModelConfig = {
        replicas: o.replicas, commands: o.commands, crashes: o.crashes, duplicates: o.duplicates, drops: o.drops,
        recoveries: o.recoveries, ticks: o.ticks, unsynced: o.unsynced, variant: o.variant,
      };
      const tty = process.stderr.isTTY === true;
      let lastStates = 0, lastMs = 0;
      const onProgress = tty ? (p: Progress): void => {
        const rate = Math.round((p.states - lastStates) / Math.max(0.001, (p.elapsedMs - lastMs) / 1000));
        lastStates = p.states; lastMs = p.elapsedMs;
        process.stderr.write(`\r${p.states} states (${rate}/s), ${p.transitions} transitions, depth ${p.depth}, frontier ${p.frontier}, ${(p.elapsedMs / 1000).toFixed(0)} s   `);
      } : undefined;
      const r = check(cfg, { maxStates: o.maxStates, maxDepth: o.maxDepth, onProgress });
      if (tty) process.stderr.write('\n');
      if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
      else process.stdout.write(formatResult(r));
      process.exitCode = exitCodeOf(r);
    });
}
