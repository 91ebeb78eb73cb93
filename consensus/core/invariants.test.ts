// checkExecution (INV8, PROTOCOL.md §8) against the pairwise check it replaced, kept here as the
// oracle: random replicas and execution logs (Nop, ⊥, batches of reads and writes over a few keys,
// canonical and non-canonical dependency floors, reordered, partial and duplicated logs) must give
// the same violations in the same order. Then a long run: 200,000 applied ids over 3 replicas.
//
// checkAgreementAndVisibility (INV1, INV2) likewise against its pairwise predecessor: random
// replicas that agree or disagree, with dependencies honest, lossy or random, short floors and
// malformed ids; then 100,000 committed ids over 3 replicas with hot keys and advancing floors.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { footprint, payloadsConflict, payloadsEqual } from './conflicts.ts';
import { depsEqual, depsInclude, makeDeps } from './deps.ts';
import { formatId, instanceId, type InstanceId } from './ids.ts';
import { NOP, type Batch, type Deps, type Instance, type Payload, type Phase } from './types.ts';
import type { Command } from '../statemachine/commands.ts';
import { checkAgreementAndVisibility, checkExecution, type ReplicaView } from './invariants.ts';

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

/** Each command its own client: a client's commands conflict through its session (conflicts.ts). */
let clients = 0;
function command(op: Op, k: number, requestId = 0): Command {
  const env = { clientId: `c${++clients}`, requestId, timestampMs: 0 };
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
    const read = batch(command('get', 0)), read2 = batch(command('get', 0)), readWrite = batch(command('get', 1), command('put', 0));
    const a = instanceId(1, 0), b = instanceId(1, 1), c = instanceId(2, 0);
    const insts = [
      instance(a, 'COMMITTED', read, { ids: [], floor }),
      instance(b, 'COMMITTED', read2, { ids: [], floor }), // another client's read (one client's commands conflict)
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

  test('a dependency a snapshot covered counts as applied, also where the replica still holds it as a proposal', () => {
    // Seen in the simulator after a long split: voter 3 held d as PREACCEPTED, installed a peer's
    // snapshot that covers d, then applied a that depends on d. The peer applied d, so it was
    // committed; INV8 checks the peer's own log for it.
    const w = batch(command('put', 0));
    const d = instanceId(1, 1), a = instanceId(2, 1), e = instanceId(1, 2);
    const insts = [
      instance(d, 'PREACCEPTED', w, { ids: [], floor: [0, 0, 0] }),
      instance(a, 'COMMITTED', w, { ids: [d, e], floor: [0, 0, 0] }),
      instance(e, 'PREACCEPTED', w, { ids: [], floor: [0, 0, 0] }),
    ];
    const covered = new Set([d]);
    const afterSnapshot: ReplicaView = { ...view(0, insts), isApplied: (id) => covered.has(id) };
    assert.deepEqual(checkExecution([afterSnapshot], [[a]]), [
      'INV8: 2.1 applied at replica 0 before its dependency 1.2 committed',
    ], 'd came in the snapshot; e did not');
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
    return v;
  }

  test(`200,000 applied ids over 3 replicas, consistent: no violation (the time is printed; bench, not this test, judges it)`, () => {
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

// ==== checkAgreementAndVisibility ================================================================

// The pairwise check that checkAgreementAndVisibility replaced, verbatim, with the two helpers of
// invariants.ts it used: the oracle.

const same = (a: { cmd: Payload | null; dep: Deps }, b: { cmd: Payload | null; dep: Deps }): boolean =>
  payloadsEqual(a.cmd, b.cmd) && depsEqual(a.dep, b.dep);

function committed(replicas: readonly ReplicaView[]): Map<InstanceId, { r: number; inst: Readonly<Instance> }[]> {
  const out = new Map<InstanceId, { r: number; inst: Readonly<Instance> }[]>();
  for (const rep of replicas) {
    for (const id of rep.instanceIds()) {
      const inst = rep.instance(id)!;
      if (inst.phase !== 'COMMITTED') continue;
      const list = out.get(id) ?? [];
      list.push({ r: rep.self, inst });
      out.set(id, list);
    }
  }
  return out;
}

/** INV1 Agreement and INV2 Visibility. */
function checkAgreementAndVisibilityOracle(replicas: readonly ReplicaView[]): string[] {
  const v: string[] = [];
  const byId = committed(replicas);
  const decided: { id: InstanceId; cmd: Payload; dep: Deps }[] = [];
  for (const [id, list] of byId) {
    const first = list[0].inst;
    for (const { r, inst } of list.slice(1)) {
      if (!same(inst, first)) v.push(`INV1: ${formatId(id)} committed differently at replica ${list[0].r} and ${r}`);
    }
    decided.push({ id, cmd: first.cmd!, dep: first.dep });
  }
  for (let i = 0; i < decided.length; i++) {
    const a = decided[i];
    if (a.cmd === NOP) continue;
    for (let j = i + 1; j < decided.length; j++) {
      const b = decided[j];
      if (b.cmd === NOP || !payloadsConflict(a.cmd, b.cmd)) continue;
      if (!depsInclude(a.dep, b.id) && !depsInclude(b.dep, a.id)) {
        v.push(`INV2: conflicting ${formatId(a.id)} and ${formatId(b.id)} committed without either in the other's dependencies`);
      }
    }
  }
  return v;
}

// ---- random groups of replicas -------------------------------------------------------------------

/**
 * How an id's dependencies are made: the conflicting ids proposed before it (as the protocol
 * would), the same with some left out, or at random; plus a few ids named anyway, under a floor.
 */
interface DepSpec {
  mode: 'honest' | 'lossy' | 'random';
  drop: number; // lossy: the k-th conflicting earlier id is left out when bit k % 30 is set
  extra: InstanceId[];
  floor: number[];
  form: 'canonical' | 'sorted' | 'unsorted';
}
interface SpecV { phase: Phase; cmd: Payload | null; dep: DepSpec; rank: number }

function visibilityWorldArb(maxSeqMax: number, keys: number): fc.Arbitrary<ReplicaView[]> {
  const shape = fc.record({
    n: fc.integer({ min: 1, max: 4 }),
    maxSeq: fc.integer({ min: 1, max: maxSeqMax }),
    odd: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  });
  return shape.chain(({ n, maxSeq, odd }) => {
    // Coordinators 0..n: ids of coordinator n fall outside a floor of n entries. Odd worlds add
    // malformed ids (a negative seq, a fractional coordinator, NaN) and floors with NaN and holes.
    const ids: InstanceId[] = [];
    for (let s = 1; s <= maxSeq; s++) for (let c = 0; c <= n; c++) ids.push(instanceId(s, c));
    if (odd) ids.push(-32, 16 * 2 + 8.5, NaN);
    const floorEntry = odd
      ? fc.oneof(fc.constant(0), fc.nat(maxSeq), fc.constant(NaN), fc.constant(-1))
      : fc.oneof(fc.constant(0), fc.nat(maxSeq));
    const depArb: fc.Arbitrary<DepSpec> = fc.record({
      mode: fc.oneof(
        { weight: 4, arbitrary: fc.constant('honest' as const) },
        { weight: 2, arbitrary: fc.constant('lossy' as const) },
        { weight: 1, arbitrary: fc.constant('random' as const) },
      ),
      drop: fc.nat(),
      extra: fc.subarray(ids, { maxLength: Math.min(3, ids.length) }),
      floor: fc.record({
        entries: fc.array(floorEntry, { minLength: Math.max(0, n - 1), maxLength: n }),
        hole: odd ? fc.option(fc.nat(n)) : fc.constant(null),
      }).map(({ entries, hole }) => {
        if (hole !== null && hole < entries.length) delete entries[hole];
        return entries;
      }),
      form: odd ? fc.constantFrom('canonical' as const, 'sorted' as const, 'unsorted' as const) : fc.constantFrom('canonical' as const, 'sorted' as const),
    });
    const specArb: fc.Arbitrary<SpecV> = fc.record({ phase: phaseArb, cmd: payloadArb(keys), dep: depArb, rank: fc.nat(1000) });
    const perId = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T[]> => fc.array(a, { minLength: ids.length, maxLength: ids.length });
    const localArb = fc.oneof(
      { weight: 10, arbitrary: fc.constant('decided' as const) },
      { weight: 2, arbitrary: fc.constant('absent' as const) },
      { weight: 1, arbitrary: specArb },
    );
    const indexes = ids.map((_, k) => k);
    const orderArb = fc.oneof(fc.constant(indexes), fc.shuffledSubarray(indexes, { minLength: ids.length, maxLength: ids.length }));
    return fc.record({
      decided: perId(specArb),
      local: fc.array(perId(localArb), { minLength: n, maxLength: n }),
      orders: fc.array(orderArb, { minLength: n, maxLength: n }),
    }).map(({ decided, local, orders }): ReplicaView[] => {
      const deps = (specs: (SpecV | null)[]): (Deps | null)[] => {
        // Proposal order: by rank, then as listed.
        const order = indexes.filter((k) => specs[k] !== null).sort((x, y) => specs[x]!.rank - specs[y]!.rank || x - y);
        const out: (Deps | null)[] = specs.map(() => null);
        order.forEach((k, p) => {
          const { cmd, dep } = specs[k]!;
          const named: InstanceId[] = [];
          if (dep.mode !== 'random') {
            let m = 0;
            for (const q of order.slice(0, p)) {
              if (!payloadsConflict(cmd, specs[q]!.cmd)) continue;
              if (dep.mode === 'honest' || ((dep.drop >> (m % 30)) & 1) === 0) named.push(ids[q]);
              m++;
            }
          }
          named.push(...dep.extra);
          out[k] = dep.form === 'canonical' ? makeDeps(named, dep.floor)
            : { ids: dep.form === 'sorted' ? [...new Set(named)].sort((a, b) => a - b) : named.reverse(), floor: dep.floor };
        });
        return out;
      };
      const decidedDeps = deps(decided);
      return local.map((choices, r) => {
        const localDeps = deps(choices.map((c) => (typeof c === 'object' ? c : null)));
        const insts: Instance[] = [];
        for (const k of orders[r]) {
          const choice = choices[k];
          if (choice === 'absent') continue;
          const s = choice === 'decided' ? decided[k] : choice;
          insts.push(instance(ids[k], s.phase, s.cmd, choice === 'decided' ? decidedDeps[k]! : localDeps[k]!));
        }
        return view(r, insts);
      });
    });
  });
}

function sameAsVisibilityOracle(worlds: fc.Arbitrary<ReplicaView[]>, numRuns: number): void {
  const seen = { none: 0, agreement: 0, visibility: 0, both: 0 };
  fc.assert(fc.property(worlds, (replicas) => {
    const got = checkAgreementAndVisibility(replicas);
    assert.deepEqual(got, checkAgreementAndVisibilityOracle(replicas));
    const inv1 = got.some((m) => m.startsWith('INV1')), inv2 = got.some((m) => m.startsWith('INV2'));
    if (got.length === 0) seen.none++;
    if (inv1) seen.agreement++;
    if (inv2) seen.visibility++;
    if (inv1 && inv2) seen.both++;
  }), { numRuns });
  // The worlds must reach every verdict, or the comparison proves little.
  for (const [what, count] of Object.entries(seen)) assert.ok(count > 0, `no run with ${what} violations: ${JSON.stringify(seen)}`);
}

describe('checkAgreementAndVisibility', () => {
  test('gives the violations of the pairwise check, in its order: small groups', () => {
    sameAsVisibilityOracle(visibilityWorldArb(6, 3), 3000);
  });

  test('gives the violations of the pairwise check, in its order: many ids', () => {
    sameAsVisibilityOracle(visibilityWorldArb(60, 6), 150);
  });

  test('reads do not conflict with reads; a floor covers ids of its coordinators only; Nop is left out', () => {
    const read = batch(command('get', 0)), read2 = batch(command('get', 0)), write = batch(command('get', 1), command('put', 0)), other = batch(command('put', 1));
    const a = instanceId(1, 0), b = instanceId(1, 1), c = instanceId(2, 0), d = instanceId(3, 2), e = instanceId(4, 0), nop = instanceId(5, 1);
    const none = { ids: [], floor: [0, 0] };
    const insts = [
      instance(a, 'COMMITTED', read, none),
      instance(b, 'COMMITTED', read2, none), // a and b (other clients) only read k0: fine
      instance(c, 'COMMITTED', write, { ids: [], floor: [1, 0] }), // writes k0: covers a, not b
      instance(d, 'COMMITTED', write, { ids: [b], floor: [2, 9] }), // coordinator 2 is beyond every floor
      instance(e, 'COMMITTED', other, { ids: [], floor: [0, 0] }), // writes k1, which c and d read
      instance(nop, 'COMMITTED', NOP, none),
    ];
    const expected = [
      'INV2: conflicting 1.1 and 2.0 committed without either in the other\'s dependencies',
      'INV2: conflicting 2.0 and 4.0 committed without either in the other\'s dependencies',
      'INV2: conflicting 3.2 and 4.0 committed without either in the other\'s dependencies',
    ];
    assert.deepEqual(checkAgreementAndVisibility([view(0, insts), view(1, insts)]), expected);
    assert.deepEqual(checkAgreementAndVisibilityOracle([view(0, insts), view(1, insts)]), expected);
  });
});

// ---- a long run --------------------------------------------------------------------------------

/**
 * `total` ids committed in turn by `n` coordinators, batches of 1 to 3 commands: 10% to 10 hot
 * keys, the rest to keys of their own, a third of them reads. Each id's floor is what every
 * coordinator had executed `window` seqs back or so (each coordinator lagging a little); its
 * explicit ids are the earlier conflicting ids above that floor, as the protocol would have them.
 */
function longRun(total: number, n: number, window: number, seed: number): Instance[] {
  const rand = prng(seed);
  const insts: Instance[] = [];
  const recent = new Map<string, { id: InstanceId; write: boolean }[]>(); // per hot key, the latest accesses
  for (let k = 0; k < total; k++) {
    const seq = Math.floor(k / n) + 1, id = instanceId(seq, k % n);
    const commands: Command[] = [];
    const size = 1 + Math.floor(rand() * 3);
    for (let c = 0; c < size; c++) {
      const key = rand() < 0.1 ? Math.floor(rand() * 10) : 10 + k * 3 + c;
      commands.push(command(rand() < 0.35 ? 'get' : 'put', key, k));
    }
    const cmd = batch(...commands);
    const floor = Array.from({ length: n }, () => Math.max(0, seq - window - Math.floor(rand() * 5)));
    const named: InstanceId[] = [];
    for (const [key, write] of footprint(cmd)) {
      const list = recent.get(key);
      if (list === undefined) continue;
      for (const x of list) if (write || x.write) named.push(x.id);
    }
    insts.push(instance(id, 'COMMITTED', cmd, makeDeps(named, floor)));
    for (const [key, write] of footprint(cmd)) {
      if (!key.startsWith('kv/k') || Number(key.slice(4)) >= 10) continue;
      const list = recent.get(key) ?? [];
      list.push({ id, write });
      // Anything 2·window + 5 seqs back is under every later floor.
      while (list.length > 0 && Math.floor(list[0].id / 16) < seq - 2 * window - 5) list.shift();
      recent.set(key, list);
    }
  }
  return insts;
}

describe('checkAgreementAndVisibility on a long run', () => {
  const n = 3, total = 100_000, window = 20;
  const insts = longRun(total, n, window, 7);
  // Replica 1 holds equal copies (compared field by field), replica 2 lags behind.
  const copies = insts.map((x) => ({ ...x, cmd: batch(...(x.cmd as Batch).commands.map((c) => ({ ...c }))), dep: { ids: [...x.dep.ids], floor: [...x.dep.floor] } }));
  const lagging = insts.slice(0, total - 1000);

  function timed(replicas: ReplicaView[]): string[] {
    const t0 = performance.now();
    const v = checkAgreementAndVisibility(replicas);
    const ms = performance.now() - t0;
    console.log(`checkAgreementAndVisibility: ${total} committed ids over ${replicas.length} replicas in ${ms.toFixed(0)} ms`);
    return v;
  }

  test('the long run is what the oracle says, on its first 2,000 ids, with and without a dependency left out', () => {
    const head = longRun(2000, n, window, 7);
    assert.deepEqual(checkAgreementAndVisibilityOracle([view(0, head)]), []);
    assert.deepEqual(checkAgreementAndVisibility([view(0, head)]), []);
    const lossy = head.map((x, k) => (k % 10 === 0 ? { ...x, dep: { ids: x.dep.ids.slice(1), floor: x.dep.floor } } : x));
    const v = checkAgreementAndVisibility([view(0, lossy), view(1, head)]);
    assert.ok(v.some((m) => m.startsWith('INV1')) && v.some((m) => m.startsWith('INV2')), v.join('\n'));
    assert.deepEqual(v, checkAgreementAndVisibilityOracle([view(0, lossy), view(1, head)]));
  });

  test('100,000 committed ids over 3 replicas that agree: no violation (the time is printed, not judged)', () => {
    assert.ok(insts.filter((x) => x.dep.ids.length > 0).length > 1000);
    assert.deepEqual(timed([view(0, insts), view(1, copies), view(2, lagging)]), []);
  });

  test('100,000 committed ids over 3 replicas, a dependency left out and a disagreement: found', () => {
    // An id late in the run that names a hot-key writer explicitly; left out at every replica.
    let k1 = total - 5000;
    while (insts[k1].dep.ids.length === 0) k1++;
    const a = insts[k1].dep.ids[0], b = insts[k1].id;
    const without = { ...insts[k1], dep: { ids: insts[k1].dep.ids.slice(1), floor: insts[k1].dep.floor } };
    const edit = (list: Instance[]): Instance[] => list.map((x, k) => (k === k1 ? without : x));
    const k2 = 12_345, differs = { ...copies[k2], cmd: batch(command('put', 3, -1)) };
    const v = timed([view(0, edit(insts)), view(1, edit(copies).map((x, k) => (k === k2 ? differs : x))), view(2, edit(lagging))]);
    assert.deepEqual(v, [
      `INV1: ${formatId(insts[k2].id)} committed differently at replica 0 and 1`,
      `INV2: conflicting ${formatId(a)} and ${formatId(b)} committed without either in the other's dependencies`,
    ]);
  });
});
