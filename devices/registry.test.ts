// Devices from config: schema errors people can read, and one bad device never stops the rest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, seededRandom } from './clock.ts';
import { DeviceError } from './types.ts';
import type { Autopilot, Sensor } from './types.ts';
import { closeDevices, openDevices, parseDeviceSpecs } from './registry.ts';
import type { GpiodBinding } from './linux/gpio.ts';

/** A node-libgpiod whose chip cannot be opened, like a machine without /dev/gpiochip0. */
const noChip: GpiodBinding = {
  Chip: class {
    constructor() {
      throw Object.assign(new Error('::Chip: No such file or directory'), { code: 'ENOENT' });
    }
  },
  Line: class {
    constructor() {
      throw new Error('unreachable');
    }
  } as unknown as GpiodBinding['Line'],
};

test('a good sim autopilot opens and a failing GPIO line stays in the map, unavailable with the reason', async () => {
  const clock = new ManualClock();
  const specs = parseDeviceSpecs([
    { driver: 'sim-autopilot', name: 'drone', home: { lat: 47.397742, lon: 8.545594 }, maxSpeed: 8 },
    { driver: 'gpio-out', name: 'led', line: 17 },
    { driver: 'sim-sensor', name: 'temp', mean: 21.5, noise: 0, unit: '°C' },
  ]);
  const { devices, failures } = await openDevices(specs, { clock, random: seededRandom(1), bindings: { gpio: noChip } });
  assert.deepEqual([...devices.keys()], ['drone', 'led', 'temp']);
  assert.deepEqual(devices.get('drone')!.status, { state: 'available' });
  assert.equal(devices.get('drone')!.kind, 'autopilot');
  await (devices.get('drone') as Autopilot).arm();
  assert.equal(await (devices.get('temp') as Sensor<number>).read(), 21.5);

  const led = devices.get('led')!;
  assert.equal(led.kind, 'actuator');
  assert.equal(led.status.state, 'unavailable');
  assert.match((led.status as { reason: string }).reason, /cannot open GPIO chip "gpiochip0": ::Chip: No such file or directory/);
  assert.equal(failures.length, 1);
  assert.equal(failures[0].name, 'led');
  assert.ok(failures[0].error instanceof DeviceError);
  assert.equal(failures[0].error.code, 'open-failed');
  assert.match(failures[0].error.message, /^device "led": cannot open GPIO chip.*; fix: check the chip name/);

  await closeDevices(devices);
  assert.deepEqual(devices.get('drone')!.status, { state: 'unavailable', reason: 'closed' });
  assert.equal(clock.pending, 0);
});

test('without a GPIO binding the lazy import fails cleanly when node-libgpiod is absent or unbuilt', async (t) => {
  let installed = true;
  try {
    await import('node-libgpiod' as string);
  } catch {
    installed = false;
  }
  if (installed) return t.skip('node-libgpiod loads on this machine');
  const { devices, failures } = await openDevices(parseDeviceSpecs([{ driver: 'gpio-in', name: 'button', line: 4, bias: 'pull-up' }]), { clock: new ManualClock(), random: seededRandom(1) });
  assert.equal(devices.get('button')!.status.state, 'unavailable');
  assert.match(failures[0].error.message, /^device "button": cannot open GPIO line 4 of gpiochip0: package node-libgpiod .*; fix: /);
});

test('every driver builds from its spec; mavlink and bme280 failures are reported, not thrown', async () => {
  const specs = parseDeviceSpecs([
    { driver: 'sim-actuator', name: 'gripper', initial: 0, settleMs: 100 },
    { driver: 'gpio-in', name: 'button', line: 4, activeLow: true, bias: 'pull-up' },
    { driver: 'bme280', name: 'weather', bus: 1, address: 0x77 },
    { driver: 'mavlink', name: 'copter', serial: { path: '/dev/ttyNOPE', baudRate: 57600 } },
  ]);
  const i2c = { openPromisified: () => Promise.reject(Object.assign(new Error("ENOENT: no such file or directory, open '/dev/i2c-1'"), { code: 'ENOENT' })) };
  const serialPortFactory = () => ({
    open: (cb: (e: Error | null) => void) => cb(new Error('Error: No such file or directory, cannot open /dev/ttyNOPE')),
    write: () => false,
    close: () => undefined,
    on: () => undefined,
    isOpen: false,
  });
  const { devices, failures } = await openDevices(specs, { clock: new ManualClock(), random: seededRandom(1), bindings: { gpio: noChip, i2c, serialPortFactory } });
  assert.equal(devices.get('gripper')!.status.state, 'available');
  assert.deepEqual(failures.map((f) => f.name), ['button', 'weather', 'copter']);
  assert.match(failures[1].error.message, /device "weather": cannot open I2C bus \/dev\/i2c-1: .*fix: enable I2C/);
  assert.match(failures[2].error.message, /device "copter": cannot open MAVLink on serial \/dev\/ttyNOPE @ 57600 baud/);
  await closeDevices(devices);
});

test('schema errors name the entry, the field and what is wrong', () => {
  const message = (input: unknown) => {
    try {
      parseDeviceSpecs(input);
    } catch (e) {
      return (e as Error).message;
    }
    assert.fail('no error');
  };
  assert.match(message([{ driver: 'gpio-output', name: 'led', line: 17 }]), /devices\[0\] \("led"\)\.driver: unknown driver "gpio-output" \(known: sim-autopilot, sim-sensor, sim-actuator, mavlink, gpio-out, gpio-in, bme280\)/);
  assert.match(message([{ driver: 'sim-autopilot', name: 'drone' }]), /devices\[0\] \("drone"\)\.home: /);
  assert.match(message([{ driver: 'gpio-in', name: 'Button_1', line: 4 }]), /devices\[0\] \("Button_1"\)\.name: device name: lowercase letters/);
  assert.match(message([{ driver: 'bme280', name: 'w', address: 0x40 }]), /devices\[0\] \("w"\)\.address: address must be 0x76 \(118\) or 0x77 \(119\)/);
  assert.match(message([{ driver: 'mavlink', name: 'm', udp: {}, serial: { path: '/dev/ttyACM0', baudRate: 115200 } }]), /serial: give either udp or serial, not both/);
  assert.match(message([{ driver: 'sim-sensor', name: 'a', mean: 1 }, { driver: 'sim-sensor', name: 'a', mean: 2 }]), /devices\[1\] \("a"\)\.name: duplicate device name "a"/);
  assert.match(message([{ driver: 'gpio-out', name: 'led', line: 17, pin: 3 }]), /devices\[0\] \("led"\): Unrecognized key: "pin"/);
  // Defaults are filled in.
  assert.deepEqual(parseDeviceSpecs([{ driver: 'bme280', name: 'w' }]), [{ driver: 'bme280', name: 'w', bus: 1, address: 0x76 }]);
});
