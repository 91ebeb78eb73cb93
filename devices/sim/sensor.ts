// Simulated sensors: a truth function of virtual time plus noise from the injected source.
import { gaussian } from '../clock.ts';
import type { RandomSource } from '../clock.ts';
import type { Cancel, Sensor, WatchOptions } from '../types.ts';
import { SimDevice } from './base.ts';
import type { SimDeviceOptions } from './base.ts';

export interface SimSensorOptions<T> extends SimDeviceOptions {
  /** The true value at clock time now (ms). */
  readonly truth: (now: number) => T;
  /** Adds measurement noise to a true value; default: none. */
  readonly noise?: (value: T, random: RandomSource) => T;
  /** Default watch period in ms (default 1000). */
  readonly intervalMs?: number;
}

export class SimSensor<T> extends SimDevice implements Sensor<T> {
  readonly kind = 'sensor' as const;
  #truth: (now: number) => T;
  #noise: ((value: T, random: RandomSource) => T) | undefined;
  #intervalMs: number;

  constructor(options: SimSensorOptions<T>) {
    super(options);
    if (options.noise && !options.random) throw new Error(`sim sensor "${options.id}": noise needs a random source`);
    this.#truth = options.truth;
    this.#noise = options.noise;
    this.#intervalMs = options.intervalMs ?? 1000;
  }

  async read(): Promise<T> {
    this.ensureAvailable();
    return this.#sample();
  }

  watch(fn: (value: T) => void, options?: WatchOptions): Cancel {
    return this.watchEvery(options?.intervalMs ?? this.#intervalMs, () => this.#sample(), fn);
  }


  #sample(): T {
    const v = this.#truth(this.clock.now());
    return this.#noise && this.random ? this.#noise(v, this.random) : v;
  }
}

/** A numeric sensor with Gaussian noise of the given standard deviation. */
export function simScalarSensor(
  options: SimDeviceOptions & { readonly truth: (now: number) => number; readonly stddev: number; readonly intervalMs?: number },
): SimSensor<number> {
  const { stddev, ...rest } = options;
  return new SimSensor<number>(stddev > 0 ? { ...rest, noise: (v, r) => v + gaussian(r, stddev) } : rest);
}
