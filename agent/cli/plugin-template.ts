// What `covey new plugin NAME` writes: a plugin package that is an ordinary npm package. Covey is
// its peer dependency (the agent that loads it brings its own), it is written in TypeScript and
// run directly by its tests, and it ships compiled JavaScript with .d.ts (dist/), because Node
// does not strip types under node_modules. Its own `npm test` type-checks it and runs a unit test
// (covey/testing) and a short simulation of a swarm running it (the `simulation` export, the
// scenario `covey sim --plugin` runs); package/pack.test.ts checks that this passes as written.

export interface PluginTemplateInput {
  /** The plugin's name (definePlugin's `name`, pluginNamePattern). */
  readonly name: string;
  /** The npm package's name: covey-plugin-NAME by default. */
  readonly packageName: string;
  /** The Covey version the CLI is: the peer dependency is ^ of it. */
  readonly coveyVersion: string;
}

/** The files of a new plugin package, by path relative to its directory. */
export function pluginTemplate(t: PluginTemplateInput): Record<string, string> {
  return {
    'package.json': packageJson(t),
    'tsconfig.json': tsconfig,
    'tsconfig.build.json': tsconfigBuild,
    '.gitignore': 'node_modules/\ndist/\n*.tgz\n',
    'src/index.ts': indexTs(t),
    'src/plugin.ts': pluginTs(t),
    'src/simulation.ts': simulationTs(t),
    'src/plugin.test.ts': pluginTestTs(t),
    'src/simulation.test.ts': simulationTestTs(t),
    'README.md': readme(t),
  };
}

function packageJson(t: PluginTemplateInput): string {
  const range = `^${t.coveyVersion}`;
  return JSON.stringify({
    name: t.packageName,
    version: '0.1.0',
    description: `A Covey plugin: ${t.name}`,
    keywords: ['covey', 'covey-plugin'],
    type: 'module',
    exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
    files: ['dist/'],
    engines: { node: '>=22.18' },
    scripts: {
      build: 'tsc -p tsconfig.build.json',
      typecheck: 'tsc --noEmit -p .',
      test: 'tsc --noEmit -p . && node --test "src/**/*.test.ts"',
      sim: 'covey sim --plugin ./src/index.ts --agents 5',
      prepack: 'npm run build',
    },
    peerDependencies: { covey: range },
    devDependencies: { covey: range, typescript: '^5.9.0', '@types/node': '^24.0.0' },
  }, null, 2) + '\n';
}

const tsconfig = JSON.stringify({
  compilerOptions: {
    target: 'es2023',
    lib: ['es2023'],
    module: 'nodenext',
    moduleResolution: 'nodenext',
    types: ['node'],
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    erasableSyntaxOnly: true,
    verbatimModuleSyntax: true,
    skipLibCheck: true,
  },
  include: ['src'],
}, null, 2) + '\n';

// The package ships JavaScript: tsc rewrites the sources' `./x.ts` imports to `./x.js`.
const tsconfigBuild = JSON.stringify({
  extends: './tsconfig.json',
  compilerOptions: {
    noEmit: false,
    allowImportingTsExtensions: false,
    rewriteRelativeImportExtensions: true,
    declaration: true,
    rootDir: 'src',
    outDir: 'dist',
  },
  include: ['src'],
  exclude: ['src/**/*.test.ts'],
}, null, 2) + '\n';

function indexTs(t: PluginTemplateInput): string {
  return `// What an agent's config (\`module: ${t.packageName}\`) and \`covey sim --plugin\` import: the plugin
// as the default export, and the scenario the simulator runs it in.

export { plugin as default, plugin } from './plugin.ts';
export { simulation } from './simulation.ts';
`;
}

function pluginTs(t: PluginTemplateInput): string {
  return `// ${t.name}: every \`everyMs\` each agent counts a beat, records it in the swarm's replicated
// key-value store under ${t.name}/<agent id>, and publishes it on the telemetry topic "${t.name}".
// A starting point: replace the beat with your plugin's behaviour (Covey's docs/plugins.md).

import { definePlugin, UnavailableError, z } from 'covey/plugin';

/** What one beat says on the telemetry topic; subscribers get only messages that pass it. */
export const beatSchema = z.strictObject({ agent: z.string(), beat: z.number().int().positive() });

export const plugin = definePlugin({
  name: '${t.name}',
  version: '0.1.0',
  capabilities: { kv: ['${t.name}/'], topics: ['${t.name}'] },
  options: z.strictObject({ everyMs: z.number().int().min(100).default(1000) }),

  configure: () => ({ beat: 0 }),

  start(ctx, state) {
    const beats = ctx.telemetry.topic('${t.name}', beatSchema);
    beats.subscribe((b, from) => ctx.log.debug({ from, beat: b.beat }, \`heard \${b.agent}\`));
    ctx.every(ctx.options.everyMs, async () => {
      state.beat++;
      await beats.publish({ agent: ctx.agent.id, beat: state.beat });
      try {
        await ctx.kv.put(\`${t.name}/\${ctx.agent.id}\`, String(state.beat));
      } catch (err) {
        // No majority of voters reachable (a partition): skip this one, the next beat tries again.
        if (err instanceof UnavailableError) ctx.log.warn(\`beat \${state.beat} not recorded: \${err.message}\`);
        else throw err; // anything else is a bug: the run fails and the agent restarts the plugin
      }
    });
  },
});
`;
}

