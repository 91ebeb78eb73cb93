// A simulated actuator (servo, gripper, relay) that reaches a commanded value after settleMs.
import { DeviceError } from '../types.ts';
import type { Actuator, Cancel } from '../types.ts';
import { SimDevice } from './base.ts';
import type { SimDeviceOptions } from './base.ts';

export interface SimActuatorOptions<T> extends SimDeviceOptions {
  readonly initial: T;
  /** Virtual ms between set() and the actuator being at the new value (default 0). */
  readonly settleMs?: number;
}

export class SimActuator<T = number> extends SimDevice implements Actuator<T> {
  readonly kind = 'actuator' as const;
  #value: T;
  #settleMs: number;
  #pending: { cancel: Cancel; reject: (e: Error) => void } | undefined;

  constructor(options: SimActuatorOptions<T>) {
    super(options);
    this.#value = options.initial;
    this.#settleMs = options.settleMs ?? 0;
  }

  state(): T {
    return this.#value;
  }

  set(value: T): Promise<void> {
    try {
      this.ensureAvailable();
    } catch (e) {
      return Promise.reject(e);
    }
    this.#abortPending('superseded by a newer set()');
    if (this.#settleMs <= 0) {
      this.#value = value;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const cancel = this.clock.after(this.#settleMs, () => {
        this.#pending = undefined;
        if (this.status.state !== 'available') {
          reject(new DeviceError(this.id, 'unavailable', `unavailable: ${this.status.reason}`));
          return;
        }
        this.#value = value;
        resolve();
      });
      this.#pending = { cancel, reject };
    });
  }

  override fail(reason: string): void {
    super.fail(reason);
    this.#abortPending(`failed while moving: ${reason}`);
  }

  protected override onClose(): void {
    this.#abortPending('closed');
  }

  #abortPending(why: string): void {
    const p = this.#pending;
    if (!p) return;
    this.#pending = undefined;
    p.cancel();
    p.reject(new DeviceError(this.id, 'unavailable', why));
  }
}
