// The model checker's variant names and default bounds: what `covey check --help` shows, in a
// module that loads nothing else, so the CLI's help does not load the consensus core.

import type { ModelConfig } from './model.ts';

export const variantNames = ['real', 'single-ballot', 'delayed-self-delivery', 'vote-before-durable', 'no-seal'] as const;
export type VariantName = (typeof variantNames)[number];

/**
 * The default bounds, chosen so that `covey check` completes in about two minutes (README.md,
 * "Figures"; 6.8 M states, about 3 GB, when chosen; now 2.1 M states and about 20 s with dead
 * messages left out and the partial-order reduction): message loss (any message may stay in flight forever),
 * one unsynced step per replica (proposals leave while they sync, a crash loses what was not
 * synced: PROTOCOL.md §12, "Votes count once durable"), at most one crash and restart, one tick
 * (a fast-path timeout: the slow path without conflicts), no duplicate and no recover event.
 * Duplicates (`--duplicates 1 --unsynced 0`) and recovery (`--recoveries`) are checked with
 * explicit bounds; README.md lists the configurations that finish.
 */
export const defaultModel: ModelConfig = {
  replicas: 3, commands: 2, crashes: 1, duplicates: 0, drops: 0, recoveries: 0, ticks: 1, unsynced: 1, variant: 'real',
};
