// Integration: the swarm roster on a real local swarm (agent processes, libp2p over TCP, lmdb).
// A peer off the roster cannot connect, submit, vote or publish; a roster member that is not a
// voter cannot vote; a revoked peer is cut off. The outsider is a libp2p node in this process
// with a key of its own, speaking the agents' own protocols.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipe } from 'it-pipe';
import * as lp from 'it-length-prefixed';
import { multiaddr } from '@multiformats/multiaddr';
import { AgentClient } from './client.ts';
import { createSwarm, startAgent, swarmDown, waitReady, type Swarm } from './swarm.ts';
import { silentLogger } from './testing.ts';
import { createCoveyNode, generateIdentityKey, type CoveyNode } from '../transports/node.ts';
import { ConsensusRpc, epaxosProtocol } from '../transports/rpc/consensus-rpc.ts';
import type { Command } from '../consensus/index.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { createJoinToken } from './join-token.ts';
import { StreamClient } from './stream/client.ts';
import { eventually as poll } from '../transports/testing/eventually.ts';

const eventually = <T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => poll(what, f, timeoutMs, 100);

const cli = new URL('./cli/covey.ts', import.meta.url).pathname;
const run = promisify(execFile);
const stranger2Key = await generateIdentityKey();
const stranger2Id = peerIdFromPrivateKey(stranger2Key).toString();

const root = mkdtempSync(join(tmpdir(), 'covey-roster-test-'));
let swarm: Swarm | null = null;
const nodes: CoveyNode[] = [];
after(async () => {
  for (const n of nodes) await n.stop();
  if (swarm !== null) await swarmDown(swarm.dir).catch(() => {});
  rmSync(root, { recursive: true, force: true });
});

/** A libp2p node of this process: a stranger to the swarm until admitted. */
async function outsider(): Promise<CoveyNode> {
  const node = await createCoveyNode({ privateKey: await generateIdentityKey(), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false });
  nodes.push(node);
  return node;
}

/**
 * Asserts that `node` holds no connection to `addr` for long: the dialler's side may finish its
 * upgrade before the other side's gater closes the connection, so a dial may resolve and then die.
 */
async function assertRefused(node: CoveyNode, addr: ReturnType<typeof multiaddr>): Promise<void> {
  try {
    const conn = await node.dial(addr, { signal: AbortSignal.timeout(5000) });
    await eventually('the refused connection to close', async () => conn.status === 'open' ? undefined : true, 5000);
  } catch {
    // refused during the upgrade: what we want
  }
  const peer = addr.getPeerId()!;
  assert.equal(node.getConnections().filter((c) => c.remotePeer.toString() === peer && c.status === 'open').length, 0);
}

/** Voter `i`'s TCP address: the first listen address the swarm launcher writes (agent/swarm.ts). */
function voterAddr(s: Swarm, i: number): ReturnType<typeof multiaddr> {
  const tcp = /\/ip4\/127\.0\.0\.1\/tcp\/\d+/.exec(readFileSync(s.agents[i].config, 'utf8'))![0];
  return multiaddr(`${tcp}/p2p/${s.agents[i].peerId}`);
}

