// The agent's commands: `covey init`, `covey agent`, the client commands that reach a running
// agent over HTTP (`kv`, `tasks`, `members`, `status`), and `covey swarm up|down` for a local
// swarm on loopback. Exit codes: 0 done, 1 the operation failed (refused, unreachable, timeout),
// 2 bad arguments or config.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { AgentClient, AgentClientError } from '../client.ts';
import { agentExitCode } from '../config-error.ts';
import type { AgentSlot } from '../swarm.ts';
import { formatTable } from './table.ts';

// Only commander, the HTTP client and node's own modules load with this file, so `covey --help`
// and the client commands start fast; each action imports what it needs (the config schema,
// libp2p keys, lmdb, the swarm launcher) when it runs. agent/cli/lazy.test.ts checks this.

/** Where the client commands find the agent: --agent URL, or the http section of --config. */
export interface Target { agent?: string; config?: string; authToken?: string }

export function targetOptions(c: Command): Command {
  return c
    .option('--agent <url>', 'the agent\'s HTTP API (default: $COVEY_AGENT or http://127.0.0.1:7070)')
    .option('--config <file>', 'read the agent\'s HTTP address and token from its config file')
    .option('--auth-token <token>', 'bearer token, when the agent listens beyond localhost (default: $COVEY_TOKEN)');
}

export async function clientFor(t: Target): Promise<AgentClient> {
  if (t.config !== undefined) {
    const { loadConfig } = await import('../config.ts');
    const c = loadConfig(t.config);
    return new AgentClient(`http://${c.http.listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:')}`, t.authToken ?? c.http.token);
  }
  return new AgentClient(t.agent ?? process.env.COVEY_AGENT ?? 'http://127.0.0.1:7070', t.authToken ?? process.env.COVEY_TOKEN);
}

/** Runs a command body; prints errors as one line and sets the exit code (2 for usage/config). */
export async function run(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    // A plugin entry that cannot be loaded is a config problem too (agent/plugins/loader.ts).
    process.stderr.write(`covey ${name}: ${(err as Error).message}\n`);
    process.exitCode = err instanceof InvalidArgumentError ? 2 : agentExitCode(err);
  }
}

