import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDuration, parseFaults, parseSeeds } from './command.ts';
import { parseHistory } from './history.ts';
import { checkLinearizable } from './check/linearizability.ts';

const cli = new URL('../agent/cli/covey.ts', import.meta.url).pathname;
const covey = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

test('arguments: durations, fault lists and seed ranges, with errors that name the accepted values', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('10m'), 600_000);
  assert.throws(() => parseDuration('10'), /500ms, 10s or 10m/);
  assert.deepEqual([...parseFaults('crash,dup')], ['crash', 'dup']);
  assert.deepEqual([...parseFaults('all')], ['crash', 'partition', 'pause', 'loss', 'dup', 'reorder', 'skew']);
  assert.throws(() => parseFaults('meteor'), /unknown fault "meteor"; accepted: crash, partition, pause, loss, dup, reorder, skew/);
  assert.deepEqual(parseSeeds('3..6'), [3, 4, 5, 6]);
  assert.deepEqual(parseSeeds('9'), [9]);
  assert.throws(() => parseSeeds('6..3'), /empty/);
});

test('covey sim --json: one JSON summary; the same seed gives the same trace hash; --history is a checkable history', () => {
  const dir = mkdtempSync(join(tmpdir(), 'covey-sim-'));
  const file = join(dir, 'h.jsonl');
  const args = ['sim', '--voters', '5', '--seed', '11', '--duration', '1s', '--faults', 'crash,partition,loss,dup', '--json'];
  const a = covey(...args, '--history', file);
  const b = covey(...args);
  assert.equal(a.status, 0, a.stderr);
  const sa = JSON.parse(a.stdout), sb = JSON.parse(b.stdout);
  for (const k of ['traceHash', 'ops', 'linearizable', 'violations']) assert.ok(k in sa, `summary has ${k}`);
  assert.equal(sa.traceHash, sb.traceHash);
  assert.equal(sa.linearizable, true);
  assert.deepEqual(sa.violations, []);
  assert.ok(sa.ops > 0);
  assert.equal(checkLinearizable(parseHistory(readFileSync(file, 'utf8'))).linearizable, true);
  const other = JSON.parse(covey('sim', '--voters', '5', '--seed', '12', '--duration', '1s', '--json').stdout);
  assert.notEqual(other.traceHash, sa.traceHash);
});

test('covey sim refuses bad arguments with a message naming the argument', () => {
  // Exit 2 for every usage error, as for every covey command (commander's own default is 1).
  for (const v of ['4', '6', '9', '1']) {
    const r = covey('sim', '--voters', v);
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(`--voters: accepted values are 3, 5 and 7 \\(got "${v}"\\)`));
  }
  const h = covey('sim', '--seeds', '1..3', '--history', '/tmp/x.jsonl');
  assert.equal(h.status, 2);
  assert.match(h.stderr, /--history writes one run/);
  const w = covey('sim', '--workload', 'chess');
  assert.equal(w.status, 2);
  assert.match(w.stderr, /--workload: accepted values are kv and tasks/);
  const c = covey('sim', '--conflict', '1.5');
  assert.match(c.stderr, /--conflict must be a number from 0 to 1/);
  const ag = covey('sim', '--voters', '5', '--agents', '4');
  assert.equal(ag.status, 2);
  assert.match(ag.stderr, /--agents \(4\) counts the voters too/);
});

test('covey sim with agents beyond the voters, the task workload and every fault: passes and reports the task board', () => {
  const r = covey('sim', '--voters', '3', '--agents', '12', '--clients', '9', '--workload', 'tasks', '--seed', '4', '--duration', '2s', '--faults', 'all', '--json');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.agents, 12);
  assert.ok(s.tasks.claims > 0, JSON.stringify(s.tasks));
  assert.equal(s.settled, true);
  for (const k of ['crashes', 'partitions', 'pauses', 'skews', 'dropped', 'duplicated', 'reordered']) assert.ok(k in s.injected, k);
});

test('covey sim --voters 7: seven voters (f = 3) with agents beyond them and every fault pass every checker', () => {
  const r = covey('sim', '--voters', '7', '--agents', '10', '--seed', '3', '--duration', '2s', '--faults', 'all', '--json');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.voters, 7);
  assert.equal(s.agents, 10);
  assert.equal(s.settled, true);
  assert.deepEqual(s.violations, []);
  assert.ok(s.ops > 0 && s.injected.crashes > 0 && s.injected.partitions > 0, JSON.stringify(s.injected));
  const seven = covey('sim', '--voters', '7', '--seed', '3', '--duration', '1s', '--json');
  const five = covey('sim', '--voters', '5', '--seed', '3', '--duration', '1s', '--json');
  assert.notEqual(JSON.parse(seven.stdout).traceHash, JSON.parse(five.stdout).traceHash, '7 voters run a different swarm from 5');
});

