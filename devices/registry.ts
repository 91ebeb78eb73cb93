// Devices from an agent's config: one zod-checked entry per device, discriminated on `driver`;
// openDevices() builds and opens them all in parallel. A device that fails to open stays in the
// map, unavailable with the cause, so the agent starts without it instead of not starting.
import { z } from 'zod';
import type { DeviceClock, RandomSource } from './clock.ts';
import { DeviceError } from './types.ts';
import type { Device, DeviceKind, DeviceStatus } from './types.ts';
import { SimActuator } from './sim/actuator.ts';
import { SimAutopilot } from './sim/autopilot.ts';
import { simScalarSensor } from './sim/sensor.ts';
import type { MavlinkAutopilot } from './mavlink/autopilot.ts';
import type { SerialPortFactory } from './mavlink/link.ts';
import { GpioInput, GpioOutput } from './linux/gpio.ts';
import type { GpiodBinding } from './linux/gpio.ts';
import { Bme280 } from './linux/bme280.ts';
import type { I2cBinding } from './linux/bme280.ts';

const name = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'device name: lowercase letters, digits and "-", 1–63 characters, starting with a letter or digit');
const positive = z.number().positive();
const port = z.number().int().min(0).max(65535);
const geo = z.object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) });

const simAutopilot = z.object({
  driver: z.literal('sim-autopilot'),
  name,
  home: geo,
  maxSpeed: positive.optional(),
  maxAccel: positive.optional(),
  maxClimb: positive.optional(),
  landSpeed: positive.optional(),
  rtlAltitude: positive.optional(),
  positionNoise: z.number().min(0).optional(),
  battery: z.object({ remaining: z.number().min(0).max(1).optional(), capacityAh: positive.optional() }).strict().optional(),
}).strict();

const simSensor = z.object({
  driver: z.literal('sim-sensor'),
  name,
  mean: z.number(),
  /** Standard deviation of the Gaussian noise. */
  noise: z.number().min(0).default(0),
  unit: z.string().optional(),
  intervalMs: positive.optional(),
}).strict();

const simActuator = z.object({
  driver: z.literal('sim-actuator'),
  name,
  initial: z.number().default(0),
  settleMs: z.number().min(0).optional(),
}).strict();

const mavlink = z.object({
  driver: z.literal('mavlink'),
  name,
  udp: z.object({ bind: z.object({ port, address: z.string().optional() }).strict().optional(), remote: z.object({ host: z.string(), port }).strict().optional() }).strict().optional(),
  serial: z.object({ path: z.string().min(1), baudRate: z.number().int().positive() }).strict().optional(),
  targetSystem: z.number().int().min(1).max(255).optional(),
  openTimeoutMs: positive.optional(),
  heartbeatTimeoutMs: positive.optional(),
  commandTimeoutMs: positive.optional(),
}).strict().refine((s) => !(s.udp && s.serial), { message: 'give either udp or serial, not both', path: ['serial'] });

const gpioCommon = { name, chip: z.string().min(1).default('gpiochip0'), line: z.number().int().min(0), activeLow: z.boolean().optional() };
const gpioOut = z.object({ driver: z.literal('gpio-out'), ...gpioCommon, initial: z.boolean().optional() }).strict();
const gpioIn = z.object({ driver: z.literal('gpio-in'), ...gpioCommon, bias: z.enum(['as-is', 'disable', 'pull-up', 'pull-down']).optional(), intervalMs: positive.optional() }).strict();

const bme280 = z.object({
  driver: z.literal('bme280'),
  name,
  bus: z.number().int().min(0).default(1),
  address: z.union([z.literal(0x76), z.literal(0x77)], { error: 'address must be 0x76 (118) or 0x77 (119)' }).default(0x76),
  intervalMs: positive.optional(),
}).strict();

export const DRIVERS = ['sim-autopilot', 'sim-sensor', 'sim-actuator', 'mavlink', 'gpio-out', 'gpio-in', 'bme280'] as const;

export const deviceSpecSchema = z.discriminatedUnion('driver', [simAutopilot, simSensor, simActuator, mavlink, gpioOut, gpioIn, bme280], {
  error: (issue) => (issue.code === 'invalid_union' ? `unknown driver ${JSON.stringify((issue.input as { driver?: unknown } | undefined)?.driver)} (known: ${DRIVERS.join(', ')})` : undefined),
});

/** The whole `devices:` list: names must be unique. */
export const deviceSpecsSchema = z.array(deviceSpecSchema).superRefine((specs, ctx) => {
  const seen = new Set<string>();
  specs.forEach((s, i) => {
    if (seen.has(s.name)) ctx.addIssue({ code: 'custom', message: `duplicate device name "${s.name}"`, path: [i, 'name'] });
    seen.add(s.name);
  });
});

export type DeviceSpec = z.output<typeof deviceSpecSchema>;
export type DeviceSpecInput = z.input<typeof deviceSpecSchema>;

/** Parses a config's device list; throws an Error listing every problem as `devices[i] ("name").path: message`. */
export function parseDeviceSpecs(input: unknown): DeviceSpec[] {
  const r = deviceSpecsSchema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.map((issue) => {
    const [index, ...rest] = issue.path;
    const entry = typeof index === 'number' && Array.isArray(input) ? (input[index] as { name?: unknown } | undefined) : undefined;
    const label = typeof index === 'number' ? `devices[${index}]${typeof entry?.name === 'string' ? ` ("${entry.name}")` : ''}` : 'devices';
    const field = rest.length ? `.${rest.map(String).join('.')}` : '';
    return `${label}${field}: ${issue.message}`;
  });
  throw new Error(`invalid device config:\n  ${lines.join('\n  ')}`);
}

