// bench:cli — how long the `covey` command takes from the shell (issue 12: `covey --version`
// ≤ 150 ms, `covey kv get` against a running agent ≤ 300 ms, wall). Runs each command --runs
// times as a new process, as a user would, and prints the median and every run. Next to them,
// two floors this machine sets: `node -e 0` (node's own start) and a one-line .ts file (node's
// type stripper, which any `node covey.ts` pays). `kv get` runs against a new local 3-agent swarm
// (removed afterwards), or against --agent URL.
//
// Usage: npm run bench:cli [-- --runs 9 --agent http://127.0.0.1:7070 --json]
// Exit codes: 0 done, 1 a command failed, 2 bad arguments.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AgentClient } from '../agent/client.ts';
import { swarmDown, swarmUp } from '../agent/swarm.ts';

// The installed entry (package.json bin), which is what a user runs.
const cli = new URL('../agent/cli/covey.mjs', import.meta.url).pathname;

interface Case { readonly name: string; readonly args: readonly string[] }
interface Timing { readonly name: string; readonly medianMs: number; readonly runsMs: number[] }

function parse(): { runs: number; agent?: string; json: boolean } {
  try {
    const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, agent: { type: 'string' }, json: { type: 'boolean', default: false } } });
    const runs = Number(values.runs);
    if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number ≥ 1, got "${values.runs}"`);
    return { runs, agent: values.agent, json: values.json };
  } catch (err) {
    process.stderr.write(`bench:cli: ${(err as Error).message}\n`);
    process.exit(2);
  }
}

/** Runs every case once per round, round after round, so a burst of load elsewhere hits all alike. */
function time(cases: readonly Case[], runs: number): Timing[] {
  const all = cases.map(() => [] as number[]);
  for (let r = 0; r < runs; r++) {
    cases.forEach((c, i) => {
      const started = performance.now();
      const p = spawnSync(process.execPath, c.args, { encoding: 'utf8' });
      all[i].push(performance.now() - started);
      if (p.status !== 0) throw new Error(`${c.name} exited ${p.status}: ${p.stderr}`);
    });
  }
  return cases.map((c, i) => {
    const sorted = [...all[i]].sort((a, b) => a - b);
    return { name: c.name, medianMs: Math.round(sorted[sorted.length >> 1]), runsMs: all[i].map(Math.round) };
  });
}

const o = parse();
const scratch = mkdtempSync(join(tmpdir(), 'covey-bench-cli-'));
const trivial = join(scratch, 'trivial.ts');
writeFileSync(trivial, 'const n: number = 0;\nprocess.exitCode = n;\n');
let swarmDir: string | undefined;
try {
  let agent = o.agent;
  if (agent === undefined) {
    swarmDir = join(scratch, 'swarm');
    const s = await swarmUp(swarmDir, { agents: 3 });
    agent = s.agents[0].http;
  }
  await new AgentClient(agent).put('bench-cli', 'value');
  // One untimed run first: it fills node's compile cache, as any earlier use of covey would have.
  spawnSync(process.execPath, [cli, '--version']);
  const results = time([
    { name: 'node -e 0', args: ['-e', '0'] },
    { name: 'node trivial.ts', args: [trivial] },
    { name: 'covey --version', args: [cli, '--version'] },
    { name: 'covey --help', args: [cli, '--help'] },
    { name: 'covey kv get', args: [cli, 'kv', 'get', 'bench-cli', '--agent', agent] },
  ], o.runs);
  if (o.json) process.stdout.write(JSON.stringify({ runs: o.runs, results }) + '\n');
  else for (const r of results) process.stdout.write(`${r.name.padEnd(18)} median ${String(r.medianMs).padStart(5)} ms   runs ${r.runsMs.join(' ')}\n`);
} catch (err) {
  process.stderr.write(`bench:cli: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  if (swarmDir !== undefined) await swarmDown(swarmDir);
  rmSync(scratch, { recursive: true, force: true });
}