export function print(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/**
 * A command's result: printed; a refused command (ok false) exits 1. An answer that is only an
 * error (a 409 the agent gave before consensus: a roster or voter-set change at a worker, a plan
 * it refused) is an error: one line on stderr and exit 1, not a printed success.
 */
export function printResult(r: unknown): void {
  if (typeof r === 'object' && r !== null && !('ok' in r) && typeof (r as { error?: unknown }).error === 'string') throw new Error((r as { error: string }).error);
  print(r);
  if (typeof r === 'object' && r !== null && (r as { ok?: unknown }).ok === false) process.exitCode = 1;
}

export function intArg(name: string, min = 1) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}, got "${v}"`);
    return n;
  };
}

export function initCommand(): Command {
  return new Command('init')
    .description('write a config and an identity key for a new agent')
    .option('--dir <dir>', 'directory for config.yaml, identity.key and data/', '.')
    .option('--swarm <name>', 'swarm name', 'covey')
    .option('--voters <ids>', 'comma-separated peer ids of the voters, in the same order on every agent (3, 5 or 7)')
    .option('--expect-voters <k>', 'without --voters: the first k agents with this swarm name that find each other become the voters (swarm.expectVoters)', intArg('--expect-voters'))
    .option('--listen <addrs>', 'comma-separated multiaddrs to listen on', '/ip4/0.0.0.0/tcp/4001,/ip4/0.0.0.0/tcp/4002/ws')
    .option('--bootstrap <addrs>', 'comma-separated multiaddrs (with /p2p/ID) of agents to meet first', '')
    .option('--http <host:port>', 'HTTP API address', '127.0.0.1:7070')
    .option('--new-swarm-key', 'make a private-network key (swarm.key) for a new swarm; copy it to every other agent')
    .option('--swarm-key <file>', 'join a private swarm: copy its key file here as swarm.key')
    .option('--json', 'print { peerId, config, identity } as JSON (this command always does; accepted everywhere for scripts)')
    .action((o: { dir: string; swarm: string; voters?: string; expectVoters?: number; listen: string; bootstrap: string; http: string; newSwarmKey?: boolean; swarmKey?: string }) => run('init', async () => {
      const dir = resolve(o.dir);
      const configFile = join(dir, 'config.yaml');
      if (existsSync(configFile)) throw new InvalidArgumentError(`${configFile} already exists; choose another --dir`);
      const { swarmNamePattern, swarmNameRule } = await import('../config.ts');
      if (!swarmNamePattern.test(o.swarm)) throw new InvalidArgumentError(`--swarm "${o.swarm}": ${swarmNameRule}`);
      const [{ stringify }, { parseConfig }, { createIdentity, saveIdentity }, { generateSwarmKey, saveSwarmKey }] = await Promise.all([
        import('yaml'), import('../config.ts'), import('../identity.ts'), import('../../transports/node.ts'),
      ]);
      const id = await createIdentity();
      const list = (x: string) => x.split(',').map((y) => y.trim()).filter((y) => y !== '');
      if (o.newSwarmKey === true && o.swarmKey !== undefined) throw new InvalidArgumentError('give --new-swarm-key or --swarm-key, not both');
      let swarmKey: Uint8Array | null = null;
      if (o.swarmKey !== undefined) {
        try { swarmKey = readFileSync(o.swarmKey); } catch (err) { throw new InvalidArgumentError(`--swarm-key: cannot read ${o.swarmKey} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`); }
        if (!new TextDecoder().decode(swarmKey).startsWith('/key/swarm/psk/1.0.0/')) throw new InvalidArgumentError(`--swarm-key: ${o.swarmKey} is not a libp2p swarm key (/key/swarm/psk/1.0.0/ format)`);
      } else if (o.newSwarmKey === true) {
        swarmKey = await generateSwarmKey();
      }
      if (o.voters !== undefined && o.expectVoters !== undefined) throw new InvalidArgumentError('give --voters or --expect-voters, not both');
      // Without the voters' ids, the swarm forms by itself: the first k agents that find each other.
      const expectVoters = o.voters === undefined ? o.expectVoters ?? 3 : undefined;
      const config = {
        swarm: { name: o.swarm, ...(swarmKey === null ? {} : { keyFile: 'swarm.key' }), ...(expectVoters === undefined ? {} : { expectVoters }) },
        identity: 'identity.key',
        dataDir: 'data',
        listen: list(o.listen),
        ...(o.voters === undefined ? {} : { voters: list(o.voters) }),
        bootstrap: list(o.bootstrap),
        mdns: true,
        http: { listen: o.http },
        log: { level: 'info' },
      };
      const text = '# Covey agent config (docs/agent.md lists every field)\n' + stringify(config);
      // What init writes is a config the agent starts from: checked by the agent's own schema first.
      parseConfig(text, 'covey init (--swarm, --voters, --expect-voters, --listen, --bootstrap, --http)', dir);
      saveIdentity(join(dir, 'identity.key'), id);
      if (swarmKey !== null) saveSwarmKey(join(dir, 'swarm.key'), swarmKey);
      writeFileSync(configFile, text);
      print({ peerId: id.peerId, config: configFile, identity: join(dir, 'identity.key') });
      if (swarmKey === null) {
        const { keylessExposure } = await import('../exposure.ts');
        const why = keylessExposure(list(o.listen), false);
        if (why !== null) process.stderr.write(`warning: ${why}\n`);
      }
      process.stderr.write(o.voters !== undefined
        ? `start it with: covey agent --config ${configFile}\n`
        : `start it with: covey agent --config ${configFile}\nthe first ${expectVoters} agents of swarm "${o.swarm}" that find each other (mDNS on the local network, or --bootstrap addresses) become its voters; later ones join as workers\n`);
    }));
}

export function agentCommand(): Command {
  return new Command('agent')
    .description('run an agent: join the swarm, serve the HTTP API, keep state in the data dir (or --dev: a one-voter agent for trying plugins)')
    .addOption(new Option('--config <file>', 'the agent config (YAML; `covey init` writes one)').conflicts('dev'))
    .option('--dev', 'a swarm of one voter on this machine: temporary data (removed when it stops), loopback only, no mDNS; for plugin authors, not the field')
    .option('--plugin <module>', 'with --dev: a plugin to run, a path (relative to here) or an installed package\'s name; repeat for more', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--http <host:port>', 'with --dev: the HTTP API on loopback (port 0: any free one)', '127.0.0.1:7070')
    .option('--json', 'with --dev: print what it is and where as one JSON line')
    .action((o: { config?: string; dev?: boolean; plugin: string[]; http: string; json?: boolean }, self: Command) => run('agent', async () => {
      if (o.dev !== true && o.config === undefined) self.error('covey agent: give --config FILE (`covey init` writes one), or --dev for a one-voter agent on this machine', { exitCode: 2, code: 'commander.missingMandatoryOptionValue' });
      if (o.dev !== true && o.plugin.length > 0) self.error('covey agent: --plugin goes with --dev; a configured agent lists its plugins under plugins: in its config', { exitCode: 2, code: 'commander.conflictingOption' });
      for (const flag of ['http', 'json'] as const) {
        if (o.dev !== true && self.getOptionValueSource(flag) === 'cli') self.error(`covey agent: --${flag} goes with --dev; a configured agent takes it from its config`, { exitCode: 2, code: 'commander.conflictingOption' });
      }
      // libp2p and lmdb load only for the agent itself: from the bundle when it is fresh.
      const entry = await (await import('./bundle.ts')).importAgent();
      if (o.dev === true) {
        try {
          await entry.runDevAgent({ plugins: o.plugin, http: o.http, baseDir: process.cwd(), json: o.json });
        } catch (err) {
          // A bad --http is a usage error, as a bad config is.
          if (err instanceof RangeError && err.message.startsWith('--http')) throw new InvalidArgumentError(err.message);
          throw err;
        }
        return;
      }
      await entry.runAgent(o.config as string);
    }));
}

/** `--json` on a command whose answer is JSON already: accepted, so a script can pass it to every command. */
export function jsonOption(c: Command): Command {
  return c.option('--json', 'print JSON (this command always does; accepted everywhere for scripts)');
}

/** Entries `kv ls` asks for per request (the API's most; agent/kv-list.ts). */
const kvLsPageLimit = 1000;

export function kvCommand(): Command {
  const kv = new Command('kv').description('read and write the replicated key-value store through a running agent');
  jsonOption(targetOptions(kv.command('get <key>').description('read a key (linearizable, or --stale for the local copy)')
    .option('--stale', 'read this voter\'s local copy without consensus (says how stale it may be)')))
    .action((key: string, o: Target & { stale?: boolean }) => run('kv get', async () => printResult(await (await clientFor(o)).get(key, { stale: o.stale }))));
  jsonOption(targetOptions(kv.command('put <key> <value>').description('write a key')))
    .action((key: string, value: string, o: Target) => run('kv put', async () => printResult(await (await clientFor(o)).put(key, value))));
  jsonOption(targetOptions(kv.command('cas <key> <expected> <value>').description('compare-and-swap: write value if the key holds expected (use --absent for "no value")')
    .option('--absent', 'expect the key to be absent (expected is ignored)')))
    .action((key: string, expected: string, value: string, o: Target & { absent?: boolean }) => run('kv cas', async () =>
      printResult(await (await clientFor(o)).cas(key, o.absent === true ? null : expected, value))));
  jsonOption(targetOptions(kv.command('del <key>').description('delete a key')))
    .action((key: string, o: Target) => run('kv del', async () => printResult(await (await clientFor(o)).del(key))));
  targetOptions(kv.command('ls').description('list keys and values under a prefix (a voter\'s local copy, stale; sorted by key)')
    .option('--prefix <prefix>', 'only keys that start with this', '')
    .option('--limit <n>', 'print at most n entries (default: all)', intArg('--limit'))
    .option('--json', 'print { prefix, entries: [{ key, value }], truncated, stale, staleness } as JSON'))
    .action((o: Target & { prefix: string; limit?: number; json?: boolean }) => run('kv ls', async () => {
      const client = await clientFor(o);
      const entries: { key: string; value: string }[] = [];
      let after: string | null = null;
      let staleness: Record<string, unknown> = {};
      let truncated = false;
      for (;;) {
        const want = o.limit === undefined ? kvLsPageLimit : Math.min(kvLsPageLimit, o.limit - entries.length);
        const page = await client.kvList({ prefix: o.prefix, after, limit: want });
        if (after === null) staleness = page.staleness;
        entries.push(...page.value);
        if (page.next === null) break;
        if (o.limit !== undefined && entries.length >= o.limit) { truncated = true; break; }
        after = page.next;
      }
      if (o.json === true) { print({ prefix: o.prefix, entries, truncated, stale: true, staleness }); return; }
      if (entries.length === 0) { process.stdout.write(`no keys${o.prefix === '' ? '' : ` under "${o.prefix}"`}\n`); return; }
      process.stdout.write(formatTable(['KEY', 'VALUE'], entries.map((e) => [e.key, e.value])));
      if (truncated) process.stdout.write(`(more after "${entries[entries.length - 1].key}"; raise --limit)\n`);
    }));
  return kv;
}

/** `tasks ls` as text: one row a task, columns as wide as their widest cell. */
export function formatTasks(tasks: readonly Record<string, unknown>[], nowMs: number): string {
  const rows = tasks.map((t) => {
    const leaseMs = Number(t.leaseExpiresMs) - nowMs;
    const lease = t.status !== 'claimed' ? '-' : leaseMs > 0 ? `${(leaseMs / 1000).toFixed(1)} s` : 'expired';
    return [String(t.taskId), String(t.status), t.owner === null || t.owner === undefined ? '-' : String(t.owner), String(t.token), lease, t.result === null || t.result === undefined ? '-' : String(t.result)];
  });
  return formatTable(['TASK', 'STATUS', 'OWNER', 'TOKEN', 'LEASE LEFT', 'RESULT'], rows);
}

export function tasksCommand(): Command {
  const t = new Command('tasks').description('use the replicated task board through a running agent');
  targetOptions(t.command('ls').description('list tasks (this voter\'s local copy, stale)')
    .option('--prefix <prefix>', 'only tasks whose id starts with this')
    .option('--status <status>', 'only tasks in this state: open, claimed or done', statusArg)
    .option('--json', 'print the tasks as a JSON array (taskId, spec, status, owner, token, leaseExpiresMs, result)'))
    .action((o: Target & { prefix?: string; status?: string; json?: boolean }) => run('tasks ls', async () => {
      const r = await (await clientFor(o)).tasks();
      const tasks = r.value.filter((x) => (o.prefix === undefined || String(x.taskId).startsWith(o.prefix)) && (o.status === undefined || x.status === o.status));
      if (o.json === true) { print(tasks); return; }
      process.stdout.write(tasks.length === 0 ? 'no tasks\n' : formatTasks(tasks, Date.now()));
    }));
  jsonOption(targetOptions(t.command('get <taskId>').description('read one task (linearizable): status, owner, fencing token, lease end, result')))
    .action((taskId: string, o: Target) => run('tasks get', async () => printResult(await (await clientFor(o)).getTask(taskId))));
  jsonOption(targetOptions(t.command('create <taskId> [spec]').description('create a task')))
    .action((taskId: string, spec: string | undefined, o: Target) => run('tasks create', async () => printResult(await (await clientFor(o)).task('create', taskId, { spec: spec ?? '' }))));
  jsonOption(targetOptions(t.command('claim <taskId>').description('claim a task: prints the lease and fencing token')
    .requiredOption('--worker <name>', 'who claims it')
    .option('--lease <ms>', 'lease length in ms', intArg('--lease'), 30_000)))
    .action((taskId: string, o: Target & { worker: string; lease: number }) => run('tasks claim', async () => printResult(await (await clientFor(o)).task('claim', taskId, { worker: o.worker, leaseMs: o.lease }))));
  jsonOption(targetOptions(t.command('renew <taskId>').description('extend the lease of a claim you hold, with its fencing token')
    .requiredOption('--worker <name>', 'the worker holding the claim')
    .requiredOption('--token <n>', 'the fencing token from the claim', intArg('--token'))
    .option('--lease <ms>', 'new lease length in ms, from now', intArg('--lease'), 30_000)))
    .action((taskId: string, o: Target & { worker: string; token: number; lease: number }) => run('tasks renew', async () =>
      printResult(await (await clientFor(o)).task('renew', taskId, { worker: o.worker, token: o.token, leaseMs: o.lease }))));
  jsonOption(targetOptions(t.command('release <taskId>').description('give a claimed task back (open again for others), with its fencing token')
    .requiredOption('--worker <name>', 'the worker holding the claim')
    .requiredOption('--token <n>', 'the fencing token from the claim', intArg('--token'))))
    .action((taskId: string, o: Target & { worker: string; token: number }) => run('tasks release', async () =>
      printResult(await (await clientFor(o)).task('release', taskId, { worker: o.worker, token: o.token }))));
  jsonOption(targetOptions(t.command('complete <taskId> [result]').description('complete a claimed task with its fencing token')
    .requiredOption('--worker <name>', 'the worker holding the claim')
    .requiredOption('--token <n>', 'the fencing token from the claim', intArg('--token'))))
    .action((taskId: string, result: string | undefined, o: Target & { worker: string; token: number }) => run('tasks complete', async () =>
      printResult(await (await clientFor(o)).task('complete', taskId, { worker: o.worker, token: o.token, result: result ?? '' }))));
  return t;
}

function statusArg(v: string): string {
  if (!['open', 'claimed', 'done'].includes(v)) throw new InvalidArgumentError(`--status must be open, claimed or done, got "${v}"`);
  return v;
}

export function membersCommand(): Command {
  return targetOptions(new Command('members').description('list the swarm members a running agent knows: state, incarnation, last heard'))
    .option('--json', 'print JSON')
    .action((o: Target & { json?: boolean }) => run('members', async () => {
      const r = await (await clientFor(o)).members();
      if (o.json === true) { print(r.members); return; }
      process.stdout.write(`${'peer id'.padEnd(54)} ${'role'.padEnd(9)} ${'state'.padEnd(8)} ${'inc'.padStart(4)}  last heard\n`);
      for (const m of r.members) {
        const heard = m.self === true ? '(this agent)' : m.lastHeardMsAgo === null ? 'never' : `${m.lastHeardMsAgo} ms ago`;
        const role = m.role === 'voter' ? `voter ${m.replicaId}` : String(m.role);
        process.stdout.write(`${String(m.peerId).padEnd(54)} ${role.padEnd(9)} ${String(m.state).padEnd(8)} ${String(m.incarnation ?? '-').padStart(4)}  ${heard}\n`);
      }
    }));
}

export function peersCommand(): Command {
  const peers = new Command('peers').description('the swarm roster: the peers admitted to the swarm (docs/security.md)');
  targetOptions(peers.command('ls').description('list the roster as this agent holds it: voters, the config\'s roster, and admissions and revocations')
    .option('--json', 'print JSON'))
    .action((o: Target & { json?: boolean }) => run('peers ls', async () => {
      const r = await (await clientFor(o)).peers();
      if (o.json === true) { print(r); return; }
      const list = (r.peers ?? []) as Record<string, unknown>[];
      process.stdout.write(`roster ${r.enforced === true ? 'enforced: only these peers may connect' : 'open: any peer not revoked may connect (set swarm.roster to enforce it)'}; version ${String(r.version)}\n`);
      process.stdout.write(`${'peer id'.padEnd(54)} ${'role'.padEnd(7)} ${'state'.padEnd(9)} ${'source'.padEnd(10)} connected\n`);
      for (const p of list) {
        const state = p.admitted === true ? 'admitted' : 'revoked';
        const conn = p.self === true ? '(this agent)' : p.connected === true ? 'yes' : 'no';
        process.stdout.write(`${String(p.peerId).padEnd(54)} ${String(p.role).padEnd(7)} ${state.padEnd(9)} ${String(p.source).padEnd(10)} ${conn}\n`);
      }
    }));
  for (const action of ['admit', 'revoke'] as const) {
    jsonOption(targetOptions(peers.command(`${action} <peerId>`).description(action === 'admit'
      ? 'admit a peer to the swarm, through consensus (at a voter)'
      : 'revoke a peer: every agent closes its connections and refuses it (at a voter; voters cannot be revoked)')))
      .action((peerId: string, o: Target) => run(`peers ${action}`, async () => printResult(await (await clientFor(o)).changeRoster(action, peerId))));
  }
  peers.command('token').description('sign a join token with this agent\'s key: the device it names can join the swarm with `covey peers join` (this agent must be on the roster)')
    .requiredOption('--config <file>', 'this agent\'s config (its identity key signs; the swarm name is read from it)')
    .requiredOption('--for <peerId>', 'the joining device\'s peer id (`covey init` on the device printed it)')
    .option('--ttl <duration>', 'how long the token is valid (at most 7 days: 10m, 24h, 7d)', ttlArg, 24 * 3600_000)
    .option('--json', 'print { token, peer, expires } as JSON')
    .action((o: { config: string; for: string; ttl: number; json?: boolean }) => run('peers token', async () => {
      const [{ loadConfig, configPath }, { loadIdentity }, { createJoinToken }] = await Promise.all([import('../config.ts'), import('../identity.ts'), import('../join-token.ts')]);
      const c = loadConfig(o.config);
      const id = loadIdentity(configPath(c, c.identity));
      const nowMs = Date.now();
      const token = await createJoinToken(id.privateKey, id.peerId, { swarm: c.swarm.name, peer: o.for, ttlMs: o.ttl, nowMs });
      if (o.json === true) print({ token, peer: o.for, issuer: id.peerId, expires: new Date(nowMs + o.ttl).toISOString() });
      else process.stdout.write(`${token}\n`);
    }));
  jsonOption(peers.command('join <token>').description('redeem a join token at a voter: the peer it names is admitted through consensus (no HTTP token needed)'))
    .option('--agent <url>', 'a voter\'s HTTP API (default: $COVEY_AGENT or http://127.0.0.1:7070)')
    .action((token: string, o: { agent?: string }) => run('peers join', async () =>
      printResult(await new AgentClient(o.agent ?? process.env.COVEY_AGENT ?? 'http://127.0.0.1:7070').request('POST', '/peers/join', { token }))));
  return peers;
}

export function statusCommand(): Command {
  return targetOptions(new Command('status').description('show a running agent\'s status: a summary with its plugins and devices on a terminal, the full JSON otherwise'))
    .option('--json', 'print the full status as JSON (the default when stdout is not a terminal, for scripts)')
    .action((o: Target & { json?: boolean }) => run('status', async () => {
      const s = await (await clientFor(o)).status();
      if (o.json === true || process.stdout.isTTY !== true) print(s);
      else process.stdout.write(formatStatus(s));
    }));
}

/** The human summary of `covey status`: the agent in a few lines, then one line per plugin and per device. */
export function formatStatus(s: Record<string, unknown>): string {
  const str = (v: unknown): string => v === null || v === undefined ? '-' : String(v);
  const role = s.role === 'voter' ? `voter ${str(s.replicaId)}` : str(s.role);
  const inst = s.instances as Record<string, unknown> | null | undefined;
  const lines = [
    `agent     ${str(s.peerId)} (${role}) in swarm ${str(s.swarm)}`,
    `ready     ${s.ready === true ? 'yes' : 'no'}: ${str(s.readiness)}`,
    `voters    ${str(s.reachableVoters)} of ${Array.isArray(s.voters) ? s.voters.length : '-'} reachable, epoch ${str(s.epoch)} (covey voters ls)`,
    `http      ${str(s.http)}, up ${Math.round(Number(s.uptimeMs ?? 0) / 1000)} s`,
  ];
  if (inst !== null && inst !== undefined) lines.push(`instances committed ${str(inst.committed)}, executed ${str(inst.executed)}, pending ${str(inst.pending)}`);
  const plugins = Array.isArray(s.plugins) ? s.plugins as Record<string, unknown>[] : [];
  lines.push('', plugins.length === 0 ? 'plugins   none (add them under plugins: in the agent config; docs/plugins.md)' : 'plugins');
  if (plugins.length > 0) {
    lines.push(`  ${'name'.padEnd(24)} ${'version'.padEnd(10)} ${'state'.padEnd(10)} ${'restarts'.padStart(8)}  last error`);
    for (const p of plugins) {
      const err = p.lastError === null || p.lastError === undefined ? '-' : `${String(p.lastError).split('\n')[0]} (at ${str(p.lastErrorAt)})`;
      const next = typeof p.nextRestartInMs === 'number' ? `, restart in ${Math.ceil(p.nextRestartInMs / 1000)} s` : '';
      lines.push(`  ${str(p.name).padEnd(24)} ${str(p.version).padEnd(10)} ${str(p.state).padEnd(10)} ${str(p.restarts).padStart(8)}  ${err}${next}`);
    }
  }
  const devices = Array.isArray(s.devices) ? s.devices as Record<string, unknown>[] : [];
  lines.push('', devices.length === 0 ? 'devices   none (add them under devices: in the agent config; docs/agent.md)' : 'devices');
  if (devices.length > 0) {
    lines.push(`  ${'name'.padEnd(24)} ${'kind'.padEnd(10)} ${'driver'.padEnd(14)} status`);
    for (const d of devices) {
      const st = (d.status ?? {}) as { state?: unknown; reason?: unknown };
      const status = st.state === 'available' ? 'available' : `${str(st.state)}: ${str(st.reason)}`;
      lines.push(`  ${str(d.name).padEnd(24)} ${str(d.kind).padEnd(10)} ${str(d.driver).padEnd(14)} ${status}`);
    }
  }
  lines.push('', '(covey status --json prints everything)');
  return lines.join('\n') + '\n';
}

export function swarmCommand(): Command {
  const s = new Command('swarm').description('a real local swarm of agent processes on loopback');
  s.command('up')
    .description('start N agents (making keys, configs and ports on first use) and print how to reach them')
    .option('-n, --agents <n>', 'number of agents (default 3, or voters + workers)', intArg('-n'))
    .option('--voters <n>', 'how many of them vote (default: all, up to 7; 3 with --workers)', intArg('--voters'))
    .option('--workers <n>', 'agents beyond the voters (they do not vote; they forward to a voter)', intArg('--workers', 0))
    .option('--config-extra <file>', 'a YAML fragment (plugins:, devices:, …) merged into every agent\'s config; relative plugin paths are relative to the file')
    .option('--voter-config-extra <file>', 'a YAML fragment merged into the voters\' configs only (after --config-extra); a plugin already listed gets these options merged into its own')
    .option('--worker-config-extra <file>', 'a YAML fragment merged into the workers\' configs only (after --config-extra), e.g. their devices, or other options for a plugin already listed')
    .requiredOption('--dir <dir>', 'directory for the swarm (reused if it holds one)')
    .option('--json', 'print the agents as a JSON array (index, voter, peerId, http, pid, log)')
    .action((o: { agents?: number; voters?: number; workers?: number; configExtra?: string; voterConfigExtra?: string; workerConfigExtra?: string; dir: string; json?: boolean }) => run('swarm up', async () => {
      const { readConfigFragment, swarmUp } = await import('../swarm.ts');
      const tty = process.stderr.isTTY === true;
      const all = o.configExtra === undefined ? {} : readConfigFragment(o.configExtra);
      const voters = o.voterConfigExtra === undefined ? {} : readConfigFragment(o.voterConfigExtra);
      const workers = o.workerConfigExtra === undefined ? {} : readConfigFragment(o.workerConfigExtra);
      const configExtra = [all, (_i: number, a: AgentSlot) => a.voter ? voters : workers];
      const s = await swarmUp(o.dir, { agents: o.agents, voters: o.voters, workers: o.workers, configExtra }, (ready, total) => {
        if (tty) process.stderr.write(`\rwaiting for agents: ${ready}/${total} ready`);
      });
      if (tty) process.stderr.write('\n');
      if (o.json === true) { print(s.agents.map((a) => ({ index: a.index, voter: a.voter, peerId: a.peerId, http: a.http, pid: a.pid, log: a.log }))); return; }
      for (const a of s.agents) process.stdout.write(`agent ${a.index}  ${a.voter ? 'voter ' : 'worker'}  ${a.peerId}  ${a.http}  pid ${a.pid}  log ${a.log}\n`);
      process.stdout.write(`\ntry:  covey kv put hello world --agent ${s.agents[0].http}\n      covey kv get hello --agent ${s.agents[s.agents.length - 1].http}\n      covey status --agent ${s.agents[0].http}\nstop: covey swarm down --dir ${o.dir}\n`);
    }));
  s.command('down')
    .description('stop the agents of a local swarm (gracefully; data is kept for the next up)')
    .requiredOption('--dir <dir>', 'the swarm\'s directory')
    .option('--json', 'print { stopped } as JSON')
    .action((o: { dir: string; json?: boolean }) => run('swarm down', async () => {
      const { swarmDown } = await import('../swarm.ts');
      const n = await swarmDown(o.dir);
      if (o.json === true) print({ stopped: n });
      else process.stdout.write(`stopped ${n} agent(s)\n`);
    }));
  s.command('bench')
    .description('run a register workload against a new local swarm while killing (kill -9) and restarting voters; check the history')
    .option('--voters <n>', 'voters', intArg('--voters', 3), 3)
    .option('--agents <n>', 'agents in all (default: the voters)', intArg('--agents', 3))
    .option('--clients <n>', 'concurrent clients (closed loop)', intArg('--clients'), 64)
    .option('--ops <n>', 'operations in all', intArg('--ops'), 20_000)
    .option('--keys <n>', 'registers the operations spread over', intArg('--keys'), 32)
    .option('--kill-every <duration>', 'kill -9 one voter this often (e.g. 5s; 0 for never)', durationArg('--kill-every'), 5000)
    .option('--down <duration>', 'how long a killed voter stays down', durationArg('--down'), 1000)
    .option('--history <file>', 'write the history (HISTORY-FORMAT.md) here')
    .option('--dir <dir>', 'keep the swarm in this new directory (default: a temporary one, removed)')
    .option('--seed <n>', 'seed of the workload and kill choices', intArg('--seed', 0))
    .option('--json', 'print the summary as one JSON object')
    .action((o: { voters: number; agents?: number; clients: number; ops: number; keys: number; killEvery: number; down: number; history?: string; dir?: string; seed?: number; json?: boolean }) => run('swarm bench', async () => {
      const agents = o.agents ?? o.voters;
      if (agents < o.voters) throw new InvalidArgumentError(`--agents (${agents}) must be at least --voters (${o.voters})`);
      const tty = process.stderr.isTTY === true;
      let last = 0;
      const { runSwarmBench } = await import('../../bench/swarm-bench.ts');
      const summary = await runSwarmBench({ voters: o.voters, agents, clients: o.clients, ops: o.ops, keys: o.keys, killEveryMs: o.killEvery, downMs: o.down, history: o.history, dir: o.dir, seed: o.seed }, (done, total, kills) => {
        const t = Date.now();
        if (tty && (t - last > 200 || done === total)) { last = t; process.stderr.write(`\r${done}/${total} operations, ${kills} kills`); }
      });
      if (tty) process.stderr.write('\n');
      if (o.json === true) print(summary);
      else {
        process.stdout.write(`${summary.ops} operations by ${summary.clients} clients on ${summary.voters} voters (${summary.agents} agents), ${summary.kills} kill -9s, ${(summary.wallMs / 1000).toFixed(1)} s\n`);
        process.stdout.write(`acked ${summary.acked} (writes ${summary.ackedWrites}), unknown ${summary.unknown}, lost ${summary.lost}\n`);
        process.stdout.write(`throughput ${summary.throughput} ops/s, latency p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms\n`);
        process.stdout.write(`linearizable: ${summary.linearizable}${summary.violations.length > 0 ? '\n  ' + summary.violations.join('\n  ') : ''}\n`);
      }
      if (!summary.linearizable || summary.lost > 0) process.exitCode = 1;
    }));
  return s;
}

function ttlArg(v: string): number {
  const m = /^(\d+)(m|h|d)$/.exec(v.trim());
  if (m === null) throw new InvalidArgumentError(`--ttl takes a duration such as 10m, 24h or 7d, got "${v}"`);
  return Number(m[1]) * { m: 60_000, h: 3600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
}

function durationArg(name: string) {
  return (v: string): number => {
    const m = /^(\d+)(ms|s|m)?$/.exec(v.trim());
    if (m === null) throw new InvalidArgumentError(`${name} takes a duration such as 500ms, 5s or 1m (or 0), got "${v}"`);
    const n = Number(m[1]);
    return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n === 0 ? 0 : (() => { throw new InvalidArgumentError(`${name} needs a unit: ${v}s or ${v}ms`); })();
  };
}

export { AgentClientError };
