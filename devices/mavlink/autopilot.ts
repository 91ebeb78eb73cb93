// A MAVLink autopilot (ArduPilot first; PX4 where the same commands apply) over UDP or a serial
// port (link.ts), using node-mavlink for framing. See devices/README.md for the choice of commands.
import { common, minimal, MavLinkPacketParser, MavLinkPacketSplitter, MavLinkProtocolV2 } from 'node-mavlink';
import type { MavLinkData, MavLinkPacket, MavLinkPacketRegistry } from 'node-mavlink';
import { realTimeClock } from '../clock.ts';
import type { DeviceClock } from '../clock.ts';
import { AVAILABLE, DeviceError, NOT_OPENED } from '../types.ts';
import type { Autopilot, AutopilotState, Battery, BatteryReading, Cancel, DeviceStatus, GeoPoint, Position, WatchOptions } from '../types.ts';
import { openSerialLink, openUdpLink, serialWhere, udpWhere } from './link.ts';
import type { MavlinkLink, SerialPortFactory } from './link.ts';

/** ArduCopter custom_mode numbers (ArduCopter/mode.h). */
export const ARDUCOPTER_MODES: Readonly<Record<string, number>> = {
  STABILIZE: 0, ACRO: 1, ALT_HOLD: 2, AUTO: 3, GUIDED: 4, LOITER: 5, RTL: 6, CIRCLE: 7, LAND: 9,
  DRIFT: 11, SPORT: 13, FLIP: 14, AUTOTUNE: 15, POSHOLD: 16, BRAKE: 17, THROW: 18, AVOID_ADSB: 19,
  GUIDED_NOGPS: 20, SMART_RTL: 21, FLOWHOLD: 22, FOLLOW: 23, ZIGZAG: 24, SYSTEMID: 25, AUTOROTATE: 26, AUTO_RTL: 27,
};

export interface MavlinkAutopilotOptions {
  readonly id: string;
  /** Timers for heartbeat supervision and command timeouts; default the wall clock. */
  readonly clock?: DeviceClock;
  /** Local UDP endpoint; default 0.0.0.0:14550 (where ArduPilot/SITL `--out udp:HOST:14550` sends). */
  readonly bind?: { readonly port: number; readonly address?: string };
  /** Where to send; default: the address the autopilot's first heartbeat came from. Set it for a vehicle listening with `udpin`. */
  readonly remote?: { readonly host: string; readonly port: number };
  /**
   * A serial link instead of UDP (bind/remote are then ignored): e.g. `{ path: '/dev/ttyACM0', baudRate: 115200 }`
   * for USB to the flight controller, `/dev/ttyUSB0` at 57600 for a SiK radio. `portFactory` is for tests.
   */
  readonly serial?: { readonly path: string; readonly baudRate: number; readonly portFactory?: SerialPortFactory };
  /** The vehicle's system id; default the first autopilot heartbeat seen. Component default 1. */
  readonly targetSystem?: number;
  readonly targetComponent?: number;
  /** Our own ids; defaults 255 and 190 (MAV_COMP_ID_MISSIONPLANNER), what a GCS uses. */
  readonly systemId?: number;
  readonly componentId?: number;
  readonly openTimeoutMs?: number; // first heartbeat, default 5000
  readonly heartbeatTimeoutMs?: number; // link considered lost, default 3000
  readonly commandTimeoutMs?: number; // per attempt, default 1500
  readonly commandAttempts?: number; // default 3
  /** Mode name → custom_mode; default ARDUCOPTER_MODES. */
  readonly modes?: Readonly<Record<string, number>>;
}

const REGISTRY: MavLinkPacketRegistry = {
  [minimal.Heartbeat.MSG_ID]: minimal.Heartbeat,
  [common.CommandAck.MSG_ID]: common.CommandAck,
  [common.GlobalPositionInt.MSG_ID]: common.GlobalPositionInt,
  [common.SysStatus.MSG_ID]: common.SysStatus,
  [common.BatteryStatus.MSG_ID]: common.BatteryStatus,
};

