// bench:core — commands per second committed and executed by 3 in-process EPaxos* replicas with
// no I/O: messages go through one FIFO queue, persist records are dropped, clients run closed-loop
// (each reply submits the next command). A command counts once its coordinator has executed it
// and answered; at the end every replica must have executed every command, in the same state.
//
// Usage: npm run bench:core [-- --seconds 5 --json]

import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { type Command, CoveyStateMachine, type Envelope, type Ready, Replica } from '../consensus/index.ts';
import { createLogger } from '../agent/log.ts';

const log = createLogger({ name: 'bench:core' });

/** The value every put writes; its content does not matter to the protocol. */
const value16 = 'x'.repeat(16);

/** Distinct keys the workload writes (besides the one hot key). */
const keySpace = 100_000;

interface Case {
  readonly interference: number; // fraction of commands that write the one hot key
  readonly batch: number;
  readonly pipeline: number;
  readonly outstandingPerReplica: number;
}

interface Result extends Case {
  readonly commands: number;
  readonly seconds: number;
  readonly commandsPerSecond: number;
  readonly fastPathShare: number;
  readonly avgBatch: number;
}

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
    interference: { type: 'string' }, // run only this interference (0..1)
    batch: { type: 'string' }, // run only this batch size
  },
});
const seconds = Number(args.seconds);
if (!(seconds > 0)) {
  process.stderr.write(`bench:core: --seconds must be a positive number, got "${args.seconds}"\n`);
  process.exit(2);
}

function runCase(c: Case, durationMs: number): Result {
  const n = 3;
  const machines = Array.from({ length: n }, () => new CoveyStateMachine());
  const replicas = machines.map((m, self) => new Replica(
    { self, n, f: 1, e: 1, batchCommandsMax: c.batch, pipelineInstancesMax: c.pipeline, submitQueueCommandsMax: 1_000_000, tickMs: 5, watermarkEveryTicks: 2 },
    m,
  ));
  let queue: Envelope[] = [];
  let head = 0;
  let next = 0; // request counter, also makes keys unique
  let done = 0;
  let counting = true;
  // A small deterministic generator: the bench's own choice of keys, not the core's.
  let rng = 0x9e3779b9;
  const random = (): number => {
    rng ^= rng << 13; rng ^= rng >>> 17; rng ^= rng << 5;
    return (rng >>> 0) / 4294967296;
  };
  // Each outstanding slot is one closed-loop client (one request in flight, ids growing). Keys
  // rotate through a fixed key space, far larger than the commands in flight, so at 0%
  // interference no two commands in flight share a key.
  const requestIds = new Map<string, number>();
  const command = (clientId: string): Command => {
    const i = next++;
    const requestId = (requestIds.get(clientId) ?? 0) + 1;
    requestIds.set(clientId, requestId);
    const hot = random() < c.interference;
    return { clientId, requestId, timestampMs: 0, op: 'put', key: hot ? 'hot' : `k${i % keySpace}`, value: value16 };
  };
  const pendingSubmits: { r: number; clientId: string }[] = [];
  // Persist records are dropped (no disk), so a turn is durable at once: early messages and the
  // rest go out together, and a replica's own votes come back to it through the queue.
  const honour = (ready: Ready, r: number): void => {
    for (const env of ready.early) queue.push(env);
    for (const env of ready.messages) queue.push(env);
    for (const reply of ready.replies) {
      if (counting) done++;
      pendingSubmits.push({ r, clientId: reply.clientId });
    }
  };
  const start = performance.now();
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < c.outstandingPerReplica; i++) replicas[r].step({ type: 'submit', command: command(`client-${r}-${i}`) });
    honour(replicas[r].takeReady(), r);
  }
  let lastTick = start;
  const deadline = start + durationMs;
  let now: number;
  for (let iter = 0; ; iter++) {
    if (head < queue.length) {
      const env = queue[head++];
      const rep = replicas[env.to];
      rep.step({ type: 'message', from: env.from, msg: env.msg });
      honour(rep.takeReady(), env.to);
      if (head > 65_536) { queue = queue.slice(head); head = 0; }
    }
    while (pendingSubmits.length > 0 && counting) {
      const { r, clientId } = pendingSubmits.pop()!;
      replicas[r].step({ type: 'submit', command: command(clientId) });
      honour(replicas[r].takeReady(), r);
    }
    if ((iter & 255) === 0 || head >= queue.length) {
      now = performance.now();
      if (now - lastTick >= 5) {
        lastTick = now;
        for (let r = 0; r < n; r++) {
          replicas[r].step({ type: 'tick', nowMs: now - start, entropy: (random() * 4294967296) >>> 0 });
          honour(replicas[r].takeReady(), r);
        }
      }
      if (counting && now >= deadline) counting = false;
      if (!counting && head >= queue.length) break;
    }
  }
  const elapsed = (deadline - start) / 1000;
  // Drain: everything proposed must end up executed at every replica, identically. Committed
  // cycles are applied at a tick's flush, so quiet means nothing queued, pending or unapplied.
  const quiet = (): boolean => replicas.every((r) => r.queuedCommands() === 0 && r.pendingIds().length === 0 && r.committedUnapplied().length === 0);
  for (let round = 0; round < 1000 && !(head >= queue.length && quiet()); round++) {
    while (head < queue.length) {
      const env = queue[head++];
      replicas[env.to].step({ type: 'message', from: env.from, msg: env.msg });
      honour(replicas[env.to].takeReady(), env.to);
    }
    for (let r = 0; r < n; r++) {
      replicas[r].step({ type: 'tick', nowMs: performance.now() - start, entropy: r });
      honour(replicas[r].takeReady(), r);
    }
  }
  if (!quiet()) throw new Error(`bench:core: the replicas did not drain (unapplied ${replicas.map((r) => r.committedUnapplied().length).join('/')}, pending ${replicas.map((r) => r.pendingIds().length).join('/')}) — this is a bug`);
  const digests = new Set(machines.map((m) => m.digest()));
  const applied = replicas.map((r) => r.stats.applied);
  if (digests.size !== 1 || new Set(applied).size !== 1) {
    throw new Error(`bench:core: replicas diverged (applied ${applied.join('/')}) — this is a bug`);
  }
  const st = replicas.map((r) => r.stats);
  const proposed = st.reduce((a, s) => a + s.proposed, 0);
  const fast = st.reduce((a, s) => a + s.fastCommits, 0);
  return {
    ...c,
    commands: done,
    seconds: elapsed,
    commandsPerSecond: Math.round(done / elapsed),
    fastPathShare: proposed === 0 ? 0 : fast / proposed,
    avgBatch: proposed === 0 ? 0 : next / proposed,
  };
}

