import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { Agent } from '../agent.ts';
import { AgentClient } from '../client.ts';
import { parseConfig } from '../config.ts';
import { DeadlineError, UnavailableError as DriverUnavailableError } from '../driver.ts';
import { createIdentity, saveIdentity, type Identity } from '../identity.ts';
import { silentLogger } from '../testing.ts';
import type { MemberEvent, Meta } from '../../transports/membership/index.ts';
import type { MemberInfo } from '../../transports/membership/driver.ts';
import { AgentEnvironment, cryptoRandom, telemetryTopic } from './agent-env.ts';
import { UnavailableError } from './api.ts';

const apiUrl = pathToFileURL(join(import.meta.dirname, 'api.ts')).href;
const zodUrl = import.meta.resolve('zod');

/** A plugin that leaves evidence in the replicated store: its boots (from its private store) and what it heard. */
const probeSource = `
import { definePlugin } from '${apiUrl}';
import { z } from '${zodUrl}';
export default definePlugin({
  name: 'probe',
  version: '1.0.0',
  capabilities: { kv: ['probe/'], topics: ['ping'] },
  options: z.strictObject({ label: z.string().regex(/^[a-z0-9]+$/), everyMs: z.number().int().positive().default(200) }),
  start(ctx) {
    const label = ctx.options.label;
    const ping = ctx.telemetry.topic('ping', z.object({ label: z.string(), n: z.number() }));
    const heard = new Set();
    ping.subscribe(async (v, from) => {
      if (heard.has(v.label)) return;
      heard.add(v.label);
      await ctx.kv.put('probe/' + label + '/heard/' + v.label, from);
    });
    ctx.after(0, async () => {
      const boots = ((await ctx.store.get('boots')) ?? 0) + 1;
      await ctx.store.put('boots', boots);
      await ctx.store.put('last', { label, at: ctx.clock.now() });
      await ctx.kv.put('probe/' + label + '/boots', String(boots));
    });
    let n = 0;
    ctx.every(ctx.options.everyMs, () => ping.publish({ label, n: ++n }));
  },
});
`;

const crashySource = `
import { definePlugin } from '${apiUrl}';
export default definePlugin({
  name: 'crashy',
  version: '0.0.1',
  capabilities: {},
  start() { throw new Error('the sensor bus is on fire'); },
});
`;

