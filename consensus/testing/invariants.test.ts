// checkExecution (INV8, PROTOCOL.md §8) against the pairwise check it replaced, kept here as the
// oracle: random replicas and execution logs (Nop, ⊥, batches of reads and writes over a few keys,
// canonical and non-canonical dependency floors, reordered, partial and duplicated logs) must give
// the same violations in the same order. Then a long run: 200,000 applied ids over 3 replicas.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { footprint, payloadsConflict } from '../core/conflicts.ts';
import { depsInclude, makeDeps } from '../core/deps.ts';
import { formatId, instanceId, type InstanceId } from '../core/ids.ts';
import { NOP, type Batch, type Deps, type Instance, type Payload, type Phase } from '../core/types.ts';
import type { Command } from '../statemachine/commands.ts';
import { checkExecution, type ReplicaView } from './invariants.ts';

/** The quadratic check that checkExecution replaced, verbatim: the oracle. */
function checkExecutionOracle(replicas: readonly ReplicaView[], logs: readonly (readonly InstanceId[])[]): string[] {
  const v: string[] = [];
  const position: Map<InstanceId, number>[] = logs.map((log) => new Map(log.map((id, i) => [id, i])));
  for (let r = 0; r < replicas.length; r++) {
    const rep = replicas[r];
    for (const id of logs[r]) {
      const inst = rep.instance(id);
      if (inst?.phase !== 'COMMITTED') { v.push(`INV8: ${formatId(id)} applied at replica ${r} but not committed there`); continue; }
      for (const d of inst.dep.ids) {
        if (rep.instance(d)?.phase !== 'COMMITTED') v.push(`INV8: ${formatId(id)} applied at replica ${r} before its dependency ${formatId(d)} committed`);
      }
    }
  }
  for (let p = 0; p < replicas.length; p++) {
    for (let q = p + 1; q < replicas.length; q++) {
      const common = logs[p].filter((id) => position[q].has(id));
      for (let i = 0; i < common.length; i++) {
        const a = replicas[p].instance(common[i]);
        if (a?.cmd == null || a.cmd === NOP) continue;
        for (let j = i + 1; j < common.length; j++) {
          const b = replicas[p].instance(common[j]);
          if (b?.cmd == null || b.cmd === NOP || !payloadsConflict(a.cmd, b.cmd)) continue;
          if (position[q].get(common[i])! > position[q].get(common[j])!) {
            v.push(`INV8: conflicting ${formatId(common[i])} and ${formatId(common[j])} applied in different orders at replicas ${p} and ${q}`);
          }
        }
      }
    }
  }
  for (let r = 0; r < replicas.length; r++) {
    const log = logs[r];
    for (let i = 0; i < log.length; i++) {
      const a = replicas[r].instance(log[i]);
      if (a?.cmd == null || a.cmd === NOP) continue;
      for (let j = i + 1; j < log.length; j++) {
        const b = replicas[r].instance(log[j]);
        if (b?.cmd == null || b.cmd === NOP || !payloadsConflict(a.cmd, b.cmd)) continue;
        if (!a.dep.ids.includes(b.id) && depsInclude(a.dep, b.id)) {
          v.push(`INV8: ${formatId(b.id)} is under the dependency floor of ${formatId(a.id)} but was applied after it at replica ${r}`);
        }
      }
    }
  }
  return v;
}

// ---- building blocks -----------------------------------------------------------------------

type Op = 'get' | 'put' | 'delete' | 'task.get' | 'task.claim';

function command(op: Op, k: number, requestId = 0): Command {
  const env = { clientId: 'c', requestId, timestampMs: 0 };
  switch (op) {
    case 'get': return { ...env, op, key: `k${k}` };
    case 'put': return { ...env, op, key: `k${k}`, value: 'v' };
    case 'delete': return { ...env, op, key: `k${k}` };
    case 'task.get': return { ...env, op, taskId: `t${k}` };
    case 'task.claim': return { ...env, op, taskId: `t${k}`, worker: 'w', leaseMs: 10 };
  }
}

const batch = (...commands: Command[]): Batch => ({ commands });