function simulationTs(t: PluginTemplateInput): string {
  return `// The scenario \`covey sim --plugin\` runs the plugin in: every agent of a simulated swarm runs it
// (with partitions, crashes and clock skew when asked), until every agent has published 10 beats.

import type { PluginScenario, ScenarioView } from 'covey/plugin';

const beatsWanted = 10;
const everyMs = 1000;

/** The highest beat each agent published (ground truth: what was sent, whether heard or not). */
function highestBeats(view: ScenarioView): Map<number, number> {
  const highest = new Map<number, number>();
  for (const p of view.published) {
    if (p.topic !== '${t.name}') continue;
    const beat = (p.value as { beat: number }).beat;
    highest.set(p.agent, Math.max(highest.get(p.agent) ?? 0, beat));
  }
  return highest;
}

export const simulation: PluginScenario = {
  options: () => ({ everyMs }),
  idealTimeMs: () => (beatsWanted + 1) * everyMs,
  done: (view) => {
    const highest = highestBeats(view);
    const alive = view.setup.agents - view.killed.length;
    return [...highest.values()].filter((b) => b >= beatsWanted).length >= alive;
  },
  report: (view) => {
    const beats = [...highestBeats(view).values()];
    return { agentsBeating: beats.length, fewestBeats: beats.length === 0 ? 0 : Math.min(...beats), mostBeats: beats.length === 0 ? 0 : Math.max(...beats) };
  },
};
`;
}

function pluginTestTs(t: PluginTemplateInput): string {
  return `// The plugin in process: a TestWorld stands in for the swarm (Covey's real state machine, a manual
// clock, a telemetry bus); the PluginHost supervises the plugin as an agent does.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadPlugin, PluginHost, TestWorld, testEnvironment } from 'covey/testing';

const module = fileURLToPath(new URL('./index.ts', import.meta.url));

test('each beat is recorded under ${t.name}/<agent id> and published to the other agents', async () => {
  const world = new TestWorld();
  const loaded = await loadPlugin({ module, options: { everyMs: 1000 } }, import.meta.dirname, 'plugins[0]');
  const heard: unknown[] = [];
  world.subscribe('${t.name}', 'listener', (data) => heard.push(JSON.parse(new TextDecoder().decode(data))));
  const host = new PluginHost(testEnvironment(world, 'a1'), [loaded]);
  await host.start();
  await world.advance(3000);
  assert.equal(world.machine.get('${t.name}/a1'), '3');
  assert.deepEqual(heard.at(-1), { agent: 'a1', beat: 3 });
  await host.stop();
});

test('without a majority a beat is skipped with a warning, and the plugin keeps running', async () => {
  const world = new TestWorld();
  const loaded = await loadPlugin({ module, options: { everyMs: 500 } }, import.meta.dirname, 'plugins[0]');
  const host = new PluginHost(testEnvironment(world, 'a1'), [loaded]);
  await host.start();
  world.unavailable = true;
  await world.advance(1000);
  assert.ok(world.logs.some((l) => l.level === 'warn' && /not recorded/.test(l.msg)), JSON.stringify(world.logs));
  world.unavailable = false;
  await world.advance(500);
  assert.equal(world.machine.get('${t.name}/a1'), '3');
  assert.equal(host.status()[0].state, 'active');
  await host.stop();
});

test('bad options are refused with the field named', async () => {
  await assert.rejects(loadPlugin({ module, options: { everyMs: 5 } }, import.meta.dirname, 'plugins[0]'), /plugins\\[0\\]\\.options\\.everyMs/);
});
`;
}

function simulationTestTs(t: PluginTemplateInput): string {
  return `// The plugin on every agent of a simulated swarm (3 voters and 2 more agents), under crashes and
// partitions: the mission (10 beats from every agent) completes and no checker finds a violation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadPluginModule, runPluginSimulation } from 'covey/testing';

test('a simulated swarm running ${t.name} completes its mission under crashes and partitions', async () => {
  const module = await loadPluginModule(fileURLToPath(new URL('./index.ts', import.meta.url)));
  const r = await runPluginSimulation({ module, seed: 1, voters: 3, agents: 5, crashes: true, partitions: true, killShare: 0 });
  assert.equal(r.missionComplete, true, JSON.stringify(r.report));
  assert.deepEqual(r.sim.violations, []);
  assert.equal(r.report.agentsBeating, 5);
});
`;
}

function readme(t: PluginTemplateInput): string {
  return `# ${t.packageName}

A [Covey](https://www.npmjs.com/package/covey) plugin, \`${t.name}\`: every \`everyMs\` (default
1000) each agent counts a beat, records it in the swarm's key-value store under
\`${t.name}/<agent id>\` and publishes it on the telemetry topic \`${t.name}\`.

| file | what |
|---|---|
| \`src/plugin.ts\` | the plugin (\`definePlugin\` from \`covey/plugin\`) |
| \`src/simulation.ts\` | the scenario \`covey sim --plugin\` runs it in |
| \`src/index.ts\` | what an agent config and \`covey sim\` import |
| \`src/plugin.test.ts\` | unit tests with \`covey/testing\` (a test world, no network) |
| \`src/simulation.test.ts\` | the plugin on a simulated swarm with crashes and partitions |

## Develop

    npm install
    npm test                  # type-check, unit tests, a short simulation
    npm run sim               # covey sim --plugin ./src/index.ts --agents 5 (add --faults all)
    npx covey agent --dev --plugin ./src/index.ts   # one real agent on this machine

The sources are TypeScript that Node runs directly (erasable syntax only; import with \`.ts\`).

## Ship

    npm pack                  # builds dist/ (JavaScript and .d.ts) and makes ${t.packageName}-0.1.0.tgz
    npm publish               # or install the .tgz where the agents run

On a device, install it beside Covey (\`npm install covey ${t.packageName}\`) and name it in the
agent's config:

    plugins:
      - module: ${t.packageName}
        options: { everyMs: 1000 }
`;
}