test('covey sim --help shows defaults a user can type', () => {
  const r = covey('sim', '--help');
  assert.equal(r.status, 0);
  const help = r.stdout.replace(/\s+/g, ' ');
  assert.match(help, /--duration <d> .*\(default: 10s; with --plugin, 4 × the mission's ideal time \+ 60s\)/);
  assert.match(help, /--seed <n> the seed of one run \(default: 1\)/);
  assert.match(help, /--faults <list> .*\(default: none\)/);
  assert.match(help, /--kill-share <p> .*\(default: 0\.3\)/);
  assert.match(help, /--voters <n> voters: 3, 5 or 7 \(default: 3\)/);
  // What commander printed before: values a user cannot type back.
  assert.doesNotMatch(help, /default: \{\}|default: \[1\]|default: 10000/);
  // And the defaults it shows are accepted as typed.
  const typed = covey('sim', '--duration', '10s', '--seed', '1', '--faults', '', '--voters', '3', '--json');
  assert.equal(typed.status, 0, typed.stderr);
  assert.equal(JSON.parse(typed.stdout).traceHash, JSON.parse(covey('sim', '--json').stdout).traceHash);
});

test('covey sim refuses flags that do not apply to the mode, with exit 2 and what to do', () => {
  const plugin = ['sim', '--plugin', 'examples/survey', '--agents', '6'];
  const w = covey(...plugin, '--workload', 'tasks');
  assert.equal(w.status, 2);
  assert.match(w.stderr, /covey sim --plugin: --workload applies to workload runs only \(the plugins on the agents are the clients\); drop it/);
  const cr = covey(...plugin, '--clients', '4', '--rate', '10');
  assert.equal(cr.status, 2);
  assert.match(cr.stderr, /--clients, --rate apply to workload runs only/);
  const m = covey(...plugin, '--membership', 'swim', '--keys', '3');
  assert.equal(m.status, 2);
  assert.match(m.stderr, /--keys, --membership apply/);
  const logs = covey('sim', '--plugin-logs');
  assert.equal(logs.status, 2);
  assert.match(logs.stderr, /--plugin-logs applies to plugin runs only; add --plugin PATH or drop it/);
  const kill = covey('sim', '--kill-share', '0.5');
  assert.equal(kill.status, 2);
  assert.match(kill.stderr, /--kill-share applies to plugin runs only/);
  const sweep = covey('sim', '--seeds', '1..2', '--report', join(tmpdir(), 'r.html'));
  assert.equal(sweep.status, 2);
  assert.match(sweep.stderr, /--report writes one run; use it with --seed/);
  const nowhere = covey('sim', '--report', '/nonexistent-covey-dir/r.html');
  assert.equal(nowhere.status, 2);
  assert.match(nowhere.stderr, /--report \/nonexistent-covey-dir\/r\.html: the folder \/nonexistent-covey-dir does not exist or is not writable/);
  const bare = covey('sim', '--duration', '10');
  assert.equal(bare.status, 2);
  assert.match(bare.stderr, /--duration takes a number with a unit: 500ms, 10s or 10m \(got "10"\)/);
});

test('covey sim --plugin --duration limits the mission (not done in 20 s of virtual time, exit 1); plugin runs have a progress bar', () => {
  const r = covey('sim', '--plugin', 'examples/survey', '--agents', '6', '--duration', '20s', '--json', '--progress');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /\[#*\.*\] +\d+% of the 20 s limit +[\d.]+ s virtual, \d+ events/);
  const s = JSON.parse(r.stdout);
  assert.equal(s.missionComplete, false);
  assert.ok(s.cellsCovered < s.cellsTotal);
});

test('covey sim --progress: the bar goes to stderr, never into the --json output; without it and without a terminal, no bar', () => {
  const args = ['sim', '--seed', '2', '--duration', '8s', '--json'];
  const shown = covey(...args, '--progress');
  assert.equal(shown.status, 0, shown.stderr);
  assert.match(shown.stderr, /\[#*\.*\] +\d+% +[\d.]+ s virtual, \d+ events, \d+ ops/);
  const s = JSON.parse(shown.stdout); // one JSON object, nothing else
  assert.equal(typeof s.traceHash, 'string');
  const quiet = covey(...args);
  assert.equal(quiet.stderr, '');
  assert.equal(JSON.parse(quiet.stdout).traceHash, s.traceHash);
});

test('--catch-up-snapshot-ids reaches the voters: a sweep seed that uses it replays to the same run from its printed command', async () => {
  const { replayCommand, simulationOptions } = await import('./command.ts');
  const { sweepArgs } = await import('./sweep.ts');
  const { runSimulation } = await import('./engine/simulation.ts');
  const args = sweepArgs(5, 1500); // seed % 3 === 2: state transfer at 8 ids behind
  const replay = replayCommand(args, 5);
  assert.match(replay, /--catch-up-snapshot-ids 8/);
  const direct = runSimulation(simulationOptions(args, 5));
  assert.ok(direct.snapshots.installed > 0, 'the run caught a voter up by state transfer');
  const flags = replay.replace(/^npm run covey -- /, '').split(' ').map((x) => x === "''" ? '' : x);
  const viaCli = covey(...flags, '--json');
  assert.equal(viaCli.status, 0, viaCli.stderr);
  assert.equal(JSON.parse(viaCli.stdout).traceHash, direct.traceHash);
  const without = runSimulation(simulationOptions({ ...args, catchUpSnapshotIds: null }, 5));
  assert.notEqual(without.traceHash, direct.traceHash, 'the threshold changes what the voters do');
  assert.match(covey('sim', '--catch-up-snapshot-ids', '-1').stderr, /--catch-up-snapshot-ids must be a whole number from 0/);
});
