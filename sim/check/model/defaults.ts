// The model checker's variant names and default bounds: what `covey check --help` shows, in a
// module that loads nothing else, so the CLI's help does not load the consensus core.

import type { ModelConfig } from './model.ts';

export const variantNames = ['real', 'single-ballot', 'delayed-self-delivery', 'vote-before-durable'] as const;
export type VariantName = (typeof variantNames)[number];

/**
 * The default bounds, chosen so that `covey check --replicas 3 --commands 2 --crashes 1` completes
 * in a few minutes (README.md, "Figures"): message loss (any message may stay in flight forever),
 * one duplicate, at most one crash and restart, one tick (a fast-path timeout: the slow path
 * without conflicts), no recover event. Recovery is checked with explicit `--recoveries`
 * (README.md lists the configurations that finish).
 */
export const defaultModel: ModelConfig = {
  replicas: 3, commands: 2, crashes: 1, duplicates: 1, drops: 0, recoveries: 0, ticks: 1, unsynced: 1, variant: 'real',
};
