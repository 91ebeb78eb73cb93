// The wire fuzzer (`npm run fuzz:wire`, issue 13): fast-check frames against every decoder of a
// RUNNING swarm — consensus, submit (libp2p and the HTTP submit stream), snapshot transfer, and
// membership (stream and gossipsub topic) — while it watches that every agent stays up, keeps
// committing, and gives back the memory the flood took.
//
// The swarm: 4 voters on 127.0.0.1, of which agents 0–2 run as child processes (a crash is a
// process exit; RSS is the process's own) and voter 3's identity is held by the fuzzer's libp2p
// node, which listens on voter 3's configured address. The agents therefore take the fuzzer as a
// voter, and its consensus and snapshot frames pass the "is it a voter" gate and reach the
// decoders; 3 of 4 voters still make every quorum (slow quorum 3), so the swarm keeps committing
// with the fuzzer answering nothing. Because a voter's *valid* messages are votes, and consensus
// tolerates crashes, not lies, the fuzzer sends only frames the agent's own decoder refuses
// (transports/testing/fuzz-frames.ts, acceptedByDecoder); the few valid ones drawn are counted
// and held back.
//
// Phases: warm-up (a small share of the frames), settle, baseline RSS; the flood (peak RSS);
// settle, RSS after. The run fails — and reports the seed, the failing check and the last frames
// each agent was sent — when an agent exits, stops answering /health, or stops committing.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Libp2p, PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { parse as parseYaml } from 'yaml';
import { AgentClient } from '../client.ts';
import { loadIdentity } from '../identity.ts';
import { createSwarm, isAlive, startAgent, stopAgent, waitReady, type Swarm } from '../swarm.ts';
import { createCoveyNode } from '../../transports/node.ts';
import { membershipProtocol, membershipTopic } from '../../transports/membership/driver.ts';
import { epaxosProtocol, submitProtocol } from '../../transports/rpc/consensus-rpc.ts';
import { snapshotProtocol } from '../../transports/rpc/snapshot-transfer.ts';
import { frameBytesMaxDefault } from '../../transports/wire/codec.ts';
import type { FuzzContext, FuzzTarget } from '../../transports/testing/fuzz-frames.ts';
import { FrameFeed, type DrawnFrame } from './feed.ts';
import { publishAll, sendHttpStream, sendOnStream, sendRequest } from './senders.ts';
import { commitProblem, countsDelta, decoderCounts, healthProblem, heapFigures, rssMiB, type DecoderCounts, type HeapFigures } from './watch.ts';

export interface WireFuzzOptions {
  readonly frames: number;
  readonly seed: number;
  /** Decoders to fuzz; default every one (transports/testing/fuzz-frames.ts fuzzTargets). */
  readonly targets?: readonly FuzzTarget[];
  /** Frames of the warm-up before the baseline (default 2% of frames, at most 20 000). */
  readonly warmupFrames?: number;
  /** Wait after the warm-up (at most 10 s) and after the flood before reading RSS (default 150 s: V8 gives back the pages it grew to only after a minute or two idle). */
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
  /** Topic messages gossipsub took for publishing. */
  readonly gossipPublished: number;
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
const healthEveryMs = 2000;
/** /health is one line of JSON; 10 s unanswered is an agent starved or stuck (on a shared 2-core machine, starved happens). */
const healthTimeoutMs = 10_000;
const commitEveryMs = 4000;
/** A commit check may take this long under the flood before the agent counts as stuck. */
const commitTimeoutMs = 20_000;
/** Consecutive failed checks of one kind before an agent counts as stuck (the flood is CPU-heavy on 2 cores). */
const strikesMax = 3;

/** Sender loops per agent and frames per stream or connection, per target. */
const lanes: Readonly<Record<FuzzTarget, { perAgent: number; batch: number }>> = {
  consensus: { perAgent: 2, batch: 200 },
  membership: { perAgent: 2, batch: 200 },
  httpStream: { perAgent: 1, batch: 500 },
  submit: { perAgent: 16, batch: 1 }, // a stream per request costs ~20 ms of round trips: many in flight (the agent allows 64)
  snapshot: { perAgent: 2, batch: 1 }, // the agent allows 2 inbound snapshot streams per connection
  gossip: { perAgent: 0, batch: 20 }, // one loop in all: a message reaches every agent
};

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
    const feed = new FrameFeed(o.frames, ctx, o.seed, frameBytesMaxDefault, o.targets);
    const pids = swarm.agents.slice(0, runningAgents).map((a) => a.pid!);
    const before = await Promise.all(swarm.agents.slice(0, runningAgents).map((a) => decoderCounts(a.http)));
    const watcher = new Watcher(swarm, pids, fail);
    const watching = watcher.run(stop.signal);
    const flood = new Flood(node, swarm, feed, stop.signal);
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

/** The sender loops: each takes frames of its target from the feed and sends them to its agent. */
class Flood {
  sent = 0;
  httpReplies = 0;
  submitReplies = 0;
  gossipPublished = 0;
  #limit = 0;
  #rateFrom = { t: performance.now(), sent: 0 };
  readonly #node: Libp2p;
  readonly #swarm: Swarm;
  readonly #feed: FrameFeed;
  readonly #signal: AbortSignal;
  readonly #peers: PeerId[];