/** Ports the kernel says are free now (bound to 0 and released). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<import('node:net').Server>((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => res(s));
  })));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

interface Setup { dir: string; ids: Identity[]; ports: number[] }

async function setup(): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'covey-agent-env-'));
  writeFileSync(join(dir, 'probe.ts'), probeSource);
  writeFileSync(join(dir, 'crashy.ts'), crashySource);
  const ids = await Promise.all([0, 1, 2].map(() => createIdentity()));
  return { dir, ids, ports: await freePorts(3) };
}

/** Agent i's config: its own directory under s.dir, the three voters on loopback, these plugins. */
function configFor(s: Setup, i: number, plugins: unknown[]) {
  const adir = join(s.dir, `agent-${i}`);
  if (!existsSync(join(adir, 'identity.key'))) saveIdentity(join(adir, 'identity.key'), s.ids[i]);
  const voters = s.ids.map((id, v) => ({ id: id.peerId, addrs: [`/ip4/127.0.0.1/tcp/${s.ports[v]}`] }));
  const yaml = stringify({
    swarm: { name: 'plugin-test' },
    listen: [`/ip4/127.0.0.1/tcp/${s.ports[i]}`],
    voters,
    mdns: false,
    http: { listen: '127.0.0.1:0' },
    consensus: { requestTimeoutMs: 3000 },
    plugins,
  });
  // Module paths are relative to the config file's directory: the plugins sit one level up.
  return parseConfig(yaml, `agent-${i}/config.yaml`, adir);
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a real 3-voter swarm: plugins write through consensus, hear each other over gossipsub, keep a private store; a crashing plugin is failed, the agent serves on', async () => {
  const s = await setup();
  const plugins = (i: number) => [
    { module: '../probe.ts', options: { label: `a${i}` } },
    ...(i === 1 ? [{ module: '../crashy.ts' }] : []),
    { module: '../missing-but-disabled.ts', enabled: false },
  ];
  const agents = await Promise.all([0, 1, 2].map((i) => Agent.start(configFor(s, i, plugins(i)), { logger: silentLogger, supervision: { restartInitialMs: 60_000 } })));
  try {
    const clients = agents.map((a) => new AgentClient(a.httpUrl));
    const get = async (key: string): Promise<string | undefined> => {
      const r = await agents[2].submit({ op: 'get', key }, {});
      return r.ok && r.value !== null && r.value !== undefined ? r.value : undefined;
    };
    // Through consensus: every probe recorded its first boot (counted in its lmdb store).
    for (const i of [0, 1, 2]) assert.equal(await until(`a${i} boots`, () => get(`probe/a${i}/boots`)), '1');
    // Over gossipsub: a0 heard a1 and a2, named by their peer ids; a2 heard a0.
    assert.equal(await until('a0 hears a1', () => get('probe/a0/heard/a1')), agents[1].identity.peerId);
    assert.equal(await until('a0 hears a2', () => get('probe/a0/heard/a2')), agents[2].identity.peerId);
    assert.equal(await until('a2 hears a0', () => get('probe/a2/heard/a0')), agents[0].identity.peerId);
    assert.equal(await get('probe/a0/heard/a0'), undefined, 'its own messages are not delivered back');

    // The crashing plugin: failed, with its error, in GET /plugins and in status(); the rest runs.
    const listed = (await clients[1].plugins()).plugins;
    assert.deepEqual(listed.map((p) => [p.name, p.state, p.source]), [['probe', 'active', '../probe.ts'], ['crashy', 'failed', '../crashy.ts']]);
    assert.equal(listed[1].lastError, 'the sensor bus is on fire');
    assert.equal(listed[1].version, '0.0.1');
    assert.ok(listed[1].nextRestartInMs !== null && listed[1].nextRestartInMs > 50_000);
    const status = await clients[1].status();
    assert.deepEqual((status.plugins as { name: string; state: string }[]).map((p) => `${p.name}:${p.state}`), ['probe:active', 'crashy:failed']);
    assert.deepEqual(await clients[1].put('still', 'serving'), { ok: true });
    assert.deepEqual(await clients[0].get('still'), { ok: true, value: 'serving' });

    // Membership advertises the plugin names (enabled ones only).
    const advertised = await until('meta.plugins of agent 1 at agent 0', async () => {
      const m = (agents[0].members() as { peerId: string; meta: Meta | null }[]).find((x) => x.peerId === agents[1].identity.peerId);
      return m?.meta?.plugins.length === 2 ? m.meta.plugins : undefined;
    });
    assert.deepEqual(advertised, ['probe', 'crashy']);
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
  }
  assert.deepEqual(agents[0].plugins().map((p) => p.state), ['inactive'], 'stopped with the agent');
  // The store is durable and private to the plugin: read it back after the agent stopped.
  const env = new AgentEnvironment({ ...envOptions(), storeDir: join(s.dir, 'agent-0', 'data', 'plugins') });
  try {
    assert.equal(await env.store('probe').get('boots'), 1);
    assert.deepEqual(await env.store('probe').keys(), ['boots', 'last']);
    assert.deepEqual(await env.store('crashy').keys(), []);
  } finally {
    await env.close();
    rmSync(s.dir, { recursive: true, force: true });
  }
});

test('Agent.start rejects a config naming a missing plugin module, bad options or a plugin twice, and leaves nothing running', async () => {
  const s = await setup();
  try {
    await assert.rejects(Agent.start(configFor(s, 0, [{ module: '../nope.ts' }]), { logger: silentLogger }),
      (e: Error) => e.name === 'PluginLoadError' && /^plugins\[0\]: cannot load plugin module "\.\.\/nope\.ts".*check the path/.test(e.message));
    await assert.rejects(Agent.start(configFor(s, 0, [{ module: '../probe.ts', options: { label: 'A!' } }]), { logger: silentLogger }),
      /plugin "probe": 1 problem with its options:\n {2}plugins\[0\]\.options\.label/);
    await assert.rejects(Agent.start(configFor(s, 0, [{ module: '../crashy.ts' }, { module: '../crashy.ts' }]), { logger: silentLogger }),
      /plugins\[1\]: plugin "crashy" is already loaded by plugins\[0\]; list each plugin once/);
    assert.equal(existsSync(join(s.dir, 'agent-0', 'data')), false, 'no store was opened');
    // Nothing listens on the agent's libp2p port.
    await new Promise<void>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(s.ports[0], '127.0.0.1', () => srv.close(() => resolve()));
    });
  } finally {
    rmSync(s.dir, { recursive: true, force: true });
  }
});

