// npm run chaos:net — the network nemesis (agent/nemesis/): a real local swarm, each agent in its
// own network namespace, clients at every agent, faults on the network one after another, the
// history judged by the linearizability checker and every fault measured against issue 16's
// targets. Needs root.
//
// Usage: npm run chaos:net [-- --voters 5 --faults split,isolate,oneway,flap,loss --cut 30
//          --baseline 15 --recover 10 --clients 4 --keys 100 --history FILE --dir DIR --seed N
//          --log-level info|debug|… --json]
// Exit codes: 0 safe (linearizable, the voters agree) and every target met; 1 a safety failure;
// 3 safe but a target missed; 2 bad arguments, or this machine cannot run it (not root, no `ip`).

import { parseArgs } from 'node:util';
import { faultNames, parseFaults, type FaultName } from '../agent/nemesis/faults.ts';
import { lossAvailable, netLabUnavailable } from '../agent/nemesis/netns.ts';
import { runNemesis, type NemesisSummary } from '../agent/nemesis/run.ts';
import { levels as logLevels } from '../agent/config.ts';

interface Options {
  voters: number; faults: FaultName[]; cutMs: number; baselineMs: number; recoverMs: number;
  clients: number; keys: number; history?: string; dir?: string; seed?: number; logLevel: string; json: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      voters: { type: 'string', default: '5' },
      faults: { type: 'string' },
      cut: { type: 'string', default: '30' },
      baseline: { type: 'string', default: '15' },
      recover: { type: 'string', default: '10' },
      clients: { type: 'string', default: '4' },
      keys: { type: 'string', default: '100' },
      history: { type: 'string' },
      dir: { type: 'string' },
      seed: { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      json: { type: 'boolean', default: false },
    },
  });
  const int = (name: string, text: string, min: number, max: number): number => {
    const v = Number(text);
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`--${name} must be a whole number from ${min} to ${max}, got "${text}"`);
    return v;
  };
  const level = (text: string): string => {
    if (!(logLevels as readonly string[]).includes(text)) throw new RangeError(`--log-level must be one of ${logLevels.join(', ')}, got "${text}"`);
    return text;
  };
  const faults = parseFaults(values.faults ?? faultNames.filter((f) => f !== 'loss' || lossAvailable()).join(','));
  if (faults.includes('loss') && !lossAvailable()) throw new RangeError('the loss fault needs nftables (apt-get install nftables); leave it out of --faults or install it');
  return {
    voters: int('voters', values.voters, 3, 9),
    faults,
    cutMs: int('cut', values.cut, 1, 600) * 1000,
    baselineMs: int('baseline', values.baseline, 1, 600) * 1000,
    recoverMs: int('recover', values.recover, 1, 600) * 1000,
    clients: int('clients', values.clients, 1, 64),
    keys: int('keys', values.keys, 1, 10_000),
    history: values.history,
    dir: values.dir,
    seed: values.seed === undefined ? undefined : int('seed', values.seed, 0, 2 ** 31),
    logLevel: level(values['log-level']),
    json: values.json,
  };
}

function print(s: NemesisSummary): void {
  const out = process.stdout;
  out.write(`${s.voters} voters, ${s.clients} clients: ${s.ops} operations, ${s.acked} acked, ${s.unknown} unknown; ${(s.wallMs / 1000).toFixed(0)} s\n`);
  out.write(`linearizable: ${s.linearizable ? 'yes' : `NO (${s.violations.slice(0, 5).join('; ')})`}; voters agree after the heal: ${s.disagreements.length === 0 ? 'yes' : `NO (${s.disagreements.slice(0, 5).join('; ')})`}\n`);
  out.write(`no fault: ${s.baseline.throughput} ops/s, p50 ${s.baseline.p50Ms} ms\n`);
  for (const f of s.faults) {
    const x = f.figures;
    out.write(`\n${f.fault}: ${f.what}\n`);
    out.write(`  no fault just before: ${f.before.throughput} ops/s, p50 ${f.before.p50Ms} ms\n`);
    out.write(`  acked during it: ${x.ackedMajority} on the majority side${f.minority.length > 0 ? `, ${x.ackedMinority} on the minority` : ''}; throughput ${x.throughputRatio}x of no fault\n`);
    if (f.minority.length > 0) out.write(`  cut → minority /ready 503: ${x.readyDropMs === null ? 'never' : `${x.readyDropMs} ms`}\n`);
    out.write(`  heal → a write acked at every agent: ${x.healToWriteMs === null ? 'not within the wait' : `${x.healToWriteMs} ms`}\n`);
    out.write(`  majority-side p50: ${x.majorityP50Ms} ms (${x.majorityP50Ratio}x of no fault)${x.pairThroughputRatio === null ? '' : `; the one-way pair at ${Math.round(x.pairThroughputRatio * 100)} % of its no-fault throughput`}\n`);
    for (const [target, ok] of Object.entries(f.met)) out.write(`  ${ok ? 'met' : 'MISSED'}: ${target}\n`);
  }
}

async function main(): Promise<number> {
  let o: Options;
  try {
    o = options();
  } catch (err) {
    process.stderr.write(`chaos:net: ${(err as Error).message}\n`);
    return 2;
  }
  const why = netLabUnavailable();
  if (why !== null) {
    process.stderr.write(`chaos:net: ${why}\n`);
    return 2;
  }
  const s = await runNemesis({
    voters: o.voters, clientsPerAgent: o.clients, keys: o.keys, faults: o.faults, cutMs: o.cutMs, baselineMs: o.baselineMs,
    recoverMs: o.recoverMs, attemptMs: 1000, history: o.history, dir: o.dir, seed: o.seed, logLevel: o.logLevel,
    progress: o.json ? undefined : (l) => process.stderr.write(`chaos:net: ${l}\n`),
  });
  if (o.json) process.stdout.write(JSON.stringify(s, null, 2) + '\n');
  else print(s);
  if (!s.linearizable || s.disagreements.length > 0) return 1;
  return s.faults.every((f) => Object.values(f.met).every(Boolean)) ? 0 : 3;
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`chaos:net: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
