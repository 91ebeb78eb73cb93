// Partial-order reduction for `covey check --por` (README.md, "Partial-order reduction: sync
// first"). In a state where the crash budget is spent and some replica r has an unsynced step,
// the search expands only `sync r` (the lowest such r) instead of every enabled action.
//
// Why that finds every violation the full search finds, in short (the README has it in full):
// - sync r commutes with every action that can still happen: with no crash left, nothing can
//   disable it or be disabled by it; it touches r's storage, unsynced steps, the network (it
//   adds r's messages) and the ghost record (it adds facts), while any other replica's action
//   touches that replica and the network (it consumes a message sync r did not add), and r's own
//   steps append to the unsynced queue whose head sync r takes, without reading the storage;
// - it never repairs a violation: the replica object is unchanged, the storage only gains
//   records the invariants read as a growing execution log (no id twice), and the ghost only
//   gains facts, and every invariant over those is monotone;
// - sync r strictly lowers the number of unsynced steps and is expanded alone only in that case,
//   so every cycle of the reduced graph holds a fully expanded state (the cycle proviso).
// A path to a violation in the full graph therefore has a counterpart in the reduced one that
// takes r's sync first: as long, if the path synced r later, or one step longer, ending in the
// same state plus that sync, if it never did.
//
// Two of these facts are checked where the reduction is used, as the dead-message rule is: the
// sync records no proposal the ghost lacks (so the ghost's "first PreAccept of an id" rule
// cannot make the order matter) and r's storage holds no snapshot (so the invariants read r's
// storage only as its execution log).

import type { Action, ActionTable } from './model.ts';
import type { Engine, GState } from './engine.ts';

/** The sync to expand alone in `s`, or null when `s` must be expanded in full. */
export function syncFirst(engine: Engine, s: GState, acts: ActionTable): Action | null {
  const cfg = engine.cfg;
  // Before the crash, a crash elsewhere would lose the messages this sync sends it, and a crash
  // of r would lose the step: the order matters, so nothing is reduced.
  if (cfg.unsynced === 0 || s.used[0] < cfg.crashes) return null;
  for (let r = 0; r < cfg.replicas; r++) {
    if (!engine.up(s, r) || engine.unsyncedSteps(s.locals[r]) === 0) continue;
    engine.checkSyncCommutes(s, r);
    return acts.get('sync', r);
  }
  return null;
}