export interface OpenDevicesOptions {
  readonly clock: DeviceClock;
  readonly random: RandomSource;
  /** Stand-ins for the optional native packages (tests); default: the drivers import them. */
  readonly bindings?: { readonly gpio?: GpiodBinding; readonly i2c?: I2cBinding; readonly serialPortFactory?: SerialPortFactory };
}

export interface OpenedDevices {
  readonly devices: Map<string, Device>;
  readonly failures: { name: string; error: DeviceError }[];
}

/** Driver modules loaded only when a spec needs them (the MAVLink stack costs ~0.1 s of every agent's start). */
interface LazyDrivers {
  readonly MavlinkAutopilot?: typeof MavlinkAutopilot;
}

/** Builds one driver from its spec (not opened). */
export function createDevice(spec: DeviceSpec, options: OpenDevicesOptions, lazy: LazyDrivers = {}): Device {
  const { clock, random } = options;
  const b = options.bindings ?? {};
  const id = spec.name;
  switch (spec.driver) {
    case 'sim-autopilot': {
      const { driver: _d, name: _n, ...rest } = spec;
      return new SimAutopilot({ id, clock, random, ...rest });
    }
    case 'sim-sensor':
      return simScalarSensor({ id, clock, random, truth: () => spec.mean, stddev: spec.noise, ...(spec.intervalMs !== undefined ? { intervalMs: spec.intervalMs } : {}) });
    case 'sim-actuator':
      return new SimActuator<number>({ id, clock, initial: spec.initial, ...(spec.settleMs !== undefined ? { settleMs: spec.settleMs } : {}) });
    case 'mavlink': {
      const { driver: _d, name: _n, udp, serial, ...rest } = spec;
      if (lazy.MavlinkAutopilot === undefined) throw new Error('the MAVLink driver is not loaded (openDevices loads it)');
      return new lazy.MavlinkAutopilot({
        id,
        clock,
        ...rest,
        ...(udp?.bind ? { bind: udp.bind } : {}),
        ...(udp?.remote ? { remote: udp.remote } : {}),
        ...(serial ? { serial: { ...serial, ...(b.serialPortFactory ? { portFactory: b.serialPortFactory } : {}) } } : {}),
      });
    }
    case 'gpio-out':
      return new GpioOutput({ id, clock, chip: spec.chip, line: spec.line, activeLow: spec.activeLow ?? false, initial: spec.initial ?? false, ...(b.gpio ? { binding: b.gpio } : {}) });
    case 'gpio-in':
      return new GpioInput({ id, clock, chip: spec.chip, line: spec.line, activeLow: spec.activeLow ?? false, bias: spec.bias ?? 'as-is', ...(spec.intervalMs !== undefined ? { intervalMs: spec.intervalMs } : {}), ...(b.gpio ? { binding: b.gpio } : {}) });
    case 'bme280':
      return new Bme280({ id, clock, bus: spec.bus, address: spec.address, ...(spec.intervalMs !== undefined ? { intervalMs: spec.intervalMs } : {}), ...(b.i2c ? { binding: b.i2c } : {}) });
  }
}

/** What each driver drives (shown for a device before it has opened, or when it could not be built). */
export const driverKinds: Readonly<Record<DeviceSpec['driver'], DeviceKind>> = {
  'sim-autopilot': 'autopilot', 'sim-sensor': 'sensor', 'sim-actuator': 'actuator', mavlink: 'autopilot', 'gpio-out': 'actuator', 'gpio-in': 'sensor', bme280: 'sensor',
};

/** Stands in the map for a device whose driver could not even be built, so it still shows as unavailable. */
class UnbuiltDevice implements Device {
  readonly id: string;
  readonly kind: DeviceKind;
  readonly status: DeviceStatus;
  readonly #error: DeviceError;
  constructor(id: string, kind: DeviceKind, error: DeviceError) {
    this.id = id;
    this.kind = kind;
    this.#error = error;
    this.status = { state: 'unavailable', reason: error.message.replace(`device "${id}": `, '') };
  }
  open(): Promise<void> {
    return Promise.reject(this.#error);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Builds and opens every device in parallel. Never rejects because of one device: a device that
 * cannot be built or opened is in `devices` (status unavailable, with the reason) and in `failures`.
 */
export async function openDevices(specs: readonly DeviceSpec[], options: OpenDevicesOptions): Promise<OpenedDevices> {
  const devices = new Map<string, Device>();
  const failures: { name: string; error: DeviceError }[] = [];
  const opening: Promise<void>[] = [];
  const lazy: LazyDrivers = specs.some((s) => s.driver === 'mavlink') ? { MavlinkAutopilot: (await import('./mavlink/autopilot.ts')).MavlinkAutopilot } : {};
  for (const spec of specs) {
    let device: Device;
    try {
      device = createDevice(spec, options, lazy);
    } catch (e) {
      const error = toDeviceError(spec.name, e, 'cannot build driver');
      devices.set(spec.name, new UnbuiltDevice(spec.name, driverKinds[spec.driver], error));
      failures.push({ name: spec.name, error });
      continue;
    }
    devices.set(spec.name, device);
    opening.push(
      device.open().catch((e: unknown) => {
        failures.push({ name: spec.name, error: toDeviceError(spec.name, e, 'open failed') });
      }),
    );
  }
  await Promise.all(opening);
  // In config order, not in the order the failures happened to arrive.
  const order = specs.map((s) => s.name);
  failures.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  return { devices, failures };
}

/** Closes every device in parallel; a device that fails to close does not stop the others. */
export async function closeDevices(devices: Map<string, Device>): Promise<void> {
  await Promise.allSettled([...devices.values()].map((d) => d.close()));
}

function toDeviceError(name: string, e: unknown, what: string): DeviceError {
  if (e instanceof DeviceError) return e;
  return new DeviceError(name, 'open-failed', `${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}
