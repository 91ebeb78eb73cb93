// The real signer: Ed25519 with the libp2p identity key, checked against the key inside the peer id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { ed25519Signer } from './ed25519.ts';
import type { Statement } from './index.ts';

test('Ed25519 statements: verify as signed; a tampered field, another signer, another swarm or another spelling does not', async () => {
  const k1 = await generateKeyPair('Ed25519');
  const k2 = await generateKeyPair('Ed25519');
  const id1 = peerIdFromPrivateKey(k1).toString();
  const id2 = peerIdFromPrivateKey(k2).toString();
  const s1 = ed25519Signer(k1, 'swarm', id1);
  const s2 = ed25519Signer(k2, 'swarm', id2);
  const st: Statement = { kind: 'alive', id: id1, addr: '/ip4/10.0.0.1/tcp/4001', incarnation: 4, meta: { role: 'worker', devices: [], plugins: [], battery: 0.5 } };
  const sig = s1.sign(st);
  assert.equal(sig.length, 86);
  assert.equal(s1.sign(st), sig, 'deterministic');
  assert.ok(s2.verify(st, sig), 'anyone verifies with the key in the peer id');
  assert.equal(s2.verify({ ...st, incarnation: 5 }, sig), false);
  assert.equal(s2.verify({ ...st, addr: '/ip4/6.6.6.6/tcp/1' }, sig), false);
  assert.equal(s2.verify({ ...st, meta: { ...st.meta, role: 'voter' } }, sig), false);
  // Signed by 2, claimed to be about 1.
  const forged = s2.verify(st, ed25519Signer(k2, 'swarm', id2).sign({ ...st, id: id2 }));
  assert.equal(forged, false);
  assert.equal(ed25519Signer(k2, 'other-swarm', id2).verify(st, sig), false, 'the swarm is part of what is signed');
  assert.equal(s2.verify({ kind: 'left', id: id1, incarnation: 4 }, sig), false, 'an alive signature is no leave');
  const last = sig[85];
  const respelt = sig.slice(0, 85) + (last === 'A' ? 'B' : 'A');
  assert.equal(s2.verify(st, respelt), false);
  assert.equal(s2.verify(st, 'x'), false);
  assert.equal(s2.verify({ ...st, id: 'not-a-peer-id' }, sig), false);
  assert.throws(() => s1.sign({ ...st, id: id2 }), /another member/);
  assert.throws(() => ed25519Signer(k1, 'swarm', id2), /not the key of this node/);
});
