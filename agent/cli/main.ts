// The `covey` command's dispatch, shared by covey.ts (a checkout) and covey.mjs (the installed
// entry). One form goes straight to the agent: `covey agent --config FILE`, the form every
// long-running agent is started with (`covey swarm up`, the systemd unit of docs/agent.md). It
// needs neither commander nor the other commands' definitions (the simulator's and model
// checker's options, the client commands), and an agent would keep their modules, sources and
// compiled code in memory for its whole life: 1.5–2 MiB of an idle agent's RSS (docs/benchmarks.md).
// Every other form, `covey agent --dev` and any extra or misspelt option included, goes through
// commander (program.ts), which checks and explains it.

import { agentExitCode } from '../config-error.ts';

/** FILE when the arguments (after node and the script) are exactly `agent --config FILE` or `agent --config=FILE`; else null. */
export function configuredAgentArgs(args: readonly string[]): string | null {
  if (args[0] !== 'agent') return null;
  const file = args.length === 3 && args[1] === '--config' ? args[2] : args.length === 2 && args[1].startsWith('--config=') ? args[1].slice('--config='.length) : null;
  // An empty or option-like FILE is commander's to explain, as it would be without this path.
  return file === null || file === '' || file.startsWith('-') ? null : file;
}

export async function main(argv: readonly string[]): Promise<void> {
  const config = configuredAgentArgs(argv.slice(2));
  if (config === null) {
    const { buildCli } = await import('./program.ts');
    await buildCli().parseAsync(argv as string[]);
    return;
  }
  try {
    // libp2p and lmdb from the bundle when it is fresh (bundle.ts), as the agent command does.
    const entry = await (await import('./bundle.ts')).importAgent();
    await entry.runAgent(config);
  } catch (err) {
    process.stderr.write(`covey agent: ${(err as Error).message}\n`);
    process.exitCode = agentExitCode(err);
  }
}
