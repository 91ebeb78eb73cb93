// The client commands that stream from a running agent's live layer (agent/live/): `covey kv
// watch PREFIX` and `covey telemetry ls | echo TOPIC | hz TOPIC`, in the manner of `ros2 topic`.
// They read `GET /events` (Server-Sent Events) and `GET /telemetry`. A stream runs until its
// --count is reached (exit 0), Ctrl-C or SIGTERM (exit 0), or the agent ends it (exit 1: a stopped
// agent, or a reader too slow for the agent's bound on what it keeps waiting).

import { Command } from 'commander';
import { AgentClientError, type AgentClient } from '../client.ts';
import type { SseMessage } from '../live/sse-reader.ts';
import { clientFor, intArg, print, run, targetOptions, type Target } from './agent-commands.ts';
import { formatHz, hzOf } from './hz.ts';
import { formatTable } from './table.ts';

/** Messages `telemetry hz` keeps for its window at most. */
const hzWindowMax = 10_000;

/**
 * Streams the agent's events that pass the query to onEvent until it returns true (done), the
 * user interrupts (SIGINT, SIGTERM), or the agent ends the stream (an error: exit 1).
 */
async function follow(client: AgentClient, query: Record<string, string>, onEvent: (m: SseMessage) => boolean, onOpen?: () => void, abort = new AbortController()): Promise<void> {
  const interrupted = (): void => abort.abort();
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const stream = client.events(query, abort.signal);
    let opened = false;
    for await (const m of stream) {
      if (!opened) { opened = true; onOpen?.(); }
      if (onEvent(m)) { abort.abort(); return; }
    }
    if (!abort.signal.aborted) throw new AgentClientError(0, `the agent at ${client.baseUrl} ended the stream (it stopped, or this reader fell too far behind)`);
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
}

/** One line: control characters (a newline in a value) escaped, so one change is one line. */
function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(s) ? JSON.stringify(s).slice(1, -1) : s;
}

const isoTime = (ms: number): string => new Date(ms).toISOString();

export function addKvWatch(kv: Command): void {
  targetOptions(kv.command('watch <prefix>').description('print each change to the keys under a prefix as a voter applies it, one line a change, until Ctrl-C ("" for every key)')
    .option('--count <n>', 'exit after n changes', intArg('--count'))
    .option('--json', 'print one JSON object a line (NDJSON): { key, value, atMs }; value null when deleted'))
    .action((prefix: string, o: Target & { count?: number; json?: boolean }) => run('kv watch', async () => {
      const client = await clientFor(o);
      // Key changes are events of applied commands: only a voter applies them.
      const status = await client.status();
      if (status.role !== 'voter') throw new AgentClientError(0, `kv watch follows the commands a voter applies; the agent at ${client.baseUrl} is a ${String(status.role)}: point --agent at a voter (covey members lists them)`);
      let seen = 0;
      await follow(client, { kinds: 'kv', prefix }, (m) => {
        if (m.event !== 'kv') return false;
        const e = JSON.parse(m.data) as { key: string; value: string | null; atMs: number };
        if (o.json === true) process.stdout.write(JSON.stringify({ key: e.key, value: e.value, atMs: e.atMs }) + '\n');
        else process.stdout.write(e.value === null ? `${isoTime(e.atMs)}  del  ${oneLine(e.key)}\n` : `${isoTime(e.atMs)}  put  ${oneLine(e.key)}  ${oneLine(e.value)}\n`);
        return o.count !== undefined && ++seen >= o.count;
      }, () => { if (o.json !== true && process.stderr.isTTY === true) process.stderr.write(`watching "${prefix}" at ${client.baseUrl} (Ctrl-C stops)\n`); });
    }));
}

interface TopicSummary {
  topic: string;
  schema: Record<string, unknown> | null;
  last: { from: string; value: unknown; atMs: number } | null;
  count: number;
  ratePerS: number;
}

/** `telemetry ls` as text: one row a topic. */
export function formatTopics(topics: readonly TopicSummary[], nowMs: number): string {
  const rows = topics.map((t) => [
    t.topic,
    `${t.ratePerS.toFixed(1)}/s`,
    String(t.count),
    t.last === null ? '-' : `${((nowMs - t.last.atMs) / 1000).toFixed(1)} s ago`,
    t.last === null ? '-' : `…${t.last.from.slice(-8)}`,
    t.schema === null ? 'no' : 'yes',
    t.last === null ? '-' : JSON.stringify(t.last.value),
  ]);
  return formatTable(['TOPIC', 'RATE', 'COUNT', 'LAST', 'FROM', 'SCHEMA', 'LAST VALUE'], rows);
}