  constructor(node: Libp2p, swarm: Swarm, feed: FrameFeed, signal: AbortSignal) {
    this.#node = node;
    this.#swarm = swarm;
    this.#feed = feed;
    this.#signal = signal;
    this.#peers = swarm.agents.slice(0, runningAgents).map((a) => peerIdFromString(a.peerId));
  }

  /** Frames per second since the last call. */
  rate(): number {
    const now = performance.now();
    const r = (this.sent - this.#rateFrom.sent) / ((now - this.#rateFrom.t) / 1000);
    this.#rateFrom = { t: now, sent: this.sent };
    return Math.round(r);
  }

  /** Sends until `limit` frames have been sent in all (or every quota is spent, or the run stops). */
  async run(limit: number): Promise<void> {
    this.#limit = limit;
    const loops: Promise<void>[] = [];
    for (const [target, lane] of Object.entries(lanes) as [FuzzTarget, { perAgent: number; batch: number }][]) {
      if (target === 'gossip') { loops.push(this.#loop(target, lane.batch, 0)); continue; }
      for (let agent = 0; agent < runningAgents; agent++) {
        for (let k = 0; k < lane.perAgent; k++) loops.push(this.#loop(target, lane.batch, agent));
      }
    }
    await Promise.all(loops);
  }

  async #loop(target: FuzzTarget, batch: number, agent: number): Promise<void> {
    while (!this.#signal.aborted && this.sent < this.#limit) {
      // A send that settles without I/O (gossipsub refusing at once) would otherwise starve timers.
      await new Promise((r) => setImmediate(r));
      const frames = this.#take(target, Math.min(batch, this.#limit - this.sent));
      if (frames.length === 0) return;
      this.sent += frames.length;
      this.#feed.sent(target === 'gossip' ? -1 : agent, frames);
      try {
        await this.#send(target, agent, frames);
      } catch {
        // A refused dial or a reset stream: the agent may be busy or gone; the watcher decides which.
        await sleep(50, this.#signal);
      }
    }
  }

  /** Frames for one stream: a framing breaker ends it. */
  #take(target: FuzzTarget, max: number): DrawnFrame[] {
    const out: DrawnFrame[] = [];
    while (out.length < max) {
      const [f] = this.#feed.take(target, 1);
      if (f === undefined) break;
      out.push(f);
      if (f.kind === 'raw') break;
    }
    return out;
  }

  async #send(target: FuzzTarget, agent: number, frames: DrawnFrame[]): Promise<void> {
    const peer = this.#peers[agent];
    switch (target) {
      case 'consensus': return sendOnStream(this.#node, peer, epaxosProtocol, frames);
      case 'membership': return sendOnStream(this.#node, peer, membershipProtocol, frames);
      case 'submit': if (await sendRequest(this.#node, peer, submitProtocol, frames[0], true)) this.submitReplies++; return;
      case 'snapshot': await sendRequest(this.#node, peer, snapshotProtocol, frames[0], false); return;
      // Awaited first, then added: `x += await …` would read x before the wait and lose the other loops' counts.
      case 'gossip': {
        const published = await publishAll(this.#node, membershipTopic(this.#swarm.name), frames);
        this.gossipPublished += published;
        return;
      }
      case 'httpStream': {
        const u = new URL(this.#swarm.agents[agent].http);
        const replies = await sendHttpStream(u.hostname, Number(u.port), frames);
        this.httpReplies += replies;
      }
    }
  }
}

/** Liveness, health and commit checks, and the RSS peak, until the run stops. */
class Watcher {
  commits = 0;
  crashes = 0;
  peak: number[];
  readonly #swarm: Swarm;
  readonly #pids: number[];
  readonly #fail: (why: string) => void;

  constructor(swarm: Swarm, pids: number[], fail: (why: string) => void) {
    this.#swarm = swarm;
    this.#pids = pids;
    this.#fail = fail;
    this.peak = pids.map((p) => rssMiB(p) ?? 0);
  }

  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.#liveness(signal), this.#health(signal), this.#commits(signal)]);
  }

  async #liveness(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.#pids.forEach((pid, i) => {
        const rss = rssMiB(pid);
        if (rss !== null) this.peak[i] = Math.max(this.peak[i], rss);
        if (!isAlive(pid)) {
          this.crashes++;
          this.#fail(`agent ${i} (pid ${pid}) exited; its log: ${this.#swarm.agents[i].log}\n${tail(this.#swarm.agents[i].log, 20)}`);
        }
      });
      await sleep(250, signal);
    }
  }

  async #health(signal: AbortSignal): Promise<void> {
    const strikes = this.#pids.map(() => 0);
    while (!signal.aborted) {
      await Promise.all(this.#pids.map(async (_, i) => {
        const why = await healthProblem(this.#swarm.agents[i].http, healthTimeoutMs);
        strikes[i] = why === null ? 0 : strikes[i] + 1;
        if (strikes[i] >= strikesMax && !signal.aborted) this.#fail(`agent ${i} is stuck: ${why} (${strikesMax} checks in a row)`);
      }));
      await sleep(healthEveryMs, signal);
    }
  }

  async #commits(signal: AbortSignal): Promise<void> {
    const strikes = this.#pids.map(() => 0);
    for (let n = 0; !signal.aborted; n++) {
      const i = n % this.#pids.length;
      const why = await commitProblem(client(this.#swarm, i), client(this.#swarm, (i + 1) % this.#pids.length), `fuzz-check/${i}`, `v${n}`, commitTimeoutMs);
      if (signal.aborted) return;
      strikes[i] = why === null ? 0 : strikes[i] + 1;
      if (why === null) this.commits++;
      else if (strikes[i] >= strikesMax) this.#fail(`agent ${i} does not commit: ${why} (${strikesMax} checks in a row)`);
      await sleep(commitEveryMs, signal);
    }
  }
}

function writeCounterexample(dir: string, feed: FrameFeed, seed: number, failure: string): string {
  const file = join(dir, 'counterexample.json');
  const recent = Object.fromEntries([-1, 0, 1, 2].map((a) => [a === -1 ? 'gossip' : `agent-${a}`, feed.recent(a)]));
  writeFileSync(file, JSON.stringify({
    seed, failure,
    howToReplay: 'npm run fuzz:wire -- --seed <seed> --frames <same>; a frame is chunk `chunk`, index `index` of its target (agent/fuzz/feed.ts chunkSeed)',
    recent,
  }, null, 1) + '\n');
  return file;
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) { resolve(); return; }
    const t = setTimeout(() => { signal?.removeEventListener('abort', done); resolve(); }, ms);
    const done = () => { clearTimeout(t); resolve(); };
    signal?.addEventListener('abort', done, { once: true });
  });
}
