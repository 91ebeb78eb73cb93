// The wire fuzzer's watch over the agents (wire-fuzzer.ts runs it): each process alive, /health
// answering, commits going through, and the RSS peak, until the run stops. An agent is stuck
// after strikesMax failed checks of one kind in a row.

import { readFileSync } from 'node:fs';
import { AgentClient } from '../client.ts';
import { isAlive, type Swarm } from '../swarm.ts';
import { commitProblem, healthProblem, rssMiB, sleep } from './watch.ts';

const healthEveryMs = 2000;
/** /health is one line of JSON; 10 s unanswered is an agent starved or stuck (on a shared 2-core machine, starved happens). */
const healthTimeoutMs = 10_000;
const commitEveryMs = 4000;
/** A commit check may take this long under the flood before the agent counts as stuck. */
export const commitTimeoutMs = 20_000;
/** Consecutive failed checks of one kind before an agent counts as stuck (the flood is CPU-heavy on 2 cores). */
const strikesMax = 3;

/** Liveness, health and commit checks, and the RSS peak, until the run stops. */
export class Watcher {
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

function client(swarm: Swarm, i: number): AgentClient {
  return new AgentClient(swarm.agents[i].http);
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
