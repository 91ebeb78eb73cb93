// `covey --version`, `--help` and the client commands must start fast (issue 12): they load
// commander and a few small files, never libp2p, lmdb, the config schema, the simulator or the
// model checker. Each case spawns the CLI with a module hook that records every module it
// resolves, and checks the list. No timing here: the bench measures time, this checks the cause.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(root, 'agent/cli/covey.ts');

// Runs before the CLI (node --import): a synchronous resolve hook (node:module registerHooks sees
// both import and require) appending each resolved URL to the file named by COVEY_IMPORT_LOG.
const hook = `
import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
const log = process.env.COVEY_IMPORT_LOG;
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); appendFileSync(log, r.url + '\\n'); return r; } });
`;

/** The project's own files these commands may load: the command definitions, the HTTP client. */
const light = new Set([
  'agent/cli/covey.ts',
  'agent/cli/main.ts',
  'agent/cli/program.ts',
  'agent/cli/agent-commands.ts',
  'agent/cli/live-commands.ts',
  'agent/cli/table.ts',
  'agent/cli/voters-command.ts',
  'agent/cli/hz.ts',
  'agent/client.ts',
  'agent/live/sse-reader.ts',
  'agent/config-error.ts',
  'sim/command.ts',
  'sim/workload/workload.ts',
  'sim/check/model/command.ts',
  'sim/check/model/defaults.ts',
  'agent/cli/verify-command.ts',
  'agent/cli/new-command.ts',
]);

/** Heavy modules named in the failure message when one shows up. */
const heavy = /node_modules\/(@libp2p|libp2p|@chainsafe|lmdb|zod|yaml|pino)\/|\/(sim\/engine|sim\/plugins|sim\/check\/model\/model\.ts|sim\/check\/verify-run\.ts|consensus|transports|devices)\//;

function modulesLoaded(args: string[]): { status: number | null; stdout: string; stderr: string; modules: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'covey-lazy-'));
  const log = join(dir, 'modules.txt');
  try {
    const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, cli, ...args], {
      encoding: 'utf8', env: { ...process.env, COVEY_IMPORT_LOG: log, COVEY_AGENT: '', COVEY_TOKEN: '' },
    });
    const urls = readFileSync(log, 'utf8').split('\n').filter((u) => u.startsWith('file:'));
    const modules = [...new Set(urls.map((u) => fileURLToPath(u)))].map((p) => p.startsWith(root) ? p.slice(root.length) : p).sort();
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, modules };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function assertLight(args: string[], modules: string[]): void {
  const what = `covey ${args.join(' ')}`;
  const heavyOnes = modules.filter((m) => heavy.test('/' + m));
  assert.deepEqual(heavyOnes, [], `${what} loads heavy modules; import them inside the command's action instead`);
  const packages = new Set(modules.filter((m) => m.includes('node_modules/')).map((m) => /node_modules\/((@[^/]+\/)?[^/]+)/.exec(m)![1]));
  assert.deepEqual([...packages], ['commander'], `${what} loads packages beyond commander`);
  const own = modules.filter((m) => !m.includes('node_modules/'));
  assert.deepEqual(own.filter((m) => !light.has(m)), [], `${what} loads more of the project than the command definitions and the HTTP client`);
  assert.ok(own.includes('agent/cli/covey.ts'), `the hook saw the CLI load (${modules.join(', ')})`);
}

test('covey --version and --help load only commander and the command definitions', () => {
  for (const args of [['--version'], ['--help'], ['help']]) {
    const r = modulesLoaded(args);
    assert.equal(r.status, 0, r.stderr);
    assertLight(args, r.modules);
  }
});

test('each command\'s --help loads nothing heavy', () => {
  const commands = [
    ['init'], ['agent'], ['kv'], ['kv', 'get'], ['kv', 'put'], ['kv', 'cas'], ['kv', 'del'], ['tasks', 'ls'], ['tasks', 'claim'], ['tasks', 'get'], ['tasks', 'renew'], ['tasks', 'release'],
    ['kv', 'ls'], ['kv', 'watch'], ['telemetry'], ['telemetry', 'ls'], ['telemetry', 'echo'], ['telemetry', 'hz'],
    ['members'], ['peers', 'ls'], ['voters'], ['voters', 'ls'], ['voters', 'add'], ['voters', 'remove'], ['voters', 'replace'], ['status'], ['swarm', 'up'], ['swarm', 'down'], ['swarm', 'bench'], ['sim'], ['check'], ['verify'], ['quorum'], ['new'], ['new', 'plugin'],
  ];
  for (const c of commands) {
    const r = modulesLoaded([...c, '--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Usage: covey ${c.join(' ')}`), `covey ${c.join(' ')} --help prints its help`);
    assertLight([...c, '--help'], r.modules);
  }
});

test('covey kv get and covey voters are HTTP calls: commander and the client, nothing else', async () => {
  // A port nobody listens on: the command fails to reach the agent (exit 1) after loading all it needs.
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((ok) => server.close(() => ok()));
  for (const command of [['kv', 'get', 'k'], ['voters', 'ls'], ['voters', 'replace', 'a', 'b']]) {
    const args = [...command, '--agent', `http://127.0.0.1:${port}`];
    const r = modulesLoaded(args);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^covey ${command.slice(0, 2).join(' ')}: cannot reach the agent`));
    assertLight(args, r.modules);
  }
});

test('covey agent --config FILE goes straight to the agent: neither commander nor the other commands load', () => {
  const missing = join(tmpdir(), 'covey-lazy-no-such-dir', 'missing.yaml');
  for (const args of [['agent', '--config', missing], ['agent', `--config=${missing}`]]) {
    const r = modulesLoaded(args);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^covey agent: .*missing\.yaml: no such config file; run `covey init/);
    assert.ok(r.modules.includes('agent/cli/main.ts'), r.modules.join(', '));
    const definitions = r.modules.filter((m) => m.includes('node_modules/commander/') || ['agent/cli/program.ts', 'agent/cli/agent-commands.ts', 'sim/command.ts'].includes(m));
    assert.deepEqual(definitions, [], `covey ${args[0]} ${args[1]} loads the command definitions`);
  }
  // Any other form is commander's to check and explain, so it loads them.
  const r = modulesLoaded(['agent', '--config', missing, '--dev']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /option '--config <file>' cannot be used with option '--dev'/);
  assert.ok(r.modules.includes('agent/cli/program.ts'), r.modules.join(', '));
});

test('the hook sees heavy modules when a command does load them (the checks above can fail)', () => {
  const r = modulesLoaded(['quorum', '--voters', '5']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.modules.includes('consensus/core/quorum.ts'), r.modules.join(', '));
});

test('the installed entry (covey.mjs, plain JavaScript; package.json bin is its copy in dist/lib) is the same program as covey.ts', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: { covey: string } };
  assert.equal(pkg.bin.covey, './dist/lib/agent/cli/covey.mjs', 'the package runs the compiled CLI (package/build.ts copies covey.mjs there)');
  const entry = join(root, 'agent', 'cli', 'covey.mjs');
  const missing = join(tmpdir(), 'covey-lazy-no-such-dir', 'missing.yaml');
  for (const args of [['--version'], ['--help'], ['kv', 'get', '--help'], ['quorum', '--voters', 'x'], ['agent', '--config', missing]]) {
    const viaTs = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
    const viaBin = spawnSync(process.execPath, [entry, ...args], { encoding: 'utf8' });
    assert.deepEqual([viaBin.status, viaBin.stdout, viaBin.stderr], [viaTs.status, viaTs.stdout, viaTs.stderr], `covey ${args.join(' ')}`);
  }
});
