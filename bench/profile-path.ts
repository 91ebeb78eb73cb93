// bench:profile-path — where one command's CPU time goes on the real path. Starts a 3-voter
// local swarm with every agent under V8's CPU profiler, runs closed-loop clients (100-byte puts to
// distinct keys, the put workload of bench:vs-etcd) from this process, also profiled, and then
// splits each process's samples into the parts of the path: HTTP, JSON, zod, the driver, the
// consensus core, the state machine, the wire codec, noise, yamux and the rest of libp2p, lmdb,
// logging, garbage collection, idle. Per part it prints microseconds of CPU per command. The agents
// run from sources (COVEY_BUNDLE=0), since the parts are told apart by file.
//
// Usage: npm run bench:profile-path [-- --clients 64 --seconds 8 --client stream|http --keep DIR --json]

import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { createSwarm, startAgent, swarmDown, waitReady } from '../agent/swarm.ts';
import { coveyClient, coveyStreamClient } from './kv-clients.ts';

const { values: a } = parseArgs({
  options: {
    clients: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '8' },
    client: { type: 'string', default: 'stream' },
    keep: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const clients = Number(a.clients);
const seconds = Number(a.seconds);
if (!Number.isInteger(clients) || clients < 1 || !(seconds > 0) || (a.client !== 'stream' && a.client !== 'http')) {
  process.stderr.write('usage: npm run bench:profile-path -- [--clients N≥1] [--seconds S>0] [--client stream|http] [--keep DIR] [--json]\n');
  process.exit(2);
}

interface ProfileNode { id: number; callFrame: { functionName: string; url: string }; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

/** Parts of the path, matched in order against a sample's stack (innermost frame first wins for the first matching rule). */
const parts: readonly (readonly [string, RegExp])[] = [
  ['(idle)', /^\(idle\)$/],
  ['(gc)', /^\(garbage collector\)$/],
  ['lmdb', /node_modules\/lmdb\/|consensus\/storage\//],
  ['noise', /libp2p-noise|@noble\/|@chainsafe\/as-chacha20poly1305|as-sha256/],
  ['yamux', /libp2p-yamux/],
  ['libp2p (other)', /node_modules\/(@libp2p|libp2p|it-|@multiformats|multiformats|uint8arraylist|uint8arrays|p-queue|p-defer|stream-to-it|@chainsafe\/libp2p-gossipsub|race-signal|abort-error|progress-events|main-event)/],
  ['wire codec', /transports\/wire\/|protons-runtime/],
  ['consensus rpc', /transports\/rpc\//],
  ['membership', /transports\/membership\//],
  ['driver', /agent\/driver\.ts/],
  ['state machine', /consensus\/statemachine\//],
  ['consensus core', /consensus\/core\//],
  ['zod', /node_modules\/zod\//],
  ['logging', /node_modules\/(pino|sonic-boom|thread-stream)/],
  ['metrics', /node_modules\/prom-client|agent\/metrics\.ts/],
  ['http (agent api)', /agent\/http\.ts|agent\/agent\.ts/],
  ['submit stream', /agent\/stream\//],
  ['bench client', /bench\/kv-clients\.ts|bench\/profile-path\.ts/],
];

/**
 * The part a sample belongs to: the innermost frame of the stack that belongs to a named part.
 * Node's own internals (node:…) and builtins are charged to the code that called them, so socket
 * writes made by yamux count as yamux; work with no caller outside Node (an HTTP request being
 * parsed, a socket being read) is `node (event loop)`.
 */
function classify(stack: readonly { functionName: string; url: string }[]): string {
  const top = stack[0];
  if (top.url === '' && top.functionName === '(idle)') return '(idle)';
  if (top.url === '' && top.functionName === '(garbage collector)') return '(gc)';
  if (top.url === '' && top.functionName === '(program)') return '(program)';
  // A socket write on loopback carries the kernel's whole send and receive path: its own part.
  if (top.url === '' && /^(writeBuffer|writev|writeUtf8String|writeLatin1String)$/.test(top.functionName)) return 'socket write (kernel)';
  let json = false;
  for (const f of stack) {
    if (f.url === '' || f.url.startsWith('node:')) {
      if (/^(stringify|parse)$/.test(f.functionName)) json = true;
      continue;
    }
    for (const [name, re] of parts) if (re.test(f.url)) return json ? `JSON (${name})` : name;
    return json ? 'JSON (other)' : '(other)';
  }
  return json ? 'JSON (node)' : 'node (event loop)';
}

/**
 * Microseconds of CPU per part (`(idle)` included), from a .cpuprofile file, counting only the
 * samples taken within [fromUs, toUs] on the monotonic clock (process.hrtime, as V8 stamps them).
 */
export function breakdown(p: CpuProfile, fromUs = -Infinity, toUs = Infinity): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string>();
  const partOf = (id: number): string => {
    let v = memo.get(id);
    if (v !== undefined) return v;
    const stack: { functionName: string; url: string }[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) stack.push(byId.get(cur)!.callFrame);
    v = classify(stack);
    memo.set(id, v);
    return v;
  };
  const out = new Map<string, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i];
    if (t < fromUs || t > toUs) continue;
    const part = partOf(p.samples[i]);
    out.set(part, (out.get(part) ?? 0) + p.timeDeltas[i]);
  }
  return out;
}

if (import.meta.main) {
  const dir = a.keep ?? mkdtempSync(join(tmpdir(), 'covey-profile-'));
  const profDir = join(dir, 'profiles');
  mkdirSync(profDir, { recursive: true });
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${profDir}`.trim();
  // The parts are told apart by source file; in the bundle (dist/agent.mjs) every frame is one file
  // and the breakdown would be one '(other)' row.
  const bundleBefore = process.env.COVEY_BUNDLE;
  process.env.COVEY_BUNDLE = '0';
  const swarm = await createSwarm(join(dir, 'swarm'), { agents: 3, voters: 3, name: 'profile', logLevel: 'warn' });
  for (const ag of swarm.agents) startAgent(swarm, ag.index);
  delete process.env.NODE_OPTIONS;
  if (bundleBefore === undefined) delete process.env.COVEY_BUNDLE; else process.env.COVEY_BUNDLE = bundleBefore;
  let commands = 0;
  try {
    await waitReady(swarm, 60_000);
    const kv = await Promise.all(swarm.agents.map((ag) => a.client === 'stream' ? coveyStreamClient(ag.http) : coveyClient(ag.http, Math.ceil(clients / 3) + 4)));
    // Warm up unprofiled, then profile this process while the clients run.
    const run = async (ms: number, count: boolean): Promise<void> => {
      const until = performance.now() + ms;
      await Promise.all(Array.from({ length: clients }, async (_, p) => {
        for (let i = 0; performance.now() < until; i++) {
          await kv[p % 3].put(`p/${count ? 'm' : 'w'}/${p}/${i}`, 'v'.repeat(100));
          if (count) commands++;
        }
      }));
    };
    await run(1000, false);
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    await run(seconds * 1000, true);
    const toUs = Number(process.hrtime.bigint() / 1000n);
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    await Promise.all(kv.map((c) => c.close()));
    await swarmDown(swarm.dir);
    const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    const rows: Record<string, Record<string, number>> = {};
    const add = (name: string, p: CpuProfile): void => {
      const b = breakdown(p, fromUs, toUs);
      rows[name] = Object.fromEntries([...b].map(([k, us]) => [k, Math.round((us / commands) * 10) / 10]));
    };
    add('client', profile as unknown as CpuProfile);
    files.sort().forEach((f, i) => add(`agent ${i} (${f})`, JSON.parse(readFileSync(join(profDir, f), 'utf8')) as CpuProfile));
    const report = { client: a.client, clients, seconds, commands, commandsPerSecond: Math.round(commands / seconds), microsecondsPerCommand: rows };
    if (a.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else {
      process.stdout.write(`${commands} commands in ${seconds} s (${report.commandsPerSecond}/s), ${clients} ${a.client} clients; CPU µs per command by part:\n`);
      const names = Object.keys(rows);
      const keys = [...new Set(names.flatMap((n) => Object.keys(rows[n])))].sort((x, y) => (rows[names[1]]?.[y] ?? 0) - (rows[names[1]]?.[x] ?? 0));
      process.stdout.write(['part'.padEnd(18), ...names.map((n) => n.split(' (')[0].padStart(9))].join(' ') + '\n');
      for (const k of keys) process.stdout.write([k.padEnd(18), ...names.map((n) => String(rows[n][k] ?? 0).padStart(9))].join(' ') + '\n');
    }
  } finally {
    await swarmDown(swarm.dir).catch(() => {});
    if (a.keep === undefined) rmSync(dir, { recursive: true, force: true });
  }
}
