import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { createCoveyNode, generateIdentityKey, type CoveyNode } from './node.ts';
import { LinkHealth } from './link-health.ts';
import { waitFor } from './testing/eventually.ts';

const logger = pino({ level: 'silent' });
const nodes: CoveyNode[] = [];
const healths: LinkHealth[] = [];
after(async () => {
  await Promise.all(healths.map((h) => h.stop()));
  await Promise.all(nodes.map((n) => n.stop()));
});

async function node(): Promise<CoveyNode> {
  const n = await createCoveyNode({ privateKey: await generateIdentityKey(), listen: ['/ip4/127.0.0.1/tcp/0'] });
  nodes.push(n);
  return n;
}

async function health(n: CoveyNode, peer: CoveyNode): Promise<LinkHealth> {
  const h = new LinkHealth({ node: n, peers: [peer.peerId.toString()], logger, intervalMs: 100, staleAfterMs: 400, abortAfterMs: 1500 });
  healths.push(h);
  await h.start();
  return h;
}

/** Two connected nodes, each watching (and echoing) the other. */
async function watchingPair(): Promise<{ a: CoveyNode; b: CoveyNode; ha: LinkHealth; bId: string }> {
  const a = await node();
  const b = await node();
  const ha = await health(a, b);
  await health(b, a);
  await a.dial(b.getMultiaddrs()[0]);
  return { a, b, ha, bId: b.peerId.toString() };
}

describe('LinkHealth', () => {
  it('hears a peer that echoes, stops hearing it when it goes silent, and then closes the connection', async () => {
    const a = await node();
    const b = await node();
    const ha = await health(a, b);
    const hb = await health(b, a);
    const bId = b.peerId.toString();
    assert.equal(ha.hearing(bId), false, 'never heard before any connection');
    assert.equal(ha.silentMs(bId), null);
    await a.dial(b.getMultiaddrs()[0]);
    await waitFor('a to hear b', () => ha.hearing(bId), 10_000);
    // Heard by its echoes, not only by the connection: still heard well after staleAfterMs.
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(ha.hearing(bId), `b is still heard through its echoes (silent ${ha.silentMs(bId)} ms)`);
    assert.ok((ha.silentMs(bId) ?? Infinity) < 400);

    // b stops answering, the connection stays open: a stops hearing b, then cuts the connection.
    await hb.stop();
    assert.ok(a.getConnections(b.peerId).some((c) => c.status === 'open'));
    await waitFor('a to stop hearing b', () => !ha.hearing(bId), 10_000);
    assert.ok(a.getConnections(b.peerId).length > 0, 'not heard, but not yet cut off');
    await waitFor('a to close the silent connection', () => a.getConnections(b.peerId).every((c) => c.status !== 'open'), 10_000);
    assert.ok((ha.silentMs(bId) ?? 0) >= 1500);
  });

  it('gives a connection that opened before it started watching the same grace as a new one', async () => {
    const a = await node();
    const b = await node();
    await a.dial(b.getMultiaddrs()[0]);
    await health(b, a); // b echoes
    await new Promise((r) => setTimeout(r, 300));
    const ha = await health(a, b);
    const bId = b.peerId.toString();
    await waitFor('a to hear b', () => ha.hearing(bId), 10_000);
    await new Promise((r) => setTimeout(r, 600));
    assert.ok(a.getConnections(b.peerId).some((c) => c.status === 'open'), 'the connection was not cut for want of a connect event');
    assert.ok(ha.hearing(bId));
  });

  it('sends no echo to a peer the agent keeps hearing, and echoes again once it stops', async () => {
    const { ha, bId } = await watchingPair();
    // The agent reports a consensus message from b every 20 ms (intervalMs is 100).
    const reporting = setInterval(() => ha.heard(bId), 20);
    const before = ha.echoesSent;
    await new Promise((r) => setTimeout(r, 800));
    clearInterval(reporting);
    assert.equal(ha.echoesSent - before, 0, 'no echo while b is heard anyway');
    await waitFor('a to echo b once the reports stop', () => ha.echoesSent > before, 10_000);
    await new Promise((r) => setTimeout(r, 600));
    assert.ok(ha.hearing(bId), 'b is still heard, through its echoes');
  });

  it('counts what the agent reports heard, and ignores peers it does not watch', async () => {
    const a = await node();
    const b = await node();
    const ha = await health(a, b);
    const bId = b.peerId.toString();
    ha.heard(bId);
    assert.ok(ha.hearing(bId));
    assert.ok((ha.silentMs(bId) ?? Infinity) < 100);
    ha.heard('12D3KooWNotWatched');
    assert.equal(ha.hearing('12D3KooWNotWatched'), false);
    assert.equal(ha.silentMs('12D3KooWNotWatched'), null);
  });

  it('does not take its own stall for the peer\'s silence: a blocked event loop cuts no connection', async () => {
    const { a, b, ha, bId } = await watchingPair();
    await waitFor('a to hear b', () => ha.hearing(bId), 10_000);
    // Longer than abortAfterMs (1500): both nodes live in this process, so b's echoes cannot be
    // read either, yet nothing about the link changed.
    const until = performance.now() + 2200;
    while (performance.now() < until) { /* a stalled event loop */ }
    await new Promise((r) => setTimeout(r, 600));
    assert.ok(a.getConnections(b.peerId).some((c) => c.status === 'open'), 'the stall did not cut the connection');
    assert.ok(ha.hearing(bId), `b is heard again after the stall (silent ${ha.silentMs(bId)} ms)`);
  });
});
