import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import {
  createCoveyNode, generateIdentityKey, generateSwarmKey, identityKeyFromBytes, identityKeyToBytes,
  loadIdentityKey, loadOrCreateIdentityKey, saveIdentityKey, saveSwarmKey, type CoveyNode,
} from './node.ts';
import { waitFor } from './testing/eventually.ts';

const loopback = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'];

async function node(swarmKey?: Uint8Array): Promise<CoveyNode> {
  const n = await createCoveyNode({ privateKey: await generateIdentityKey(), listen: loopback, swarmKey });
  nodes.push(n);
  return n;
}

const nodes: CoveyNode[] = [];
after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
});

function tcpAddr(n: CoveyNode) {
  const a = n.getMultiaddrs().find((m) => !m.toString().includes('/ws'));
  assert.ok(a, 'node listens on TCP');
  return a;
}

describe('createCoveyNode', () => {
  it('two nodes connect over TCP, ping, and exchange a gossipsub message', async () => {
    const a = await node();
    const b = await node();
    assert.equal(a.status, 'started');
    await a.dial(tcpAddr(b));
    const rtt = await a.services.ping.ping(b.peerId);
    assert.ok(rtt >= 0);

    const topic = 'covey/test';
    const got: string[] = [];
    b.services.pubsub.addEventListener('message', (evt) => {
      if (evt.detail.topic === topic) got.push(new TextDecoder().decode(evt.detail.data));
    });
    a.services.pubsub.subscribe(topic);
    b.services.pubsub.subscribe(topic);
    await waitFor('a to see b subscribed', () => a.services.pubsub.getSubscribers(topic).some((p) => p.equals(b.peerId)));
    await a.services.pubsub.publish(topic, new TextEncoder().encode('hello'));
    await waitFor('b to receive the message', () => got.length > 0);
    assert.deepEqual(got, ['hello']);
  });

  it('connects over WebSockets', async () => {
    const a = await node();
    const b = await node();
    const ws = b.getMultiaddrs().find((m) => m.toString().includes('/ws'));
    assert.ok(ws, 'node listens on WebSockets');
    const conn = await a.dial(ws);
    assert.ok(conn.remoteAddr.toString().includes('/ws'));
    assert.ok((await a.services.ping.ping(b.peerId)) >= 0);
  });

  it('with the same swarm key nodes connect; with different keys they cannot', async () => {
    const key1 = await generateSwarmKey();
    const key2 = await generateSwarmKey();
    assert.notDeepEqual(key1, key2);
    const a = await node(key1);
    const b = await node(key1);
    const c = await node(key2);
    await a.dial(tcpAddr(b));
    assert.ok((await a.services.ping.ping(b.peerId)) >= 0);
    // A mismatched key garbles the handshake, which then stalls until the dial's deadline: the
    // deadline bounds the test, and the same-key dial above shows a real handshake is far faster.
    const open = await node();
    await Promise.all([
      assert.rejects(a.dial(tcpAddr(c), { signal: AbortSignal.timeout(3000) })),
      // A node without pnet cannot reach a protected one either.
      assert.rejects(open.dial(tcpAddr(a), { signal: AbortSignal.timeout(3000) })),
    ]);
    assert.equal(a.getConnections(c.peerId).length, 0);
    assert.equal(a.getConnections(open.peerId).length, 0);
  });
});

describe('identity and swarm keys', () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-node-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips an identity key through bytes and a file, and never overwrites one', async () => {
    const key = await generateIdentityKey();
    const again = identityKeyFromBytes(identityKeyToBytes(key));
    assert.ok(peerIdFromPrivateKey(again).equals(peerIdFromPrivateKey(key)));
    const file = join(dir, 'sub', 'identity.key');
    saveIdentityKey(file, key);
    assert.ok(peerIdFromPrivateKey(loadIdentityKey(file)).equals(peerIdFromPrivateKey(key)));
    assert.throws(() => saveIdentityKey(file, key), /already exists/);
    const other = await loadOrCreateIdentityKey(join(dir, 'other.key'));
    const same = await loadOrCreateIdentityKey(join(dir, 'other.key'));
    assert.ok(peerIdFromPrivateKey(other).equals(peerIdFromPrivateKey(same)));
    assert.throws(() => identityKeyFromBytes(new Uint8Array([1, 2, 3])));
  });

  it('writes a swarm key in the pnet text format', async () => {
    const file = join(dir, 'swarm.key');
    saveSwarmKey(file, await generateSwarmKey());
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/);
  });
});

