// The voter set as replicated state (docs/reconfiguration.md): which epoch the swarm is in and who
// votes in it, changed only by committed `voters.change` commands.
//
// Epoch 0's voters are the config's (`voters:` of every agent), so the machine starts with no
// record (null) and learns a set only from the first change. A change names the epoch it was made
// in; one made for an epoch that is already over is refused ("superseded"), deterministically, so
// two changes raced against each other never both take effect.

import { changeVoters, voterCounts, votersListError, type CommandResult, type VotersCommand } from './commands.ts';

export { voterNamePattern, votersListError } from './commands.ts';

export interface VotersState {
  /** The epoch these voters vote in (≥ 1: epoch 0 is the config's and has no record). */
  readonly epoch: number;
  /** Peer ids in replica-index order: voter i of the epoch is replica i of its consensus group. */
  readonly ids: readonly string[];
}

/** The current epoch: 0 until the first change. */
export function epochOf(voters: VotersState | null): number {
  return voters?.epoch ?? 0;
}

export function applyVotersChange(current: VotersState | null, c: VotersCommand): { result: CommandResult; next: VotersState | null } {
  const invalid = votersListError(c.voters);
  if (invalid !== null) return { result: { ok: false, error: `voters.change refused: ${invalid}` }, next: current };
  const epoch = epochOf(current);
  if (c.epoch !== epoch) {
    return { result: { ok: false, error: `superseded: the voter set is at epoch ${epoch}, this change was made for epoch ${c.epoch}` }, next: current };
  }
  return { result: { ok: true, value: String(epoch + 1) }, next: { epoch: epoch + 1, ids: changeVoters(c) } };
}

/** For messages that name the allowed sizes. */
export const voterCountsText = { counts: voterCounts, text: voterCounts.join(', ') } as const;
