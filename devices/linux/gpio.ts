// GPIO lines through the kernel GPIO character device (/dev/gpiochipN) with node-libgpiod 0.5
// (libgpiod 1.x). The package is optional and loaded in open(); tests inject a fake binding.
// node-libgpiod 0.5 can request edge events but has no call to wait for or read them, so inputs
// are polled on the device clock.
import { realTimeClock } from '../clock.ts';
import type { DeviceClock } from '../clock.ts';
import { AVAILABLE, DeviceError, NOT_OPENED } from '../types.ts';
import type { Actuator, Cancel, DeviceStatus, Sensor, WatchOptions } from '../types.ts';
import { errnoCode, firstLine, loadOptional } from './optional.ts';

/** The part of node-libgpiod's Line we use (its lib/line.d.ts). Values are logical: the kernel applies ACTIVE_LOW. */
export interface GpiodLine {
  requestOutputModeFlags(consumer: string, flags: number, defaultValue: number): unknown;
  requestInputModeFlags(consumer: string, flags: number): unknown;
  getValue(): number;
  setValue(value: number): unknown;
  release(): unknown;
}

/** The part of node-libgpiod's module we use. Chip accepts a name (gpiochip0), a path (/dev/gpiochip0), a label or a number. */
export interface GpiodBinding {
  Chip: new (identifier: string | number) => object;
  Line: new (chip: object, offset: number) => GpiodLine;
}

/** libgpiod 1.x GPIOD_LINE_REQUEST_FLAG_* (also node-libgpiod's Line.RequestFlags). */
export const GPIOD_FLAGS = { ACTIVE_LOW: 1 << 2, BIAS_DISABLE: 1 << 3, BIAS_PULL_DOWN: 1 << 4, BIAS_PULL_UP: 1 << 5 } as const;

export type GpioBias = 'as-is' | 'disable' | 'pull-up' | 'pull-down';

export interface GpioLineOptions {
  readonly id: string;
  /** Chip name, path or label; default 'gpiochip0' (the 40-pin header on a Raspberry Pi ≤ 4; on a Pi 5 it is 'gpiochip4' or the label 'pinctrl-rp1'). */
  readonly chip?: string;
  /** Line offset on the chip (the BCM GPIO number on a Raspberry Pi). */
  readonly line: number;
  /** The line is active when low: true reads/writes a low level. Default false. */
  readonly activeLow?: boolean;
  /** Consumer label shown by `gpioinfo`; default 'covey:<id>'. */
  readonly consumer?: string;
  readonly clock?: DeviceClock;
  /** The node-libgpiod module, or a stand-in (tests); default: import('node-libgpiod') in open(). */
  readonly binding?: GpiodBinding;
  /** Package to import when no binding is given (tests point it at a missing one). */
  readonly packageName?: string;
}

export interface GpioOutputOptions extends GpioLineOptions {
  /** Logical value driven when the line is requested; default false. */
  readonly initial?: boolean;
}

export interface GpioInputOptions extends GpioLineOptions {
  /** Pull resistor; default 'as-is' (leave the line's bias alone). Needs kernel ≥ 5.5. */
  readonly bias?: GpioBias;
  /** Default watch period in ms (default 100). */
  readonly intervalMs?: number;
}

const INSTALL_HINT =
  'install it on the device: sudo apt install libgpiod-dev (libgpiod 1.x headers) && npm install node-libgpiod';

/** Shared open/close/status of one requested line. */
abstract class GpioLine {
  readonly id: string;
  protected readonly clock: DeviceClock;
  protected readonly chipName: string;
  protected readonly offset: number;
  protected readonly activeLow: boolean;
  protected readonly consumer: string;
  readonly #binding: GpiodBinding | undefined;
  readonly #packageName: string;
  #status: DeviceStatus = NOT_OPENED;
  // The chip is held with the line so that it is not garbage-collected (closing it) while the
  // line is in use: node-libgpiod's README documents that failure.
  #handle: { readonly chip: object; readonly line: GpiodLine } | undefined;
  #watches = new Set<Cancel>();

