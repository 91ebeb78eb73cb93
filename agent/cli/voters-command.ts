// `covey voters`: the voter set of a running swarm (docs/agent.md, "Voters"). `ls` shows the
// current epoch's voters as one agent sees them; `add`, `remove` and `replace` ask a voter to plan
// the next epoch's voters and propose the change through consensus (agent/voters-api.ts). Like
// every client command it loads only commander and the HTTP client (agent/cli/lazy.test.ts).

import { Command } from 'commander';
import type { VotersRequest, VotersView } from '../voters-api.ts';
import { clientFor, jsonOption, print, printResult, run, targetOptions, type Target } from './agent-commands.ts';
import { formatTable } from './table.ts';

type ChangeOptions = Target & { reason?: string };

export function votersCommand(): Command {
  const voters = new Command('voters').description('the voter set: who votes in consensus, changed through consensus (3, 5 or 7 voters; docs/reconfiguration.md)');
  targetOptions(voters.command('ls').description('list the voters of the current epoch as this agent sees them: seat, peer id, whether it is this agent, whether it reaches them')
    .option('--json', 'print { epoch, voters: [{ peerId, index, self, reachable }], self, replaceAfterMs }'))
    .action((o: Target & { json?: boolean }) => run('voters ls', async () => {
      const v = await (await clientFor(o)).voters();
      if (o.json === true) print(v);
      else process.stdout.write(formatVoters(v));
    }));
  changeCommand(voters, 'add <peers...>', 'add peers to the voter set in new seats (at a voter; each must be on the roster, and the set keeps 3, 5 or 7 voters: add two at once)',
    (peers: string[]) => ({ op: 'add', peers }));
  changeCommand(voters, 'remove <peers...>', 'remove voters from the set; the seats after them move up (at a voter; the set keeps 3, 5 or 7 voters: remove two at once)',
    (peers: string[]) => ({ op: 'remove', peers }));
  changeCommand(voters, 'replace <old> <new>', 'put a peer in a voter\'s seat, e.g. one lost for good (at a voter; the new peer must be on the roster)',
    (out: string, peer: string) => ({ op: 'replace', out, in: peer }));
  return voters;
}

/** One of the change commands: its arguments make the request; the answer is printed as JSON, a refusal exits 1. */
function changeCommand<A extends unknown[]>(voters: Command, usage: string, description: string, request: (...args: A) => VotersRequest): void {
  const name = `voters ${usage.split(' ')[0]}`;
  jsonOption(targetOptions(voters.command(usage).description(description)
    .option('--reason <text>', 'why, kept with the change in the replicated log (default: the command itself)')))
    .action((...args: unknown[]) => {
      const o = args[args.length - 2] as ChangeOptions;
      const req = { ...request(...(args.slice(0, -2) as A)), ...(o.reason === undefined ? {} : { reason: o.reason }) };
      return run(name, async () => printResult(await (await clientFor(o)).changeVoters(req)));
    });
}

/** `covey voters ls` as text: the epoch and this agent's part, then one row a seat. */
export function formatVoters(v: VotersView): string {
  const yesNo = (b: boolean | null) => (b === null ? '-' : b ? 'yes' : 'no');
  const me = v.self === null ? 'this agent does not vote' : `this agent is voter ${v.self}`;
  const replace = v.replaceAfterMs === null ? 'no automatic replacement' : `a voter dead for ${v.replaceAfterMs / 1000} s is replaced`;
  const rows = v.voters.map((e) => [String(e.index), e.peerId, e.self ? 'yes' : '-', yesNo(e.reachable)]);
  const pending = v.replacement === undefined ? '' : `\nreplacement: ${v.replacement.kind === 'wait' ? 'waiting' : 'under way'}: ${v.replacement.reason}`;
  return `epoch ${v.epoch}: ${v.voters.length} voters; ${me}; ${replace}${pending}\n` + formatTable(['INDEX', 'PEER ID', 'SELF', 'REACHABLE'], rows);
}
