// Simulated drivers on the manual clock: kinematics, battery drain, noise, failures on demand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, seededRandom } from '../clock.ts';
import { DeviceError } from '../types.ts';
import { SimAutopilot, movePoint, offsetMetres } from './autopilot.ts';
import { SimActuator } from './actuator.ts';
import { SimBattery } from './battery.ts';
import { simScalarSensor } from './sensor.ts';

const HOME = { lat: 47.397742, lon: 8.545594 };

async function vehicle(options: Partial<ConstructorParameters<typeof SimAutopilot>[0]> = {}) {
  const clock = new ManualClock();
  const ap = new SimAutopilot({ id: 'sim-1', clock, home: HOME, ...options });
  await ap.open();
  return { clock, ap };
}

test('manual clock runs timers in time order, same-instant timers in the order set', () => {
  const c = new ManualClock();
  const log: string[] = [];
  c.after(20, () => log.push(`b@${c.now()}`));
  c.after(10, () => log.push(`a@${c.now()}`));
  c.after(10, () => log.push(`a2@${c.now()}`));
  const stop = c.every(15, () => log.push(`e@${c.now()}`));
  c.advance(30);
  stop();
  c.advance(100);
  assert.deepEqual(log, ['a@10', 'a2@10', 'e@15', 'b@20', 'e@30']);
  assert.equal(c.now(), 130);
  assert.equal(c.pending, 0);
});

test('takeoff climbs to altitude within the climb-rate limit and holds', async () => {
  const { clock, ap } = await vehicle({ maxClimb: 2 });
  await assert.rejects(ap.takeoff(10), (e: unknown) => e instanceof DeviceError && e.code === 'denied' && /not armed/.test(e.message));
  await ap.arm();
  await ap.takeoff(10);
  clock.advance(4000);
  assert.ok(ap.truePosition().u <= 8 + 1e-9, `climbed faster than 2 m/s: ${ap.truePosition().u}`);
  clock.advance(10_000);
  assert.equal(ap.truePosition().u, 10);
  assert.equal(ap.position()!.alt, 10);
  await assert.rejects(ap.disarm(), /disarm denied \(DENIED\): vehicle is flying/);
});

test('goto respects maximum speed and acceleration and arrives at the target', async () => {
  const { clock, ap } = await vehicle({ maxSpeed: 5, maxAccel: 2 });
  await ap.arm();
  await ap.takeoff(10);
  clock.advance(20_000);
  const target = { ...movePoint(HOME, 100, 50), alt: 10 };
  await ap.goto(target);
  let last = ap.truePosition();
  let prevSpeed = 0;
  for (let t = 0; t < 60_000; t += 100) {
    clock.advance(100);
    const p = ap.truePosition();
    const speed = Math.hypot(p.n - last.n, p.e - last.e, p.u - last.u) / 0.1;
    assert.ok(speed <= 5 + 1e-6, `speed ${speed} > 5`);
    const arrivedNow = Math.hypot(p.n - 100, p.e - 50) < 0.02; // the final snap onto the target (< 1 cm)
    assert.ok(arrivedNow || Math.abs(speed - prevSpeed) / 0.1 <= 2 + 1e-6, `acceleration ${(speed - prevSpeed) / 0.1} > 2`);
    prevSpeed = speed;
    last = p;
  }
  const off = offsetMetres(HOME, ap.position()!);
  assert.ok(Math.abs(off.n - 100) < 1e-6 && Math.abs(off.e - 50) < 1e-6, JSON.stringify(off));
  // Straight-line distance 111.8 m at ≤ 5 m/s: it cannot have arrived in under 22 s.
  const { clock: c2, ap: ap2 } = await vehicle({ maxSpeed: 5, maxAccel: 2 });
  await ap2.arm();
  await ap2.takeoff(10);
  c2.advance(20_000);
  await ap2.goto(target);
  c2.advance(22_000);
  assert.ok(Math.hypot(ap2.truePosition().n - 100, ap2.truePosition().e - 50) > 1);
});

test('RTL climbs, returns home, lands and disarms; LAND lands where it is', async () => {
  const { clock, ap } = await vehicle({ rtlAltitude: 20 });
  await ap.arm();
  await ap.takeoff(5);
  clock.advance(10_000);
  await ap.goto({ ...movePoint(HOME, 60, 0), alt: 5 });
  clock.advance(30_000);
  await ap.returnToHome();
  assert.equal(ap.state().mode, 'RTL');
  let maxAlt = 0;
  for (let i = 0; i < 1200; i++) {
    clock.advance(100);
    maxAlt = Math.max(maxAlt, ap.truePosition().u);
  }
  assert.ok(Math.abs(maxAlt - 20) < 0.5, `RTL altitude ${maxAlt}`);
  assert.ok(Math.hypot(ap.truePosition().n, ap.truePosition().e) < 0.01 && ap.truePosition().u === 0, JSON.stringify(ap.truePosition()));
  assert.equal(ap.state().armed, false);

  await ap.setMode('GUIDED');
  await ap.arm();
  await ap.takeoff(8);
  clock.advance(10_000);
  await ap.goto({ ...movePoint(HOME, 0, 30), alt: 8 });
  clock.advance(20_000);
  await ap.land();
  clock.advance(20_000);
  const p = ap.truePosition();
  assert.ok(Math.abs(p.e - 30) < 1e-6 && p.u === 0, JSON.stringify(p));
  assert.equal(ap.state().armed, false);
  await assert.rejects(ap.setMode('WARP'), (e: unknown) => e instanceof DeviceError && e.code === 'invalid');
});

