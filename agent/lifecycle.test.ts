import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lifecycle, PartStartError, type Part } from './lifecycle.ts';

/** Parts that write what happens to them into `log`; `fail` names a part whose start throws. */
interface PartsOptions { fail?: string; hooks?: boolean; stopThrows?: string }

function parts(log: string[], names: string[], o: PartsOptions = {}): Part[] {
  return names.map((name) => ({
    name,
    ...(o.hooks === true ? {
      beforeStart: () => { log.push(`beforeStart ${name}`); },
      beforeStop: () => { log.push(`beforeStop ${name}`); },
      afterStop: () => { log.push(`afterStop ${name}`); },
    } : {}),
    start: async () => {
      await new Promise((r) => setImmediate(r));
      if (name === o.fail) throw new Error(`${name} is broken`);
      log.push(`start ${name}`);
    },
    stop: () => {
      log.push(`stop ${name}`);
      if (name === o.stopThrows) throw new Error(`${name} cannot stop`);
    },
  }));
}

test('parts start in the order given and stop in reverse', async () => {
  const log: string[] = [];
  const l = new Lifecycle(parts(log, ['storage', 'driver', 'node', 'plugins']));
  await l.start();
  assert.deepEqual(log, ['start storage', 'start driver', 'start node', 'start plugins']);
  log.length = 0;
  await l.stop();
  assert.deepEqual(log, ['stop plugins', 'stop node', 'stop driver', 'stop storage']);
});

test('the phases: every beforeStart before any start; beforeStop, stop, afterStop each over all parts in reverse',
  async () => {
  const log: string[] = [];
  const l = new Lifecycle(parts(log, ['a', 'b'], { hooks: true }));
  await l.start();
  await l.stop();
  assert.deepEqual(log, [
    'beforeStart a', 'beforeStart b', 'start a', 'start b',
    'beforeStop b', 'beforeStop a', 'stop b', 'stop a', 'afterStop b', 'afterStop a',
  ]);
});

test('a part failing at start stops the ones already started, in reverse, and the error names it', async () => {
  const log: string[] = [];
  const l = new Lifecycle(parts(log, ['storage', 'driver', 'http', 'plugins'], { fail: 'http' }));
  await assert.rejects(l.start(), (err: Error) => {
    assert.ok(err instanceof PartStartError);
    assert.equal(err.part, 'http');
    assert.equal(err.message, 'cannot start the agent\'s http: http is broken');
    assert.equal((err.cause as Error).message, 'http is broken');
    return true;
  });
  // The failed part cleans up after itself; plugins never started.
  assert.deepEqual(log, ['start storage', 'start driver', 'stop driver', 'stop storage']);
  log.length = 0;
  await l.stop();
  assert.deepEqual(log, [], 'nothing is stopped twice');
});

test('a part with beforeStart is stopped even when a start before its own failed', async () => {
  const log: string[] = [];
  const devices: Part = {
    name: 'devices',
    beforeStart: () => { log.push('open devices'); },
    start: () => {},
    stop: () => { log.push('close devices'); },
  };
  const l = new Lifecycle([...parts(log, ['storage'], { fail: 'storage' }), devices]);
  await assert.rejects(l.start(), /cannot start the agent's storage: storage is broken/);
  assert.deepEqual(log, ['open devices', 'close devices']);
});

test('stop is idempotent: one stop for any number of calls, the same promise', async () => {
  const log: string[] = [];
  const l = new Lifecycle(parts(log, ['a', 'b']));
  await l.start();
  const first = l.stop();
  assert.equal(l.stop(), first);
  await Promise.all([first, l.stop()]);
  await l.stop();
  assert.deepEqual(log, ['start a', 'start b', 'stop b', 'stop a']);
});

test('a stop during start waits for the part starting, stops it and what came before, and the start rejects',
  async () => {
  const log: string[] = [];
  const l = new Lifecycle(parts(log, ['a', 'b', 'c']));
  const started = l.start();
  await new Promise((r) => setImmediate(r)); // 'a' is starting
  await l.stop();
  await assert.rejects(started, /stopped while starting/);
  assert.equal(log.includes('start c'), false);
  const stops = log.filter((e) => e.startsWith('stop'));
  const starts = log.filter((e) => e.startsWith('start')).map((e) => e.replace('start', 'stop')).reverse();
  assert.deepEqual(stops, starts, 'every part that started is stopped, in reverse');
  assert.ok(starts.length >= 1);
});

test('a part whose stop throws is reported and the others still stop', async () => {
  const log: string[] = [];
  const errors: string[] = [];
  const l = new Lifecycle(parts(log, ['a', 'b', 'c'], { stopThrows: 'b' }), {
    onStopError: (part, phase, err) => errors.push(`${part} ${phase}: ${(err as Error).message}`),
  });
  await l.start();
  await l.stop();
  assert.deepEqual(log.slice(3), ['stop c', 'stop b', 'stop a']);
  assert.deepEqual(errors, ['b stop: b cannot stop']);
});

test('two parts with one name are refused', () => {
  assert.throws(() => new Lifecycle(parts([], ['a', 'a'])), /two parts are named a/);
});
