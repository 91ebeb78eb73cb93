// A linearizable register history with operations of unknown outcome, as large as asked: the
// generated histories of the linearizability checker's tests and of bench/verify.ts. Each key
// has `clients` processes issuing operations back to back with random windows; each operation
// takes effect at a random instant `at` inside its window, applied in that order to a real
// register, so the history is linearizable by construction. An operation of unknown outcome
// (`info`, or left open when it is a client's last) takes effect or not at random; a `fail` one
// never does. Values are unique, as HISTORY-FORMAT.md asks.

import { seededRandom } from '../../devices/clock.ts';

export interface RegisterHistoryOptions {
  readonly seed: number;
  readonly keys: number;
  readonly opsPerKey: number;
  readonly clientsPerKey: number;
  /** Share of operations of unknown outcome (as many again fail). */
  readonly unknownShare: number;
}

/** One generated operation; `output` is what a read or cas saw (tests may change it to break the history). */
export interface RegisterOp {
  process: number; key: string; f: 'read' | 'write' | 'cas'; invoke: number; at: number; complete: number;
  outcome: 'ok' | 'info' | 'fail' | 'open'; value?: unknown; output?: unknown;
}

/** One event of the history format (HISTORY-FORMAT.md), register operations only. */
export interface RegisterEvent {
  process: number; type: 'invoke' | 'ok' | 'fail' | 'info'; f: string; key: string; value?: unknown; time: number;
}

export function generateRegisterOps(o: RegisterHistoryOptions): RegisterOp[] {
  const rng = seededRandom(o.seed);
  const rand = (): number => rng.float();
  const int = (n: number): number => Math.floor(rand() * n);
  const ops: RegisterOp[] = [];
  for (let k = 0; k < o.keys; k++) {
    const key = `k${k}`;
    const perKey: RegisterOp[] = [];
    for (let c = 0; c < o.clientsPerKey; c++) {
      let t = int(50);
      const n = Math.floor(o.opsPerKey / o.clientsPerKey) + (c < o.opsPerKey % o.clientsPerKey ? 1 : 0);
      for (let j = 0; j < n; j++) {
        const invoke = t;
        const at = invoke + 1 + int(100);
        const complete = at + 1 + int(100);
        t = complete + 1 + int(50);
        const x = rand();
        const outcome = x < o.unknownShare ? (j === n - 1 ? 'open' : 'info') : x < 2 * o.unknownShare ? 'fail' : 'ok';
        perKey.push({ process: k * o.clientsPerKey + c, key, f: (['read', 'write', 'cas'] as const)[int(3)], invoke, at, complete, outcome });
      }
    }
    applyInOrder(perKey, key, rand);
    ops.push(...perKey);
  }
  return ops;
}

/** The operations as history events, in time order. */
export function registerEvents(ops: readonly RegisterOp[]): RegisterEvent[] {
  const events: RegisterEvent[] = [];
  for (const op of ops) {
    const invoke: RegisterEvent = { process: op.process, type: 'invoke', f: op.f, key: op.key, time: op.invoke };
    if (op.f !== 'read') invoke.value = op.value;
    events.push(invoke);
    if (op.outcome === 'open') continue;
    const done: RegisterEvent = { process: op.process, type: op.outcome, f: op.f, key: op.key, time: op.complete };
    if (op.outcome === 'ok' && op.f !== 'write') done.value = op.output;
    events.push(done);
  }
  return events.sort((a, b) => a.time - b.time);
}

/** The history as JSON Lines, one event a line. */
export function registerHistory(o: RegisterHistoryOptions): string {
  return registerEvents(generateRegisterOps(o)).map((e) => JSON.stringify(e)).join('\n') + '\n';
}

/** Applies one key's operations to a register in the order they take effect, filling in what each saw. */
function applyInOrder(ops: RegisterOp[], key: string, rand: () => number): void {
  ops.sort((a, b) => a.at - b.at);
  let current: string | null = null;
  const written: string[] = [];
  let fresh = 0;
  for (const op of ops) {
    const takesEffect = op.outcome === 'ok' || ((op.outcome === 'info' || op.outcome === 'open') && rand() < 0.5);
    if (op.f === 'read') op.output = current;
    else if (op.f === 'write') {
      op.value = `${key}-v${fresh++}`;
      if (takesEffect) current = op.value as string;
      written.push(op.value as string);
    } else {
      const expected: string | null = current !== null && rand() < 0.6 ? current : written.length > 0 ? written[Math.floor(rand() * written.length)] : null;
      const next = `${key}-v${fresh++}`;
      op.value = [expected, next];
      op.output = expected === current;
      if (takesEffect && expected === current) current = next;
      written.push(next);
    }
  }
}
