// Partial-order reduction for `covey check --por` (README.md, "Partial-order reduction"). Once the
// crash budget is spent, a state with a replica down expands only that replica's restart, and a
// state with an unsynced step only that replica's sync (the lowest such replica, a restart before
// a sync), instead of every enabled action.
//
// Why that finds every violation the full search finds, in short (the README has it in full):
// - with no crash left, such a step commutes with every action that can still happen, and
//   neither disables the other: it touches its replica's local state, adds messages to the
//   network and facts to the ghost record, while any other replica's action touches that replica
//   and consumes a message the step did not add (a down replica takes no action; an up one's own
//   steps append to the unsynced queue whose head its sync takes, and no step reads the storage);
// - it never repairs a violation: a sync leaves the replica object as it was, a restart rebuilds
//   it from the storage the invariants read while it was down, the storage only gains records
//   (read as a growing execution log, no id twice) and the ghost only gains facts, and every
//   invariant over those is monotone;
// - it strictly lowers 2·(replicas down) + (unsynced steps) (a restart adds at most one unsynced
//   step), so no cycle is made of such steps alone (cycle proviso).
// A path to a violation in the full graph therefore has a counterpart in the reduced one that
// takes the step first: the same actions, if the path took it later, or those plus that step,
// ending in the same state plus that step, if it never did (by induction on the path's length
// and, at equal length, on that measure). The search counts no step for a restart or sync taken
// alone (model.ts `check`), so the counterpart is found within the full path's depth.
//
// What the argument takes from the harness is checked where the reduction is used, as the
// dead-message rule is (engine.ts `checkAloneStep`); the two claims above are checked over the
// states of small full searches (por.test.ts).

import type { Action, ActionTable } from './model.ts';
import type { Engine, GState } from './engine.ts';

/** The restart or sync to expand alone in `s`, or null when `s` must be expanded in full. */
export function expandAlone(engine: Engine, s: GState, acts: ActionTable): Action | null {
  const cfg = engine.cfg;
  // Before the crash, a crash elsewhere would lose the messages a sync sends it, and a crash of
  // the syncing replica would lose the step: the order matters, so nothing is reduced.
  if (s.used[0] < cfg.crashes) return null;
  for (let r = 0; r < cfg.replicas; r++) {
    if (!engine.up(s, r)) {
      engine.checkAloneStep(s, r, 'restart');
      return acts.get('restart', r);
    }
    if (engine.unsyncedSteps(s.locals[r]) > 0) {
      engine.checkAloneStep(s, r, 'sync');
      return acts.get('sync', r);
    }
  }
  return null;
}

