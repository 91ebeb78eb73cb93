// The voters announcement on gossipsub topic covey/<swarm>/voters (docs/reconfiguration.md): UTF-8
// JSON `{ swarm, epoch, voters }`, at most votersMessageBytesMax bytes, published by a voter with
// its current epoch and voters. The agent's VotersSync (agent/voters-sync.ts) publishes and follows
// it; its decoder lives here, beside the other decoders of bytes from the network, so the wire
// fuzzer's oracle (transports/testing/fuzz-frames.ts) checks against the very same code.

import { voterCounts, voterNamePattern } from '../consensus/index.ts';
import { parseSwarmJson } from './swarm-json.ts';

/** Largest announcement read (bytes): seven peer ids and the swarm's name fit many times over. */
export const votersMessageBytesMax = 4096;

export function votersTopic(swarm: string): string {
  return `covey/${swarm}/voters`;
}

export interface VotersAnnouncement {
  readonly epoch: number;
  readonly voters: readonly string[];
}

/** The announcement a message carries, or why it is refused. */
export function parseVotersMessage(data: Uint8Array, swarm: string): VotersAnnouncement | string {
  const o = parseSwarmJson(data, swarm, votersMessageBytesMax, ['epoch', 'voters']);
  if (typeof o === 'string') return o;
  const { epoch, voters } = o;
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 1) return 'epoch: expected a positive integer';
  if (!Array.isArray(voters) || !(voterCounts as readonly number[]).includes(voters.length)) return `voters: expected ${voterCounts.join(', ')} peer ids`;
  if (!voters.every((v) => typeof v === 'string' && voterNamePattern.test(v)) || new Set(voters).size !== voters.length) return 'voters: a peer id is malformed or listed twice';
  return { epoch, voters: voters as string[] };
}
