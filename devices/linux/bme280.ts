// Bosch BME280 (temperature, pressure, humidity) on Linux I2C (/dev/i2c-N) with the i2c-bus
// package (promise API), loaded in open(); tests inject a fake bus. Register map and compensation
// formulas: BME280 datasheet (BST-BME280-DS002), sections 4.2.3 (double precision variant) and 5.
// The sensor runs in normal mode (it measures every standby period by itself), so read() is one
// 8-byte burst read of the latest result and never waits on a conversion.
import { realTimeClock } from '../clock.ts';
import type { DeviceClock } from '../clock.ts';
import { AVAILABLE, DeviceError, NOT_OPENED } from '../types.ts';
import type { Cancel, DeviceStatus, Sensor, WatchOptions } from '../types.ts';
import { errnoCode, firstLine, loadOptional } from './optional.ts';

export interface Bme280Reading {
  /** °C */
  readonly temperature: number;
  /** Pa (divide by 100 for hPa / mbar) */
  readonly pressure: number;
  /** % relative humidity, 0..100 */
  readonly humidity: number;
}

/** The part of i2c-bus's PromisifiedBus we use. */
export interface I2cBus {
  readByte(address: number, register: number): Promise<number>;
  writeByte(address: number, register: number, value: number): Promise<void>;
  readI2cBlock(address: number, register: number, length: number, buffer: Buffer): Promise<{ bytesRead: number; buffer: Buffer }>;
  close(): Promise<void>;
}

/** The part of the i2c-bus module we use. */
export interface I2cBinding {
  openPromisified(busNumber: number): Promise<I2cBus>;
}

export type Oversampling = 1 | 2 | 4 | 8 | 16;

export interface Bme280Options {
  readonly id: string;
  /** I2C bus number: /dev/i2c-<bus>; default 1 (the 40-pin header's SDA/SCL on a Raspberry Pi). */
  readonly bus?: number;
  /** 0x76 (SDO to GND, most breakout boards) or 0x77 (SDO to VDD); default 0x76. */
  readonly address?: 0x76 | 0x77;
  /** Oversampling per quantity (datasheet 3.4); default ×1 each, the weather-monitoring setting. */
  readonly oversampling?: { readonly temperature?: Oversampling; readonly pressure?: Oversampling; readonly humidity?: Oversampling };
  /** Default watch period in ms (default 1000). */
  readonly intervalMs?: number;
  readonly clock?: DeviceClock;
  /** The i2c-bus module, or a stand-in (tests); default: import('i2c-bus') in open(). */
  readonly binding?: I2cBinding;
  /** Package to import when no binding is given (tests point it at a missing one). */
  readonly packageName?: string;
}

export const BME280_CHIP_ID = 0x60;
/** Registers (datasheet table 18). */
export const REG = { calib00: 0x88, id: 0xd0, reset: 0xe0, calib26: 0xe1, ctrlHum: 0xf2, status: 0xf3, ctrlMeas: 0xf4, config: 0xf5, data: 0xf7 } as const;
/** Other Bosch parts that answer at 0x76/0x77 with their chip id, to say what was found instead. */
const OTHER_CHIPS: Readonly<Record<number, string>> = {
  0x55: 'a BMP180/BMP085 (no humidity sensor)',
  0x56: 'a BMP280 sample (no humidity sensor)',
  0x57: 'a BMP280 sample (no humidity sensor)',
  0x58: 'a BMP280 (temperature and pressure only, no humidity)',
  0x61: 'a BME680/BME688 (different register map)',
  0x50: 'a BMP388 (different register map)',
  0x60: 'a BME280',
};
/** What the data registers hold when a measurement was skipped or has not run yet. */
const SKIPPED_20BIT = 0x80000;
const SKIPPED_16BIT = 0x8000;
const OSRS: Readonly<Record<Oversampling, number>> = { 1: 1, 2: 2, 4: 3, 8: 4, 16: 5 };

const INSTALL_HINT = 'install it on the device: npm install i2c-bus (builds with node-gyp: needs build-essential and python3)';

