// Shared behaviour of simulated drivers: open/close, status, and failures on demand.
import { AVAILABLE, DeviceError, NOT_OPENED } from '../types.ts';
import type { Cancel, DeviceKind, DeviceStatus } from '../types.ts';
import type { DeviceClock, RandomSource } from '../clock.ts';

export interface SimDeviceOptions {
  readonly id: string;
  readonly clock: DeviceClock;
  /** Noise source; drivers without noise may omit it. */
  readonly random?: RandomSource;
  /** When set, open() rejects with this cause (a device that is missing or broken at start). */
  readonly openFailure?: string;
}

export abstract class SimDevice {
  readonly id: string;
  abstract readonly kind: DeviceKind;
  protected readonly clock: DeviceClock;
  protected readonly random: RandomSource | undefined;
  #openFailure: string | undefined;
  #opened = false;
  #failure: string | undefined;
  #status: DeviceStatus = NOT_OPENED;
  /** Cancels of the live watches; close() ends them all. */
  #watches = new Set<Cancel>();

  constructor(options: SimDeviceOptions) {
    this.id = options.id;
    this.clock = options.clock;
    this.random = options.random;
    this.#openFailure = options.openFailure;
  }

  get status(): DeviceStatus {
    return this.#status;
  }

  get isOpen(): boolean {
    return this.#opened;
  }

  async open(): Promise<void> {
    if (this.#opened) return;
    if (this.#openFailure !== undefined) {
      this.#status = { state: 'unavailable', reason: this.#openFailure };
      throw new DeviceError(this.id, 'open-failed', `cannot open simulated ${this.kind}: ${this.#openFailure}`);
    }
    this.#opened = true;
    this.#status = this.#failure === undefined ? AVAILABLE : { state: 'unavailable', reason: this.#failure };
    this.onOpen();
  }

  async close(): Promise<void> {
    if (!this.#opened) return;
    this.#opened = false;
    this.#status = { state: 'unavailable', reason: 'closed' };
    for (const c of [...this.#watches]) c();
    this.onClose();
  }

  /** Failure on demand: the device becomes unavailable with this reason until recover(). */
  fail(reason: string): void {
    this.#failure = reason;
    if (this.#opened) this.#status = { state: 'unavailable', reason };
  }

  recover(): void {
    this.#failure = undefined;
    if (this.#opened) this.#status = AVAILABLE;
  }

  /** Throws the DeviceError a caller should see when the device cannot serve now. */
  protected ensureAvailable(): void {
    const s = this.#status;
    if (s.state === 'unavailable') throw new DeviceError(this.id, 'unavailable', `unavailable: ${s.reason}`);
  }

  /** A watch that samples every intervalMs of the device clock while the device is available. */
  protected watchEvery<T>(intervalMs: number, sample: () => T, fn: (value: T) => void): Cancel {
    const stop = this.clock.every(intervalMs, () => {
      if (this.#status.state === 'available') fn(sample());
    });
    const cancel = () => {
      stop();
      this.#watches.delete(cancel);
    };
    this.#watches.add(cancel);
    return cancel;
  }

  protected onOpen(): void {}
  protected onClose(): void {}
}
