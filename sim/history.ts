// Operation histories in the JSON Lines format of /work/shared/HISTORY-FORMAT.md (Jepsen's
// format): parsing with line-numbered errors, and pairing invokes with completions into
// operations for the checkers.

/** The register functions. Events with any other `f` (task-board operations) are kept aside. */
export type RegisterF = 'read' | 'write' | 'cas';
export type EventType = 'invoke' | 'ok' | 'fail' | 'info';

export interface HistoryEvent {
  process: number;
  type: EventType;
  f: string;
  key: string;
  /** Absent when the line had no `value`. */
  value?: unknown;
  /** Nanoseconds on the run's shared clock. */
  time: number;
  /** 1-based line number in the parsed text, for error messages. */
  line: number;
}

export interface History {
  /** Events of register operations (f = read | write | cas), in file order. */
  events: HistoryEvent[];
  /** Events with any other `f`: task-board operations, skipped by the register checker. */
  other: HistoryEvent[];
}

export type OperationStatus = 'ok' | 'info';

export interface Operation {
  /** Index of the operation in the toOperations result; stable within one history. */
  id: number;
  process: number;
  f: RegisterF;
  key: string;
  /** The invoke's value: the value written, or [expected, new] for a cas; undefined for a read. */
  value: unknown;
  /** The completion's value: the value read, or the cas's true/false; undefined for info. */
  output: unknown;
  invokeNs: number;
  /** +Infinity for `info`: an operation of unknown outcome may take effect at any later time. */
  completeNs: number;
  /** `ok`: took effect. `info`: may or may not have taken effect. (`fail` is dropped.) */
  status: OperationStatus;
  /** Line of the invoke in the history file. */
  line: number;
}

const eventTypes: ReadonlySet<string> = new Set(['invoke', 'ok', 'fail', 'info']);
const registerFs: ReadonlySet<string> = new Set(['read', 'write', 'cas']);

export function isRegisterF(f: string): f is RegisterF {
  return registerFs.has(f);
}

/**
 * Parses a JSON Lines history, validating every line. Blank lines are ignored. Throws an Error
 * naming the line number and the problem: bad JSON, a missing field or one of the wrong type, an
 * unknown `type`, an empty `f`, a malformed register value, a process invoking while it already
 * has an operation open, or a completion without a matching invoke.
 */
export function parseHistory(text: string): History {
  return historyFromRecords(jsonLines(text));
}

/** The non-blank lines of `text` parsed as JSON, one at a time (a 100,000-operation file is not held twice). */
function* jsonLines(text: string): Generator<HistoryRecord> {
  let start = 0;
  for (let line = 1; start < text.length; line++) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const raw = text.slice(start, end).trim();
    start = end + 1;
    if (raw === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (e) {
      throw new Error(`history line ${line}: bad JSON (${(e as Error).message})`, { cause: e });
    }
    yield { fields: parsed, line };
  }
}

/** One event as read from a file (JSON Lines, or EDN converted by sim/check/jepsen-edn.ts), before validation. */
export interface HistoryRecord {
  fields: unknown;
  /** 1-based line number in the source, for error messages. */
  line: number;
}

/** Validates events given as objects with the format's fields, in file order (see parseHistory). */
export function historyFromRecords(records: Iterable<HistoryRecord>): History {
  const events: HistoryEvent[] = [];
  const other: HistoryEvent[] = [];
  // The open invoke of each process: the format allows at most one per client (any `f`).
  const open = new Map<number, HistoryEvent>();
  for (const { fields: parsed, line } of records) {
    const fail = (problem: string): never => {
      throw new Error(`history line ${line}: ${problem}`);
    };
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      fail('expected a JSON object');
    }
    const o = parsed as Record<string, unknown>;
    for (const field of ['process', 'type', 'f', 'key', 'time']) {
      if (!(field in o)) fail(`missing field "${field}"`);
    }
    if (typeof o.process !== 'number' || !Number.isInteger(o.process)) {
      fail(`"process" must be an integer, got ${JSON.stringify(o.process)}`);
    }
    if (typeof o.type !== 'string') fail(`"type" must be a string`);
    if (!eventTypes.has(o.type as string)) fail(`unknown type ${JSON.stringify(o.type)}`);
    if (typeof o.f !== 'string' || o.f === '') fail(`"f" must be a non-empty string`);
    if (typeof o.key !== 'string') fail(`"key" must be a string`);
    if (typeof o.time !== 'number' || !Number.isFinite(o.time)) fail(`"time" must be a finite number`);
    const event: HistoryEvent = {
      process: o.process as number,
      type: o.type as EventType,
      f: o.f as string,
      key: o.key as string,
      time: o.time as number,
      line,
    };
    if ('value' in o) event.value = o.value;

    const register = isRegisterF(event.f);
    if (register) checkRegisterValue(event, fail);

    const invoke = open.get(event.process);
    if (event.type === 'invoke') {
      if (invoke) {
        fail(`process ${event.process} invokes while its operation from line ${invoke.line} is still open`);
      }
      open.set(event.process, event);
    } else {
      if (!invoke) fail(`${event.type} of process ${event.process} without an open invoke`);
      if (invoke!.f !== event.f || invoke!.key !== event.key) {
        fail(`${event.type} (${event.f} ${event.key}) does not match the invoke on line ${invoke!.line} (${invoke!.f} ${invoke!.key})`);
      }
      if (event.time < invoke!.time) fail(`completion time ${event.time} is before its invoke's time ${invoke!.time}`);
      open.delete(event.process);
    }
    (register ? events : other).push(event);
  }
  return { events, other };
}

/** Checks the value shapes the register checker relies on (see the format's `value` rules). */
function checkRegisterValue(e: HistoryEvent, fail: (problem: string) => never): void {
  if (e.type === 'invoke') {
    if (e.f === 'write' && e.value === undefined) fail('a write invoke needs a "value"');
    if (e.f === 'cas' && !(Array.isArray(e.value) && e.value.length === 2)) {
      fail('a cas invoke needs "value": [expected, new]');
    }
  } else if (e.type === 'ok') {
    if (e.f === 'read' && e.value === undefined) fail('a read ok needs a "value" (null when absent)');
    if (e.f === 'cas' && typeof e.value !== 'boolean') fail('a cas ok needs "value": true or false');
  }
}

/**
 * Pairs each register invoke with its completion. `fail` operations definitely did not take
 * effect and are dropped; `info` ones and invokes still open at the end of the history may or
 * may not have taken effect, at any time after their invoke, so their completion is +Infinity.
 * Assumes a history from parseHistory (so pairing is already validated).
 */
export function toOperations(history: History): Operation[] {
  const ops: Operation[] = [];
  const open = new Map<number, HistoryEvent>();
  const push = (invoke: HistoryEvent, completion: HistoryEvent | undefined): void => {
    const ok = completion?.type === 'ok';
    ops.push({
      id: ops.length,
      process: invoke.process,
      f: invoke.f as RegisterF,
      key: invoke.key,
      value: invoke.value,
      output: ok ? completion!.value : undefined,
      invokeNs: invoke.time,
      completeNs: ok ? completion!.time : Infinity,
      status: ok ? 'ok' : 'info',
      line: invoke.line,
    });
  };
  for (const e of history.events) {
    if (e.type === 'invoke') {
      open.set(e.process, e);
      continue;
    }
    const invoke = open.get(e.process);
    if (!invoke) throw new Error(`history line ${e.line}: ${e.type} without an open invoke`);
    open.delete(e.process);
    if (e.type !== 'fail') push(invoke, e);
  }
  for (const invoke of open.values()) push(invoke, undefined);
  return ops;
}