function instance(id: InstanceId, phase: Phase, cmd: Payload | null, dep: Deps): Instance {
  return { id, bal: 0, abal: 0, phase, cmd, dep, initCmd: null, initDep: dep };
}

function view(self: number, instances: Iterable<Instance>): ReplicaView {
  const byId = new Map<InstanceId, Instance>();
  for (const inst of instances) byId.set(inst.id, inst);
  return { self, instance: (id) => byId.get(id), instanceIds: () => byId.keys() };
}

// ---- random worlds ---------------------------------------------------------------------------

interface World { replicas: ReplicaView[]; logs: InstanceId[][] }
interface InstanceSpec { phase: Phase; cmd: Payload | null; dep: Deps }

const opArb = fc.constantFrom<Op>('get', 'put', 'delete', 'task.get', 'task.claim');
const payloadArb = (keys: number): fc.Arbitrary<Payload | null> => fc.oneof(
  { weight: 12, arbitrary: fc.array(fc.tuple(opArb, fc.nat(keys - 1), fc.nat(3)), { maxLength: 3 }).map((cs) => batch(...cs.map(([op, k, req]) => command(op, k, req)))) },
  { weight: 1, arbitrary: fc.constant(NOP) },
  { weight: 1, arbitrary: fc.constant(null) },
);
const phaseArb = fc.oneof(
  { weight: 12, arbitrary: fc.constant<Phase>('COMMITTED') },
  { weight: 1, arbitrary: fc.constantFrom<Phase>('INITIAL', 'PREACCEPTED', 'ACCEPTED') },
);

/**
 * A log over `ids`: either a subsequence of their order with a few swaps and repeated entries (so
 * mostly consistent across replicas), or a shuffled subsequence.
 */
function logArb(ids: readonly InstanceId[]): fc.Arbitrary<InstanceId[]> {
  const edited = fc.record({
    keep: fc.subarray([...ids]),
    swaps: fc.array(fc.tuple(fc.nat(), fc.nat(3)), { maxLength: 4 }),
    repeats: fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 1 }),
  }).map(({ keep, swaps, repeats }) => {
    const log = [...keep];
    for (const [x, d] of swaps) {
      if (log.length < 2) break;
      const i = x % log.length, j = Math.min(log.length - 1, i + 1 + d);
      [log[i], log[j]] = [log[j], log[i]];
    }
    for (const [x, y] of repeats) if (log.length > 0) log.splice(y % (log.length + 1), 0, log[x % log.length]);
    return log;
  });
  return fc.oneof({ weight: 5, arbitrary: edited }, { weight: 1, arbitrary: fc.shuffledSubarray([...ids]) });
}

function worldArb(maxSeqMax: number, keys: number): fc.Arbitrary<World> {
  return fc.record({ n: fc.integer({ min: 1, max: 4 }), maxSeq: fc.integer({ min: 1, max: maxSeqMax }) }).chain(({ n, maxSeq }) => {
    // Coordinators 0..n: ids of coordinator n fall outside a floor of n entries.
    const ids: InstanceId[] = [];
    for (let s = 1; s <= maxSeq; s++) for (let c = 0; c <= n; c++) ids.push(instanceId(s, c));
    const depArb = fc.record({
      floor: fc.array(fc.oneof(fc.constant(0), fc.nat(maxSeq)), { minLength: Math.max(0, n - 1), maxLength: n }),
      ids: fc.subarray(ids, { maxLength: Math.min(4, ids.length) }),
      canonical: fc.boolean(),
    }).map(({ floor, ids, canonical }): Deps => (canonical ? makeDeps(ids, floor) : { ids: [...ids].sort((a, b) => a - b), floor }));
    const specArb: fc.Arbitrary<InstanceSpec> = fc.record({ phase: phaseArb, cmd: payloadArb(keys), dep: depArb });
    const perId = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T[]> => fc.array(a, { minLength: ids.length, maxLength: ids.length });
    const localArb = fc.oneof(
      { weight: 8, arbitrary: fc.constant('decided' as const) },
      { weight: 1, arbitrary: fc.constant('absent' as const) },
      { weight: 2, arbitrary: specArb },
    );
    return fc.record({
      decided: perId(specArb),
      local: fc.array(perId(localArb), { minLength: n, maxLength: n }),
      logs: fc.array(logArb(ids), { minLength: n, maxLength: n }),
    }).map(({ decided, local, logs }): World => ({
      replicas: local.map((choices, r) => {
        const insts: Instance[] = [];
        choices.forEach((choice, k) => {
          if (choice === 'absent') return;
          const s = choice === 'decided' ? decided[k] : choice;
          insts.push(instance(ids[k], s.phase, s.cmd, s.dep));
        });
        return view(r, insts);
      }),
      logs,
    }));
  });
}

