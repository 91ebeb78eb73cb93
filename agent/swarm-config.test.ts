// The configs `createSwarm` writes for voters and workers with plugins, devices and extra config,
// and the YAML fragments of `covey swarm up --config-extra`. No agent is started here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './config.ts';
import { createSwarm, mergeConfig, mergePlugins, readConfigFragment } from './swarm.ts';

test('createSwarm: voters + workers, plugins for all, devices and extra config per agent; each config is checked', async () => {
  const root = mkdtempSync(join(tmpdir(), 'covey-swarm-config-'));
  try {
    const s = await createSwarm(join(root, 'a'), {
      voters: 3,
      workers: 2,
      plugins: [{ module: '/opt/plugins/survey.ts', options: { cellSizeM: 20 } }],
      devices: (i, a) => a.voter ? [] : [{ driver: 'sim-autopilot', name: 'autopilot', home: { lat: 47, lon: 8 + i / 1000 } }],
      configExtra: [{ log: { level: 'warn' } }, (_i, a) => a.workerIndex === 1 ? { plugins: ['/opt/plugins/extra.ts'], consensus: { tickMs: 7 } } : {}],
    });
    assert.deepEqual(s.agents.map((a) => a.voter), [true, true, true, false, false]);
    const configs = s.agents.map((a) => loadConfig(a.config));
    assert.ok(configs.every((c) => c.voters.length === 3 && c.log.level === 'warn'));
    assert.deepEqual(configs.map((c) => c.devices.map((d) => d.name)), [[], [], [], ['autopilot'], ['autopilot']]);
    assert.deepEqual(configs[3].plugins, [{ module: '/opt/plugins/survey.ts', options: { cellSizeM: 20 }, enabled: true }]);
    assert.deepEqual(configs[4].plugins.map((p) => p.module), ['/opt/plugins/extra.ts', '/opt/plugins/survey.ts']);
    assert.equal(configs[4].consensus.tickMs, 7);
    assert.equal(configs[4].consensus.requestTimeoutMs, 5000, 'mappings merge');

    // A bad device spec fails here, naming the agent and the entry, instead of a dead process later.
    await assert.rejects(createSwarm(join(root, 'b'), { voters: 3, workers: 1, devices: (_i, a) => a.voter ? [] : [{ driver: 'gpio-out', name: 'led' } as never] }),
      /agent 3 \(worker\): 1 problem:\n {2}devices\[0\] \("led"\)\.line: missing/);
    await assert.rejects(createSwarm(join(root, 'c'), { agents: 4, voters: 3, workers: 2 }), /-n \(4\) must equal --voters \(3\) \+ --workers \(2\)/);
    const plain = await createSwarm(join(root, 'd'), { agents: 3 });
    assert.deepEqual(plain.agents.map((a) => a.voter), [true, true, true]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('config fragments: relative plugin paths become absolute against the fragment; lists append, mappings merge', () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-fragment-'));
  try {
    writeFileSync(join(dir, 'f.yaml'), 'plugins:\n  - module: ./p/survey.ts\n    options: { a: 1 }\n  - ../q.ts\n  - some-package\nlog: { level: debug }\n');
    const f = readConfigFragment(join(dir, 'f.yaml'));
    assert.deepEqual(f.plugins, [{ module: join(dir, 'p/survey.ts'), options: { a: 1 } }, join(dir, '../q.ts'), 'some-package']);
    writeFileSync(join(dir, 'bad.yaml'), '- a list\n');
    assert.throws(() => readConfigFragment(join(dir, 'bad.yaml')), /expected a YAML mapping of agent config fields/);
    assert.throws(() => readConfigFragment(join(dir, 'none.yaml')), /none\.yaml: no such file/);
    assert.deepEqual(mergeConfig({ plugins: ['a'], http: { listen: 'x', token: 't' }, mdns: false }, { plugins: ['b'], http: { listen: 'y' }, mdns: true, devices: [1] }),
      { plugins: ['a', 'b'], http: { listen: 'y', token: 't' }, mdns: true, devices: [1] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('per-role plugin options: a role\'s fragment that lists a plugin again merges its options into the entry instead of a second entry', async () => {
  const root = mkdtempSync(join(tmpdir(), 'covey-per-role-'));
  try {
    // Two fragments beside each other, as a user writes them for `covey swarm up --config-extra
    // survey.yaml --worker-config-extra drone.yaml`: the same relative module in both.
    writeFileSync(join(root, 'survey.yaml'), 'plugins:\n  - module: ./survey.ts\n    options: { cellSizeM: 20, planner: { every: 5, mode: grid }, zones: [a, b] }\n  - ./heartbeat.ts\n');
    writeFileSync(join(root, 'drone.yaml'), 'plugins:\n  - module: ./survey.ts\n    options: { planner: { mode: follow }, zones: [c] }\n  - { module: ./heartbeat.ts, enabled: false }\n  - ./camera.ts\n');
    writeFileSync(join(root, 'voter.yaml'), 'plugins:\n  - module: ./survey.ts\n    options: { cellSizeM: 50 }\n');
    const all = readConfigFragment(join(root, 'survey.yaml'));
    const workers = readConfigFragment(join(root, 'drone.yaml'));
    const voters = readConfigFragment(join(root, 'voter.yaml'));
    const s = await createSwarm(join(root, 'swarm'), { voters: 3, workers: 1, configExtra: [all, (_i, a) => a.voter ? voters : workers] });
    const [voter, worker] = [loadConfig(s.agents[0].config), loadConfig(s.agents[3].config)];
    const survey = join(root, 'survey.ts');
    assert.deepEqual(voter.plugins, [
      { module: survey, options: { cellSizeM: 50, planner: { every: 5, mode: 'grid' }, zones: ['a', 'b'] }, enabled: true },
      { module: join(root, 'heartbeat.ts'), enabled: true },
    ]);
    assert.deepEqual(worker.plugins, [
      // Mappings merge key by key; a list replaces (zones), as any other value does.
      { module: survey, options: { cellSizeM: 20, planner: { every: 5, mode: 'follow' }, zones: ['c'] }, enabled: true },
      { module: join(root, 'heartbeat.ts'), enabled: false },
      { module: join(root, 'camera.ts'), enabled: true },
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  assert.deepEqual(mergePlugins(['a', { module: 'b', options: 3 }], ['b', { module: 'a', options: { x: 1 } }, 'c']),
    [{ module: 'a', options: { x: 1 } }, { module: 'b', options: 3 }, 'c'], 'bare strings are { module }; an entry without options keeps the old ones');
});
