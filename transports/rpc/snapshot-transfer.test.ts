import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as lp from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { SnapshotMessage } from '../../consensus/index.ts';
import { createCoveyNode, generateIdentityKey, type CoveyNode } from '../node.ts';
import { SnapshotTransfer, snapshotProtocol } from './snapshot-transfer.ts';
import { waitFor } from '../testing/eventually.ts';

const logger = pino({ level: 'silent' });
const nodes: CoveyNode[] = [];
const transfers: SnapshotTransfer[] = [];
after(async () => {
  for (const t of transfers) await t.stop();
  for (const n of nodes) await n.stop();
});

const snapshot: SnapshotMessage = { type: 'Snapshot', machine: { kv: [['a', 'b']], tasks: [], clients: [] }, applied: [3, 1], appliedAbove: [], truncated: [2, 1] };

test('a snapshot reaches the voter it was sent to; a non-voter\'s and garbage are refused and counted', { timeout: 60_000 }, async () => {
  for (let i = 0; i < 3; i++) nodes.push(await createCoveyNode({ privateKey: await generateIdentityKey(), listen: ['/ip4/127.0.0.1/tcp/0'] }));
  const voters = nodes.slice(0, 2).map((n) => n.peerId.toString());
  const got: { from: number; raw: unknown }[] = [];
  const registry = new Registry();
  for (let i = 0; i < 2; i++) {
    const t = new SnapshotTransfer({ node: nodes[i], voters, self: i, logger, registry: i === 1 ? registry : undefined, onSnapshot: (from, raw) => got.push({ from, raw }) });
    await t.start();
    transfers.push(t);
  }
  await nodes[0].dial(nodes[1].getMultiaddrs()[0]);
  transfers[0].send(1, snapshot);
  await waitFor('the snapshot', () => got.length === 1);
  assert.equal(got[0].from, 0);
  assert.deepEqual(got[0].raw, snapshot);

  // A peer that is not a voter, and bytes that are not JSON, never reach the core.
  await nodes[2].dial(nodes[1].getMultiaddrs()[0]);
  const stranger = await nodes[2].dialProtocol(nodes[1].peerId, snapshotProtocol);
  await pipe([new TextEncoder().encode(JSON.stringify(snapshot))], (s) => lp.encode(s), stranger.sink).catch(() => {});
  const garbage = await nodes[0].dialProtocol(nodes[1].peerId, snapshotProtocol);
  await pipe([new Uint8Array([0xff, 0xfe, 0x00, 0x7b])], (s) => lp.encode(s), garbage.sink).catch(() => {});
  const count = async (outcome: string) => ((await registry.getSingleMetric('covey_snapshots_received_total')!.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0);
  const deadline = Date.now() + 10_000;
  while ((await count('non_voter')) < 1 || (await count('invalid')) < 1) {
    if (Date.now() > deadline) assert.fail('refusals not counted');
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(got.length, 1, 'nothing else reached the core');
  // Still working afterwards.
  transfers[0].send(1, { ...snapshot, applied: [4, 1] });
  await waitFor('the second snapshot', () => got.length === 2);
});
