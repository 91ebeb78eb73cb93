// A linearizable register history with operations of unknown outcome, as large as asked, for
// bench/verify.ts. Each key has `clients` processes issuing operations back to back with random
// windows; each operation takes effect at a random instant inside its window, applied in that
// order to a real register, so the history is linearizable by construction. An operation of
// unknown outcome (`info`, or left open when it is a client's last) takes effect or not at random;
// a `fail` one never does. Values are unique, as HISTORY-FORMAT.md asks.

export interface RegisterHistoryOptions {
  keys: number;
  opsPerKey: number;
  clientsPerKey: number;
  /** Share of operations of unknown outcome (as many again fail). */
  unknownShare: number;
  seed: number;
}

interface Op { process: number; key: string; f: 'read' | 'write' | 'cas'; invoke: number; at: number; complete: number; outcome: 'ok' | 'info' | 'fail' | 'open'; value?: unknown; output?: unknown }

/** JSON Lines, one event a line, in time order. */
export function registerHistory(o: RegisterHistoryOptions): string {
  const rand = mulberry32(o.seed);
  const int = (n: number): number => Math.floor(rand() * n);
  const lines: { time: number; text: string }[] = [];
  for (let k = 0; k < o.keys; k++) {
    const key = `k${k}`;
    const ops: Op[] = [];
    for (let c = 0; c < o.clientsPerKey; c++) {
      let t = int(50_000);
      const n = Math.floor(o.opsPerKey / o.clientsPerKey) + (c < o.opsPerKey % o.clientsPerKey ? 1 : 0);
      for (let j = 0; j < n; j++) {
        // Latencies 1–100 µs, think time up to 50 µs, in nanoseconds.
        const invoke = t;
        const at = invoke + 1_000 + int(50_000);
        const complete = at + 1_000 + int(50_000);
        t = complete + 1_000 + int(50_000);
        const x = rand();
        const outcome = x < o.unknownShare ? (j === n - 1 ? 'open' : 'info') : x < 2 * o.unknownShare ? 'fail' : 'ok';
        ops.push({ process: k * o.clientsPerKey + c, key, f: (['read', 'write', 'cas'] as const)[int(3)], invoke, at, complete, outcome });
      }
    }
    applyInOrder(ops, key, rand);
    for (const op of ops) lines.push(...events(op));
  }
  lines.sort((a, b) => a.time - b.time);
  return lines.map((l) => l.text).join('\n') + '\n';
}

/** Applies the operations to a register in the order they take effect, filling in what each saw. */
function applyInOrder(ops: Op[], key: string, rand: () => number): void {
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

function events(op: Op): { time: number; text: string }[] {
  const invoke: Record<string, unknown> = { process: op.process, type: 'invoke', f: op.f, key: op.key, time: op.invoke };
  if (op.f !== 'read') invoke.value = op.value;
  const out = [{ time: op.invoke, text: JSON.stringify(invoke) }];
  if (op.outcome === 'open') return out;
  const done: Record<string, unknown> = { process: op.process, type: op.outcome, f: op.f, key: op.key, time: op.complete };
  if (op.outcome === 'ok' && op.f !== 'write') done.value = op.output;
  out.push({ time: op.complete, text: JSON.stringify(done) });
  return out;
}

/** Small seeded PRNG, so a run reproduces. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
