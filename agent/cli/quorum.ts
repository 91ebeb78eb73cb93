// `covey quorum`: what a voter configuration tolerates, from PROTOCOL.md §1, so an operator can
// choose n, f and e before writing a swarm config.

import { defaultFastTolerance, defaultQuorumConfig, type Quorums, quorums } from '../../consensus/index.ts';

export interface QuorumArgs {
  readonly voters: number;
  readonly f?: number;
  readonly e?: number;
}

export function describeQuorum(args: QuorumArgs): Quorums {
  const n = args.voters;
  const f = args.f ?? defaultQuorumConfig(n).f;
  const e = args.e ?? defaultFastTolerance(n, f);
  return quorums({ n, f, e });
}

export function formatQuorum(q: Quorums): string {
  return [
    `voters (n)                       ${q.n}`,
    `crashes tolerated (f)            ${q.f}   slow path, Accept and recovery quorum: ${q.slowQuorumSize}`,
    `fast-path crashes tolerated (e)  ${q.e}   fast quorum (with the coordinator): ${q.fastQuorumSize}`,
    `a command without conflicts commits in one round trip while at most ${q.e} voter(s) besides its coordinator are down;`,
    `the group keeps committing while at most ${q.f} voter(s) are down.`,
  ].join('\n');
}
