// `covey check`: the exhaustive model checker from the command line. Exit codes: 0 every reachable
// state satisfies INV1–INV8, 1 a violation (printed as its shortest trace), 2 bad arguments,
// 3 incomplete (the state limit was reached before the search ended: not a pass).

import { Command, InvalidArgumentError } from 'commander';
import { defaultModel, variantNames, type VariantName } from './defaults.ts';

// The command's options and parsers; the checker (command-run.ts) loads only when it runs, so
// `covey --help` does not load the consensus core.

export const exitPass = 0;
export const exitViolation = 1;
export const exitBadArgs = 2;
export const exitIncomplete = 3;

/**
 * The state limit unless --max-states says otherwise: what fits this 23 GB machine. Hashed, a
 * large run costs about 115 bytes a state all told (visited.ts; 13.8 GB at 120 M states), so 150 M
 * is about 17 GB; exactly (--exact-states) about 0.5 kB, so 10 M is about 5 GB.
 */
export const maxStatesDefault = 150_000_000;
export const maxStatesExactDefault = 10_000_000;
/**
 * With the partial-order reduction (the default) a level also holds the restarts and syncs taken
 * from it, so the two levels in flight are about twice as wide: about 165 bytes a state (20.7 GB
 * at 130 M states on issue 15's bound), so 120 M is about 20 GB.
 */
export const maxStatesPorDefault = 120_000_000;

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

export interface CheckArgs {
  replicas: 3; commands: number; crashes: number; duplicates: number; drops: number; recoveries: number; ticks: number; unsynced: number;
  maxStates?: number; maxSeconds?: number; maxDepth?: number; variant: VariantName; json: boolean; exactStates: boolean; keepDeadMessages: boolean;
  reconfig: boolean;
  /** Unset unless --por or --no-por is given: the reduction is on unless --no-por. */
  por?: boolean;
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
    .option('--max-states <n>', `stop after this many distinct states and report "incomplete" (exit 3); default ${maxStatesPorDefault} (${maxStatesDefault} with --no-por, `
      + `${maxStatesExactDefault} with --exact-states)`,
      count('--max-states', 1, 1_000_000_000))
    .option('--max-seconds <n>', 'stop after this many seconds and report "incomplete" (exit 3), with the depth within which every state was checked',
      count('--max-seconds', 1, 1_000_000))
    .option('--max-depth <n>', 'explore only states within this many steps; reports "depth-bounded" (exit 3)', count('--max-depth', 1, 1000))
    .option('--reconfig', 'add a voters.change replacing r2, submitted at replica <commands> mod 3 after the puts, and check RC1 '
      + '(docs/reconfiguration.md): every command committed with an effect is in the change\'s dependencies', false)
    .option('--variant <name>', `the core to check: ${variantNames.join(', ')} (all but real are test-only variants with a known bug)`, parseVariant, 'real' as VariantName)
    .option('--exact-states', 'keep every visited state exactly (about 0.5 kB a state) instead of its 128-bit hash (about 50 bytes; '
      + 'a hash collision could hide a state: README.md, "State hashing")', false)
    .option('--keep-dead-messages', 'keep messages that can never change their receiver in the states (replies and same-value Commits about an id it '
      + 'committed durably; README.md, "Dead messages"): more states, the same verdicts; the search is then the reference search exactly', false)
    .option('--por', 'partial-order reduction, the default: once the crash budget is spent, a state with a replica down or an unsynced step '
      + 'expands only that replica\'s restart or sync (README.md, "Partial-order reduction"): fewer states, the same verdicts; a '
      + 'violation\'s trace may hold more restarts and syncs than a shortest one')
    .option('--no-por', 'switch the partial-order reduction off: every interleaving, shortest traces (with --keep-dead-messages, the reference search exactly)')
    .option('--json', 'print the result as one JSON object', false)
    // Any argument error (unknown option, a value outside the accepted ones) exits with 2.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : exitBadArgs))
    .action(async (o: CheckArgs) => {
      const { runCheck } = await import('./command-run.ts');
      process.exitCode = runCheck(o);
    });
}
