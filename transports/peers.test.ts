import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { KEEP_ALIVE, type PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { pino } from 'pino';
import { createCoveyNode, generateIdentityKey, type CoveyNode } from './node.ts';
import { PeerKeeper, redialDelayMs } from './peers.ts';
import { waitFor as poll } from './testing/eventually.ts';

const waitFor = (what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> => poll(what, cond, timeoutMs);

const logger = pino({ level: 'silent' });
const started: CoveyNode[] = [];
const keepers: PeerKeeper[] = [];
after(async () => {
  await Promise.all(keepers.map((k) => k.stop()));
  await Promise.all(started.map((n) => n.stop()));
});

async function node(privateKey?: PrivateKey, listen = ['/ip4/127.0.0.1/tcp/0'], bootstrap?: string[]): Promise<CoveyNode> {
  const n = await createCoveyNode({ privateKey: privateKey ?? await generateIdentityKey(), listen, bootstrap });
  started.push(n);
  return n;
}

function keeper(o: ConstructorParameters<typeof PeerKeeper>[0]): PeerKeeper {
  const k = new PeerKeeper(o);
  keepers.push(k);
  return k;
}

describe('redialDelayMs', () => {
  it('grows exponentially from the minimum, is capped, and jitters within [ceiling/2, ceiling]', () => {
    assert.equal(redialDelayMs(1, 250, 10_000, 1), 250);
    assert.equal(redialDelayMs(1, 250, 10_000, 0), 125);
    assert.equal(redialDelayMs(3, 250, 10_000, 1), 1000);
    assert.equal(redialDelayMs(50, 250, 10_000, 1), 10_000);
    assert.equal(redialDelayMs(10_000, 250, 10_000, 0), 5_000);
    for (let f = 1; f < 40; f++) {
      const d = redialDelayMs(f, 250, 10_000, Math.random());
      assert.ok(d >= 125 && d <= 10_000, `delay ${d} for ${f} failures`);
    }
  });
});

describe('PeerKeeper', () => {
  it('dials a kept peer, tags it KEEP_ALIVE, and reconnects after it restarts on the same port', async () => {
    const a = await node();
    const bKey = await generateIdentityKey();
    let b = await node(bKey);
    const port = b.getMultiaddrs()[0].nodeAddress().port;
    const addr = `/ip4/127.0.0.1/tcp/${port}`;
    const changes: string[][] = [];
    const k = keeper({
      node: a, peers: [{ id: b.peerId.toString(), addrs: [addr] }], logger,
      redialDelayMsMin: 50, redialDelayMsMax: 500, onChange: (c) => changes.push([...c]),
    });
    await k.start();
    await waitFor('the first connection', () => k.isConnected(b.peerId.toString()));
    assert.deepEqual(k.connected(), [b.peerId.toString()]);
    const peer = await a.peerStore.get(b.peerId);
    assert.ok(peer.tags.has(KEEP_ALIVE), 'kept peer is tagged keep-alive');

    await b.stop();
    await waitFor('the disconnect to be seen', () => !k.isConnected(b.peerId.toString()));
    assert.deepEqual(k.connected(), []);
    // Down for a while: several redials fail and back off.
    await new Promise((r) => setTimeout(r, 1000));
    b = await node(bKey, [addr]);
    await waitFor('the reconnection', () => k.isConnected(b.peerId.toString()));
    assert.ok((await a.services.ping.ping(b.peerId)) >= 0);
    assert.deepEqual(changes.at(-1), [b.peerId.toString()]);
    assert.ok(changes.some((c) => c.length === 0), 'the drop was reported');
    const again = await a.peerStore.get(b.peerId);
    assert.ok(again.tags.has(KEEP_ALIVE), 'still tagged after the reconnection');
  });

  it('dials peers that discovery reports, and only when told to', async () => {
    // No bootstrap module here: it dials by itself, which would pass this test for the keeper.
    // The discovery event is dispatched by hand, so the keeper is the only one that can dial.
    const b = await node();
    const c = await node();
    await c.peerStore.merge(b.peerId, { multiaddrs: b.getMultiaddrs() });
    const discover = () => c.dispatchEvent(new CustomEvent('peer:discovery', { detail: { id: b.peerId, multiaddrs: b.getMultiaddrs() } }));
    const off = keeper({ node: c, peers: [], logger, dialDiscovered: false });
    await off.start();
    discover();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(c.getConnections(b.peerId).length, 0, 'with dialDiscovered false nothing dials the discovered peer');
    await off.stop();
    const k = keeper({ node: c, peers: [], logger });
    await k.start();
    discover();
    await waitFor('the discovered peer to be dialled', () => c.getConnections(b.peerId).length > 0);
    assert.deepEqual(k.connected(), [], 'a discovered peer is dialled, not kept');
  });

  it('redials a kept peer at once when told it is back, instead of waiting out its backoff', async () => {
    const a = await node();
    const bKey = await generateIdentityKey();
    const probe = await node();
    const port = probe.getMultiaddrs()[0].nodeAddress().port;
    await probe.stop(); // a free port: b listens there later
    const addr = `/ip4/127.0.0.1/tcp/${port}`;
    const bId = peerIdFromPrivateKey(bKey).toString();
    // A minute of backoff after the first failed dial: only redialNow can connect within the test.
    const k = keeper({ node: a, peers: [{ id: bId, addrs: [addr] }], logger, redialDelayMsMin: 120_000, redialDelayMsMax: 120_000, dialDiscovered: false });
    await k.start();
    await new Promise((r) => setTimeout(r, 500)); // the first dial fails: nothing listens
    assert.equal(k.isConnected(bId), false);
    await node(bKey, [addr]);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(k.isConnected(bId), false, 'still waiting out its backoff');
    k.redialNow(bId);
    await waitFor('the redial', () => k.isConnected(bId), 10_000);
    k.redialNow(bId); // connected: nothing to do
    k.redialNow('12D3KooWNotKept');
  });

  it('keeps bootstrap peers given to it like voters', async () => {
    const b = await node();
    const c = await node();
    const k = keeper({ node: c, peers: [], bootstrap: [b.getMultiaddrs()[0].toString()], logger, dialDiscovered: false });
    await k.start();
    await waitFor('the bootstrap peer to be kept connected', () => k.isConnected(b.peerId.toString()));
    await k.stop();
    await k.stop(); // idempotent
  });
});
