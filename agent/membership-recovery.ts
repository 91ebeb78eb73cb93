// What an agent does when membership declares a voter dead: it recovers that voter's instances
// it knows and that have not committed, now, instead of after each one's recovery timeout
// (PROTOCOL.md §12 recovery policy). One piece of wiring for the real agent (agent.ts, through
// the replica driver) and for the simulator (sim/engine/swim.ts), so the simulator tests the
// path a field agent takes from a SWIM verdict to the recovery of a dead voter's instances.

import { type Event, initCoord, type InstanceId } from '../consensus/index.ts';
import type { MemberEvent } from '../transports/membership/index.ts';

/** The voter a membership event declares dead (its index among `voterIds`), or null. */
export function deadVoter(e: MemberEvent, voterIds: readonly string[]): number | null {
  if (e.type !== 'dead') return null;
  const r = voterIds.indexOf(e.member.id);
  return r >= 0 ? r : null;
}

/** The replica events that recover voter `r`'s instances among a replica's pending ones. */
export function recoveryEvents(pending: Iterable<InstanceId>, r: number): Event[] {
  const out: Event[] = [];
  for (const id of pending) if (initCoord(id) === r) out.push({ type: 'recover', id });
  return out;
}

/**
 * The voters one observer's membership does not hold alive (suspect, dead, left), for the core's
 * 'reachable' hint: the simulator feeds it from SWIM's events (an agent feeds it from what it hears
 * on its links, transports/link-health.ts, which reacts sooner).
 */
export class UnheardVoters {
  readonly #unheard = new Set<number>();
  readonly #voterIds: readonly string[];
  readonly #self: number;

  constructor(voterIds: readonly string[], self: number) {
    this.#voterIds = voterIds;
    this.#self = self;
  }

  /** The 'reachable' event this membership event calls for, or null when it changes nothing. */
  observe(e: MemberEvent): Event | null {
    const r = this.#voterIds.indexOf(e.member.id);
    if (r < 0 || r === this.#self) return null;
    const unheard = e.type === 'suspect' || e.type === 'dead' || e.type === 'leave';
    const heard = e.type === 'join' || e.type === 'alive';
    if (unheard === this.#unheard.has(r) || (!unheard && !heard)) return null;
    if (unheard) this.#unheard.add(r); else this.#unheard.delete(r);
    return { type: 'reachable', replicas: this.#voterIds.map((_, v) => v).filter((v) => !this.#unheard.has(v)) };
  }
}