/** Trimming parameters dig_T1..dig_H6 (datasheet table 16). */
export interface Bme280Calibration {
  T1: number; T2: number; T3: number;
  P1: number; P2: number; P3: number; P4: number; P5: number; P6: number; P7: number; P8: number; P9: number;
  H1: number; H2: number; H3: number; H4: number; H5: number; H6: number;
}

/** Decodes calib00..25 (0x88..0xA1, 26 bytes) and calib26..32 (0xE1..0xE7, 7 bytes). */
export function decodeCalibration(a: Uint8Array, b: Uint8Array): Bme280Calibration {
  const va = new DataView(a.buffer, a.byteOffset, a.byteLength);
  const vb = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u16 = (o: number) => va.getUint16(o, true);
  const s16 = (o: number) => va.getInt16(o, true);
  // dig_H4 and dig_H5 are signed 12-bit values sharing the nibbles of 0xE5.
  const s12 = (v: number) => (v & 0x800 ? v - 0x1000 : v);
  return {
    T1: u16(0), T2: s16(2), T3: s16(4),
    P1: u16(6), P2: s16(8), P3: s16(10), P4: s16(12), P5: s16(14), P6: s16(16), P7: s16(18), P8: s16(20), P9: s16(22),
    H1: a[25],
    H2: vb.getInt16(0, true),
    H3: b[2],
    H4: s12((b[3] << 4) | (b[4] & 0x0f)),
    H5: s12((b[5] << 4) | (b[4] >> 4)),
    H6: vb.getInt8(6),
  };
}

/** Raw ADC values from the 8 data bytes 0xF7..0xFE. */
export function decodeRaw(d: Uint8Array): { adcP: number; adcT: number; adcH: number } {
  return {
    adcP: (d[0] << 12) | (d[1] << 4) | (d[2] >> 4),
    adcT: (d[3] << 12) | (d[4] << 4) | (d[5] >> 4),
    adcH: (d[6] << 8) | d[7],
  };
}

/** The datasheet's double-precision compensation (section 4.2.3 / appendix 8.1). */
export function compensate(c: Bme280Calibration, raw: { adcP: number; adcT: number; adcH: number }): Bme280Reading {
  const { adcP, adcT, adcH } = raw;
  // Temperature; t_fine carries it into the other two formulas.
  let v1 = (adcT / 16384 - c.T1 / 1024) * c.T2;
  let v2 = (adcT / 131072 - c.T1 / 8192) * (adcT / 131072 - c.T1 / 8192) * c.T3;
  const tFine = Math.trunc(v1 + v2); // the datasheet stores t_fine as BME280_S32_t
  const temperature = (v1 + v2) / 5120;

  v1 = tFine / 2 - 64000;
  v2 = (v1 * v1 * c.P6) / 32768;
  v2 = v2 + v1 * c.P5 * 2;
  v2 = v2 / 4 + c.P4 * 65536;
  v1 = ((c.P3 * v1 * v1) / 524288 + c.P2 * v1) / 524288;
  v1 = (1 + v1 / 32768) * c.P1;
  let pressure = 0; // the datasheet's guard against dividing by zero (an all-zero calibration)
  if (v1 !== 0) {
    let p = 1048576 - adcP;
    p = ((p - v2 / 4096) * 6250) / v1;
    v1 = (c.P9 * p * p) / 2147483648;
    v2 = (p * c.P8) / 32768;
    pressure = p + (v1 + v2 + c.P7) / 16;
  }

  let h = tFine - 76800;
  h = (adcH - (c.H4 * 64 + (c.H5 / 16384) * h)) * ((c.H2 / 65536) * (1 + (c.H6 / 67108864) * h * (1 + (c.H3 / 67108864) * h)));
  h = h * (1 - (c.H1 * h) / 524288);
  const humidity = Math.min(100, Math.max(0, h));
  return { temperature, pressure, humidity };
}

export class Bme280 implements Sensor<Bme280Reading> {
  readonly kind = 'sensor' as const;
  readonly id: string;
  readonly #busNumber: number;
  readonly #address: number;
  readonly #osrs: { t: number; p: number; h: number };
  readonly #intervalMs: number;
  readonly #clock: DeviceClock;
  readonly #binding: I2cBinding | undefined;
  readonly #packageName: string;
  #status: DeviceStatus = NOT_OPENED;
  #bus: I2cBus | undefined;
  #calibration: Bme280Calibration | undefined;
  #watches = new Set<Cancel>();

