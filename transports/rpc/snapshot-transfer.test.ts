import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as lp from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { SnapshotMessage } from '../../consensus/index.ts';
import { createCoveyNode, generateIdentityKey, type CoveyNode } from '../node.ts';
import { SnapshotTransfer, snapshotProtocol, snapshotProtocolFor } from './snapshot-transfer.ts';
import { waitFor } from '../testing/eventually.ts';

const logger = pino({ level: process.env.LOG ?? 'silent' });
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

test("two epochs' transfers on one node and one registry: each snapshot reaches its own epoch's core with that epoch's index", { timeout: 60_000 }, async () => {
  assert.equal(snapshotProtocolFor(0), '/covey/snapshot/1.0.0');
  assert.equal(snapshotProtocolFor(3), '/covey/snapshot/1.0.0/epoch/3');
  assert.throws(() => snapshotProtocolFor(-1), RangeError);
  const local: CoveyNode[] = [];
  for (let i = 0; i < 3; i++) local.push(await createCoveyNode({ privateKey: await generateIdentityKey(), listen: ['/ip4/127.0.0.1/tcp/0'] }));
  nodes.push(...local);
  const [a, b, c] = local.map((n) => n.peerId.toString());
  // Epoch 0: [a, b]; epoch 1: [c, b, a]. a and b run both, on one registry each.
  const votersOf = [[a, b], [c, b, a]];
  const registries = [new Registry(), new Registry()];
  const got = new Map<string, { from: number; applied: unknown }[]>();
  const make = (node: number, epoch: number): SnapshotTransfer => {
    const key = `${node}/${epoch}`;
    got.set(key, []);
    const voters = votersOf[epoch];
    const t = new SnapshotTransfer({
      node: local[node], voters, self: voters.indexOf(local[node].peerId.toString()), logger, registry: registries[node], epoch,
      onSnapshot: (from, raw) => got.get(key)!.push({ from, applied: (raw as SnapshotMessage).applied }),
    });
    transfers.push(t);
    return t;
  };
  const t = [[make(0, 0), make(0, 1)], [make(1, 0), make(1, 1)]]; // constructing the second on a registry does not throw
  for (const pair of t) for (const x of pair) await x.start();
  assert.equal(t[1][1].protocol, '/covey/snapshot/1.0.0/epoch/1');
  for (const x of local) for (const y of local) if (x !== y) await x.peerStore.merge(y.peerId, { multiaddrs: y.getMultiaddrs() });
  t[0][0].send(1, { ...snapshot, applied: [10, 0] }); // epoch 0: a (0) -> b (1)
  t[0][1].send(1, { ...snapshot, applied: [11, 0, 0] }); // epoch 1: a (2) -> b (1)
  t[1][1].send(2, { ...snapshot, applied: [12, 0, 0] }); // epoch 1: b (1) -> a (2)
  await waitFor('three snapshots', () => got.get('1/0')!.length + got.get('1/1')!.length + got.get('0/1')!.length === 3);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(got.get('1/0'), [{ from: 0, applied: [10, 0] }]);
  assert.deepEqual(got.get('1/1'), [{ from: 2, applied: [11, 0, 0] }]);
  assert.deepEqual(got.get('0/1'), [{ from: 1, applied: [12, 0, 0] }]);
  assert.deepEqual(got.get('0/0'), []);
  // Both of b's instances counted into b's one counter.
  const received = (await registries[1].getSingleMetric('covey_snapshots_received_total')!.get()).values.find((v) => v.labels.outcome === 'ok')?.value;
  assert.equal(received, 2);
  // Stopping epoch 0's transfer on b leaves epoch 1's working.
  await t[1][0].stop();
  t[0][1].send(1, { ...snapshot, applied: [13, 0, 0] });
  await waitFor('the epoch-1 snapshot after epoch 0 stopped', () => got.get('1/1')!.length === 2);
});