// ---- the environment alone, without a network ---------------------------------------------

function envOptions(over: Partial<ConstructorParameters<typeof AgentEnvironment>[0]> = {}): ConstructorParameters<typeof AgentEnvironment>[0] {
  return {
    agentId: 'me', role: 'worker', swarm: 's',
    submit: async () => ({ ok: true }),
    staleGet: null,
    pubsub: null,
    members: () => [],
    onMemberEvent: () => () => {},
    devices: new Map(),
    logger: silentLogger,
    storeDir: join(tmpdir(), 'covey-never-used'),
    ...over,
  };
}

test('environment: consensus errors become UnavailableError; stale reads on a worker say where to ask', async () => {
  for (const err of [new DeadlineError('no voter answered within 5000 ms'), new DriverUnavailableError('the replica is stopping')]) {
    const env = new AgentEnvironment(envOptions({ submit: () => Promise.reject(err) }));
    await assert.rejects(env.submit({ op: 'get', key: 'k' }), (e: Error) => e instanceof UnavailableError && e.message === err.message && (e as Error & { cause: unknown }).cause === err);
  }
  const other = new AgentEnvironment(envOptions({ submit: () => Promise.reject(new Error('bug')) }));
  await assert.rejects(other.submit({ op: 'get', key: 'k' }), (e: Error) => !(e instanceof UnavailableError) && e.message === 'bug');
  const worker = new AgentEnvironment(envOptions());
  await assert.rejects(worker.staleGet('k'), /stale reads are served by voters.*use kv\.get/);
  const voter = new AgentEnvironment(envOptions({ role: 'voter', staleGet: (key) => ({ value: `v:${key}`, stale: true, staleness: { appliedInstances: 3 } }) }));
  assert.deepEqual(await voter.staleGet('k'), { value: 'v:k', stale: true, staleness: { appliedInstances: 3 } });
  // A worker promoted to voter while its plugins run: stale reads follow the role as it is now.
  let role: 'voter' | 'worker' = 'worker';
  const page = { value: { entries: [], next: null }, stale: true as const, staleness: {} };
  const moving = new AgentEnvironment(envOptions({
    role: () => role, staleGet: (key) => ({ value: `v:${key}`, stale: true, staleness: {} }), staleList: () => page, staleTasks: () => ({ value: [], stale: true, staleness: {} }),
  }));
  await assert.rejects(moving.staleGet('k'), /stale reads are served by voters/);
  await assert.rejects(moving.staleList({ prefix: 'a/' } as never), /kv.list is a local read .* is a worker/);
  await assert.rejects(moving.staleTasks(), /tasks.list is a local read .* is a worker/);
  role = 'voter';
  assert.equal(moving.role, 'voter');
  assert.deepEqual(await moving.staleGet('k'), { value: 'v:k', stale: true, staleness: {} });
  assert.deepEqual(await moving.staleList({ prefix: 'a/' } as never), page);
  role = 'worker';
  await assert.rejects(moving.staleGet('k'), /stale reads are served by voters/);
  assert.equal(telemetryTopic('field', 'battery'), 'covey/field/telemetry/battery');
  for (let i = 0; i < 1000; i++) {
    const r = cryptoRandom();
    assert.ok(r >= 0 && r < 1);
  }
  assert.notEqual(worker.random(), worker.random());
});