const kinds = {
  order: 'applied in different orders',
  floor: 'is under the dependency floor',
  uncommitted: 'but not committed there',
  dependency: 'before its dependency',
};

function sameAsOracle(worlds: fc.Arbitrary<World>, numRuns: number): void {
  const seen = { none: 0, order: 0, floor: 0, uncommitted: 0, dependency: 0 };
  fc.assert(fc.property(worlds, ({ replicas, logs }) => {
    const got = checkExecution(replicas, logs);
    assert.deepEqual(got, checkExecutionOracle(replicas, logs));
    if (got.length === 0) seen.none++;
    for (const [kind, text] of Object.entries(kinds)) if (got.some((m) => m.includes(text))) seen[kind as keyof typeof kinds]++;
  }), { numRuns });
  // The worlds must reach every verdict, or the comparison proves little.
  for (const [what, count] of Object.entries(seen)) assert.ok(count > 0, `no run with ${what} violations: ${JSON.stringify(seen)}`);
}

describe('checkExecution', () => {
  test('gives the violations of the pairwise check, in its order: small worlds', () => {
    sameAsOracle(worldArb(6, 3), 3000);
  });

  test('gives the violations of the pairwise check, in its order: long logs', () => {
    sameAsOracle(worldArb(120, 6), 150);
  });

  test('reads do not conflict with reads; a batch that writes a key is a writer of it', () => {
    const floor = [0, 0];
    const read = batch(command('get', 0)), readWrite = batch(command('get', 1), command('put', 0));
    const a = instanceId(1, 0), b = instanceId(1, 1), c = instanceId(2, 0);
    const insts = [
      instance(a, 'COMMITTED', read, { ids: [], floor }),
      instance(b, 'COMMITTED', read, { ids: [], floor }),
      instance(c, 'COMMITTED', readWrite, { ids: [], floor }),
    ];
    // Two readers swapped: fine. The writer (of k0, through its second command) swapped with a reader: not.
    assert.deepEqual(checkExecution([view(0, insts), view(1, insts)], [[a, b, c], [b, a, c]]), []);
    assert.deepEqual(checkExecution([view(0, insts), view(1, insts)], [[a, b, c], [b, c, a]]), [
      'INV8: conflicting 1.0 and 2.0 applied in different orders at replicas 0 and 1',
    ]);
  });

  test('Nop is left out of the order check; a floor covers only conflicting ids not named explicitly', () => {
    const w = batch(command('put', 0)), other = batch(command('put', 1));
    const a = instanceId(3, 0), b = instanceId(1, 1), c = instanceId(2, 1), d = instanceId(1, 0), nop = instanceId(4, 0);
    const insts = [
      instance(a, 'COMMITTED', w, { ids: [c], floor: [0, 2] }), // floor covers b and c of coordinator 1
      instance(b, 'COMMITTED', w, { ids: [], floor: [0, 0] }),
      instance(c, 'COMMITTED', w, { ids: [], floor: [0, 0] }),
      instance(d, 'COMMITTED', other, { ids: [], floor: [0, 0] }),
      instance(nop, 'COMMITTED', NOP, { ids: [], floor: [0, 0] }),
    ];
    const logs = [[nop, a, b, c, d], [b, c, a, d, nop]];
    const expected = [
      'INV8: conflicting 3.0 and 1.1 applied in different orders at replicas 0 and 1',
      'INV8: conflicting 3.0 and 2.1 applied in different orders at replicas 0 and 1',
      'INV8: 1.1 is under the dependency floor of 3.0 but was applied after it at replica 0',
    ];
    assert.deepEqual(checkExecution([view(0, insts), view(1, insts)], logs), expected);
    assert.deepEqual(checkExecutionOracle([view(0, insts), view(1, insts)], logs), expected);
  });
});