const MAV_TYPE_GCS = 6;
const MAV_AUTOPILOT_INVALID = 8;
const MAV_MODE_FLAG_SAFETY_ARMED = 128;
const MAV_MODE_FLAG_CUSTOM_MODE_ENABLED = 1;
const MAV_FRAME_GLOBAL_RELATIVE_ALT = 3;
const MAV_DO_REPOSITION_FLAGS_CHANGE_MODE = 1;
const MAV_RESULT_ACCEPTED = 0;
const MAV_RESULT_IN_PROGRESS = 5;

/** 'MAV_RESULT_DENIED' for 2, etc. */
export function mavResultName(result: number): string {
  const name = (common.MavResult as unknown as Record<number, string>)[result];
  return name ? `MAV_RESULT_${name}` : `MAV_RESULT(${result})`;
}

export function mavCmdName(cmd: number): string {
  const name = (common.MavCmd as unknown as Record<number, string>)[cmd];
  return name ? `MAV_CMD_${name}` : `MAV_CMD(${cmd})`;
}

type Params = [number, number, number, number, number, number, number];

interface Pending {
  command: number;
  onAck(result: number): void;
}

export class MavlinkAutopilot implements Autopilot {
  readonly kind = 'autopilot' as const;
  readonly id: string;
  readonly battery: MavlinkBattery;
  readonly #clock: DeviceClock;
  readonly #opts: MavlinkAutopilotOptions;
  readonly #modes: Readonly<Record<string, number>>;
  readonly #protocol: MavLinkProtocolV2;
  #status: DeviceStatus = NOT_OPENED;
  #link: MavlinkLink | undefined;
  #opening = false;
  #target: number | undefined;
  #seq = 0;
  #connected = false;
  #armed = false;
  #mode = 'UNKNOWN';
  #position: Position | undefined;
  #battery: { remaining: number; voltage: number; current: number } | undefined;
  #timers: Cancel[] = [];
  #heartbeatWatchdog: Cancel | undefined;
  #onFirstHeartbeat: (() => void) | undefined;
  #pending: Pending | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: MavlinkAutopilotOptions) {
    this.id = options.id;
    this.#opts = options;
    this.#clock = options.clock ?? realTimeClock();
    this.#modes = options.modes ?? ARDUCOPTER_MODES;
    this.#protocol = new MavLinkProtocolV2(options.systemId ?? 255, options.componentId ?? 190);
    this.#target = options.targetSystem;
    this.battery = new MavlinkBattery(this, this.#clock, () => this.#battery);
  }

  get status(): DeviceStatus {
    return this.#status;
  }

  /** The bound local UDP port (UDP link, once open), e.g. for a peer to send to. */
  get localPort(): number | undefined {
    return this.#link?.localPort?.();
  }