  constructor(options: Bme280Options) {
    const address = options.address ?? 0x76;
    if (address !== 0x76 && address !== 0x77) throw new RangeError(`bme280 "${options.id}": address must be 0x76 or 0x77, got 0x${Number(address).toString(16)}`);
    this.id = options.id;
    this.#busNumber = options.bus ?? 1;
    this.#address = address;
    const o = options.oversampling ?? {};
    this.#osrs = { t: OSRS[o.temperature ?? 1], p: OSRS[o.pressure ?? 1], h: OSRS[o.humidity ?? 1] };
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#clock = options.clock ?? realTimeClock();
    this.#binding = options.binding;
    this.#packageName = options.packageName ?? 'i2c-bus';
  }

  get status(): DeviceStatus {
    return this.#status;
  }

  /** "0x76 on /dev/i2c-1" */
  get where(): string {
    return `0x${this.#address.toString(16)} on /dev/i2c-${this.#busNumber}`;
  }

  /** The trimming parameters read at open (for diagnostics). */
  get calibration(): Bme280Calibration | undefined {
    return this.#calibration ? { ...this.#calibration } : undefined;
  }

  async open(): Promise<void> {
    if (this.#bus) return;
    let binding = this.#binding;
    if (!binding) {
      const loaded = await loadOptional<I2cBinding>(this.#packageName, INSTALL_HINT);
      if (!loaded.ok) this.#fail(`cannot open BME280 at ${this.where}: ${loaded.what}`, `fix: ${loaded.fix}`, loaded.cause);
      binding = loaded.module;
    }
    let bus: I2cBus;
    try {
      bus = await binding.openPromisified(this.#busNumber);
    } catch (e) {
      this.#fail(`cannot open I2C bus /dev/i2c-${this.#busNumber}: ${describe(e)}`, busFix(e, this.#busNumber), e);
    }
    try {
      await this.#setUp(bus);
    } catch (e) {
      await bus.close().catch(() => undefined);
      if (e instanceof DeviceError) throw e;
      this.#fail(`no answer from a BME280 at ${this.where}: ${describe(e)}`, `fix: check the wiring (SDA, SCL, 3.3 V, GND) and the address (i2cdetect -y ${this.#busNumber} lists the devices; 0x76 when SDO is low, 0x77 when high)`, e);
    }
    this.#bus = bus;
    this.#status = AVAILABLE;
  }

  async close(): Promise<void> {
    const bus = this.#bus;
    if (!bus) return;
    for (const c of [...this.#watches]) c();
    this.#bus = undefined;
    this.#status = { state: 'unavailable', reason: 'closed' };
    // Back to sleep mode (0.1 µA), then let the bus go; a sensor that vanished must not fail close().
    await bus.writeByte(this.#address, REG.ctrlMeas, 0).catch(() => undefined);
    await bus.close().catch(() => undefined);
  }

  async read(): Promise<Bme280Reading> {
    const bus = this.#bus;
    const s = this.#status;
    if (!bus) throw new DeviceError(this.id, 'unavailable', `unavailable: ${s.state === 'unavailable' ? s.reason : 'not opened'}`);
    let raw;
    try {
      raw = await this.#readRaw(bus);
      // Right after open the first conversion (≈ 10 ms at ×1) may not have finished: wait one.
      if (raw.adcT === SKIPPED_20BIT) {
        await new Promise<void>((resolve) => this.#clock.after(this.#measureMs(), resolve));
        raw = await this.#readRaw(bus);
      }
    } catch (e) {
      const reason = `read from ${this.where} failed: ${describe(e)}`;
      if (this.#bus === bus) this.#status = { state: 'unavailable', reason };
      throw new DeviceError(this.id, 'unavailable', reason, { cause: e });
    }
    if (raw.adcT === SKIPPED_20BIT || raw.adcP === SKIPPED_20BIT || raw.adcH === SKIPPED_16BIT)
      throw new DeviceError(this.id, 'unavailable', `no measurement from ${this.where} yet (the data registers still hold their reset value)`);
    if (this.#bus === bus) this.#status = AVAILABLE; // a good read after an I/O error: the sensor is back
    return compensate(this.#calibration!, raw);
  }

  /** Calls fn with a reading every intervalMs (device clock). A failed read is skipped; status tells why. */
  watch(fn: (value: Bme280Reading) => void, options?: WatchOptions): Cancel {
    let busy = false; // a slow bus must not stack reads
    const stop = this.#clock.every(options?.intervalMs ?? this.#intervalMs, () => {
      if (busy || !this.#bus) return;
      busy = true;
      this.read().then(
        (r) => {
          busy = false;
          if (this.#watches.has(cancel)) fn(r);
        },
        () => {
          busy = false;
        },
      );
    });
    const cancel = () => {
      stop();
      this.#watches.delete(cancel);
    };
    this.#watches.add(cancel);
    return cancel;
  }

  async #setUp(bus: I2cBus): Promise<void> {
    const a = this.#address;
    const id = await bus.readByte(a, REG.id);
    if (id !== BME280_CHIP_ID) {
      const what = OTHER_CHIPS[id] ? ` (${OTHER_CHIPS[id]})` : '';
      this.#fail(
        `the chip at ${this.where} answers chip id 0x${id.toString(16).padStart(2, '0')}${what}, expected 0x60 (BME280)`,
        `fix: check the address (another device may sit at ${a === 0x76 ? '0x76; try 0x77' : '0x77; try 0x76'}) or use a driver for that chip`,
      );
    }
    const calA = Buffer.alloc(26);
    const calB = Buffer.alloc(7);
    await bus.readI2cBlock(a, REG.calib00, 26, calA);
    await bus.readI2cBlock(a, REG.calib26, 7, calB);
    this.#calibration = decodeCalibration(calA, calB);
    // Sleep first: config writes in normal mode may be ignored (datasheet 5.4.6). ctrl_hum only
    // takes effect after the following ctrl_meas write (5.4.3).
    await bus.writeByte(a, REG.ctrlMeas, 0);
    await bus.writeByte(a, REG.config, 0b001 << 5); // standby 62.5 ms, IIR filter off, no 3-wire SPI
    await bus.writeByte(a, REG.ctrlHum, this.#osrs.h);
    await bus.writeByte(a, REG.ctrlMeas, (this.#osrs.t << 5) | (this.#osrs.p << 2) | 0b11); // normal mode
  }

  async #readRaw(bus: I2cBus): Promise<{ adcP: number; adcT: number; adcH: number }> {
    const d = Buffer.alloc(8);
    // One burst read so that the three values come from the same measurement (datasheet 4).
    await bus.readI2cBlock(this.#address, REG.data, 8, d);
    return decodeRaw(d);
  }

  /** Maximum measurement time in ms (datasheet 9.1), rounded up. */
  #measureMs(): number {
    const n = (code: number) => (code === 0 ? 0 : 2 ** (code - 1));
    return Math.ceil(1.25 + 2.3 * n(this.#osrs.t) + (2.3 * n(this.#osrs.p) + 0.575) + (2.3 * n(this.#osrs.h) + 0.575));
  }

  #fail(reason: string, fix: string, cause?: unknown): never {
    this.#status = { state: 'unavailable', reason };
    throw new DeviceError(this.id, 'open-failed', `${reason}; ${fix}`, cause === undefined ? undefined : { cause });
  }
}

function describe(e: unknown): string {
  const code = errnoCode(e);
  const msg = firstLine((e as Error)?.message ?? String(e));
  return code && !msg.includes(code) ? `${msg} (${code})` : msg;
}

function busFix(e: unknown, bus: number): string {
  switch (errnoCode(e)) {
    case 'ENOENT':
      return `fix: enable I2C (sudo raspi-config → Interface Options → I2C, or dtparam=i2c_arm=on in /boot/firmware/config.txt, then reboot) and check the bus number (ls /dev/i2c-*)`;
    case 'EACCES':
    case 'EPERM':
      return `fix: check permissions on /dev/i2c-${bus} (add the user to the i2c group: sudo usermod -aG i2c $USER, then log in again)`;
    default:
      return `fix: check the bus number (ls /dev/i2c-*) and permissions (i2c group)`;
  }
}