export function telemetryCommand(): Command {
  const t = new Command('telemetry').description('see the swarm\'s telemetry through a running agent, as `ros2 topic` does: list topics, echo one, measure its rate');
  targetOptions(t.command('ls').description('list the telemetry topics the agent tracks: rate, count, last message, whether a schema is known')
    .option('--json', 'print the topics as a JSON array ({ topic, schema, last, count, ratePerS })'))
    .action((o: Target & { json?: boolean }) => run('telemetry ls', async () => {
      const r = await (await clientFor(o)).telemetry() as { topics: TopicSummary[] };
      if (o.json === true) { print(r.topics); return; }
      process.stdout.write(r.topics.length === 0 ? 'no telemetry topics heard here yet (plugins declare them with ctx.telemetry.topic)\n' : formatTopics(r.topics, Date.now()));
    }));
  targetOptions(t.command('echo <topic>').description('print each message on a topic as it arrives at the agent, one line a message, until Ctrl-C')
    .option('--count <n>', 'exit after n messages', intArg('--count'))
    .option('--json', 'print one JSON object a line (NDJSON): { topic, from, value, atMs }'))
    .action((topic: string, o: Target & { count?: number; json?: boolean }) => run('telemetry echo', async () => {
      const client = await clientFor(o);
      await warnIfUnheard(client, topic);
      let seen = 0;
      await follow(client, { kinds: 'telemetry', topic }, (m) => {
        if (m.event !== 'telemetry') return false;
        const e = JSON.parse(m.data) as { topic: string; from: string; value: unknown; atMs: number };
        if (o.json === true) process.stdout.write(JSON.stringify({ topic: e.topic, from: e.from, value: e.value, atMs: e.atMs }) + '\n');
        else process.stdout.write(`${isoTime(e.atMs)}  ${e.from}  ${JSON.stringify(e.value)}\n`);
        return o.count !== undefined && ++seen >= o.count;
      });
    }));
  targetOptions(t.command('hz <topic>').description('print a topic\'s rate every second: the mean over the last messages, and the spread of their intervals, until Ctrl-C')
    .option('--window <n>', 'messages the rate is measured over', intArg('--window', 2), 100)
    .option('--count <n>', 'exit after n reports', intArg('--count'))
    .option('--every <ms>', 'ms between reports', intArg('--every', 100), 1000)
    .option('--json', 'print one JSON object a report (NDJSON): { topic, rateHz, minS, maxS, stdDevS, window }'))
    .action((topic: string, o: Target & { window: number; count?: number; every: number; json?: boolean }) => run('telemetry hz', async () => {
      const stop = new AbortController();
      if (o.window > hzWindowMax) throw new AgentClientError(0, `--window ${o.window} is over ${hzWindowMax} messages`);
      const client = await clientFor(o);
      await warnIfUnheard(client, topic);
      const times: number[] = [];
      let reports = 0;
      let fresh = false;
      const report = (): void => {
        const r = hzOf(times);
        if (o.json === true) process.stdout.write(JSON.stringify({ topic, ...r }) + '\n');
        else process.stdout.write(fresh || times.length === 0 ? `${formatHz(r)}\n` : 'no new messages\n');
        fresh = false;
        if (o.count !== undefined && ++reports >= o.count) stop.abort();
      };
      const timer = setInterval(report, o.every);
      try {
        await follow(client, { kinds: 'telemetry', topic }, (m) => {
          if (m.event === 'telemetry') {
            times.push((JSON.parse(m.data) as { atMs: number }).atMs);
            if (times.length > o.window) times.shift();
            fresh = true;
          }
          return false;
        }, undefined, stop);
      } finally {
        clearInterval(timer);
      }
    }));
  return t;
}

/** Says on stderr (stdout stays the stream's) when the agent has not heard the topic yet: it may never come. */
async function warnIfUnheard(client: AgentClient, topic: string): Promise<void> {
  try {
    await client.telemetry(topic);
  } catch (err) {
    if (err instanceof AgentClientError && err.status === 404) {
      process.stderr.write(`covey telemetry: no message on "${topic}" has reached ${client.baseUrl} yet; waiting (covey telemetry ls lists the topics it tracks)\n`);
      return;
    }
    throw err;
  }
}