// ---- a long run --------------------------------------------------------------------------------

/** mulberry32: a small seeded generator, so the long log is the same every run. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('checkExecution on a long run', () => {
  const n = 3, total = 200_000, window = 20;
  const rand = prng(42);
  const ids: InstanceId[] = [];
  const insts: Instance[] = [];
  for (let k = 0; k < total; k++) {
    const seq = Math.floor(k / n) + 1, id = instanceId(seq, k % n);
    const commands: Command[] = [];
    const size = 1 + Math.floor(rand() * 3);
    for (let c = 0; c < size; c++) {
      // A few hot keys and a long tail; about a third of the commands read.
      const key = rand() < 0.2 ? Math.floor(rand() * 5) : Math.floor(rand() * 5000);
      commands.push(command(rand() < 0.35 ? 'get' : 'put', key, k));
    }
    // Everything more than `window` seqs back was executed everywhere; the last few ids are named.
    const floor = new Array<number>(n).fill(Math.max(0, seq - window));
    const dep = makeDeps(ids.slice(Math.max(0, ids.length - 4)), floor);
    ids.push(id);
    insts.push(instance(id, 'COMMITTED', batch(...commands), dep));
  }
  const replicas = [0, 1, 2].map((r) => view(r, insts));
  // Replica 1 swaps adjacent non-conflicting ids (a legal difference); replica 2 lags behind.
  const log1 = [...ids];
  let swapped = 0;
  for (let k = 0; k + 1 < total; k += 7) {
    const x = insts[k].cmd as Batch, y = insts[k + 1].cmd as Batch;
    const fx = footprint(x), fy = footprint(y);
    if ([...fx].some(([key, w]) => fy.has(key) && (w || fy.get(key)!))) continue;
    [log1[k], log1[k + 1]] = [log1[k + 1], log1[k]];
    swapped++;
  }
  const log2 = ids.slice(0, total - 1000);

  function timed(logs: InstanceId[][]): string[] {
    const t0 = performance.now();
    const v = checkExecution(replicas, logs);
    const ms = performance.now() - t0;
    console.log(`checkExecution: ${logs.map((l) => l.length).join(' + ')} applied ids over ${n} replicas in ${ms.toFixed(0)} ms`);
    assert.ok(ms < 10_000, `took ${ms.toFixed(0)} ms`);
    return v;
  }

  test(`200,000 applied ids over 3 replicas, consistent: no violation, well under 10 s`, () => {
    assert.ok(swapped > 1000);
    assert.deepEqual(timed([ids, log1, log2]), []);
  });

  test('200,000 applied ids over 3 replicas, two conflicting ids swapped at one replica: found', () => {
    // Two ids far apart that write the same key: out of order with each other, and the later one
    // (now first) has the earlier one under its floor.
    const k0 = 1000;
    const key = [...footprint(insts[k0].cmd as Batch)].find(([, w]) => w)![0];
    let k1 = k0 + 3 * window * n;
    while (footprint(insts[k1].cmd as Batch).get(key) !== true) k1++;
    const bad = [...log1];
    const i0 = bad.indexOf(ids[k0]), i1 = bad.indexOf(ids[k1]);
    [bad[i0], bad[i1]] = [bad[i1], bad[i0]];
    const v = timed([ids, bad, log2]);
    assert.ok(v.includes(`INV8: ${formatId(ids[k0])} is under the dependency floor of ${formatId(ids[k1])} but was applied after it at replica 1`), v.join('\n'));
    assert.ok(v.includes(`INV8: conflicting ${formatId(ids[k0])} and ${formatId(ids[k1])} applied in different orders at replicas 0 and 1`), v.join('\n'));
    assert.ok(v.every((m) => m.includes('applied in different orders') || m.includes('under the dependency floor')));
  });
});
