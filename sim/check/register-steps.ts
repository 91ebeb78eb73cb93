// One register's operations as search steps: values interned to small integers, each operation's
// effect as a function on them.

import type { Operation } from '../history.ts';
import type { Step } from './search.ts';
import { canonicalJson } from './values.ts';

// 0 is absent, which reads as null; 1 stands for every written value no operation can observe.
export const absent = 0;
const unobservable = 1;

export interface RegisterSteps {
  /** One step per operation, in the order given. */
  steps: Step[];
  /** The value each step writes when it takes effect as a change (ok write, cas that swaps); -1 for none. */
  writes: number[];
  /** The JSON text of an interned value, for reports. */
  describe: (value: number) => string;
}

export function registerSteps(ops: readonly Operation[]): RegisterSteps {
  const ids = new Map<string, number>([['null', absent], ['\u0000unobservable', unobservable]]);
  const names = ['null', '(a value nothing reads)'];
  const intern = (v: unknown): number => {
    const s = canonicalJson(v);
    let id = ids.get(s);
    if (id === undefined) {
      ids.set(s, (id = ids.size));
      names.push(s);
    }
    return id;
  };
  // Values some operation can tell apart: what an ok read returned and what any cas expected.
  // Every other written value is indistinguishable from the others by any operation of this
  // history, so they all become one value, and the states they lead to merge in the memo table.
  const observable = new Set<string>(['null']);
  for (const op of ops) {
    if (op.f === 'read' && op.status === 'ok') observable.add(canonicalJson(op.output ?? null));
    else if (op.f === 'cas') observable.add(canonicalJson((op.value as unknown[])[0]));
  }
  const internWritten = (v: unknown): number => (observable.has(canonicalJson(v ?? null)) ? intern(v) : unobservable);
  const writes: number[] = [];
  const steps = ops.map((op): Step => {
    const ok = op.status === 'ok';
    if (op.f === 'write') {
      const v = internWritten(op.value);
      writes.push(v);
      return { op, ok, pure: false, apply: () => v };
    }
    if (op.f === 'cas') {
      const [expected, next] = [intern((op.value as unknown[])[0]), internWritten((op.value as unknown[])[1])];
      // An info cas that found another value changed nothing, just like one that never ran.
      if (ok && op.output === false) {
        writes.push(-1);
        return { op, ok, pure: true, apply: (s) => (s !== expected ? s : -1) };
      }
      writes.push(next);
      return { op, ok, pure: false, apply: (s) => (s === expected ? next : -1) };
    }
    writes.push(-1);
    const seen = intern(op.output);
    return { op, ok, pure: ok, apply: (s) => (s === seen ? s : -1) };
  });
  return { steps, writes, describe: (v) => names[v] ?? `#${v}` };
}
