// `npm start`: a new user's first look. Brings up a real swarm on loopback (in .covey/demo, kept
// between runs): three voters and two simulated drones flying the survey example
// (agent/demo-swarm.ts). Prints the dashboard's URL, runs a small live workload through
// different agents, prints once a second what the swarm is doing, and on Ctrl-C stops every
// agent cleanly.
//
//   npm start                 run until Ctrl-C
//   npm start -- --for 20s    run for a while, then stop (scripts, CI)
//   npm start -- --dir DIR    keep the swarm elsewhere

import { resolve } from 'node:path';
import { AgentClient, AgentClientError } from './client.ts';
import { demoDrones, demoSwarm, demoVoters } from './demo-swarm.ts';
import { swarmDown, swarmUp, type Swarm } from './swarm.ts';

interface DemoOptions {
  readonly dir: string;
  readonly forMs: number | null;
}

function parseArgs(argv: readonly string[]): DemoOptions {
  let dir = '.covey/demo';
  let forMs: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dir' && argv[i + 1] !== undefined) dir = argv[++i];
    else if (a === '--for' && argv[i + 1] !== undefined) {
      const m = /^(\d+)(s|m)$/.exec(argv[++i]);
      if (m === null) usage(`--for takes a duration such as 20s or 2m, got "${argv[i]}"`);
      forMs = Number(m![1]) * (m![2] === 's' ? 1000 : 60_000);
    } else if (a === '--help' || a === '-h') usage(null);
    else usage(`unknown argument "${a}"`);
  }
  return { dir: resolve(dir), forMs };
}

function usage(problem: string | null): never {
  if (problem !== null) process.stderr.write(`npm start: ${problem}\n`);
  process.stderr.write('usage: npm start [-- --for 20s] [-- --dir DIR]\n');
  process.exit(problem === null ? 0 : 2);
}

export async function runDemo(o: DemoOptions, out: (line: string) => void = (l) => process.stdout.write(l + '\n')): Promise<void> {
  out(`starting a local swarm of ${demoVoters} voters and ${demoDrones} simulated drones in ${o.dir} …`);
  const demo = await demoSwarm(o.dir, 'demo');
  if (demo === null) {
    throw new Error(`${o.dir} holds a swarm from an older demo (without drones); remove it (rm -rf ${o.dir}) or choose another --dir`);
  }
  const swarm = await swarmUp(o.dir, {}, (ready, total) => {
    if (process.stderr.isTTY) process.stderr.write(`\r  ${ready}/${total} agents ready`);
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  for (const a of swarm.agents) out(`  agent ${a.index}  ${a.voter ? 'voter' : 'drone'}  ${a.peerId}  ${a.http}  (log: ${a.log})`);
  out('');
  out(`dashboard:  ${swarm.agents[0].http}/ui   (every agent serves it at /ui; docs/agent.md, "Dashboard")`);
  out('');
  out(`try, in another terminal:  npm run covey -- kv get demo/counter --agent ${swarm.agents[1].http}`);
  out(`                           npm run covey -- status --agent ${swarm.agents[0].http}`);
  out(`Ctrl-C stops the swarm (its data stays in ${o.dir} for the next run).`);
  out('');

  let stopping = false;
  const stop = new Promise<void>((r) => {
    process.once('SIGINT', () => { stopping = true; r(); });
    process.once('SIGTERM', () => { stopping = true; r(); });
    if (o.forMs !== null) setTimeout(() => { stopping = true; r(); }, o.forMs).unref();
  });
  try {
    await Promise.race([workload(swarm, demo.mission, () => stopping, out), stop]);
    stopping = true;
  } finally {
    out('stopping the swarm …');
    const n = await swarmDown(o.dir);
    out(`stopped ${n} agent(s). Run \`npm start\` again to bring the same swarm back.`);
  }
}

/** Writes a counter through one agent, reads it through another, and runs a task each few seconds. */
async function workload(swarm: Swarm, mission: string, stopped: () => boolean, out: (line: string) => void): Promise<void> {
  const clients = swarm.agents.map((a) => new AgentClient(a.http));
  const t0 = Date.now();
  let counter = 0;
  let errors = 0;
  let tasksDone = 0;
  const start = await clients[0].get('demo/counter') as { ok: boolean; value?: string | null };
  if (start.ok && typeof start.value === 'string') counter = Number(start.value) || 0;
  for (let round = 1; !stopped(); round++) {
    const writer = round % 3;
    const reader = (round + 1) % 3;
    let line = `t=${String(Math.round((Date.now() - t0) / 1000)).padStart(4)}s  `;
    try {
      counter++;
      await clients[writer].put('demo/counter', String(counter));
      const r = await clients[reader].get('demo/counter') as { value?: string | null };
      line += `put counter=${counter} via agent ${writer}, read ${r.value} via agent ${reader}`;
      if (round % 5 === 0) {
        const id = `demo-task-${Date.now()}`;
        await clients[reader].task('create', id, { spec: 'say hello' });
        const claim = await clients[writer].task('claim', id, { worker: `agent-${writer}`, leaseMs: 10_000 });
        if (claim.ok && claim.task !== undefined) {
          await clients[writer].task('complete', id, { worker: `agent-${writer}`, token: claim.task.token, result: 'hello' });
          tasksDone++;
        }
      }
    } catch (err) {
      errors++;
      line += `error: ${err instanceof AgentClientError ? err.message : String(err)}`;
    }
    const statuses = await Promise.all(clients.map((c) => c.status().catch(() => null)));
    line += '  |  ' + statuses.map((s, i) => s === null ? `agent ${i}: down` :
      `agent ${i}: ${(s.instances as { executed: number } | null)?.executed ?? '-'} executed, reaches ${s.reachableVoters}`).join('; ');
    line += `  |  tasks done ${tasksDone}${errors > 0 ? `, errors ${errors}` : ''}`;
    const cells = await clients[0].tasks().then((t) => (t.value as unknown as { taskId: string; status: string }[]).filter((x) => x.taskId.startsWith(`survey/${mission}/`)), () => []);
    line += `  |  survey ${mission}: ${cells.filter((c) => c.status === 'claimed').length} cells being flown, ${cells.filter((c) => c.status === 'done').length}/${cells.length} done`;
    out(line);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

if (import.meta.main) {
  runDemo(parseArgs(process.argv.slice(2))).catch((err: unknown) => {
    process.stderr.write(`npm start: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
