// bench:agent-start — how fast a Covey agent starts and how much memory it holds idle (issue 12:
// an agent ready within 1 s of start; idle agent RSS ≤ 100 MB).
//
// Starts a local 3-voter swarm (agent/swarm.ts, the processes `covey swarm up` runs), then
// restarts agent 0 --rounds times (SIGTERM, wait for exit, start) and times, from the spawn,
// when its HTTP API first answers and when /ready answers 200 (polled every 10 ms). Then, with
// the swarm left idle for --idle seconds, reads each agent's RSS (/proc/PID/status: VmRSS, and
// its file-backed part, mostly node's own binary) and V8's heap in use (the agent's /metrics).
// Each agent runs the code `covey agent` would pick: the bundle when fresh (agent/cli/bundle.ts),
// or the sources with COVEY_BUNDLE=0 in the environment.
// An idle agent's RSS is not one number: it creeps up as the garbage of its timers and gossip is
// promoted, until a collection (or the memory reclaim, agent/memory-reclaim.ts) takes it back. So
// the bench goes on reading every agent's RSS each second for --watch more seconds and prints the
// lowest, median and highest of those readings (each the median of the 3 agents).
//
// Usage: npm run bench:agent-start [-- --rounds 7 --idle 30 --watch 90 --json] (--watch 0: the one reading only)
// Exit codes: 0 done, 1 the swarm failed, 2 bad arguments.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bundleStaleness } from '../agent/cli/bundle.ts';
import { startAgent, stopAgent, swarmDown, swarmUp, type Swarm } from '../agent/swarm.ts';

interface Options { readonly rounds: number; readonly idleS: number; readonly watchS: number; readonly json: boolean }

function parse(): Options {
  try {
    const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, idle: { type: 'string', default: '30' }, watch: { type: 'string', default: '90' }, json: { type: 'boolean', default: false } } });
    const rounds = Number(values.rounds);
    const idleS = Number(values.idle);
    const watchS = Number(values.watch);
    if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) throw new Error(`--rounds must be a whole number from 1 to 100, got "${values.rounds}"`);
    if (!Number.isFinite(idleS) || idleS < 0 || idleS > 3600) throw new Error(`--idle must be seconds from 0 to 3600, got "${values.idle}"`);
    if (!Number.isInteger(watchS) || watchS < 0 || watchS > 3600) throw new Error(`--watch must be whole seconds from 0 to 3600, got "${values.watch}"`);
    return { rounds, idleS, watchS, json: values.json };
  } catch (err) {
    process.stderr.write(`bench:agent-start: ${(err as Error).message}\n`);
    process.exit(2);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Milliseconds from the spawn until the HTTP API answers at all, and until /ready says 200. */
async function timeStart(s: Swarm, i: number): Promise<{ httpMs: number; readyMs: number }> {
  const started = performance.now();
  startAgent(s, i);
  let httpMs: number | null = null;
  for (;;) {
    if (performance.now() - started > 60_000) throw new Error(`agent ${i} not ready within 60 s; see ${s.agents[i].log}`);
    try {
      const r = await fetch(s.agents[i].http + '/ready', { signal: AbortSignal.timeout(1000) });
      httpMs ??= performance.now() - started;
      if (r.ok) return { httpMs, readyMs: performance.now() - started };
    } catch {
      // not listening yet
    }
    await sleep(10);
  }
}

function rssOf(pid: number): { rssMiB: number; fileMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: kib('VmRSS') / 1024, fileMiB: kib('RssFile') / 1024 };
}

async function heapUsedMiB(http: string): Promise<number> {
  const text = await (await fetch(http + '/metrics')).text();
  return Number(/^covey_nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? NaN) / 2 ** 20;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const round1 = (x: number) => Math.round(x * 10) / 10;
const o = parse();
const code = process.env.COVEY_BUNDLE === '0' ? 'sources (COVEY_BUNDLE=0)' : bundleStaleness() === null ? 'bundle' : `sources (${bundleStaleness()})`;
const dir = mkdtempSync(join(tmpdir(), 'covey-bench-start-'));
try {
  if (!o.json) process.stderr.write(`bench:agent-start: a 3-voter swarm, agent code: ${code}\n`);
  const s = await swarmUp(join(dir, 'swarm'), { agents: 3 });
  const starts: { httpMs: number; readyMs: number }[] = [];
  for (let r = 0; r < o.rounds; r++) {
    await stopAgent(s, 0);
    starts.push(await timeStart(s, 0));
    if (!o.json) process.stderr.write(`  round ${r + 1}: HTTP after ${starts[r].httpMs.toFixed(0)} ms, ready after ${starts[r].readyMs.toFixed(0)} ms\n`);
  }
  // Idle means fresh: the restarts above leave their traces in the others, so all start again.
  for (const a of s.agents) await stopAgent(s, a.index);
  for (const a of s.agents) startAgent(s, a.index);
  await swarmUp(s.dir, { agents: 3 });
  if (!o.json) process.stderr.write(`  idle for ${o.idleS} s …\n`);
  await sleep(o.idleS * 1000);
  const idle = await Promise.all(s.agents.map(async (a) => ({ agent: a.index, ...rssOf(a.pid!), heapUsedMiB: await heapUsedMiB(a.http) })));
  if (!o.json && o.watchS > 0) process.stderr.write(`  watching RSS for ${o.watchS} s more …\n`);
  const watched: number[] = [];
  for (let t = 0; t < o.watchS; t++) {
    await sleep(1000);
    watched.push(median(s.agents.map((a) => rssOf(a.pid!).rssMiB)));
  }
  const watch = o.watchS === 0 ? null : {
    seconds: o.watchS, minMiB: round1(Math.min(...watched)), medianMiB: round1(median(watched)), maxMiB: round1(Math.max(...watched)),
  };
  const result = {
    code, rounds: o.rounds, idleS: o.idleS, watch,
    httpMedianMs: Math.round(median(starts.map((x) => x.httpMs))), readyMedianMs: Math.round(median(starts.map((x) => x.readyMs))),
    readyRunsMs: starts.map((x) => Math.round(x.readyMs)),
    idleRssMedianMiB: Math.round(median(idle.map((x) => x.rssMiB))), idle,
  };
  if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
  else {
    process.stdout.write(`agent start (${code}): HTTP after ${result.httpMedianMs} ms, ready after ${result.readyMedianMs} ms (median of ${o.rounds}; runs ${result.readyRunsMs.join(' ')})\n`);
    process.stdout.write(`idle RSS after ${o.idleS} s: median ${result.idleRssMedianMiB} MiB (${idle.map((x) => `agent ${x.agent} ${x.rssMiB.toFixed(0)} MiB, ${x.fileMiB.toFixed(0)} file-backed, heap in use ${x.heapUsedMiB.toFixed(0)}`).join('; ')})\n`);
    if (watch !== null) process.stdout.write(`idle RSS over the next ${watch.seconds} s (each second the median of 3 agents): lowest ${watch.minMiB}, median ${watch.medianMiB}, highest ${watch.maxMiB} MiB\n`);
  }
} catch (err) {
  process.stderr.write(`bench:agent-start: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await swarmDown(join(dir, 'swarm')).catch(() => 0);
  rmSync(dir, { recursive: true, force: true });
}
