// Typed device interfaces. Every driver (simulated, MAVLink, GPIO, the BME280 over I2C) implements one of
// these; plugins and the agent see only these types. Drivers never read the wall clock or draw
// random numbers themselves: they are handed a DeviceClock and a RandomSource (devices/clock.ts).

/** Stops a timer, a watch or a subscription. Calling it twice is harmless. */
export type Cancel = () => void;

export type DeviceKind = 'sensor' | 'actuator' | 'autopilot' | 'battery';

export type DeviceStatus =
  | { readonly state: 'available' }
  | { readonly state: 'unavailable'; readonly reason: string };

/** What every driver offers: a name, an open step that may fail, and an availability status. */
export interface Device {
  readonly id: string;
  readonly kind: DeviceKind;
  /** 'unavailable' (reason 'not opened') until open() resolves; 'unavailable' with the cause after a failure. */
  readonly status: DeviceStatus;
  /** Opens the device. Rejects with a DeviceError naming the device and the cause; the agent then starts without it. */
  open(): Promise<void>;
  /** Releases the device (sockets, timers). Idempotent. */
  close(): Promise<void>;
}

export interface WatchOptions {
  /** Sampling period in ms of the device clock (drivers have a default). */
  readonly intervalMs?: number;
}

export interface Sensor<T> extends Device {
  readonly kind: 'sensor' | 'battery';
  /** One reading. Rejects with a DeviceError when the device is unavailable. */
  read(): Promise<T>;
  /** Calls fn with a reading every intervalMs (device clock) while the device is available. */
  watch(fn: (value: T) => void, options?: WatchOptions): Cancel;
}

export interface Actuator<T = number> extends Device {
  readonly kind: 'actuator';
  /** Commands a new value; resolves when the actuator has reached it. */
  set(value: T): Promise<void>;
  /** The value the actuator is at now. */
  state(): T;
}

export interface BatteryReading {
  /** Remaining charge as a fraction, 0..1 (NaN when the autopilot does not report it). */
  readonly remaining: number;
  /** Volts (NaN when unknown). */
  readonly voltage: number;
  /** Amperes drawn (NaN when unknown). */
  readonly current: number;
}

export interface Battery extends Sensor<BatteryReading> {
  readonly kind: 'battery';
}

/** WGS84 position; alt is metres above the home/take-off point (relative altitude). */
export interface GeoPoint {
  readonly lat: number;
  readonly lon: number;
  readonly alt: number;
}

export interface Position extends GeoPoint {
  /** Velocity north/east/down in m/s. */
  readonly vn: number;
  readonly ve: number;
  readonly vd: number;
  /** Device clock time (ms) of the fix. */
  readonly at: number;
}

export interface AutopilotState {
  readonly connected: boolean;
  readonly armed: boolean;
  /** Flight mode name, e.g. 'GUIDED', 'LAND', 'RTL' (ArduCopter names). */
  readonly mode: string;
}

/**
 * A vehicle that can fly (or drive) to positions. Every command resolves when the vehicle has
 * accepted it (COMMAND_ACK on MAVLink), not when it has arrived: watch position() for that.
 * Commands reject with a DeviceError: code 'timeout', 'denied' (with the MAV_RESULT name),
 * 'unavailable' or 'invalid'.
 */
export interface Autopilot extends Device {
  readonly kind: 'autopilot';
  /** The latest fix, or undefined before the first one. */
  position(): Position | undefined;
  state(): AutopilotState;
  readonly battery: Battery;
  arm(): Promise<void>;
  disarm(): Promise<void>;
  /** Climbs to altitude metres above home. The vehicle must be armed. */
  takeoff(altitude: number): Promise<void>;
  /** Flies to target (alt relative to home); speed in m/s, default the vehicle's own. */
  goto(target: GeoPoint, options?: { readonly speed?: number }): Promise<void>;
  land(): Promise<void>;
  returnToHome(): Promise<void>;
  setMode(mode: string): Promise<void>;
}

export type DeviceErrorCode = 'open-failed' | 'unavailable' | 'timeout' | 'denied' | 'invalid';

/** Every device failure: the message starts with the device id, and names the cause. */
export class DeviceError extends Error {
  readonly device: string;
  readonly code: DeviceErrorCode;
  constructor(device: string, code: DeviceErrorCode, detail: string, options?: { cause?: unknown }) {
    super(`device "${device}": ${detail}`, options);
    this.name = 'DeviceError';
    this.device = device;
    this.code = code;
  }
}

export const NOT_OPENED: DeviceStatus = { state: 'unavailable', reason: 'not opened' };
export const AVAILABLE: DeviceStatus = { state: 'available' };
