// fast-check generators of client commands and payloads, shared by the property tests that need
// them (the message validator, the wire codec). Text and counts are parameters: the codec's
// round trip needs well-formed Unicode, the validator's tests want lone surrogates too.

import fc from 'fast-check';
import { type Batch, type Command, leaseMsMax, NOP, type Payload } from '../index.ts';

export function commandArbitrary(arbText: fc.Arbitrary<string>, arbCount: fc.Arbitrary<number>): fc.Arbitrary<Command> {
  const lease = fc.integer({ min: 1, max: leaseMsMax });
  return fc
    .record({ clientId: arbText.filter((s) => s.length > 0), requestId: arbCount, timestampMs: arbCount })
    .chain((env) => fc.oneof(
      fc.record({ op: fc.constant('get' as const), key: arbText }),
      fc.record({ op: fc.constant('put' as const), key: arbText, value: arbText }),
      fc.record({ op: fc.constant('delete' as const), key: arbText }),
      fc.record({ op: fc.constant('cas' as const), key: arbText, expected: fc.option(arbText), value: fc.option(arbText) }),
      fc.record({ op: fc.constant('task.create' as const), taskId: arbText, spec: arbText }),
      fc.record({ op: fc.constant('task.claim' as const), taskId: arbText, worker: arbText, leaseMs: lease }),
      fc.record({ op: fc.constant('task.renew' as const), taskId: arbText, worker: arbText, token: arbCount, leaseMs: lease }),
      fc.record({ op: fc.constant('task.complete' as const), taskId: arbText, worker: arbText, token: arbCount, result: arbText }),
      fc.record({ op: fc.constant('task.release' as const), taskId: arbText, worker: arbText, token: arbCount }),
      fc.record({ op: fc.constant('task.get' as const), taskId: arbText }),
      fc.record({ op: fc.constant('peer.admit' as const), peerId: arbText }),
      fc.record({ op: fc.constant('peer.revoke' as const), peerId: arbText }),
    ).map((op): Command => ({ ...env, ...op })));
}

/** A batch of 1–3 commands. */
export function batchArbitrary(arbCommand: fc.Arbitrary<Command>): fc.Arbitrary<Batch> {
  return fc.array(arbCommand, { minLength: 1, maxLength: 3 }).map((commands) => ({ commands }));
}

/** A payload: Nop, or a batch. */
export function payloadArbitrary(arbBatch: fc.Arbitrary<Batch>): fc.Arbitrary<Payload> {
  return fc.oneof(fc.constant(NOP), arbBatch);
}
