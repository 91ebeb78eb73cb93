// A simulated multicopter autopilot: point-mass kinematics in a local north/east/up frame around
// home, with a maximum speed, acceleration and climb rate, stepped on the injected clock.
// Modes follow ArduCopter's names and rules closely enough for mission code written against it:
// GUIDED (takeoff, goto, hold), LAND (descend, disarm on touchdown), RTL (climb to rtlAltitude,
// fly home, land), LOITER (hold). Battery drain depends on activity; below failsafeRemaining the
// vehicle is forced to LAND and refuses to arm.
import { gaussian } from '../clock.ts';
import { DeviceError } from '../types.ts';
import type { Autopilot, AutopilotState, Cancel, GeoPoint, Position } from '../types.ts';
import { SimDevice } from './base.ts';
import type { SimDeviceOptions } from './base.ts';
import { SimBattery } from './battery.ts';

const EARTH_RADIUS = 6_371_000;
const RAD = Math.PI / 180;
export const SIM_MODES = ['GUIDED', 'LAND', 'RTL', 'LOITER'] as const;

export interface SimAutopilotOptions extends SimDeviceOptions {
  /** Home (take-off point); altitudes are relative to it. */
  readonly home: { readonly lat: number; readonly lon: number };
  readonly maxSpeed?: number; // m/s horizontal+vertical magnitude, default 10
  readonly maxAccel?: number; // m/s², default 3
  readonly maxClimb?: number; // m/s, vertical, default 3
  readonly landSpeed?: number; // m/s descent in LAND, default 1
  readonly rtlAltitude?: number; // m, default 15
  readonly tickMs?: number; // physics step, default 100
  /** Standard deviation in metres of reported horizontal and vertical position (default 0; needs random). */
  readonly positionNoise?: number;
  readonly battery?: {
    readonly remaining?: number;
    readonly capacityAh?: number;
    readonly voltageNoise?: number;
    /** Drain in fraction of capacity per second: disarmed, armed on the ground, hovering, and extra per m/s of speed. */
    readonly idle?: number; // default 0.00001
    readonly armed?: number; // default 0.0002
    readonly hover?: number; // default 0.001 (≈ 16 min of hover)
    readonly perMps?: number; // default 0.00005
  };
  /** Battery failsafe threshold, default 0.05. */
  readonly failsafeRemaining?: number;
}

interface Vec {
  n: number;
  e: number;
  u: number;
}

export class SimAutopilot extends SimDevice implements Autopilot {
  readonly kind = 'autopilot' as const;
  readonly battery: SimBattery;
  readonly #home: { lat: number; lon: number };
  readonly #maxSpeed: number;
  readonly #maxAccel: number;
  readonly #maxClimb: number;
  readonly #landSpeed: number;
  readonly #rtlAlt: number;
  readonly #tickMs: number;
  readonly #noise: number;
  readonly #drain: { idle: number; armed: number; hover: number; perMps: number };
  readonly #failsafe: number;
  #pos: Vec = { n: 0, e: 0, u: 0 };
  #vel: Vec = { n: 0, e: 0, u: 0 };
  #target: Vec | undefined;
  #speedLimit: number;
  #armed = false;
  #mode: string = 'GUIDED';
  #rtlStage: 'climb' | 'return' | 'descend' = 'climb';
  #failsafeTripped = false;
  #lastFix: Position | undefined;
  #tick: Cancel | undefined;

