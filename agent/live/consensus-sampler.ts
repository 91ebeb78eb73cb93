// Consensus health as a periodic `consensus` event: commit rate, mean command latency and the
// fast-path share over the last sample, from the replica's running counters and the agent's
// command-latency histogram (both cumulative: the sampler keeps the previous reading and reports
// the difference).

import type { ConsensusEventData } from './events.ts';

/** How often the dashboard's consensus panel is refreshed. */
export const consensusEveryMs = 1000;

export interface ConsensusCounters {
  /** The replica's counters since start, or null on a worker. */
  replica(): { committed: number; fastCommits: number; slowCommits: number; recoveries: number } | null;
  /** Client commands answered since start and their summed latency (the covey_command_seconds histogram). */
  latency(): Promise<{ count: number; sumS: number }>;
  reachableVoters(): number;
  readonly voters: number;
}

interface Reading {
  readonly atMs: number;
  readonly committed: number;
  readonly fast: number;
  readonly slow: number;
  readonly count: number;
  readonly sumS: number;
}

export class ConsensusSampler {
  readonly #c: ConsensusCounters;
  #previous: Reading | null = null;

  constructor(counters: ConsensusCounters) {
    this.#c = counters;
  }

  /** The next sample: rates over the time since the previous call (null rates on the first call). */
  async sample(atMs: number): Promise<ConsensusEventData> {
    const r = this.#c.replica();
    const l = await this.#c.latency();
    const now: Reading = { atMs, committed: r?.committed ?? 0, fast: r?.fastCommits ?? 0, slow: r?.slowCommits ?? 0, count: l.count, sumS: l.sumS };
    const p = this.#previous;
    this.#previous = now;
    const seconds = p === null ? 0 : (atMs - p.atMs) / 1000;
    const commits = p === null ? 0 : (now.fast - p.fast) + (now.slow - p.slow);
    const answered = p === null ? 0 : now.count - p.count;
    return {
      kind: 'consensus',
      commitsPerS: r === null || seconds <= 0 ? null : (now.committed - p!.committed) / seconds,
      latencyMs: answered <= 0 ? null : ((now.sumS - p!.sumS) / answered) * 1000,
      fastPathShare: commits <= 0 ? null : (now.fast - p!.fast) / commits,
      recoveries: r === null ? null : r.recoveries,
      committed: r === null ? null : r.committed,
      reachableVoters: this.#c.reachableVoters(),
      voters: this.#c.voters,
      atMs,
    };
  }
}