  async open(): Promise<void> {
    if (this.#link || this.#opening) return;
    this.#opening = true;
    try {
      await this.#open();
    } finally {
      this.#opening = false;
    }
  }

  async #open(): Promise<void> {
    const serial = this.#opts.serial;
    const bind = this.#opts.bind ?? { port: 14550 };
    const where = serial ? serialWhere(serial) : udpWhere(bind);
    const splitter = new MavLinkPacketSplitter();
    const parser = new MavLinkPacketParser();
    splitter.pipe(parser);
    parser.on('data', (p: MavLinkPacket) => this.#onPacket(p));
    const handlers = { onData: (b: Buffer) => splitter.write(b), onError: (m: string) => this.#markUnavailable(m) };
    try {
      this.#link = serial
        ? await openSerialLink(serial, handlers)
        : await openUdpLink({ bind, ...(this.#opts.remote ? { remote: this.#opts.remote } : {}) }, handlers);
    } catch (e) {
      this.#teardown();
      const hint = serial
        ? '; fix: check the path (ls /dev/serial/by-id), that no other program (a GCS, ModemManager) holds the port, and permissions (add the user to the dialout group)'
        : '';
      const reason = `cannot open MAVLink on ${where}: ${(e as Error).message}`;
      this.#status = { state: 'unavailable', reason };
      throw new DeviceError(this.id, 'open-failed', reason + hint, { cause: e });
    }
    this.#timers.push(this.#clock.every(1000, () => this.#sendHeartbeat()));
    this.#sendHeartbeat();
    const timeoutMs = this.#opts.openTimeoutMs ?? 5000;
    try {
      await new Promise<void>((resolve, reject) => {
        const cancel = this.#clock.after(timeoutMs, () => {
          this.#onFirstHeartbeat = undefined;
          reject(new Error(`no heartbeat from an autopilot${this.#target !== undefined ? ` (system ${this.#target})` : ''} on ${where} within ${timeoutMs} ms`));
        });
        this.#onFirstHeartbeat = () => {
          cancel();
          this.#onFirstHeartbeat = undefined;
          resolve();
        };
      });
    } catch (e) {
      this.#teardown();
      const reason = (e as Error).message;
      this.#status = { state: 'unavailable', reason };
      throw new DeviceError(this.id, 'open-failed', `cannot open: ${reason}`);
    }
  }

  async close(): Promise<void> {
    if (!this.#link) return;
    this.#teardown();
    this.#status = { state: 'unavailable', reason: 'closed' };
  }

  position(): Position | undefined {
    return this.#position;
  }

  state(): AutopilotState {
    return { connected: this.#connected, armed: this.#armed, mode: this.#mode };
  }

  arm(): Promise<void> {
    return this.#commandLong(common.MavCmd.COMPONENT_ARM_DISARM, [1, 0, 0, 0, 0, 0, 0]);
  }

  disarm(): Promise<void> {
    return this.#commandLong(common.MavCmd.COMPONENT_ARM_DISARM, [0, 0, 0, 0, 0, 0, 0]);
  }

  takeoff(altitude: number): Promise<void> {
    if (!(altitude > 0)) return Promise.reject(new DeviceError(this.id, 'invalid', `takeoff: altitude must be > 0 m, got ${altitude}`));
    return this.#commandLong(common.MavCmd.NAV_TAKEOFF, [0, 0, 0, Number.NaN, 0, 0, altitude]);
  }

  goto(target: GeoPoint, options?: { readonly speed?: number }): Promise<void> {
    if (![target.lat, target.lon, target.alt].every(Number.isFinite) || Math.abs(target.lat) > 90 || Math.abs(target.lon) > 180)
      return Promise.reject(new DeviceError(this.id, 'invalid', `goto: invalid target ${JSON.stringify(target)}`));
    const speed = options?.speed ?? -1; // -1: the vehicle's default speed
    return this.#command(common.MavCmd.DO_REPOSITION, [speed, MAV_DO_REPOSITION_FLAGS_CHANGE_MODE, 0, Number.NaN, target.lat, target.lon, target.alt], true);
  }

  land(): Promise<void> {
    return this.#commandLong(common.MavCmd.NAV_LAND, [0, 0, 0, Number.NaN, 0, 0, 0]);
  }

  returnToHome(): Promise<void> {
    return this.#commandLong(common.MavCmd.NAV_RETURN_TO_LAUNCH, [0, 0, 0, 0, 0, 0, 0]);
  }

  setMode(mode: string): Promise<void> {
    const custom = this.#modes[mode];
    if (custom === undefined) return Promise.reject(new DeviceError(this.id, 'invalid', `unknown mode "${mode}" (known: ${Object.keys(this.#modes).join(', ')})`));
    return this.#commandLong(common.MavCmd.DO_SET_MODE, [MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, custom, 0, 0, 0, 0, 0]);
  }

  // --- commands ------------------------------------------------------------------------------

  #commandLong(command: number, params: Params): Promise<void> {
    return this.#command(command, params, false);
  }

  /** Queued: one command in flight at a time, so an ACK is never matched to the wrong call. */
  #command(command: number, params: Params, asInt: boolean): Promise<void> {
    const run = this.#queue.then(() => this.#runCommand(command, params, asInt));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #runCommand(command: number, params: Params, asInt: boolean): Promise<void> {
    const name = mavCmdName(command);
    if (this.#status.state !== 'available') throw new DeviceError(this.id, 'unavailable', `${name}: unavailable: ${this.#status.reason}`);
    const timeoutMs = this.#opts.commandTimeoutMs ?? 1500;
    const attempts = this.#opts.commandAttempts ?? 3;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const result = await new Promise<number | 'timeout'>((resolve) => {
        let cancel = this.#clock.after(timeoutMs, () => done('timeout'));
        const done = (r: number | 'timeout') => {
          cancel();
          if (this.#pending === pending) this.#pending = undefined;
          resolve(r);
        };
        const pending: Pending = {
          command,
          onAck: (r) => {
            if (r === MAV_RESULT_IN_PROGRESS) {
              cancel(); // the vehicle is working on it: wait another full timeout
              cancel = this.#clock.after(timeoutMs, () => done('timeout'));
              return;
            }
            done(r);
          },
        };
        this.#pending = pending;
        this.#send(asInt ? this.#buildInt(command, params) : this.#buildLong(command, params, attempt)).catch(() => undefined);
      });
      if (result === 'timeout') continue;
      if (result === MAV_RESULT_ACCEPTED) return;
      throw new DeviceError(this.id, 'denied', `${name} denied: ${mavResultName(result)}`);
    }
    throw new DeviceError(this.id, 'timeout', `${name}: no COMMAND_ACK after ${attempts} attempt(s) of ${timeoutMs} ms`);
  }

  #buildLong(command: number, p: Params, confirmation: number): MavLinkData {
    const m = new common.CommandLong();
    m.targetSystem = this.#target ?? 1;
    m.targetComponent = this.#opts.targetComponent ?? 1;
    m.command = command;
    m.confirmation = confirmation;
    [m._param1, m._param2, m._param3, m._param4, m._param5, m._param6, m._param7] = p;
    return m;
  }

  /** COMMAND_INT: x/y carry lat/lon as degrees × 1e7, exact where COMMAND_LONG's float32 loses ~1 m. */
  #buildInt(command: number, p: Params): MavLinkData {
    const m = new common.CommandInt();
    m.targetSystem = this.#target ?? 1;
    m.targetComponent = this.#opts.targetComponent ?? 1;
    m.frame = MAV_FRAME_GLOBAL_RELATIVE_ALT;
    m.command = command;
    m.current = 0;
    m.autocontinue = 0;
    [m._param1, m._param2, m._param3, m._param4] = [p[0], p[1], p[2], p[3]];
    m._param5 = Math.round(p[4] * 1e7);
    m._param6 = Math.round(p[5] * 1e7);
    m._param7 = p[6];
    return m;
  }

  // --- link ----------------------------------------------------------------------------------

  #send(msg: MavLinkData): Promise<void> {
    const link = this.#link;
    if (!link) return Promise.resolve();
    const buf = this.#protocol.serialize(msg, this.#seq);
    this.#seq = (this.#seq + 1) & 255;
    return link.send(buf);
  }

  #sendHeartbeat(): void {
    const h = new minimal.Heartbeat();
    h.type = MAV_TYPE_GCS;
    h.autopilot = MAV_AUTOPILOT_INVALID;
    h.baseMode = 0 as typeof h.baseMode;
    h.customMode = 0;
    h.systemStatus = 4; // MAV_STATE_ACTIVE
    h.mavlinkVersion = 3;
    this.#send(h).catch(() => undefined);
  }

  #onPacket(packet: MavLinkPacket): void {
    const clazz = REGISTRY[packet.header.msgid];
    if (!clazz) return;
    const sys = packet.header.sysid;
    const msg = packet.protocol.data(packet.payload, clazz);
    if (msg instanceof minimal.Heartbeat) {
      if (msg.type === MAV_TYPE_GCS || msg.autopilot === MAV_AUTOPILOT_INVALID) return;
      if (this.#target === undefined) this.#target = sys;
      if (sys !== this.#target) return;
      this.#onHeartbeat(msg);
      return;
    }
    if (this.#target === undefined || sys !== this.#target) return;
    if (msg instanceof common.CommandAck) {
      const p = this.#pending;
      if (p && msg.command === p.command) p.onAck(msg.result);
    } else if (msg instanceof common.GlobalPositionInt) {
      this.#position = {
        lat: msg.lat / 1e7,
        lon: msg.lon / 1e7,
        alt: msg.relativeAlt / 1000,
        vn: msg.vx / 100,
        ve: msg.vy / 100,
        vd: msg.vz / 100,
        at: this.#clock.now(),
      };
    } else if (msg instanceof common.SysStatus) {
      this.#battery = {
        remaining: msg.batteryRemaining < 0 ? Number.NaN : msg.batteryRemaining / 100,
        voltage: msg.voltageBattery === 0xffff ? Number.NaN : msg.voltageBattery / 1000,
        current: msg.currentBattery < 0 ? Number.NaN : msg.currentBattery / 100,
      };
    } else if (msg instanceof common.BatteryStatus) {
      if (msg.id !== 0) return;
      const cells = msg.voltages.filter((v) => v !== 0xffff);
      this.#battery = {
        remaining: msg.batteryRemaining < 0 ? Number.NaN : msg.batteryRemaining / 100,
        voltage: cells.length ? cells.reduce((a, b) => a + b, 0) / 1000 : (this.#battery?.voltage ?? Number.NaN),
        current: msg.currentBattery < 0 ? Number.NaN : msg.currentBattery / 100,
      };
    }
  }

  #onHeartbeat(h: InstanceType<typeof minimal.Heartbeat>): void {
    this.#armed = (h.baseMode & MAV_MODE_FLAG_SAFETY_ARMED) !== 0;
    this.#mode = Object.keys(this.#modes).find((k) => this.#modes[k] === h.customMode) ?? `CUSTOM(${h.customMode})`;
    this.#connected = true;
    this.#status = AVAILABLE;
    this.#heartbeatWatchdog?.();
    const timeoutMs = this.#opts.heartbeatTimeoutMs ?? 3000;
    this.#heartbeatWatchdog = this.#clock.after(timeoutMs, () => this.#markUnavailable(`no heartbeat for ${timeoutMs} ms`));
    this.#onFirstHeartbeat?.();
  }

