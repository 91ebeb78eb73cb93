import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Command } from './commands.ts';
import { canonicalOperation, commandFingerprint, fingerprintPattern } from './fingerprint.ts';

describe('command fingerprints', () => {
  it('are a fixed function of the operation: the same bytes on every replica and platform', () => {
    const c = { clientId: 'c', requestId: 1, timestampMs: 5, op: 'put', key: 'k', value: 'v' } as Command;
    assert.equal(canonicalOperation(c), '["put","k","v"]');
    // sha-256 of that text, base64url, first 22 characters. Changing it changes what snapshots hold.
    assert.equal(commandFingerprint(c), 'e0QQ2wW4fmp9gMSpv5VuQ7');
    assert.match(commandFingerprint(c), fingerprintPattern);
  });

  it('ignore the envelope and key order; see every operation field', () => {
    const base = { clientId: 'c', requestId: 1, timestampMs: 5, op: 'task.renew', taskId: 't', worker: 'w', token: 2, leaseMs: 100 } as Command;
    const fp = commandFingerprint(base);
    assert.equal(commandFingerprint({ leaseMs: 100, token: 2, worker: 'w', taskId: 't', op: 'task.renew', clientId: 'd', requestId: 9, timestampMs: 77 } as Command), fp);
    for (const change of [{ op: 'task.claim' }, { taskId: 'u' }, { worker: 'x' }, { token: 3 }, { leaseMs: 101 }]) {
      assert.notEqual(commandFingerprint({ ...base, ...change } as Command), fp, JSON.stringify(change));
    }
    const cas = { clientId: 'c', requestId: 1, timestampMs: 5, op: 'cas', key: 'k', expected: null, value: 'null' } as Command;
    assert.notEqual(commandFingerprint(cas), commandFingerprint({ ...cas, expected: 'null', value: null } as Command));
    assert.notEqual(commandFingerprint({ ...base, leaseMs: NaN } as Command), commandFingerprint({ ...base, leaseMs: null } as unknown as Command));
  });

  it('the canonical text tells distinct put commands apart (property)', () => {
    fc.assert(fc.property(fc.tuple(fc.string(), fc.string()), fc.tuple(fc.string(), fc.string()), ([k1, v1], [k2, v2]) => {
      const a = canonicalOperation({ clientId: 'c', requestId: 1, timestampMs: 0, op: 'put', key: k1, value: v1 });
      const b = canonicalOperation({ clientId: 'c', requestId: 1, timestampMs: 0, op: 'put', key: k2, value: v2 });
      assert.equal(a === b, k1 === k2 && v1 === v2);
    }));
  });
});
