// The faults the network nemesis knows, as plans over a lab: which agents end up on which side,
// and how to apply the fault and undo it. A plan does not measure anything; run.ts does.

import type { NetLab } from './netns.ts';

export const faultNames = ['split', 'isolate', 'oneway', 'flap', 'loss'] as const;
export type FaultName = (typeof faultNames)[number];

export interface FaultPlan {
  readonly name: FaultName;
  /** In words, for the report. */
  readonly what: string;
  /** Agents on the side that keeps a majority (all of them, for faults that split nothing). */
  readonly majority: readonly number[];
  /** Agents cut off from a majority (empty when none is). */
  readonly minority: readonly number[];
  /** The two agents of a one-way cut, to compare their throughput with no fault. */
  readonly pair: readonly [number, number] | null;
  /** Applies the fault; `tick` is then called every `tickMs` while it lasts (flapping), with the tick count. */
  apply(lab: NetLab): void;
  readonly tickMs?: number;
  tick?(lab: NetLab, n: number): void;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The plan of fault `name` over `agents` voters (agents ≥ 3). */
export function planFault(name: FaultName, agents: number, lossPercent = 10): FaultPlan {
  const all = range(agents);
  const minorityCount = Math.floor((agents - 1) / 2);
  switch (name) {
    case 'split': {
      const minority = all.slice(agents - minorityCount);
      const majority = all.slice(0, agents - minorityCount);
      return { name, what: `a clean split ${majority.join(',')} | ${minority.join(',')}`, majority, minority, pair: null, apply: (lab) => lab.split(majority, minority) };
    }
    case 'isolate': {
      // Agent 1, not 0: agent 0 is every other agent's bootstrap peer, which should not matter.
      const lone = 1;
      const rest = all.filter((i) => i !== lone);
      return { name, what: `agent ${lone} isolated from every other agent`, majority: rest, minority: [lone], pair: null, apply: (lab) => lab.split([lone], rest) };
    }
    case 'oneway':
      return { name, what: 'agent 0 cannot send to agent 1 (one way; the rest of the mesh is whole)', majority: all, minority: [], pair: [0, 1], apply: (lab) => lab.cut(0, 1) };
    case 'flap': {
      const lone = agents - 1;
      const rest = all.filter((i) => i !== lone);
      return {
        name, what: `agent ${lone}'s links flap: cut 1 s, whole 1 s, again`, majority: rest, minority: [],
        pair: null,
        apply: (lab) => lab.split([lone], rest),
        tickMs: 1000,
        tick: (lab, n) => { if (n % 2 === 1) lab.heal(); else lab.split([lone], rest); },
      };
    }
    case 'loss':
      return { name, what: `every agent drops ${lossPercent} % of its packets to the others`, majority: all, minority: [], pair: null, apply: (lab) => { for (const i of all) lab.loss(i, lossPercent); } };
  }
}

/** Parses `--faults a,b,…`; throws naming the unknown one. */
export function parseFaults(text: string): FaultName[] {
  const out: FaultName[] = [];
  for (const raw of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (!(faultNames as readonly string[]).includes(raw)) throw new RangeError(`unknown fault "${raw}"; the nemesis knows ${faultNames.join(', ')}`);
    out.push(raw as FaultName);
  }
  if (out.length === 0) throw new RangeError(`--faults needs at least one of ${faultNames.join(', ')}`);
  return out;
}
