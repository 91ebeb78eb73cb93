// GPIO drivers against a fake node-libgpiod: a chip of 28 lines that behaves like the kernel's
// character device (one consumer per line, ACTIVE_LOW applied by the kernel, errno errors).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../clock.ts';
import { DeviceError } from '../types.ts';
import { GPIOD_FLAGS, GpioInput, GpioOutput } from './gpio.ts';
import type { GpiodBinding, GpiodLine } from './gpio.ts';

function errno(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

interface FakeLineState {
  physical: 0 | 1;
  consumer?: string;
  flags?: number;
  direction?: 'input' | 'output';
}

/** A fake chip set: lines[chip][offset] hold the physical level; `denied` simulates a missing gpio group. */
function fakeGpiod(options: { chips?: string[]; lines?: number; denied?: boolean } = {}) {
  const chips = options.chips ?? ['gpiochip0'];
  const count = options.lines ?? 28;
  const state = new Map<string, FakeLineState[]>(chips.map((c) => [c, Array.from({ length: count }, () => ({ physical: 0 as 0 | 1 }))]));
  const log: string[] = [];
  const io = { ok: true };
  class Chip {
    readonly name: string;
    constructor(id: string | number) {
      const name = typeof id === 'number' ? `gpiochip${id}` : id.replace(/^\/dev\//, '');
      if (!state.has(name)) throw errno('ENOENT', '::Chip: No such file or directory');
      if (options.denied) throw errno('EACCES', '::Chip: Permission denied');
      this.name = name;
    }
  }
  class Line implements GpiodLine {
    readonly #s: FakeLineState;
    #requested = false;
    constructor(chip: object, offset: number) {
      const lines = state.get((chip as Chip).name)!;
      if (offset >= lines.length) throw errno('EINVAL', '::Line: Invalid argument');
      this.#s = lines[offset];
    }
    #take(consumer: string, flags: number, direction: 'input' | 'output'): void {
      if (this.#s.consumer !== undefined) throw errno('EBUSY', `::request: Device or resource busy`);
      Object.assign(this.#s, { consumer, flags, direction });
      this.#requested = true;
      log.push(`request ${direction} ${consumer} flags=${flags}`);
    }
    requestOutputModeFlags(consumer: string, flags: number, defaultValue: number): void {
      this.#take(consumer, flags, 'output');
      this.setValue(defaultValue);
    }
    requestInputModeFlags(consumer: string, flags: number): void {
      this.#take(consumer, flags, 'input');
    }
    #activeLow(): boolean {
      return ((this.#s.flags ?? 0) & GPIOD_FLAGS.ACTIVE_LOW) !== 0;
    }
    getValue(): number {
      if (!io.ok) throw errno('EIO', '::getValue: Input/output error');
      if (!this.#requested) throw errno('EPERM', '::getValue: Operation not permitted');
      return this.#s.physical ^ (this.#activeLow() ? 1 : 0);
    }
    setValue(value: number): void {
      if (!io.ok) throw errno('EIO', '::setValue: Input/output error');
      if (!this.#requested || this.#s.direction !== 'output') throw errno('EPERM', '::setValue: Operation not permitted');
      this.#s.physical = ((value ? 1 : 0) ^ (this.#activeLow() ? 1 : 0)) as 0 | 1;
    }
    release(): void {
      if (!this.#requested) return;
      this.#requested = false;
      log.push(`release ${this.#s.consumer}`);
      delete this.#s.consumer;
      delete this.#s.direction;
    }
  }
  const binding: GpiodBinding = { Chip, Line };
  return { binding, log, io, pin: (offset: number, chip = chips[0]) => state.get(chip)![offset] };
}

function openFailed(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof DeviceError, String(e));
    assert.equal(e.code, 'open-failed');
    assert.match(e.message, pattern);
    return true;
  };
}

test('an output line drives the level; active-low inverts it at the pin; close releases the line', async () => {
  const gpio = fakeGpiod();
  const led = new GpioOutput({ id: 'led', line: 17, binding: gpio.binding, initial: true, clock: new ManualClock() });
  assert.deepEqual(led.status, { state: 'unavailable', reason: 'not opened' });
  await assert.rejects(led.set(false), (e: unknown) => e instanceof DeviceError && e.code === 'unavailable' && /not opened/.test(e.message));
  await led.open();
  assert.deepEqual(led.status, { state: 'available' });
  assert.equal(led.state(), true);
  assert.equal(gpio.pin(17).physical, 1); // initial value driven from the request on
  await led.set(false);
  assert.equal(led.state(), false);
  assert.equal(gpio.pin(17).physical, 0);
  assert.equal(gpio.pin(17).consumer, 'covey:led');

  const relay = new GpioOutput({ id: 'relay', line: 5, binding: gpio.binding, activeLow: true, clock: new ManualClock() });
  await relay.open();
  assert.equal(gpio.pin(5).physical, 1); // logical off = high on an active-low relay board
  await relay.set(true);
  assert.equal(gpio.pin(5).physical, 0);

  await led.close();
  await led.close(); // idempotent
  assert.deepEqual(led.status, { state: 'unavailable', reason: 'closed' });
  assert.equal(gpio.pin(17).consumer, undefined);
  assert.deepEqual(gpio.log, ['request output covey:led flags=0', 'request output covey:relay flags=4', 'release covey:led']);
  await assert.rejects(led.set(true), /device "led": unavailable: closed/);
});

test('an input line reads the level, polls with watch on the device clock, reports changes, and stops on close', async () => {
  const gpio = fakeGpiod();
  const clock = new ManualClock();
  const button = new GpioInput({ id: 'button', line: 4, binding: gpio.binding, clock, activeLow: true, bias: 'pull-up', intervalMs: 50 });
  await button.open();
  assert.equal(gpio.pin(4).flags, GPIOD_FLAGS.ACTIVE_LOW | GPIOD_FLAGS.BIAS_PULL_UP);
  gpio.pin(4).physical = 1; // pulled up: not pressed
  assert.equal(await button.read(), false);
  gpio.pin(4).physical = 0; // pressed: shorted to ground
  assert.equal(await button.read(), true);

  const seen: boolean[] = [];
  const changes: boolean[] = [];
  button.watch((v) => seen.push(v));
  button.onChange((v) => changes.push(v), { intervalMs: 10 });
  clock.advance(100);
  gpio.pin(4).physical = 1;
  clock.advance(100);
  assert.deepEqual(seen, [true, true, false, false]);
  assert.deepEqual(changes, [true, false]);
  await button.close();
  assert.equal(clock.pending, 0);
  clock.advance(1000);
  assert.equal(seen.length, 4);
  await assert.rejects(button.read(), (e: unknown) => e instanceof DeviceError && e.code === 'unavailable');
});

test('an I/O error on an open line makes it unavailable with the cause', async () => {
  const gpio = fakeGpiod();
  const pir = new GpioInput({ id: 'pir', line: 22, binding: gpio.binding, clock: new ManualClock() });
  const fan = new GpioOutput({ id: 'fan', line: 23, binding: gpio.binding, clock: new ManualClock() });
  await pir.open();
  await fan.open();
  gpio.io.ok = false; // the chip went away (USB GPIO expander unplugged)
  await assert.rejects(pir.read(), (e: unknown) => e instanceof DeviceError && e.code === 'unavailable' && /read on GPIO line 22 of gpiochip0 failed: ::getValue: Input\/output error/.test(e.message));
  assert.deepEqual(pir.status, { state: 'unavailable', reason: 'read on GPIO line 22 of gpiochip0 failed: ::getValue: Input/output error' });
  await assert.rejects(fan.set(true), /device "fan": set on GPIO line 23 of gpiochip0 failed/);
  assert.equal(fan.state(), false);
  await pir.close();
  await fan.close();
});

test('open failures name the device, what failed and the fix', async () => {
  const gpio = fakeGpiod({ lines: 28 });
  await assert.rejects(
    new GpioOutput({ id: 'led', chip: 'gpiochip9', line: 17, binding: gpio.binding }).open(),
    openFailed(/^device "led": cannot open GPIO chip "gpiochip9": ::Chip: No such file or directory; fix: check the chip name \(gpiodetect.*\/dev\/gpiochip0/),
  );
  await assert.rejects(
    new GpioOutput({ id: 'led', line: 40, binding: gpio.binding }).open(),
    openFailed(/cannot request GPIO line 40 of gpiochip0 as output: ::Line: Invalid argument; fix: check the line offset \(gpioinfo gpiochip0/),
  );
  const first = new GpioInput({ id: 'door', line: 6, binding: gpio.binding, clock: new ManualClock() });
  await first.open();
  const second = new GpioInput({ id: 'door-2', line: 6, binding: gpio.binding });
  await assert.rejects(second.open(), openFailed(/device "door-2": cannot request GPIO line 6 .*Device or resource busy; fix: the line is in use by another process/));
  assert.match((second.status as { reason: string }).reason, /line 6 of gpiochip0/);
  await first.close();

  const denied = fakeGpiod({ denied: true });
  await assert.rejects(
    new GpioInput({ id: 'door', line: 6, binding: denied.binding }).open(),
    openFailed(/Permission denied; fix: check permissions on \/dev\/gpiochip0 \(add the user to the gpio group/),
  );

  // No binding given and the package absent: the lazy import fails with the install hint.
  const missing = new GpioOutput({ id: 'led', line: 17, packageName: 'covey-test-no-such-package' });
  await assert.rejects(
    missing.open(),
    openFailed(/^device "led": cannot open GPIO line 17 of gpiochip0: package covey-test-no-such-package is not installed; fix: install it on the device: sudo apt install libgpiod-dev .*npm install node-libgpiod/),
  );
  assert.equal(missing.status.state, 'unavailable');
  assert.throws(() => new GpioOutput({ id: 'led', line: -1 }), /line must be an integer offset/);
});
