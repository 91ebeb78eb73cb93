// Regression (found by npm run fuzz:wire): a peer sending malformed submit requests or snapshot
// transfers got one warning logged per request — a flood of garbage became a flood of log lines
// (disk and CPU on a device). Each refusal is still counted in the metrics; the log says it at
// most once per peer per interval, carrying how many it stood for.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as lp from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createCoveyNode, generateIdentityKey, type CoveyNode } from '../node.ts';
import { ConsensusRpc, submitProtocol } from './consensus-rpc.ts';
import { SnapshotTransfer, snapshotProtocol } from './snapshot-transfer.ts';

const nodes: CoveyNode[] = [];
const stops: (() => Promise<void>)[] = [];
after(async () => {
  for (const s of stops) await s();
  for (const n of nodes) await n.stop();
});

const requests = 20;

test('a flood of malformed submit requests and snapshot transfers is counted in full and logged once', { timeout: 60_000 }, async () => {
  const lines: { msg: string; suppressed?: number }[] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
  for (let i = 0; i < 2; i++) nodes.push(await createCoveyNode({ privateKey: await generateIdentityKey(), listen: ['/ip4/127.0.0.1/tcp/0'] }));
  const voters = nodes.map((n) => n.peerId.toString());
  const registry = new Registry();
  const rpc = new ConsensusRpc({ node: nodes[1], voters, self: 1, logger, registry, onMessage: () => {}, onSubmit: async () => ({ ok: true }) });
  const snapshots = new SnapshotTransfer({ node: nodes[1], voters, self: 1, logger, registry, onSnapshot: () => {} });
  await rpc.start();
  await snapshots.start();
  stops.push(() => rpc.stop(), () => snapshots.stop());
  await nodes[0].dial(nodes[1].getMultiaddrs()[0]);

  for (let i = 0; i < requests; i++) {
    const s = await nodes[0].dialProtocol(nodes[1].peerId, submitProtocol);
    await pipe([Uint8Array.of(0x0a, 0x05, 0xff, i)], (x) => lp.encode(x), s, async (src) => { for await (const _ of lp.decode(src)) break; });
    const t = await nodes[0].dialProtocol(nodes[1].peerId, snapshotProtocol);
    await pipe([Uint8Array.of(0xff, 0xfe, i)], (x) => lp.encode(x), t, async (src) => { for await (const _ of src) { /* ends when refused */ } }).catch(() => {});
  }
  const value = async (name: string, label: string, v: string) =>
    (await registry.getSingleMetric(name)!.get()).values.find((x) => x.labels[label] === v)?.value ?? 0;
  const deadline = Date.now() + 10_000;
  while ((await value('covey_snapshots_received_total', 'outcome', 'invalid')) < requests) {
    if (Date.now() > deadline) assert.fail('snapshot refusals not all counted');
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(await value('covey_rpc_submits_served_total', 'outcome', 'invalid'), requests, 'every malformed submit is counted');
  const submitWarnings = lines.filter((l) => l.msg === 'refused a malformed submit request');
  const snapshotWarnings = lines.filter((l) => l.msg === 'dropped a snapshot transfer');
  assert.equal(submitWarnings.length, 1, JSON.stringify(submitWarnings));
  assert.equal(snapshotWarnings.length, 1, JSON.stringify(snapshotWarnings));
});