  #markUnavailable(reason: string): void {
    this.#connected = false;
    this.#status = { state: 'unavailable', reason };
  }

  #teardown(): void {
    for (const c of this.#timers) c();
    this.#timers = [];
    this.#heartbeatWatchdog?.();
    this.#heartbeatWatchdog = undefined;
    this.#connected = false;
    const link = this.#link;
    this.#link = undefined;
    link?.close();
  }
}

/** The vehicle's battery as reported by SYS_STATUS / BATTERY_STATUS (id 0). */
export class MavlinkBattery implements Battery {
  readonly kind = 'battery' as const;
  readonly id: string;
  readonly #vehicle: MavlinkAutopilot;
  readonly #clock: DeviceClock;
  readonly #latest: () => BatteryReading | undefined;

  constructor(vehicle: MavlinkAutopilot, clock: DeviceClock, latest: () => BatteryReading | undefined) {
    this.id = `${vehicle.id}.battery`;
    this.#vehicle = vehicle;
    this.#clock = clock;
    this.#latest = latest;
  }

  get status(): DeviceStatus {
    const s = this.#vehicle.status;
    if (s.state === 'available' && !this.#latest()) return { state: 'unavailable', reason: 'no battery report yet' };
    return s;
  }

  open(): Promise<void> {
    return this.#vehicle.open();
  }

  close(): Promise<void> {
    return Promise.resolve(); // owned by the vehicle
  }

  async read(): Promise<BatteryReading> {
    const s = this.status;
    if (s.state === 'unavailable') throw new DeviceError(this.id, 'unavailable', `unavailable: ${s.reason}`);
    return this.#latest()!;
  }

  watch(fn: (value: BatteryReading) => void, options?: WatchOptions): Cancel {
    return this.#clock.every(options?.intervalMs ?? 1000, () => {
      const r = this.#latest();
      if (r && this.#vehicle.status.state === 'available') fn(r);
    });
  }
}
