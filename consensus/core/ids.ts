// Instance identifiers and ballots (PROTOCOL.md §2).
//
// An InstanceId packs (seq, coordinator) into one safe integer so that ids are cheap Map keys and
// compare with `<`: the numeric order is the lexicographic order of (seq, coordinator), the total
// order that execution uses to break ties inside a strongly connected component (§7).

/** Largest number of voters a group may have: replica indexes live in the low 4 bits of an id. */
export const replicasMax = 16;
const replicaBits = 16; // multiplier, not a shift: ids exceed 2^32
/** Largest sequence number a coordinator can allocate before ids stop being safe integers. */
export const seqMax = Math.floor(Number.MAX_SAFE_INTEGER / replicaBits);

export type InstanceId = number;
export type ReplicaId = number; // 0 .. n-1
export type Ballot = number;

export function instanceId(seq: number, coordinator: ReplicaId): InstanceId {
  if (!(Number.isSafeInteger(seq) && seq >= 1 && seq <= seqMax)) throw new RangeError(`instance seq out of range: ${seq}`);
  if (!(Number.isInteger(coordinator) && coordinator >= 0 && coordinator < replicasMax)) throw new RangeError(`replica id out of range: ${coordinator}`);
  return seq * replicaBits + coordinator;
}

/** initCoord(id): the process that submitted the command, which alone acts at ballot 0. */
export function initCoord(id: InstanceId): ReplicaId {
  return id % replicaBits;
}

export function instanceSeq(id: InstanceId): number {
  return Math.floor(id / replicaBits);
}

export function isInstanceId(x: unknown, n: number): x is InstanceId {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= replicaBits && x % replicaBits < n;
}

export function formatId(id: InstanceId): string {
  return `${instanceSeq(id)}.${initCoord(id)}`;
}

/**
 * Ballots above 0 are split among the n processes as b = k·n + i (the TLA+ model's scheme);
 * ballot 0 belongs to initCoord(id) implicitly.
 */
export function ballotOwner(b: Ballot, n: number, id: InstanceId): ReplicaId {
  return b === 0 ? initCoord(id) : b % n;
}

/** The smallest ballot owned by `self` that is strictly above `above`. */
export function nextBallot(above: Ballot, self: ReplicaId, n: number): Ballot {
  let b = Math.floor(above / n) * n + self;
  if (b <= above) b += n;
  if (b === 0) b = n; // ballot 0 is never a recovery ballot
  return b;
}