const cases: Case[] = [];
for (const interference of [0, 0.5]) {
  cases.push({ interference, batch: 1, pipeline: 32, outstandingPerReplica: 32 });
  cases.push({ interference, batch: 100, pipeline: 8, outstandingPerReplica: 2000 });
}

const results: Result[] = [];
const selected = cases.filter((c) =>
  (args.interference === undefined || c.interference === Number(args.interference)) && (args.batch === undefined || c.batch === Number(args.batch)));
if (selected.length === 0) {
  process.stderr.write('bench:core: no case matches --interference/--batch (interference 0 or 0.5, batch 1 or 100)\n');
  process.exit(2);
}
for (const c of selected) {
  log.info({ interference: c.interference, batch: c.batch, seconds }, 'case started');
  runCase(c, 300); // warm-up: let the JIT see the hot paths
  const r = runCase(c, seconds * 1000);
  results.push(r);
  log.info({ interference: c.interference, batch: c.batch, commandsPerSecond: r.commandsPerSecond }, 'case done');
}

if (args.json) {
  process.stdout.write(JSON.stringify({ node: process.version, results }, null, 2) + '\n');
} else {
  const rows = results.map((r) => [
    `${r.interference * 100}%`, String(r.batch), r.commandsPerSecond.toLocaleString('en-US'),
    `${(r.fastPathShare * 100).toFixed(0)}%`, r.avgBatch.toFixed(1), String(r.outstandingPerReplica * 3), r.commands.toLocaleString('en-US'),
  ]);
  const head = ['interference', 'batch max', 'commands/s', 'fast path', 'avg batch', 'clients', 'commands'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((x, i) => x.padStart(widths[i])).join('  ');
  process.stdout.write(`EPaxos* core, 3 replicas in one process, no I/O, ${seconds}s per case, node ${process.version}\n`);
  process.stdout.write(`puts of 16-byte values; interference = share of commands writing one hot key, the rest spread over ${keySpace.toLocaleString('en-US')} keys\n`);
  process.stdout.write(line(head) + '\n' + rows.map(line).join('\n') + '\n');
}