  constructor(options: GpioLineOptions) {
    if (!Number.isInteger(options.line) || options.line < 0) throw new RangeError(`gpio "${options.id}": line must be an integer offset ≥ 0, got ${options.line}`);
    this.id = options.id;
    this.clock = options.clock ?? realTimeClock();
    this.chipName = options.chip ?? 'gpiochip0';
    this.offset = options.line;
    this.activeLow = options.activeLow ?? false;
    this.consumer = options.consumer ?? `covey:${options.id}`;
    this.#binding = options.binding;
    this.#packageName = options.packageName ?? 'node-libgpiod';
  }

  get status(): DeviceStatus {
    return this.#status;
  }

  /** "line 17 of gpiochip0" */
  get where(): string {
    return `line ${this.offset} of ${this.chipName}`;
  }

  protected abstract readonly direction: 'input' | 'output';
  protected abstract request(line: GpiodLine): void;
  protected onOpened(): void {}

  async open(): Promise<void> {
    if (this.#handle) return;
    let binding = this.#binding;
    if (!binding) {
      const loaded = await loadOptional<GpiodBinding>(this.#packageName, INSTALL_HINT);
      if (!loaded.ok) this.#fail(`cannot open GPIO ${this.where}: ${loaded.what}`, `fix: ${loaded.fix}`, loaded.cause);
      binding = loaded.module;
    }
    let chip: object;
    try {
      chip = new binding.Chip(this.chipName);
    } catch (e) {
      this.#fail(`cannot open GPIO chip "${this.chipName}": ${describe(e)}`, chipFix(e, this.chipName), e);
    }
    let line: GpiodLine;
    try {
      line = new binding.Line(chip, this.offset);
      this.request(line);
    } catch (e) {
      this.#fail(`cannot request GPIO ${this.where} as ${this.direction}: ${describe(e)}`, lineFix(e, this.chipName), e);
    }
    this.#handle = { chip, line };
    this.#status = AVAILABLE;
    this.onOpened();
  }

  async close(): Promise<void> {
    const line = this.#handle?.line;
    if (!line) return;
    for (const c of [...this.#watches]) c();
    this.#handle = undefined;
    this.#status = { state: 'unavailable', reason: 'closed' };
    try {
      line.release(); // hands the line back to the kernel (and other processes)
    } catch {
      // released already, or the chip went away: nothing left to free
    }
  }

  /** The requested line, or the DeviceError a caller should see. */
  protected requireLine(): GpiodLine {
    const s = this.#status;
    if (!this.#handle || s.state === 'unavailable') throw new DeviceError(this.id, 'unavailable', `unavailable: ${s.state === 'unavailable' ? s.reason : 'not opened'}`);
    return this.#handle.line;
  }

  /** An I/O error on an open line (chip unplugged, line taken away): the device becomes unavailable. */
  protected ioFailed(what: string, e: unknown): DeviceError {
    const reason = `${what} on GPIO ${this.where} failed: ${describe(e)}`;
    this.#status = { state: 'unavailable', reason };
    return new DeviceError(this.id, 'unavailable', reason, { cause: e });
  }

  protected biasFlags(bias: GpioBias): number {
    const activeLow = this.activeLow ? GPIOD_FLAGS.ACTIVE_LOW : 0;
    if (bias === 'pull-up') return activeLow | GPIOD_FLAGS.BIAS_PULL_UP;
    if (bias === 'pull-down') return activeLow | GPIOD_FLAGS.BIAS_PULL_DOWN;
    if (bias === 'disable') return activeLow | GPIOD_FLAGS.BIAS_DISABLE;
    return activeLow;
  }

  protected track(cancel: Cancel): Cancel {
    const c = () => {
      cancel();
      this.#watches.delete(c);
    };
    this.#watches.add(c);
    return c;
  }

  #fail(reason: string, fix: string, cause: unknown): never {
    this.#status = { state: 'unavailable', reason };
    throw new DeviceError(this.id, 'open-failed', `${reason}; ${fix}`, { cause });
  }
}

/** A GPIO output (LED, relay, buzzer). set() resolves once the level is written. */
export class GpioOutput extends GpioLine implements Actuator<boolean> {
  readonly kind = 'actuator' as const;
  protected readonly direction = 'output' as const;
  readonly #initial: boolean;
  #value: boolean;

  constructor(options: GpioOutputOptions) {
    super(options);
    this.#initial = options.initial ?? false;
    this.#value = this.#initial;
  }

  state(): boolean {
    return this.#value;
  }

  async set(value: boolean): Promise<void> {
    const line = this.requireLine();
    try {
      line.setValue(value ? 1 : 0);
    } catch (e) {
      throw this.ioFailed('set', e);
    }
    this.#value = value;
  }

  protected request(line: GpiodLine): void {
    line.requestOutputModeFlags(this.consumer, this.activeLow ? GPIOD_FLAGS.ACTIVE_LOW : 0, this.#initial ? 1 : 0);
  }

  protected override onOpened(): void {
    this.#value = this.#initial;
  }
}

/** A GPIO input (button, reed switch, PIR). watch() polls every intervalMs of the device clock. */
export class GpioInput extends GpioLine implements Sensor<boolean> {
  readonly kind = 'sensor' as const;
  protected readonly direction = 'input' as const;
  readonly #bias: GpioBias;
  readonly #intervalMs: number;

  constructor(options: GpioInputOptions) {
    super(options);
    this.#bias = options.bias ?? 'as-is';
    this.#intervalMs = options.intervalMs ?? 100;
  }

  async read(): Promise<boolean> {
    return this.#sample();
  }

  /** Calls fn with the level every intervalMs while the line is available. */
  watch(fn: (value: boolean) => void, options?: WatchOptions): Cancel {
    return this.track(
      this.clock.every(options?.intervalMs ?? this.#intervalMs, () => {
        if (this.status.state !== 'available') return;
        try {
          fn(this.#sample());
        } catch (e) {
          if (!(e instanceof DeviceError)) throw e; // the line failed: status says why, the watch idles
        }
      }),
    );
  }

  /** Calls fn only when the polled level differs from the previous poll (first poll included). */
  onChange(fn: (value: boolean) => void, options?: WatchOptions): Cancel {
    let last: boolean | undefined;
    return this.watch((v) => {
      if (v === last) return;
      last = v;
      fn(v);
    }, options);
  }

  protected request(line: GpiodLine): void {
    line.requestInputModeFlags(this.consumer, this.biasFlags(this.#bias));
  }

  #sample(): boolean {
    const line = this.requireLine();
    try {
      return line.getValue() === 1;
    } catch (e) {
      throw this.ioFailed('read', e);
    }
  }
}

function describe(e: unknown): string {
  return firstLine((e as Error)?.message ?? String(e));
}

function chipFix(e: unknown, chip: string): string {
  switch (errnoCode(e)) {
    case 'EACCES':
    case 'EPERM':
      return `fix: check permissions on /dev/${chip.replace(/^\/dev\//, '')} (add the user to the gpio group: sudo usermod -aG gpio $USER, then log in again)`;
    default:
      return `fix: check the chip name (gpiodetect lists the chips; /dev/gpiochip0 on a Raspberry Pi ≤ 4) and permissions (add the user to the gpio group)`;
  }
}

function lineFix(e: unknown, chip: string): string {
  switch (errnoCode(e)) {
    case 'EBUSY':
      return `fix: the line is in use by another process or a kernel driver (gpioinfo ${chip} shows the consumer)`;
    case 'EACCES':
    case 'EPERM':
      return 'fix: check permissions (add the user to the gpio group: sudo usermod -aG gpio $USER)';
    default:
      return `fix: check the line offset (gpioinfo ${chip} lists the lines), that no other process holds it, and permissions (gpio group)`;
  }
}
