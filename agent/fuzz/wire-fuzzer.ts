// The wire fuzzer (`npm run fuzz:wire`, issue 13): fast-check frames against every decoder of a
// RUNNING swarm — consensus, submit (libp2p and the HTTP submit stream), snapshot transfer,
// membership (stream and gossipsub topic), join offers (/covey/join/1.0.0) and voter-set
// announcements (gossipsub topic covey/<swarm>/voters) — while it watches that every agent stays
// up, keeps committing, and gives back the memory the flood took.
//
// The swarm: 4 voters on 127.0.0.1, of which agents 0–2 run as child processes (a crash is a
// process exit; RSS is the process's own) and voter 3's identity is held by the fuzzer's libp2p
// node, which listens on voter 3's configured address. The agents therefore take the fuzzer as a
// voter, and its consensus and snapshot frames and voters announcements pass the "is it a voter"
// gate and reach the decoders (a join offer is decoded before its sender is judged); 3 of 4 voters
// still make every quorum (slow quorum 3), so the swarm keeps committing with the fuzzer answering
// nothing. Because a voter's *valid* messages are votes (a valid join offer or announcement moves
// an agent to another epoch), and Covey tolerates crashes, not lies, the fuzzer sends only frames
// the agent's own decoder refuses (transports/testing/fuzz-frames.ts, acceptedByDecoder); the few
// valid ones drawn are counted and held back.
//
// Phases: warm-up (a small share of the frames), settle, baseline RSS; the flood (peak RSS);
// settle, RSS after. The run fails — and reports the seed, the failing check and the last frames
// each agent was sent — when an agent exits, stops answering /health, or stops committing.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Libp2p } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { parse as parseYaml } from 'yaml';
import { AgentClient } from '../client.ts';
import { loadIdentity } from '../identity.ts';
import { createSwarm, startAgent, stopAgent, waitReady, type Swarm } from '../swarm.ts';
import { createCoveyNode } from '../../transports/node.ts';
import { epaxosProtocol } from '../../transports/rpc/consensus-rpc.ts';
import { consensusFrameBytesMaxDefault } from '../../transports/wire/codec.ts';
import type { FuzzContext, FuzzTarget } from '../../transports/testing/fuzz-frames.ts';
import { FrameFeed } from './feed.ts';
import { Flood } from './flood.ts';
import { commitProblem, countsDelta, decoderCounts, heapFigures, rssMiB, sleep, type DecoderCounts, type HeapFigures } from './watch.ts';
import { commitTimeoutMs, Watcher } from './watcher.ts';

export interface WireFuzzOptions {
  readonly frames: number;
  readonly seed: number;
  /** Decoders to fuzz; default every one (transports/testing/fuzz-frames.ts fuzzTargets). */
  readonly targets?: readonly FuzzTarget[];
  /** Frames of the warm-up before the baseline (default 2% of frames, at most 20 000). */
  readonly warmupFrames?: number;
  /** Wait after the warm-up (at most 10 s) and after the flood before reading RSS (default 150 s: an agent gives memory back once idle — agent/memory-reclaim.ts looks every 10 s, at most every 30 s — so this leaves it a few tries). */
  readonly settleMs?: number;
  /** RSS after the settle may exceed the baseline by max(this, 20 %) (default 30 MiB). */
  readonly rssToleranceMiB?: number;
  /** Keep the swarm's directory (logs, data) after the run. Default: kept only on failure. */
  readonly keepDir?: boolean;
  /** Called every progressEveryMs with the figures so far. */
  onProgress?(p: Progress): void;
  readonly progressEveryMs?: number;
}

export interface Progress {
  readonly phase: 'warm-up' | 'flood' | 'settle';
  readonly frames: number;
  readonly framesPerSec: number;
  readonly rssMiB: (number | null)[];
  /** V8 heap in use per agent (/metrics), null where it did not answer. */
  readonly heapUsedMiB: (number | null)[];
}

export interface AgentFigures {
  readonly index: number;
  readonly pid: number;
  readonly rssBaselineMiB: number;
  readonly rssPeakMiB: number;
  readonly rssAfterMiB: number;
  readonly backToBaseline: boolean;
  /** V8 heap in use and memory outside it (/metrics), at the baseline and after the settle. */
  readonly heapBaseline: HeapFigures | null;
  readonly heapAfter: HeapFigures | null;
  /** What the agent counted as refused, per decoder, over the whole run. */
  readonly refused: DecoderCounts;
}

