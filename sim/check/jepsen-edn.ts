// Jepsen's EDN histories of registers, read into the project's history (sim/history.ts), so that
// histories from other systems can be judged by the same checker.
//
// An operation is a map such as {:type :invoke, :f :cas, :value [1 2], :process 3, :time 1200}.
// `:type` is :invoke, :ok, :fail or :info; `:f` is :read, :write or :cas. One register per history
// (knossos's cas-register), or many with jepsen.independent, whose values are [key value] tuples:
// [k nil] on a read's invoke, [k v] on its ok, [k [old new]] on a cas. Differences from the JSON
// Lines format, converted here: a cas that did not swap is a `:fail`, and an ok cas echoes its
// arguments (it swapped, so it becomes `true`); ops of a non-integer process (the :nemesis) are
// not client operations and are skipped; without `:time` the order of the file is the real-time
// order, so an operation's place in it is its time.

import { historyFromRecords, type History, type HistoryRecord } from '../history.ts';
import { EdnMap, EdnSymbol, Keyword, readEdnForms, type Edn } from './edn.ts';

/** The key of a history of one register (no :key and no [key value] tuples). */
export const singleRegisterKey = 'register';

const registerFs = new Set(['read', 'write', 'cas']);

export function parseJepsenEdn(text: string): History {
  const ops: EdnMap[] = [];
  readEdnForms(text, (form, line) => {
    if (form instanceof EdnMap) ops.push(form);
    else if (Array.isArray(form) && form.every((x) => x instanceof EdnMap)) ops.push(...(form as EdnMap[]));
    else throw new Error(`history line ${line}: expected an operation map like {:type :invoke, :f :read, :process 0}, or a vector of them`);
  });
  const tuples = !ops.some((op) => op.has('key')) && ops.some(looksLikeTuple);
  const timed = ops.every((op) => typeof op.get('time') === 'number');
  const records: HistoryRecord[] = [];
  ops.forEach((op, index) => {
    const process = op.get('process');
    if (!(typeof process === 'number')) return; // :nemesis and other non-client processes
    const fields = convert(op, tuples);
    fields.time = timed ? op.get('time') : index;
    records.push({ fields, line: op.line });
  });
  return historyFromRecords(records);
}

/** Whether an operation carries a jepsen.independent [key value] tuple. */
function looksLikeTuple(op: EdnMap): boolean {
  if (name(op.get('type')) !== 'invoke') return false;
  const f = name(op.get('f'));
  const v = op.get('value');
  if (!Array.isArray(v) || v.length !== 2) return false;
  return f === 'write' || f === 'read' || (f === 'cas' && Array.isArray(v[1]) && v[1].length === 2);
}

function convert(op: EdnMap, tuples: boolean): Record<string, unknown> {
  const type = name(op.get('type'));
  const f = name(op.get('f'));
  const fields: Record<string, unknown> = { process: op.get('process'), type, f };
  let value = op.has('value') ? op.get('value') : undefined;
  if (op.has('key')) fields.key = String(toJson(op.get('key') ?? null));
  else if (tuples && Array.isArray(value) && value.length === 2) {
    fields.key = String(toJson(value[0]));
    value = value[1];
  } else fields.key = singleRegisterKey;
  if (f === undefined || !registerFs.has(f)) {
    if (value !== undefined) fields.value = toJson(value);
    return fields;
  }
  if (type === 'invoke') {
    if (f !== 'read' && value !== undefined) fields.value = toJson(value);
  } else if (type === 'ok') {
    if (f === 'read') fields.value = toJson(value ?? null);
    if (f === 'cas') fields.value = true;
  }
  return fields;
}

/** A keyword's or symbol's name, or the string itself; undefined for anything else. */
function name(x: Edn | undefined): string | undefined {
  if (x instanceof Keyword || x instanceof EdnSymbol) return x.name;
  return typeof x === 'string' ? x : undefined;
}

/** An EDN value as JSON: keywords become ":name" strings, maps objects with their keys as strings. */
function toJson(x: Edn): unknown {
  if (x instanceof Keyword) return x.toString();
  if (x instanceof EdnSymbol) return x.name;
  if (x instanceof EdnMap) return Object.fromEntries(x.entries.map(([k, v]) => [k instanceof Keyword ? k.name : String(toJson(k)), toJson(v)]));
  if (Array.isArray(x)) return x.map(toJson);
  return x;
}
