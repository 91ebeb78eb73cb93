import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CapabilityError, PluginStoppedError, UnavailableError } from './api.ts';

// A second copy of the module, as when the agent runs from its bundle while a plugin imports the
// source, or an installed plugin brings its own copy: its classes are other objects.
const secondCopy = './api.ts?second-copy';
const copy = await import(secondCopy) as typeof import('./api.ts');

test('plugin errors are recognised across copies of the plugin API', () => {
  assert.notEqual(copy.UnavailableError, UnavailableError, 'the test needs two copies of the module');
  assert.ok(new copy.UnavailableError('no majority') instanceof UnavailableError);
  assert.ok(new UnavailableError('no majority') instanceof copy.UnavailableError);
  assert.ok(new copy.PluginStoppedError('p') instanceof PluginStoppedError);
  assert.ok(new copy.CapabilityError('p', 'kv:x', 'd') instanceof CapabilityError);
});

test('plugin errors are not mistaken for one another or for other errors', () => {
  assert.ok(!(new copy.UnavailableError('x') instanceof PluginStoppedError));
  assert.ok(!(new PluginStoppedError('p') instanceof UnavailableError));
  assert.ok(!(new Error('UnavailableError') instanceof UnavailableError));
  const lookalike = Object.assign(new Error('x'), { name: 'UnavailableError' });
  assert.ok(!(lookalike instanceof UnavailableError));
  assert.ok(!((null as unknown) instanceof UnavailableError) && !('UnavailableError' as unknown instanceof UnavailableError));
  // Still Errors, with their names and messages.
  const e = new UnavailableError('no majority', { cause: 'c' });
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'UnavailableError');
  assert.equal(e.cause, 'c');
});