export interface WireFuzzReport {
  readonly ok: boolean;
  /** Why the run failed (null when it passed). */
  readonly failure: string | null;
  readonly seed: number;
  /** Frames sent, per target and in all; heldBack: drawn but valid, so not sent. */
  readonly frames: number;
  readonly byTarget: Record<FuzzTarget, { sent: number; heldBack: number }>;
  /** Answers read back on the HTTP submit stream (every frame before a breaker gets one). */
  readonly httpStreamReplies: number;
  /** Answers read back on /covey/submit/1.0.0. */
  readonly submitReplies: number;
  /** Topic messages gossipsub took for publishing (membership topic). */
  readonly gossipPublished: number;
  /** Acks read back on /covey/join/1.0.0 (the receiver acks every offer it read, refusals too). */
  readonly joinAcks: number;
  /** Messages gossipsub took for publishing on the voters topic. */
  readonly votersPublished: number;
  readonly floodMs: number;
  readonly wallMs: number;
  readonly framesPerSec: number;
  readonly commitChecks: number;
  readonly crashes: number;
  readonly agents: AgentFigures[];
  readonly rssToleranceMiB: number;
  readonly dir: string | null;
  /** Where the last frames sent to a failed agent were written (JSON), or null. */
  readonly counterexample: string | null;
}

const runningAgents = 3;
const voters = 4;
const fuzzerVoter = 3;

export async function runWireFuzz(o: WireFuzzOptions): Promise<WireFuzzReport> {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'covey-fuzz-wire-'));
  const settleMs = o.settleMs ?? 150_000;
  const tolerance = o.rssToleranceMiB ?? 30;
  const swarm = await createSwarm(dir, { agents: voters, voters, name: 'fuzz', logLevel: 'warn' });
  let node: Libp2p | null = null;
  let failure: string | null = null;
  let counterexample: string | null = null;
  const stop = new AbortController();
  const fail = (why: string): void => {
    if (failure !== null) return;
    failure = why;
    stop.abort();
  };
  try {
    for (let i = 0; i < runningAgents; i++) startAgent(swarm, i);
    node = await fuzzerNode(swarm);
    await waitReady(swarm, 90_000, [0, 1, 2]);
    const ctx: FuzzContext = { n: voters, from: fuzzerVoter, swarm: swarm.name, peers: swarm.agents.map((a) => a.peerId) };
    const feed = new FrameFeed(o.frames, ctx, o.seed, consensusFrameBytesMaxDefault, o.targets);
    const pids = swarm.agents.slice(0, runningAgents).map((a) => a.pid!);
    const before = await Promise.all(swarm.agents.slice(0, runningAgents).map((a) => decoderCounts(a.http)));
    const watcher = new Watcher(swarm, pids, fail);
    const watching = watcher.run(stop.signal);
    const flood = new Flood(node, swarm, runningAgents, feed, stop.signal);
    const progress = (phase: Progress['phase']) => setInterval(() => {
      if (o.onProgress === undefined) return;
      const frames = flood.sent;
      const framesPerSec = flood.rate();
      const rss = pids.map(rssMiB);
      void Promise.all(swarm.agents.slice(0, runningAgents).map((a) => heapFigures(a.http).then((h) => h.heapUsedMiB, () => null)))
        .then((heapUsedMiB) => o.onProgress?.({ phase, frames, framesPerSec, rssMiB: rss, heapUsedMiB }));
    }, o.progressEveryMs ?? 5000);

    // Warm-up, then the baseline.
    const warmup = o.warmupFrames ?? Math.min(20_000, Math.round(o.frames * 0.02));
    let timer = progress('warm-up');
    await flood.run(warmup);
    clearInterval(timer);
    await sleep(Math.min(settleMs, 10_000), stop.signal);
    const baseline = pids.map((p) => rssMiB(p) ?? 0);
    const heapBaseline = await Promise.all(swarm.agents.slice(0, runningAgents).map((a) => heapFigures(a.http).catch(() => null)));
    watcher.peak = baseline.slice();

    // The flood.
    timer = progress('flood');
    const floodStart = performance.now();
    await flood.run(Number.MAX_SAFE_INTEGER);
    const floodMs = performance.now() - floodStart;
    const floodFrames = flood.sent;
    clearInterval(timer);

    // Settle, then what memory came back, and one more commit through every agent.
    timer = progress('settle');
    await sleep(settleMs, stop.signal);
    clearInterval(timer);
    const after = pids.map((p) => rssMiB(p) ?? 0);
    const heapAfter = await Promise.all(swarm.agents.slice(0, runningAgents).map((a) => heapFigures(a.http).catch(() => null)));
    if (failure === null) {
      for (let i = 0; i < runningAgents && failure === null; i++) {
        const why = await commitProblem(client(swarm, i), client(swarm, (i + 1) % runningAgents), `fuzz-check/final-${i}`, `v${o.seed}`, commitTimeoutMs);
        if (why !== null) fail(`after the flood, agent ${i} does not commit: ${why}`);
      }
    }
    stop.abort();
    await watching;
    const afterCounts = await Promise.all(swarm.agents.slice(0, runningAgents).map((a) => decoderCounts(a.http).catch(() => null)));
    const agents: AgentFigures[] = pids.map((pid, i) => {
      const back = after[i] <= baseline[i] + Math.max(tolerance, baseline[i] * 0.2);
      return {
        index: i, pid,
        rssBaselineMiB: round1(baseline[i]), rssPeakMiB: round1(watcher.peak[i]), rssAfterMiB: round1(after[i]),
        backToBaseline: back, heapBaseline: heapBaseline[i], heapAfter: heapAfter[i],
        refused: afterCounts[i] === null ? before[i] : countsDelta(afterCounts[i]!, before[i]),
      };
    });
    if (failure === null) {
      const high = agents.filter((a) => !a.backToBaseline);
      if (high.length > 0) fail(`memory did not come back: ${high.map((a) => `agent ${a.index} ${a.rssBaselineMiB} → ${a.rssAfterMiB} MiB`).join(', ')} (tolerance max(${tolerance} MiB, 20 %))`);
    }
    if (failure !== null) counterexample = writeCounterexample(dir, feed, o.seed, failure);
    const counts = feed.counts();
    const byTarget = Object.fromEntries(Object.entries(counts).map(([t, c]) => [t, { sent: c.taken, heldBack: c.heldBack }])) as WireFuzzReport['byTarget'];
    return {
      ok: failure === null, failure, seed: o.seed,
      frames: flood.sent, byTarget,
      httpStreamReplies: flood.httpReplies, submitReplies: flood.submitReplies, gossipPublished: flood.gossipPublished,
      joinAcks: flood.joinAcks, votersPublished: flood.votersPublished,
      floodMs: Math.round(floodMs), wallMs: Math.round(performance.now() - started),
      framesPerSec: Math.round((floodFrames - warmup) / (floodMs / 1000)),
      commitChecks: watcher.commits, crashes: watcher.crashes,
      agents, rssToleranceMiB: tolerance,
      dir: failure !== null || o.keepDir === true ? dir : null, counterexample,
    };
  } catch (err) {
    fail((err as Error).message);
    throw err;
  } finally {
    stop.abort();
    if (node !== null) await Promise.resolve(node.stop()).catch(() => {});
    for (let i = 0; i < runningAgents; i++) await stopAgent(swarm, i).catch(() => {});
    if (failure === null && o.keepDir !== true) rmSync(dir, { recursive: true, force: true });
  }
}

