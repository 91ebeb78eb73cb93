// A simulated battery: charge falls at a drain rate that its owner (the simulated autopilot, or a
// fixed rate for a sensor node) sets; integrated exactly in virtual time, no ticking needed.
import { gaussian } from '../clock.ts';
import type { Battery, BatteryReading, Cancel, WatchOptions } from '../types.ts';
import { SimDevice } from './base.ts';
import type { SimDeviceOptions } from './base.ts';

export interface SimBatteryOptions extends SimDeviceOptions {
  /** Starting charge, 0..1 (default 1). */
  readonly remaining?: number;
  /** Capacity in ampere-hours, used to report current (default 5). */
  readonly capacityAh?: number;
  /** Volts at full and at empty charge (defaults 12.6 and 10.5, a 3S LiPo). */
  readonly fullVoltage?: number;
  readonly emptyVoltage?: number;
  /** Standard deviation of the voltage reading in volts (default 0; needs random). */
  readonly voltageNoise?: number;
  /** Initial drain, fraction of capacity per second (default 0). */
  readonly drainPerSecond?: number;
  /** Default watch period in ms (default 1000). */
  readonly intervalMs?: number;
}

export class SimBattery extends SimDevice implements Battery {
  readonly kind = 'battery' as const;
  #remaining: number;
  #drain: number;
  #at: number;
  #capacityAh: number;
  #full: number;
  #empty: number;
  #noise: number;
  #intervalMs: number;

  constructor(options: SimBatteryOptions) {
    super(options);
    this.#remaining = options.remaining ?? 1;
    this.#drain = options.drainPerSecond ?? 0;
    this.#at = options.clock.now();
    this.#capacityAh = options.capacityAh ?? 5;
    this.#full = options.fullVoltage ?? 12.6;
    this.#empty = options.emptyVoltage ?? 10.5;
    this.#noise = options.voltageNoise ?? 0;
    this.#intervalMs = options.intervalMs ?? 1000;
    if (this.#noise > 0 && !options.random) throw new Error(`sim battery "${options.id}": voltageNoise needs a random source`);
  }

  /** Remaining charge now (true value, no noise). */
  get remaining(): number {
    this.#integrate();
    return this.#remaining;
  }

  /** Sets the drain rate (fraction of capacity per second) from now on. */
  setDrain(fractionPerSecond: number): void {
    this.#integrate();
    this.#drain = Math.max(0, fractionPerSecond);
  }

  /** Failure on demand: the cell drops to this charge at once (e.g. 0 for a dead cell). */
  setRemaining(fraction: number): void {
    this.#integrate();
    this.#remaining = Math.min(1, Math.max(0, fraction));
  }

  async read(): Promise<BatteryReading> {
    this.ensureAvailable();
    return this.#sample();
  }

  watch(fn: (value: BatteryReading) => void, options?: WatchOptions): Cancel {
    return this.watchEvery(options?.intervalMs ?? this.#intervalMs, () => this.#sample(), fn);
  }


  #integrate(): void {
    const now = this.clock.now();
    this.#remaining = Math.max(0, this.#remaining - (this.#drain * (now - this.#at)) / 1000);
    this.#at = now;
  }

  #sample(): BatteryReading {
    this.#integrate();
    const r = this.#remaining;
    const voltage = this.#empty + (this.#full - this.#empty) * r + (this.random ? gaussian(this.random, this.#noise) : 0);
    const current = r > 0 ? this.#drain * this.#capacityAh * 3600 : 0;
    return { remaining: r, voltage, current };
  }
}
