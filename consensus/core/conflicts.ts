// Key-level interference (PROTOCOL.md §2 ⋈, §12): two payloads conflict when some pair of their
// commands touches a common key and at least one of the pair writes it. Nop conflicts with
// everything (the conservative choice of §2), and so does a voters.change; ⊥ conflicts with nothing.
//
// Every command also writes its client's session: the state machine's exactly-once memory of that
// client's recent requests (machine.ts), which decides whether a command is a retry, an id reused
// for another command, or too old to deduplicate. Those decisions depend on which of the client's
// other commands came first, so a client's commands must be applied in one order everywhere: they
// conflict. Without it, 128 later requests of one client on other keys, applied before its
// delayed request 1 at one voter and after it at another, made one voter apply request 1 and the
// other refuse it as too old — two different states (found by `covey sim --voters 7`).

import { commandAccess } from '../statemachine/commands.ts';
import { NOP, type Batch, type Payload } from './types.ts';

/** key → true when some command of the batch writes it. */
export type Footprint = ReadonlyMap<string, boolean>;

/**
 * The footprint key of a batch that conflicts with everything: a `voters.change`
 * (docs/reconfiguration.md rule 1), ordered against every other command of its epoch so that the
 * epoch's effects all come before it. No command key has this form (kv/, task/, roster, voters,
 * session/).
 */
const everything = '*';

// A batch is immutable once made, so its footprint is computed once. WeakMap keeps the cache from
// holding batches alive.
const footprints = new WeakMap<Batch, Footprint>();

/** The key of a client's session; no command key has this form (commandAccess: kv/, task/, roster). */
function sessionKey(clientId: string): string {
  return 'session/' + clientId;
}

export function footprint(b: Batch): Footprint {
  let fp = footprints.get(b);
  if (fp === undefined) {
    const m = new Map<string, boolean>();
    for (const c of b.commands) {
      const a = commandAccess(c);
      m.set(a.key, (m.get(a.key) ?? false) || a.write);
      if (c.op === 'voters.change') m.set(everything, true);
      m.set(sessionKey(c.clientId), true);
    }
    fp = m;
    footprints.set(b, fp);
  }
  return fp;
}

/** Does the batch conflict with every command (it carries a voters.change)? */
export function conflictsWithEverything(b: Batch): boolean {
  return footprint(b).has(everything);
}

export function footprintsConflict(a: Footprint, b: Footprint): boolean {
  if (a.has(everything) || b.has(everything)) return true;
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  for (const [key, write] of small) {
    const other = large.get(key);
    if (other !== undefined && (write || other)) return true;
  }
  return false;
}

export function payloadsConflict(a: Payload | null, b: Payload | null): boolean {
  if (a === null || b === null) return false;
  if (a === NOP || b === NOP) return true;
  return footprintsConflict(footprint(a), footprint(b));
}

export function payloadsEqual(a: Payload | null, b: Payload | null): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === NOP || b === NOP) return false;
  if (a.commands.length !== b.commands.length) return false;
  for (let i = 0; i < a.commands.length; i++) {
    const x = a.commands[i], y = b.commands[i];
    if (x !== y && !sameFields(x, y)) return false;
  }
  return true;
}

/**
 * Field-by-field equality of two commands, whatever order their properties were written in: a
 * command built here and the same command decoded from a peer must compare equal. Command fields
 * are strings, numbers or null (validate.ts), so one level is enough.
 */
function sameFields(x: object, y: object): boolean {
  const xs = x as Record<string, unknown>, ys = y as Record<string, unknown>;
  const keys = Object.keys(xs);
  if (keys.length !== Object.keys(ys).length) return false;
  for (const k of keys) if (!Object.hasOwn(ys, k) || xs[k] !== ys[k]) return false;
  return true;
}