test('battery drains faster flying than idle, and the failsafe forces LAND', async () => {
  const { clock, ap } = await vehicle({ battery: { remaining: 0.2, hover: 0.01 }, failsafeRemaining: 0.1 });
  clock.advance(10_000);
  const idle = 0.2 - ap.battery.remaining;
  await ap.arm();
  await ap.takeoff(10);
  clock.advance(5_000);
  const flying = 0.2 - idle - ap.battery.remaining;
  assert.ok(flying > 100 * idle, `flying drain ${flying} vs idle ${idle}`);
  const r = await ap.battery.read();
  assert.ok(r.current > 0 && r.voltage < 12.6 && r.voltage > 10.5);
  clock.advance(10_000); // below 0.1: failsafe
  assert.equal(ap.state().mode, 'LAND');
  await assert.rejects(ap.setMode('GUIDED'), /battery failsafe/);
  clock.advance(30_000);
  assert.equal(ap.truePosition().u, 0);
  assert.equal(ap.state().armed, false);
  await assert.rejects(ap.arm(), /arm denied.*battery/);
});

test('noise comes from the injected source: same seed, same readings; different seed, different', async () => {
  const run = async (seed: number) => {
    const clock = new ManualClock();
    const s = simScalarSensor({ id: 'temp', clock, random: seededRandom(seed), truth: (t) => 20 + t / 1000, stddev: 0.5 });
    await s.open();
    const seen: number[] = [];
    s.watch((v) => seen.push(v), { intervalMs: 100 });
    clock.advance(1000);
    return seen;
  };
  const a = await run(1);
  assert.equal(a.length, 10);
  assert.deepEqual(await run(1), a);
  assert.notDeepEqual(await run(2), a);
  const mean = a.reduce((x, y) => x + y, 0) / a.length;
  assert.ok(Math.abs(mean - 20.55) < 0.5, `mean ${mean}`);
  assert.ok(a.some((v, i) => Math.abs(v - (20 + (i + 1) / 10)) > 1e-9), 'no noise at all');

  const noisy = await vehicle({ positionNoise: 2, random: seededRandom(7) });
  const fixes = Array.from({ length: 50 }, () => offsetMetres(HOME, noisy.ap.position()!).n);
  assert.ok(fixes.some((n) => Math.abs(n) > 0.5) && fixes.every((n) => Math.abs(n) < 10));
});

test('failures on demand: open failure, sensor failure and recovery, actuator settling', async () => {
  const clock = new ManualClock();
  const broken = simScalarSensor({ id: 'lidar', clock, truth: () => 1, stddev: 0, openFailure: 'not connected (I2C address 0x62 did not answer)' });
  await assert.rejects(broken.open(), /^DeviceError: device "lidar": cannot open simulated sensor: not connected/);
  assert.deepEqual(broken.status, { state: 'unavailable', reason: 'not connected (I2C address 0x62 did not answer)' });

  const s = simScalarSensor({ id: 'temp', clock, random: seededRandom(1), truth: () => 5, stddev: 0 });
  assert.deepEqual(s.status, { state: 'unavailable', reason: 'not opened' });
  await s.open();
  assert.equal(await s.read(), 5);
  s.fail('wire cut');
  await assert.rejects(s.read(), (e: unknown) => e instanceof DeviceError && e.code === 'unavailable' && /wire cut/.test(e.message));
  s.recover();
  assert.equal(await s.read(), 5);

  const servo = new SimActuator({ id: 'gripper', clock, initial: 0, settleMs: 500 });
  await servo.open();
  let done = false;
  const moving = servo.set(90).then(() => (done = true));
  clock.advance(499);
  await Promise.resolve();
  assert.equal(done, false);
  assert.equal(servo.state(), 0);
  clock.advance(1);
  await moving;
  assert.equal(servo.state(), 90);
  const stuck = servo.set(10);
  servo.fail('jammed');
  await assert.rejects(stuck, /jammed/);
  assert.equal(servo.state(), 90);

  const cell = new SimBattery({ id: 'node-battery', clock, drainPerSecond: 0.001 });
  await cell.open();
  clock.advance(100_000);
  assert.ok(Math.abs(cell.remaining - 0.9) < 1e-9);
  cell.setRemaining(0);
  assert.equal((await cell.read()).current, 0);
});

test('the simulated autopilot refuses commands while its link is failed and keeps the stale fix', async () => {
  const { clock, ap } = await vehicle();
  await ap.arm();
  await ap.takeoff(5);
  clock.advance(1000);
  const before = ap.position()!;
  ap.fail('radio link lost');
  clock.advance(5000);
  assert.deepEqual(ap.position(), before);
  assert.equal(ap.state().connected, false);
  await assert.rejects(ap.land(), (e: unknown) => e instanceof DeviceError && e.code === 'unavailable' && /radio link lost/.test(e.message));
  ap.recover();
  assert.equal(ap.position()!.alt, 5);
  await ap.close();
  assert.equal(clock.pending, 0);
});
