import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createIdentity } from './identity.ts';
import { createJoinToken, verifyJoinToken } from './join-token.ts';

test('a join token: signed by its issuer, for one swarm and one peer, until it expires; tampering is caught', async () => {
  const issuer = await createIdentity();
  const joiner = await createIdentity();
  const nowMs = 1_800_000_000_000;
  const token = await createJoinToken(issuer.privateKey, issuer.peerId, { swarm: 'field', peer: joiner.peerId, ttlMs: 60_000, nowMs });
  const ok = await verifyJoinToken(token, { swarm: 'field', nowMs: nowMs + 59_999 });
  assert.ok(ok.ok);
  assert.equal(ok.claim.peer, joiner.peerId);
  assert.equal(ok.claim.issuer, issuer.peerId);

  const refused = async (t: unknown, pattern: RegExp, swarm = 'field', at = nowMs) => {
    const v = await verifyJoinToken(t, { swarm, nowMs: at });
    assert.equal(v.ok, false);
    assert.match((v as { reason: string }).reason, pattern);
  };
  await refused(token, /expired/, 'field', nowMs + 60_000);
  await refused(token, /for swarm "field", not "other"/, 'other');
  // Another peer named in the payload, the signature kept: the signature no longer matches.
  const [payload, sig] = token.split('.');
  const claim = JSON.parse(Buffer.from(payload, 'base64url').toString());
  const other = await createIdentity();
  const swapped = `${Buffer.from(JSON.stringify({ ...claim, peer: other.peerId })).toString('base64url')}.${sig}`;
  await refused(swapped, /signature is not/);
  // Claiming another issuer: its key did not sign it.
  await refused(`${Buffer.from(JSON.stringify({ ...claim, issuer: other.peerId })).toString('base64url')}.${sig}`, /signature is not/);
  await refused(`${payload}.${Buffer.alloc(64).toString('base64url')}`, /signature is not/);
  await refused('garbage', /two base64url parts/);
  await refused(`${Buffer.from('[1]').toString('base64url')}.AA`, /unexpected fields/);
  await refused(42, /a string/);
  await refused('x'.repeat(5000), /at most 2048/);
  await assert.rejects(createJoinToken(issuer.privateKey, issuer.peerId, { swarm: 'field', peer: 'bob', ttlMs: 1000, nowMs }), /--for: expected the joining device's peer id/);
  await assert.rejects(createJoinToken(issuer.privateKey, issuer.peerId, { swarm: 'field', peer: joiner.peerId, ttlMs: 30 * 24 * 3600_000, nowMs }), /--ttl/);
});
