// The running half of `covey check` (command.ts holds its options): run the checker, print the
// result, and give the exit code. Loaded only when the command runs.

import { check, type CheckResult, type ModelConfig, type Progress } from './model.ts';
import { exitIncomplete, exitPass, exitViolation, maxStatesDefault, maxStatesExactDefault, maxStatesPorDefault, type CheckArgs } from './command.ts';

export function formatResult(r: CheckResult): string {
  const c = r.config;
  const lines = [
    c.reconfig === true
      ? `model: ${c.replicas} replicas, ${c.commands - 1} command(s) and a voters.change replacing r2 (docs/reconfiguration.md), all conflicting; core: ${c.variant}`
      : `model: ${c.replicas} replicas, ${c.commands} conflicting command(s); core: ${c.variant}`,
    `bounds per run: ≤${c.crashes} crash+restart, ≤${c.duplicates} duplicate(s), message loss: any message may stay undelivered (explicit drops ≤${c.drops}), ` +
      `≤${c.recoveries} recover(id) event(s), ≤${c.ticks} tick(s) (fast-path timeout); time frozen, no retransmission/recovery/watermark timers; ` +
      (c.unsynced === 0 ? 'every step durable at once' : `≤${c.unsynced} unsynced step(s) per replica (early effects leave before the sync; a crash loses the unsynced steps)`),
    `distinct states explored: ${r.states}`,
    `transitions: ${r.transitions} (${r.subsumed} subsumed by their parent), depth reached: ${r.depth}, wall time: ${(r.wallMs / 1000).toFixed(1)} s`,
    `visited states kept ${r.exactStates ? 'exactly (--exact-states)' : 'as 128-bit hashes (README.md, "State hashing")'}; `
      + `dead messages ${r.droppedDead ? 'left out (README.md, "Dead messages")' : 'kept'}; `
      + `partial-order reduction ${r.por === true ? 'on (restart and sync first once the crash budget is spent; README.md)' : 'off'}; peak RSS ${(process.resourceUsage().maxRSS / 1024 / 1024).toFixed(2)} GB`,
  ];
  if (r.verdict === 'pass') lines.push(`PASS: INV1–INV8${c.reconfig === true ? ' and RC1' : ''} hold in every reachable state`);
  else if (r.verdict === 'depth-bounded') lines.push(`DEPTH-BOUNDED: no violation within ${r.depth} steps (--max-depth); deeper states were not explored, so this is not a pass`);
  else if (r.verdict === 'incomplete') {
    lines.push(`INCOMPLETE: stopped at the state or time limit (--max-states, --max-seconds); this is not a pass` +
      (r.checkedDepth === undefined ? '' : `; every state within ${r.checkedDepth} step(s) was checked: no violation there`));
  }
  else {
    const v = r.violation!;
    lines.push(`VIOLATION of ${v.invariants.join(', ')} after ${v.trace.length} step(s), a shortest trace:`);
    v.steps.forEach((s, i) => lines.push(`  ${String(i + 1).padStart(2)}. ${s}`));
    lines.push('violated:', ...v.messages.map((m) => `  ${m}`));
  }
  return lines.join('\n') + '\n';
}

export function exitCodeOf(r: CheckResult): number {
  return r.verdict === 'pass' ? exitPass : r.verdict === 'violation' ? exitViolation : exitIncomplete;
}

export function runCheck(o: CheckArgs): number {
  const cfg: ModelConfig = {
    replicas: o.replicas, commands: o.commands, crashes: o.crashes, duplicates: o.duplicates, drops: o.drops,
    recoveries: o.recoveries, ticks: o.ticks, unsynced: o.unsynced, variant: o.variant,
    // --reconfig: the change is one more command, after the puts (model.ts, modelCommand).
    ...(o.reconfig ? { commands: o.commands + 1, reconfig: true } : {}),
  };
  const tty = process.stderr.isTTY === true;
  let lastStates = 0, lastMs = 0;
  const onProgress = tty ? (p: Progress): void => {
    const rate = Math.round((p.states - lastStates) / Math.max(0.001, (p.elapsedMs - lastMs) / 1000));
    lastStates = p.states; lastMs = p.elapsedMs;
    process.stderr.write(`\r${p.states} states (${rate}/s), ${p.transitions} transitions, depth ${p.depth}, frontier ${p.frontier}, ${(p.elapsedMs / 1000).toFixed(0)} s   `);
  } : undefined;
  const por = o.por !== false;
  const maxStates = o.maxStates ?? (o.exactStates ? maxStatesExactDefault : por ? maxStatesPorDefault : maxStatesDefault);
  const maxMs = o.maxSeconds === undefined ? undefined : o.maxSeconds * 1000;
  const r = check(cfg, { maxStates, maxMs, maxDepth: o.maxDepth, onProgress, exactStates: o.exactStates, dropDead: !o.keepDeadMessages, por });
  if (tty) process.stderr.write('\n');
  if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
  else process.stdout.write(formatResult(r));
  return exitCodeOf(r);
}