/** The fuzzer's node: voter 3's key, on voter 3's configured TCP address, consensus streams drained. */
async function fuzzerNode(swarm: Swarm): Promise<Libp2p> {
  const a = swarm.agents[fuzzerVoter];
  const config = parseYaml(readFileSync(a.config, 'utf8')) as { listen: string[] };
  const node = await createCoveyNode({ privateKey: loadIdentity(join(a.dir, 'identity.key')).privateKey, listen: config.listen.filter((l) => !l.endsWith('/ws')) });
  // The agents send voter 3 their consensus messages; a voter that never reads would stall them.
  await node.handle(epaxosProtocol, ({ stream }) => {
    void (async () => { try { for await (const _ of stream.source) { /* drained */ } } catch { /* closed */ } })();
  }, { maxInboundStreams: 8 });
  for (let i = 0; i < runningAgents; i++) {
    const agentConfig = parseYaml(readFileSync(swarm.agents[i].config, 'utf8')) as { listen: string[] };
    await node.dial(multiaddr(`${agentConfig.listen[0]}/p2p/${swarm.agents[i].peerId}`)).catch(() => {});
  }
  return node;
}

function client(swarm: Swarm, i: number): AgentClient {
  return new AgentClient(swarm.agents[i].http);
}

function writeCounterexample(dir: string, feed: FrameFeed, seed: number, failure: string): string {
  const file = join(dir, 'counterexample.json');
  const recent = Object.fromEntries([-1, 0, 1, 2].map((a) => [a === -1 ? 'topics' : `agent-${a}`, feed.recent(a)]));
  writeFileSync(file, JSON.stringify({
    seed, failure,
    howToReplay: 'npm run fuzz:wire -- --seed <seed> --frames <same>; a frame is chunk `chunk`, index `index` of its target (agent/fuzz/feed.ts chunkSeed)',
    recent,
  }, null, 1) + '\n');
  return file;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
