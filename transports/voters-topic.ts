// The voters announcement on gossipsub topic covey/<swarm>/voters (docs/reconfiguration.md): UTF-8
// JSON `{ swarm, epoch, voters }`, at most votersMessageBytesMax bytes, published by a voter with
// its current epoch and voters. The agent's VotersSync (agent/voters-sync.ts) publishes and follows
// it; its decoder lives here, beside the other decoders of bytes from the network, so the wire
// fuzzer's oracle (transports/testing/fuzz-frames.ts) checks against the very same code.

import { voterCounts, voterNamePattern } from '../consensus/index.ts';

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
  if (data.length > votersMessageBytesMax) return `over ${votersMessageBytesMax} bytes`;
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'not an object';
  const { swarm: s, epoch, voters, ...extra } = raw as Record<string, unknown>;
  if (Object.keys(extra).length > 0) return `unknown field ${Object.keys(extra)[0]}`;
  if (s !== swarm) return 'another swarm';
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 1) return 'epoch: expected a positive integer';
  if (!Array.isArray(voters) || !(voterCounts as readonly number[]).includes(voters.length)) return `voters: expected ${voterCounts.join(', ')} peer ids`;
  if (!voters.every((v) => typeof v === 'string' && voterNamePattern.test(v)) || new Set(voters).size !== voters.length) return 'voters: a peer id is malformed or listed twice';
  return { epoch, voters: voters as string[] };
}
