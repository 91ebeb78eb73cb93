import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseHistory, toOperations } from './history.ts';

const lines = (...events: object[]): string => events.map((e) => JSON.stringify(e)).join('\n');

describe('parseHistory', () => {
  it('parses the example of the format and keeps task-board events aside', () => {
    const h = parseHistory(
      lines(
        { process: 3, type: 'invoke', f: 'write', key: 'k7', value: 'v-3-12', time: 1200345 },
        { process: 3, type: 'ok', f: 'write', key: 'k7', time: 1201990 },
        { process: 4, type: 'invoke', f: 'claim', key: 'task-1', time: 1201995 },
        { process: 5, type: 'invoke', f: 'cas', key: 'k7', value: ['v-3-12', 'v-5-2'], time: 1202000 },
        { process: 5, type: 'ok', f: 'cas', key: 'k7', value: true, time: 1203100 },
        { process: 4, type: 'ok', f: 'claim', key: 'task-1', time: 1203200 },
        { process: 1, type: 'invoke', f: 'read', key: 'k7', time: 1204000 },
        { process: 1, type: 'ok', f: 'read', key: 'k7', value: 'v-5-2', time: 1204800 },
      ) + '\n\n',
    );
    assert.equal(h.events.length, 6);
    assert.equal(h.other.length, 2);
    assert.equal(h.other[0].line, 3);
  });

  const rejects = (text: string, pattern: RegExp): void => assert.throws(() => parseHistory(text), pattern);
  const invokeW = { process: 1, type: 'invoke', f: 'write', key: 'k', value: 1, time: 10 };

  it('names the line of bad JSON', () => rejects(lines(invokeW) + '\n{"process":', /line 2: bad JSON/));
  it('names a missing field', () =>
    rejects(lines(invokeW, { process: 1, type: 'ok', f: 'write', key: 'k' }), /line 2: missing field "time"/));
  it('names a field of the wrong type', () => {
    rejects(lines({ ...invokeW, process: '1' }), /line 1: "process" must be an integer/);
    rejects(lines({ ...invokeW, key: 7 }), /line 1: "key" must be a string/);
    rejects(lines({ ...invokeW, time: 'now' }), /line 1: "time" must be a finite number/);
    rejects('[1,2]', /line 1: expected a JSON object/);
  });
  it('rejects an unknown type or an empty f', () => {
    rejects(lines({ ...invokeW, type: 'done' }), /line 1: unknown type "done"/);
    rejects(lines({ ...invokeW, f: '' }), /line 1: "f" must be a non-empty string/);
  });
  it('rejects a process with two open operations', () =>
    rejects(lines(invokeW, { ...invokeW, time: 11 }), /line 2: process 1 invokes while its operation from line 1 is still open/));
  it('rejects a completion without an invoke', () =>
    rejects(lines(invokeW, { process: 2, type: 'ok', f: 'write', key: 'k', time: 12 }), /line 2: ok of process 2 without an open invoke/));
  it('rejects malformed register values', () => {
    rejects(lines({ ...invokeW, f: 'cas', value: 1 }), /line 1: a cas invoke needs/);
    rejects(lines({ process: 1, type: 'invoke', f: 'read', key: 'k', time: 1 }, { process: 1, type: 'ok', f: 'read', key: 'k', time: 2 }), /line 2: a read ok needs/);
    rejects(lines(invokeW, { process: 1, type: 'ok', f: 'read', key: 'k', value: 1, time: 12 }), /line 2: ok \(read k\) does not match/);
  });
});

describe('toOperations', () => {
  it('pairs invokes with completions, drops fail, and treats info and open invokes as unknown', () => {
    const ops = toOperations(
      parseHistory(
        lines(
          { process: 1, type: 'invoke', f: 'write', key: 'k', value: 'a', time: 10 },
          { process: 2, type: 'invoke', f: 'write', key: 'k', value: 'b', time: 11 },
          { process: 3, type: 'invoke', f: 'read', key: 'k', time: 12 },
          { process: 1, type: 'ok', f: 'write', key: 'k', time: 20 },
          { process: 2, type: 'fail', f: 'write', key: 'k', time: 21 },
          { process: 3, type: 'info', f: 'read', key: 'k', time: 22 },
          { process: 4, type: 'invoke', f: 'cas', key: 'k', value: ['a', 'c'], time: 30 },
        ),
      ),
    );
    assert.deepEqual(
      ops.map((o) => [o.process, o.f, o.status, o.invokeNs, o.completeNs]),
      [
        [1, 'write', 'ok', 10, 20],
        [3, 'read', 'info', 12, Infinity],
        [4, 'cas', 'info', 30, Infinity],
      ],
    );
    assert.deepEqual(ops[2].value, ['a', 'c']);
  });
});
