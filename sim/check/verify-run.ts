// The running half of `covey verify` (agent/cli/verify-command.ts parses its options): read the
// history, judge it, print the verdicts, return the exit code. Loaded only when the command runs.

import { readFileSync } from 'node:fs';
import { parseHistoryText } from './history-input.ts';
import { exitCodes, verifyHistory, type KeyReport, type VerifyReport, type WitnessOperation } from './verify.ts';

/** The options of `covey verify` (agent/cli/verify-command.ts parses them). */
export interface VerifyArgs {
  format: 'auto' | 'jsonl' | 'edn';
  statesMax: number;
  json: boolean;
  quiet: boolean;
  /** undefined: on a terminal only. */
  progress?: boolean;
}

/** Progress starts only on a run this long, and is redrawn at most this often. */
const progressAfterMs = 1_000;
const progressEveryMs = 500;

export async function runVerify(file: string, args: VerifyArgs): Promise<number> {
  const started = performance.now();
  let text: string;
  try {
    text = file === '-' ? await readStdin() : readFileSync(file, 'utf8');
  } catch (err) {
    return badInput(`cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed;
  try {
    parsed = parseHistoryText(text, args.format);
  } catch (err) {
    return badInput(`${file === '-' ? 'standard input' : file}: ${(err as Error).message}`);
  }
  const parseMs = performance.now() - started;
  const progress = progressLine(args, started);
  const report = verifyHistory(parsed.history, { statesMax: args.statesMax, onKey: progress.onKey });
  progress.clear();
  const wallMs = performance.now() - started;
  const usage = process.resourceUsage();
  const peakRssBytes = usage.maxRSS * 1024;
  // CPU time as well as wall time: on a shared machine the wall time says more about the neighbours.
  const cpuMs = Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000);
  if (args.json) {
    process.stdout.write(JSON.stringify({ file, format: parsed.format, ...report, parseMs: Math.round(parseMs), checkMs: Math.round(report.checkMs), wallMs: Math.round(wallMs), cpuMs, peakRssBytes }) + '\n');
  } else {
    const body = formatReport(report, args.quiet);
    if (body !== '') process.stdout.write(body + '\n');
    process.stdout.write(`${summaryLine(report)}; ${parsed.format}, ${(wallMs / 1000).toFixed(2)} s, peak RSS ${Math.round(peakRssBytes / 2 ** 20)} MiB\n`);
  }
  return exitCodes[report.verdict];
}

function badInput(message: string): number {
  process.stderr.write(`covey verify: ${message}\n`);
  return exitCodes.badInput;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** "verify: 37/100 keys, 37012 operations, 3.1 s" on stderr, from the first second of the run; redrawn in place on a terminal. */
function progressLine(args: VerifyArgs, started: number): { onKey: (done: number, total: number, operations: number) => void; clear: () => void } {
  const tty = process.stderr.isTTY === true;
  const enabled = args.progress ?? tty;
  let last = 0;
  let shown = false;
  return {
    onKey: (done, total, operations) => {
      const now = performance.now();
      if (!enabled || now - started < progressAfterMs || (now - last < progressEveryMs && done < total)) return;
      last = now;
      shown = true;
      const line = `verify: ${done}/${total} keys, ${operations} operations, ${((now - started) / 1000).toFixed(1)} s`;
      process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
    },
    clear: () => { if (shown && tty) process.stderr.write('\r\x1b[K'); },
  };
}

export function summaryLine(r: VerifyReport): string {
  const t = r.totals;
  const verdict = r.verdict === 'linearizable' ? 'linearizable' : r.verdict === 'not-linearizable' ? 'NOT linearizable' : 'undecided';
  const tasks = r.tasks === null ? '' : `; task board ${r.tasks.ok ? 'ok' : `${r.tasks.violations.length} violations`}`;
  return `${verdict}: ${plural(t.keys, 'key')} (${t.linearizable} linearizable, ${t.notLinearizable} not, ${t.unknown} undecided), ` +
    `${t.operations} operations (${t.infoOperations} of unknown outcome), ${t.states} search states${tasks}`;
}

export function formatReport(r: VerifyReport, quiet: boolean): string {
  const shown = quiet ? r.keys.filter((k) => k.verdict !== 'linearizable') : r.keys;
  const width = Math.min(24, Math.max(3, ...shown.map((k) => k.key.length)));
  const lines = shown.flatMap((k) => keyLines(k, width));
  if (r.tasks !== null) {
    const s = r.tasks.stats;
    lines.push(`task board: ${r.tasks.ok ? 'ok' : 'VIOLATED'} (${s.tasksCreated} created, ${s.claims} claims, ${s.completions} completed, ${s.refusedCompletions} completions refused)`);
    lines.push(...r.tasks.violations.map((v) => `  ${v}`));
  }
  return lines.join('\n');
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function keyLines(k: KeyReport, width: number): string[] {
  const verdict = { linearizable: 'linearizable', 'not-linearizable': 'NOT linearizable', unknown: 'undecided' }[k.verdict];
  const how = k.method === 'refuted-before-search' ? 'refuted before search' : `${k.segments} segments, ${k.states} states`;
  const head = `${k.key.padEnd(width)}  ${verdict.padEnd(16)}  ${k.operations} ops (${k.infoOperations} unknown outcome), ${how}`;
  if (k.verdict === 'linearizable') return [head];
  const out = [head, `  ${k.reason}`];
  if (k.witness !== undefined && k.witness.length > 0) {
    const from = k.witnessStartValues !== undefined ? `, the register holding ${k.witnessStartValues.join(' or ')} before them` : '';
    out.push(`  shown by ${k.witness.length} operation${k.witness.length === 1 ? '' : 's'}${from}:`);
    out.push(...k.witness.map((o) => `    ${witnessLine(o)}`));
  }
  return out;
}

function witnessLine(o: WitnessOperation): string {
  const json = (v: unknown): string => JSON.stringify(v ?? null);
  const arg = o.value !== undefined ? ` ${json(o.value)}` : '';
  const out = o.output !== undefined ? ` -> ${json(o.output)}` : '';
  const done = o.completeNs === null ? 'never completed' : `${o.completeNs}`;
  return `line ${String(o.line).padEnd(6)} process ${String(o.process).padEnd(4)} ${o.f}${arg}${out}  ${o.status}  [${o.invokeNs}, ${done}] ns`;
}