test('environment: membership views and changes mapped to the plugin API', () => {
  const meta = (role: 'voter' | 'worker'): Meta => ({ role, devices: [], plugins: [], battery: null });
  const info = (id: string, state: MemberInfo['state'], role: 'voter' | 'worker'): MemberInfo => ({ id, state, incarnation: 1, lastHeardMsAgo: 0, meta: meta(role), addr: '' });
  const listeners = new Set<(e: MemberEvent) => void>();
  const env = new AgentEnvironment(envOptions({
    members: () => [info('me', 'alive', 'worker'), info('v1', 'suspect', 'voter')],
    onMemberEvent: (fn) => { listeners.add(fn); return () => { listeners.delete(fn); }; },
  }));
  assert.deepEqual(env.members(), [{ id: 'me', state: 'alive', role: 'worker', self: true }, { id: 'v1', state: 'suspect', role: 'voter', self: false }]);
  const seen: string[] = [];
  const cancel = env.onMemberChange((c) => seen.push(`${c.type}:${c.member.id}:${c.member.state}:${c.member.role}`));
  const types = [['join', 'alive'], ['update', 'alive'], ['suspect', 'suspect'], ['alive', 'alive'], ['dead', 'dead'], ['leave', 'left']] as const;
  for (const [type, state] of types) for (const fn of listeners) fn({ type, member: { id: 'w2', addr: '', incarnation: 2, state, meta: meta('worker') }, atMs: 0 });
  assert.deepEqual(seen, ['joined:w2:alive:worker', 'updated:w2:alive:worker', 'suspect:w2:suspect:worker', 'alive:w2:alive:worker', 'dead:w2:dead:worker', 'left:w2:left:worker']);
  cancel();
  assert.equal(listeners.size, 0);
});

test('environment: the store is per plugin, JSON values, durable across close and reopen; refused after close', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-plugin-store-'));
  try {
    const env = new AgentEnvironment(envOptions({ storeDir: join(dir, 'plugins') }));
    const a = env.store('alpha');
    const b = env.store('beta');
    assert.equal(await a.get('missing'), undefined);
    await a.put('cells/1', { done: true, n: 3 });
    await a.put('cells/2', [1, 'two', null]);
    await a.put('count', 7);
    await b.put('cells/1', 'beta own');
    assert.deepEqual(await a.get('cells/1'), { done: true, n: 3 });
    assert.deepEqual(await a.keys('cells/'), ['cells/1', 'cells/2']);
    assert.deepEqual(await b.keys(), ['cells/1']);
    await a.delete('cells/2');
    await assert.rejects(a.put('bad', undefined), /not JSON-serialisable/);
    await assert.rejects(a.put('', 1), /non-empty strings/);
    await env.close();
    await assert.rejects(a.get('count'), /store is closed/);
    const again = new AgentEnvironment(envOptions({ storeDir: join(dir, 'plugins') }));
    assert.deepEqual(await again.store('alpha').keys(), ['cells/1', 'count']);
    assert.equal(await again.store('alpha').get('count'), 7);
    assert.equal(await again.store('beta').get('cells/1'), 'beta own');
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('environment: listings come from the voter\'s replica; a worker says they are served by voters', async () => {
  const worker = new AgentEnvironment(envOptions());
  await assert.rejects(worker.staleList({ prefix: 'a/', after: null, limit: 10 }), /kv\.list is a local read of the replicated state, which voters hold; this agent \(me\) is a worker/);
  await assert.rejects(worker.staleTasks(), /tasks\.list is a local read/);
  const page = { entries: [{ key: 'a/1', value: 'x' }], next: null };
  const voter = new AgentEnvironment(envOptions({
    role: 'voter',
    staleList: (q) => ({ value: q.prefix === 'a/' ? page : { entries: [], next: null }, stale: true, staleness: { appliedInstances: 4 } }),
    staleTasks: () => ({ value: [], stale: true, staleness: { appliedInstances: 4 } }),
  }));
  assert.deepEqual(await voter.staleList({ prefix: 'a/', after: null, limit: 10 }), { value: page, stale: true, staleness: { appliedInstances: 4 } });
  assert.deepEqual(await voter.staleTasks(), { value: [], stale: true, staleness: { appliedInstances: 4 } });
});