  constructor(options: SimAutopilotOptions) {
    super(options);
    this.#home = { lat: options.home.lat, lon: options.home.lon };
    this.#maxSpeed = options.maxSpeed ?? 10;
    this.#speedLimit = this.#maxSpeed;
    this.#maxAccel = options.maxAccel ?? 3;
    this.#maxClimb = options.maxClimb ?? 3;
    this.#landSpeed = options.landSpeed ?? 1;
    this.#rtlAlt = options.rtlAltitude ?? 15;
    this.#tickMs = options.tickMs ?? 100;
    this.#noise = options.positionNoise ?? 0;
    if (this.#noise > 0 && !options.random) throw new Error(`sim autopilot "${options.id}": positionNoise needs a random source`);
    const b = options.battery ?? {};
    this.#drain = { idle: b.idle ?? 0.00001, armed: b.armed ?? 0.0002, hover: b.hover ?? 0.001, perMps: b.perMps ?? 0.00005 };
    this.#failsafe = options.failsafeRemaining ?? 0.05;
    this.battery = new SimBattery({
      id: `${options.id}.battery`,
      clock: options.clock,
      ...(options.random ? { random: options.random } : {}),
      ...(b.remaining !== undefined ? { remaining: b.remaining } : {}),
      ...(b.capacityAh !== undefined ? { capacityAh: b.capacityAh } : {}),
      ...(b.voltageNoise !== undefined ? { voltageNoise: b.voltageNoise } : {}),
      drainPerSecond: this.#drain.idle,
    });
  }

  // --- Autopilot ---------------------------------------------------------------------------

  position(): Position | undefined {
    if (this.status.state === 'available') this.#lastFix = this.#fix();
    return this.#lastFix; // while failed: the last fix received, stale
  }

  state(): AutopilotState {
    return { connected: this.status.state === 'available', armed: this.#armed, mode: this.#mode };
  }

  /** True (noise-free) local position in metres north/east/up of home, for tests and the simulator. */
  truePosition(): { n: number; e: number; u: number } {
    return { ...this.#pos };
  }

  get airborne(): boolean {
    return this.#pos.u > 0.1;
  }

  async arm(): Promise<void> {
    this.ensureAvailable();
    if (this.battery.remaining <= this.#failsafe) this.#deny('arm', 'battery below failsafe level');
    this.#armed = true;
    this.#update();
  }

  async disarm(): Promise<void> {
    this.ensureAvailable();
    if (this.airborne) this.#deny('disarm', 'vehicle is flying');
    this.#disarmNow();
  }

  async takeoff(altitude: number): Promise<void> {
    this.ensureAvailable();
    if (!(altitude > 0)) throw new DeviceError(this.id, 'invalid', `takeoff: altitude must be > 0 m, got ${altitude}`);
    if (this.#mode !== 'GUIDED') this.#deny('takeoff', `mode is ${this.#mode}, takeoff needs GUIDED`);
    if (!this.#armed) this.#deny('takeoff', 'not armed');
    if (this.airborne) this.#deny('takeoff', 'already flying');
    this.#speedLimit = this.#maxSpeed;
    this.#target = { n: this.#pos.n, e: this.#pos.e, u: altitude };
  }

  async goto(target: GeoPoint, options?: { readonly speed?: number }): Promise<void> {
    this.ensureAvailable();
    if (![target.lat, target.lon, target.alt].every(Number.isFinite)) throw new DeviceError(this.id, 'invalid', 'goto: lat, lon and alt must be finite numbers');
    if (options?.speed !== undefined && !(options.speed > 0)) throw new DeviceError(this.id, 'invalid', `goto: speed must be > 0 m/s, got ${options.speed}`);
    if (!this.#armed || !this.airborne) this.#deny('goto', 'not flying');
    this.#mode = 'GUIDED'; // like DO_REPOSITION with the change-mode flag
    this.#speedLimit = Math.min(this.#maxSpeed, options?.speed ?? this.#maxSpeed);
    this.#target = this.#toLocal(target);
  }

  async land(): Promise<void> {
    await this.setMode('LAND');
  }

  async returnToHome(): Promise<void> {
    await this.setMode('RTL');
  }

  async setMode(mode: string): Promise<void> {
    this.ensureAvailable();
    if (!(SIM_MODES as readonly string[]).includes(mode)) throw new DeviceError(this.id, 'invalid', `unknown mode "${mode}" (known: ${SIM_MODES.join(', ')})`);
    if (this.#failsafeTripped && mode !== 'LAND') this.#deny(`mode ${mode}`, 'battery failsafe: only LAND allowed');
    this.#enterMode(mode);
  }

  // --- lifecycle -----------------------------------------------------------------------------

  protected override onOpen(): void {
    void this.battery.open();
    this.#tick = this.clock.every(this.#tickMs, () => this.#step(this.#tickMs / 1000));
  }

  protected override onClose(): void {
    this.#tick?.();
    this.#tick = undefined;
    void this.battery.close();
  }

  // --- physics -------------------------------------------------------------------------------

  #enterMode(mode: string): void {
    this.#mode = mode;
    if (mode === 'RTL') this.#rtlStage = 'climb';
    if (mode === 'GUIDED' || mode === 'LOITER') this.#target = { ...this.#pos };
    this.#speedLimit = this.#maxSpeed;
  }

  #step(dt: number): void {
    if (!this.#failsafeTripped && this.battery.remaining <= this.#failsafe && this.#armed) {
      this.#failsafeTripped = true;
      if (this.airborne) this.#enterMode('LAND');
    }
    if (this.#armed) {
      const goal = this.#goal();
      if (goal) this.#moveToward(goal, dt);
      if (this.#mode === 'LAND' && this.#pos.u <= 0) this.#disarmNow();
      if (this.#mode === 'RTL' && this.#rtlStage === 'descend' && this.#pos.u <= 0) this.#disarmNow();
    }
    this.#update();
  }

  #goal(): Vec | undefined {
    const p = this.#pos;
    switch (this.#mode) {
      case 'LAND':
        this.#speedLimit = this.#landSpeed;
        return { n: p.n, e: p.e, u: 0 };
      case 'RTL': {
        if (this.#rtlStage === 'climb') {
          const alt = Math.max(this.#rtlAlt, p.u);
          if (Math.abs(p.u - alt) < 0.1 && !this.#wantsMoving()) this.#rtlStage = 'return';
          return { n: p.n, e: p.e, u: alt };
        }
        if (this.#rtlStage === 'return') {
          const t = { n: 0, e: 0, u: p.u };
          if (Math.hypot(p.n, p.e) < 0.5 && Math.hypot(this.#vel.n, this.#vel.e) < 0.2) this.#rtlStage = 'descend';
          return t;
        }
        this.#speedLimit = this.#landSpeed;
        return { n: 0, e: 0, u: 0 };
      }
      default:
        return this.#target;
    }
  }

  #wantsMoving(): boolean {
    return Math.hypot(this.#vel.n, this.#vel.e, this.#vel.u) > 0.2;
  }

  #moveToward(goal: Vec, dt: number): void {
    const p = this.#pos;
    const v = this.#vel;
    const d = { n: goal.n - p.n, e: goal.e - p.e, u: goal.u - p.u };
    const dist = Math.hypot(d.n, d.e, d.u);
    // Brake so as to stop at the goal (√(2ad)); in the last metre or so a proportional term
    // (gain 2/s) takes over, which converges instead of oscillating around the goal.
    const speed = Math.min(this.#speedLimit, Math.sqrt(2 * this.#maxAccel * dist), 2 * dist);
    const want = dist > 1e-9 ? { n: (d.n / dist) * speed, e: (d.e / dist) * speed, u: (d.u / dist) * speed } : { n: 0, e: 0, u: 0 };
    want.u = Math.max(-this.#maxClimb, Math.min(this.#maxClimb, want.u));
    const dv = { n: want.n - v.n, e: want.e - v.e, u: want.u - v.u };
    const dvMag = Math.hypot(dv.n, dv.e, dv.u);
    const maxDv = this.#maxAccel * dt;
    const k = dvMag > maxDv ? maxDv / dvMag : 1;
    v.n += dv.n * k;
    v.e += dv.e * k;
    v.u += dv.u * k;
    p.n += v.n * dt;
    p.e += v.e * dt;
    p.u += v.u * dt;
    // Arrived: snap, so the vehicle holds still instead of creeping forever.
    if (Math.hypot(goal.n - p.n, goal.e - p.e, goal.u - p.u) < 0.01 && Math.hypot(v.n, v.e, v.u) < 0.1) {
      this.#pos = { ...goal };
      this.#vel = { n: 0, e: 0, u: 0 };
    }
    if (this.#pos.u <= 0) {
      this.#pos.u = 0;
      if (this.#vel.u < 0) this.#vel.u = 0;
    }
  }

  #disarmNow(): void {
    this.#armed = false;
    this.#target = undefined;
    this.#vel = { n: 0, e: 0, u: 0 };
    this.#update();
  }

  /** Sets the battery drain for the current activity. */
  #update(): void {
    const speed = Math.hypot(this.#vel.n, this.#vel.e, this.#vel.u);
    const d = this.#drain;
    this.battery.setDrain(!this.#armed ? d.idle : this.airborne || this.#target ? d.hover + d.perMps * speed : d.armed);
  }

  #deny(what: string, why: string): never {
    throw new DeviceError(this.id, 'denied', `${what} denied (DENIED): ${why}`);
  }

  #toLocal(g: GeoPoint): Vec {
    return {
      n: (g.lat - this.#home.lat) * RAD * EARTH_RADIUS,
      e: (g.lon - this.#home.lon) * RAD * EARTH_RADIUS * Math.cos(this.#home.lat * RAD),
      u: g.alt,
    };
  }

  #fix(): Position {
    const r = this.random;
    const s = this.#noise;
    const n = this.#pos.n + (r ? gaussian(r, s) : 0);
    const e = this.#pos.e + (r ? gaussian(r, s) : 0);
    const u = this.#pos.u + (r ? gaussian(r, s) : 0);
    return {
      lat: this.#home.lat + n / EARTH_RADIUS / RAD,
      lon: this.#home.lon + e / (EARTH_RADIUS * Math.cos(this.#home.lat * RAD)) / RAD,
      alt: u,
      vn: this.#vel.n,
      ve: this.#vel.e,
      vd: -this.#vel.u,
      at: this.clock.now(),
    };
  }
}

/** Local offset in metres (north, east) from a to b, equirectangular; good to well under 1 % over a few km. */
export function offsetMetres(a: { lat: number; lon: number }, b: { lat: number; lon: number }): { n: number; e: number } {
  return { n: (b.lat - a.lat) * RAD * EARTH_RADIUS, e: (b.lon - a.lon) * RAD * EARTH_RADIUS * Math.cos(a.lat * RAD) };
}

/** The point n metres north and e metres east of origin. */
export function movePoint(origin: { lat: number; lon: number }, n: number, e: number): { lat: number; lon: number } {
  return { lat: origin.lat + n / EARTH_RADIUS / RAD, lon: origin.lon + e / (EARTH_RADIUS * Math.cos(origin.lat * RAD)) / RAD };
}
