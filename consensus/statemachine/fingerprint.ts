// Fingerprints of commands, for telling a retry from a reused request id.
//
// The machine remembers each client's recent results by request id (machine.ts). A retry of the
// same command under the same id gets the remembered result; a *different* command under a used id
// (a client that restarted and counts its ids from 1 again) must not, or it would be acknowledged
// without taking effect. So each remembered result is kept beside a fingerprint of its command.
//
// The fingerprint covers every field of the command except the envelope: clientId and requestId
// (they are what it is looked up by) and timestampMs (the submitting agent's clock, which
// legitimately differs when a client retries at another agent). It must be identical on every
// replica and platform, so it is a hash of a canonical encoding built here, never of
// JSON.stringify(command), whose key order is whatever order the object was built in.

import { hash } from 'node:crypto';
import type { Command } from './commands.ts';

/**
 * The canonical text of a command's operation: the JSON of an array holding the op and then its
 * fields in a fixed order per op (JSON of an array of strings, null and numbers has one spelling;
 * lone surrogates are escaped, so the UTF-8 of the text is injective). A number that JSON cannot
 * hold (NaN, Infinity: an invalid command, refused anyway) is written as its string so it stays
 * apart from null. Listing the fields per op rather than sorting Object.keys keeps this at a tenth
 * of the cost; an op this switch does not know (unreachable for a validated command) falls back
 * to every non-envelope field, sorted by name.
 */
export function canonicalOperation(c: Command): string {
  switch (c.op) {
    case 'get': case 'delete': return JSON.stringify([c.op, c.key]);
    case 'put': return JSON.stringify([c.op, c.key, c.value]);
    case 'cas': return JSON.stringify([c.op, c.key, c.expected, c.value]);
    case 'task.create': return JSON.stringify([c.op, c.taskId, c.spec]);
    case 'task.claim': return JSON.stringify([c.op, c.taskId, c.worker, num(c.leaseMs)]);
    case 'task.renew': return JSON.stringify([c.op, c.taskId, c.worker, num(c.token), num(c.leaseMs)]);
    case 'task.complete': return JSON.stringify([c.op, c.taskId, c.worker, num(c.token), c.result]);
    case 'task.release': return JSON.stringify([c.op, c.taskId, c.worker, num(c.token)]);
    case 'task.get': return JSON.stringify([c.op, c.taskId]);
    case 'peer.admit': case 'peer.revoke': return JSON.stringify([c.op, c.peerId]);
    case 'voters.change': return JSON.stringify([c.op, num(c.epoch), c.voters, c.reason]);
    default: {
      const o = c as unknown as Record<string, unknown>;
      const names = Object.keys(o).filter((k) => k !== 'clientId' && k !== 'requestId' && k !== 'timestampMs' && o[k] !== undefined);
      return JSON.stringify(names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((k) => [k, typeof o[k] === 'number' ? num(o[k]) : o[k]]));
    }
  }
}

function num(n: number): number | string {
  return Number.isFinite(n) ? n : String(n);
}

/** 22 base64url characters (132 bits) of the SHA-256 of canonicalOperation(c). */
export function commandFingerprint(c: Command): string {
  return hash('sha256', canonicalOperation(c), 'base64url').slice(0, 22);
}

/** The shape of a fingerprint in a snapshot. */
export const fingerprintPattern = /^[A-Za-z0-9_-]{22}$/;
