// The `covey` command's definition: the agent and its client commands, the local swarm, the
// simulator and the model checker, wired to commander. covey.ts runs it.
//
// Startup is kept short: the modules imported here define the commands (options, parsers, help)
// and load only commander and node's own modules; each command imports what it runs (libp2p,
// lmdb, the simulator, the model checker, the config schema) in its action. `covey --version`,
// `--help` and the client commands (`kv get`, …) never load them. agent/cli/lazy.test.ts checks it.

import { Command, InvalidArgumentError } from 'commander';
import { verifyCommand } from './verify-command.ts';
import { simCommand } from '../../sim/command.ts';
import { checkCommand } from '../../sim/check/model/command.ts';
import { newCommand } from './new-command.ts';
import { addKvWatch, telemetryCommand } from './live-commands.ts';
import { agentCommand, initCommand, kvCommand, membersCommand, peersCommand, statusCommand, swarmCommand, tasksCommand } from './agent-commands.ts';
import { votersCommand } from './voters-command.ts';

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number, got "${value}"`);
    return n;
  };
}

export function buildCli(): Command {
  const program = new Command('covey')
    .description('Covey: an edge agent runtime for autonomous device swarms')
    .version('0.1.0')
    .showHelpAfterError();

  program
    .command('quorum')
    .description('show the quorum sizes and fault tolerance of a voter configuration (PROTOCOL.md §1)')
    .requiredOption('--voters <n>', 'number of voters (3, 5 or 7 are usual)', positiveInt('--voters'))
    .option('--f <f>', 'crashes to tolerate (default: the most n allows)', positiveInt('--f'))
    .option('--e <e>', 'crashes beyond the coordinator under which the fast path still works', positiveInt('--e'))
    .option('--json', 'print JSON')
    .action(async (opts: { voters: number; f?: number; e?: number; json?: boolean }) => {
      const { describeQuorum, formatQuorum } = await import('./quorum.ts');
      try {
        const q = describeQuorum({ voters: opts.voters, f: opts.f, e: opts.e });
        process.stdout.write((opts.json ? JSON.stringify(q) : formatQuorum(q)) + '\n');
      } catch (err) {
        process.stderr.write(`covey quorum: ${(err as Error).message}\n`);
        process.exitCode = 2;
      }
    });

  program.addCommand(initCommand());
  program.addCommand(agentCommand());
  const kv = kvCommand();
  addKvWatch(kv);
  program.addCommand(kv);
  program.addCommand(tasksCommand());
  program.addCommand(membersCommand());
  program.addCommand(peersCommand());
  program.addCommand(votersCommand());
  program.addCommand(telemetryCommand());
  program.addCommand(statusCommand());
  program.addCommand(swarmCommand());
  program.addCommand(simCommand());
  program.addCommand(checkCommand());
  program.addCommand(newCommand());
  // `covey verify` keeps its own: 2 means "undecided" there, and bad input is 3 (docs/verify.md).
  usageErrorsExit2(program, new Set(['verify']));
  program.addCommand(verifyCommand());
  return program;
}

/** Commander's own usage errors: a wrong or missing argument, an unknown option or command. */
const usageErrorCodes = new Set([
  'commander.invalidArgument', 'commander.missingArgument', 'commander.optionMissingArgument', 'commander.missingMandatoryOptionValue',
  'commander.unknownOption', 'commander.unknownCommand', 'commander.excessArguments', 'commander.conflictingOption',
]);

/**
 * Every command exits 2 on a usage error, as the docs say (commander's default is 1, the code
 * Covey keeps for "ran, and the answer is no"). Set on each command: commander copies exit
 * settings only to subcommands made with .command(), not to those added with .addCommand().
 */
function usageErrorsExit2(cmd: Command, except: ReadonlySet<string>): void {
  cmd.exitOverride((err) => {
    process.exit(usageErrorCodes.has(err.code) ? 2 : err.exitCode);
  });
  for (const sub of cmd.commands) if (!except.has(sub.name())) usageErrorsExit2(sub, except);
}