async function metric(c: AgentClient, name: string, label: string): Promise<number> {
  const text = await (await fetch(`${c.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

test('the roster: strangers cannot connect, submit, vote or publish; workers cannot vote; a revoked peer is cut off', { timeout: 240_000 }, async () => {
  // 3 voters and one worker (agent 3), with an enforced, empty bootstrap roster: the worker is
  // admitted at run time, through consensus.
  const s = await createSwarm(join(root, 'roster'), { voters: 3, workers: 1, requestTimeoutMs: 3000, configExtra: { swarm: { roster: [] } } });
  swarm = s;
  for (const a of s.agents) startAgent(s, a.index);
  await waitReady(s, 60_000, [0, 1, 2]);
  const c = s.agents.map((a) => new AgentClient(a.http));
  const voterIds = s.agents.slice(0, 3).map((a) => a.peerId);
  const worker = s.agents[3].peerId;

  // A stranger: the voters' gaters refuse it once noise names it.
  const stranger = await outsider();
  await assertRefused(stranger, voterAddr(s, 0));
  // Nor can it submit (the submit protocol needs a connection) or publish telemetry to anyone.
  const strangerRpc = new ConsensusRpc({ node: stranger, voters: voterIds, self: null, logger: silentLogger, onMessage: () => {} });
  await strangerRpc.start();
  const cmd = (key: string, requestId: number): Command => ({ clientId: 'outsider', requestId, timestampMs: Date.now(), op: 'put', key, value: 'x' });
  await assert.rejects(strangerRpc.submit(0, cmd('from-stranger', 1), AbortSignal.timeout(3000)));
  stranger.services.pubsub.subscribe('covey/local/telemetry/t');
  await assert.rejects(stranger.services.pubsub.publish('covey/local/telemetry/t', new Uint8Array([1])));
  assert.deepEqual(await c[0].get('from-stranger'), { ok: true, value: null });

  // The worker, off the roster, reaches no voter; admitted at a voter, it becomes ready and writes.
  const before = await c[0].peers() as { enforced: boolean; peers: { peerId: string; connected: boolean }[] };
  assert.equal(before.enforced, true);
  assert.equal(before.peers.find((p) => p.peerId === worker), undefined);
  await eventually('the worker\'s HTTP API', () => c[3].status());
  await assert.rejects(c[3].put('from-unadmitted-worker', 'w'));
  const refused = await c[3].changeRoster('admit', worker);
  assert.match((refused as { error: string }).error, /roster changes are made at a voter/); // a worker cannot change the roster
  assert.deepEqual(await c[0].changeRoster('admit', worker), { ok: true, value: '1' });
  await waitReady(s, 60_000, [3]);
  assert.deepEqual(await c[3].put('from-worker', 'w'), { ok: true });
  assert.deepEqual(await c[1].get('from-worker'), { ok: true, value: 'w' });

  // Admitted, the outsider connects and submits, but its consensus frames are not votes.
  assert.deepEqual(await c[1].changeRoster('admit', stranger.peerId.toString()), { ok: true, value: '2' });
  // Each voter learns of the admission when it applies it: retry until voter 0 has.
  assert.deepEqual(await eventually('the admitted outsider to submit', async () => {
    await stranger.dial(voterAddr(s, 0), { signal: AbortSignal.timeout(3000) });
    return strangerRpc.submit(0, cmd('from-outsider', 2), AbortSignal.timeout(3000));
  }), { ok: true });
  const droppedBefore = await metric(c[0], 'covey_rpc_frames_dropped_total', 'reason="non_voter"');
  const stream = await stranger.dialProtocol(voterAddr(s, 0), epaxosProtocol);
  await pipe([new Uint8Array([8, 1, 16, 1]), new Uint8Array([0])], (src) => lp.encode(src), stream.sink);
  await eventually('its consensus frames to be dropped as non_voter', async () =>
    (await metric(c[0], 'covey_rpc_frames_dropped_total', 'reason="non_voter"')) >= droppedBefore + 2 ? true : undefined);

  // A join token signed by an admitted peer (the worker) admits a new device; one signed by a
  // peer off the roster does not. Both through the CLI, as an operator in the field would.
  const joiner = await outsider();
  const joinerRpc = new ConsensusRpc({ node: joiner, voters: voterIds, self: null, logger: silentLogger, onMessage: () => {} });
  await joinerRpc.start();
  const covey = (...args: string[]) => run(process.execPath, [cli, ...args]);
  const forged = await createJoinToken(stranger2Key, stranger2Id, { swarm: s.name, peer: joiner.peerId.toString(), ttlMs: 60_000, nowMs: Date.now() });
  assert.match((await covey('peers', 'join', forged, '--agent', s.agents[2].http).catch((e: { stderr: string }) => e) as { stderr: string }).stderr, /join token refused: its issuer .* is not on the roster/);
  const token = (await covey('peers', 'token', '--config', s.agents[3].config, '--for', joiner.peerId.toString(), '--ttl', '10m')).stdout.trim();
  assert.match((await covey('peers', 'join', token, '--agent', s.agents[2].http)).stdout, /"ok": true/);
  assert.deepEqual(await eventually('the joiner to submit', async () => {
    await joiner.dial(voterAddr(s, 0), { signal: AbortSignal.timeout(3000) });
    return joinerRpc.submit(0, { clientId: 'joiner', requestId: 1, timestampMs: Date.now(), op: 'put', key: 'from-joiner', value: 'j' }, AbortSignal.timeout(3000));
  }), { ok: true });
  // Nor can a worker change the voter set (only voters propose a voters.change), nor anyone make a
  // peer off the roster a voter: both refused at the door, and the swarm goes on committing.
  const change = { op: 'voters.change', epoch: 0, voters: [voterIds[0], voterIds[1], worker].join(','), reason: 'test' } as const;
  await assert.rejects(joinerRpc.submit(0, { clientId: 'joiner', requestId: 2, timestampMs: Date.now(), ...change }, AbortSignal.timeout(3000)),
    /voter set changes are accepted only from voters/);
  const streamClient = await StreamClient.connect(s.agents[1].http);
  const offRoster = { ...change, voters: [voterIds[0], voterIds[1], stranger2Id].join(',') };
  assert.deepEqual(await streamClient.submit(offRoster), { ok: false, error: `voters.change refused: ${stranger2Id} is not on the swarm roster; admit it first (covey peers admit <peer id>)` });
  streamClient.close();
  // The operator's door (covey voters, GET/POST /voters) shows the voters and refuses a peer off the roster.
  type Voters = { epoch: number; self: number | null; voters: { peerId: string; reachable: boolean | null }[] };
  const atVoter = JSON.parse((await covey('voters', 'ls', '--json', '--agent', s.agents[0].http)).stdout) as Voters;
  assert.deepEqual([atVoter.epoch, atVoter.self, atVoter.voters.map((v) => v.peerId), atVoter.voters[0].reachable], [0, 0, voterIds, true]);
  const atWorker = JSON.parse((await covey('voters', 'ls', '--json', '--agent', s.agents[3].http)).stdout) as Voters;
  assert.deepEqual([atWorker.self, atWorker.voters.map((v) => v.reachable)], [null, [null, null, null]]);
  const replace = await covey('voters', 'replace', voterIds[2], stranger2Id, '--agent', s.agents[0].http).catch((e: { code: number; stderr: string }) => e);
  assert.equal((replace as { code?: number }).code, 1);
  assert.match((replace as { stderr: string }).stderr, /not on the roster|not on the swarm roster/);
  const fromWorker = await covey('voters', 'replace', voterIds[2], worker, '--agent', s.agents[3].http).catch((e: { code: number; stderr: string }) => e);
  assert.match((fromWorker as { stderr: string }).stderr, /^covey voters replace: voter-set changes are made at a voter/);
  assert.deepEqual(await c[2].put('after-voters-change', 'v'), { ok: true });
  await joinerRpc.stop();

  // Revoked, it is cut off: connections closed, redials refused, submissions fail.
  assert.deepEqual(await c[2].changeRoster('revoke', stranger.peerId.toString()), { ok: true, value: '4' });
  await eventually('the revoked outsider to be disconnected', async () => stranger.getConnections().length === 0 ? true : undefined);
  await assertRefused(stranger, voterAddr(s, 1));
  await assert.rejects(strangerRpc.submit(1, cmd('after-revoke', 3), AbortSignal.timeout(3000)));
  assert.deepEqual(await c[0].get('after-revoke'), { ok: true, value: null });
  // Every agent, the worker included (it learns from the voters), lists it revoked.
  for (const client of c) {
    await eventually('every agent to list the outsider revoked', async () => {
      const r = await client.peers() as { version: number; peers: { peerId: string; admitted: boolean }[] };
      return r.peers.find((p) => p.peerId === stranger.peerId.toString())?.admitted === false && r.version === 4 ? true : undefined;
    });
  }
  // A voter cannot be revoked (the voter set changes only by reconfiguration).
  assert.match((await c[0].changeRoster('revoke', voterIds[1]) as { error: string }).error, /is a voter; a voter stays on the roster/);
  await strangerRpc.stop();
});
