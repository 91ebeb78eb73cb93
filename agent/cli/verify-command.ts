// `covey verify FILE|-`: judge any history file — the project's JSON Lines (HISTORY-FORMAT.md) or
// Jepsen's EDN — for linearizability per key, and the task board's rules when it has task
// operations. Exit codes: 0 linearizable, 1 not linearizable, 2 undecided (a key's search stopped
// at --states-max), 3 bad input (unreadable file, a malformed line, a bad option).
//
// Only the options live here; the checker (sim/check/verify-run.ts, which also defines their type)
// loads when the command runs, so `covey --help` stays light (agent/cli/lazy.test.ts).

import { Command, InvalidArgumentError } from 'commander';
import type { VerifyArgs } from '../../sim/check/verify-run.ts';

/** The default search budget per key (sim/check/linearizability.ts searchStatesMax; repeated so the checker need not load for --help). */
export const verifyStatesMaxDefault = 1_000_000;
export const exitBadInput = 3;

function parseFormat(value: string): VerifyArgs['format'] {
  if (value === 'auto' || value === 'jsonl' || value === 'edn') return value;
  throw new InvalidArgumentError(`accepted values are auto, jsonl and edn; got "${value}"`);
}

function parseStatesMax(value: string): number {
  const n = Number(value.replace(/_/g, ''));
  if (value.trim() === '' || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`a whole number of states, at least 1; got "${value}"`);
  return n;
}

export function verifyCommand(): Command {
  return new Command('verify')
    .description('check a history file for linearizability: per key a verdict, and the shortest part of the history that shows a violation')
    .argument('<file>', 'the history: JSON Lines (../shared/HISTORY-FORMAT.md) or Jepsen EDN; - reads standard input')
    .option('--format <format>', 'auto (by the first character), jsonl or edn', parseFormat, 'auto' as const)
    .option('--states-max <n>', 'search states (per search of a key) before the key is reported undecided; memory grows with it', parseStatesMax, verifyStatesMaxDefault)
    .option('--json', 'print one JSON object', false)
    .option('--quiet', 'print only keys that are not linearizable or undecided, and the summary', false)
    .option('--progress', 'print progress on stderr even when it is not a terminal')
    .option('--no-progress', 'never print progress')
    .addHelpText('after', '\nExit codes: 0 linearizable, 1 not linearizable, 2 undecided (raise --states-max), 3 bad input.')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : exitBadInput))
    .action(async (file: string, opts: VerifyArgs) => {
      const { runVerify } = await import('../../sim/check/verify-run.ts');
      process.exitCode = await runVerify(file, opts);
    });
}
