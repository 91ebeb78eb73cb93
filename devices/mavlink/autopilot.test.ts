// The MAVLink driver against a small MAVLink vehicle written here, over UDP on 127.0.0.1 and over
// a mock serial port (@serialport/binding-mock).
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { common, minimal, MavLinkPacketParser, MavLinkPacketSplitter, MavLinkProtocolV2 } from 'node-mavlink';
import type { MavLinkData, MavLinkPacket } from 'node-mavlink';
import { SerialPortMock } from 'serialport';
import { MavlinkAutopilot, mavResultName } from './autopilot.ts';
import type { MavlinkAutopilotOptions } from './autopilot.ts';
import { DeviceError } from '../types.ts';

type Reply = number | 'drop';

/**
 * A vehicle: heartbeats, position and battery every 50 ms once it can reach the GCS; answers
 * commands. The byte transport is the subclass's: transmit() out, receive() in.
 */
abstract class Vehicle {
  readonly longs: InstanceType<typeof common.CommandLong>[] = [];
  readonly ints: InstanceType<typeof common.CommandInt>[] = [];
  reply: (command: number, attempt: number) => Reply = () => 0;
  heartbeats = true;
  armed = false;
  customMode = 4;
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  #proto = new MavLinkProtocolV2(1, 1);
  #splitter = new MavLinkPacketSplitter();

  constructor() {
    const parser = new MavLinkPacketParser();
    this.#splitter.pipe(parser);
    parser.on('data', (p: MavLinkPacket) => this.#onPacket(p));
  }

  protected abstract transmit(bytes: Buffer): void;

  /** Bytes from the GCS. */
  protected receive(bytes: Buffer): void {
    this.#splitter.write(bytes);
  }

  protected startTicking(): void {
    this.#timer = setInterval(() => this.#tick(), 50);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  send(msg: MavLinkData): void {
    this.transmit(this.#proto.serialize(msg, this.#seq++ & 255));
  }

  #tick(): void {
    if (!this.heartbeats) return;
    const h = new minimal.Heartbeat();
    h.type = 2; // MAV_TYPE_QUADROTOR
    h.autopilot = 3; // MAV_AUTOPILOT_ARDUPILOTMEGA
    h.baseMode = (1 | (this.armed ? 128 : 0)) as typeof h.baseMode;
    h.customMode = this.customMode;
    h.systemStatus = 4;
    h.mavlinkVersion = 3;
    this.send(h);
    const g = new common.GlobalPositionInt();
    g.timeBootMs = 0;
    g.lat = 473977420;
    g.lon = 85455940;
    g.alt = 500_000;
    g.relativeAlt = 12_500;
    g.vx = 150;
    g.vy = -20;
    g.vz = 10;
    g.hdg = 0;
    this.send(g);
    const s = new common.SysStatus();
    s.onboardControlSensorsPresent = 0 as typeof s.onboardControlSensorsPresent;
    s.onboardControlSensorsEnabled = 0 as typeof s.onboardControlSensorsEnabled;
    s.onboardControlSensorsHealth = 0 as typeof s.onboardControlSensorsHealth;
    s.load = 0;
    s.voltageBattery = 12_340;
    s.currentBattery = 1_520;
    s.batteryRemaining = 87;
    s.dropRateComm = 0;
    s.errorsComm = 0;
    s.errorsCount1 = s.errorsCount2 = s.errorsCount3 = s.errorsCount4 = 0;
    this.send(s);
  }

  #onPacket(p: MavLinkPacket): void {
    let command: number;
    let attempt: number;
    if (p.header.msgid === common.CommandLong.MSG_ID) {
      const c = p.protocol.data(p.payload, common.CommandLong);
      this.longs.push(c);
      command = c.command;
      attempt = c.confirmation;
      if (command === common.MavCmd.COMPONENT_ARM_DISARM) {
        const r = this.reply(command, attempt);
        if (r === 0) this.armed = c._param1 === 1;
        this.#ack(command, r);
        return;
      }
      if (command === common.MavCmd.DO_SET_MODE && this.reply(command, attempt) === 0) this.customMode = c._param2;
    } else if (p.header.msgid === common.CommandInt.MSG_ID) {
      const c = p.protocol.data(p.payload, common.CommandInt);
      this.ints.push(c);
      command = c.command;
      attempt = this.ints.filter((x) => x.command === command).length - 1;
    } else return;
    this.#ack(command, this.reply(command, attempt));
  }

  #ack(command: number, r: Reply): void {
    if (r === 'drop') return;
    const a = new common.CommandAck();
    a.command = command;
    a.result = r;
    a.progress = 0;
    a.resultParam2 = 0;
    a.targetSystem = 255;
    a.targetComponent = 190;
    this.send(a);
  }
}

/** The vehicle on UDP: it talks to whoever sent it the last datagram, like SITL with `udpin`. */
class Peer extends Vehicle {
  readonly socket: Socket = createSocket('udp4');
  #gcs: { address: string; port: number } | undefined;

  async start(): Promise<number> {
    this.socket.on('message', (buf, rinfo) => {
      this.#gcs = { address: rinfo.address, port: rinfo.port };
      this.receive(buf);
    });
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', r));
    this.startTicking();
    return this.socket.address().port;
  }

  override stop(): void {
    super.stop();
    this.socket.close();
  }

  protected transmit(bytes: Buffer): void {
    if (this.#gcs) this.socket.send(bytes, this.#gcs.port, this.#gcs.address);
  }
}

/**
 * The vehicle on the far side of a mock serial port: what the GCS writes reaches receive(); what
 * the vehicle transmits is emitted as data the GCS reads. Attach once the driver has opened the port.
 */
type MockPort = NonNullable<SerialPortMock['port']>; // @serialport/binding-mock's MockPortBinding

class SerialPeer extends Vehicle {
  #port: MockPort | undefined;

  attach(port: MockPort): void {
    this.#port = port;
    const write = port.write.bind(port);
    port.write = async (buffer: Buffer) => {
      await write(buffer);
      this.receive(Buffer.from(buffer));
    };
    this.startTicking();
  }

  protected transmit(bytes: Buffer): void {
    if (this.#port?.isOpen) this.#port.emitData(bytes);
  }
}

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function connected(options: Partial<MavlinkAutopilotOptions> = {}): Promise<{ peer: Peer; ap: MavlinkAutopilot }> {
  const peer = new Peer();
  const port = await peer.start();
  cleanup.push(() => peer.stop());
  const ap = new MavlinkAutopilot({ id: 'drone-1', bind: { port: 0, address: '127.0.0.1' }, remote: { host: '127.0.0.1', port }, openTimeoutMs: 5000, commandTimeoutMs: 1000, ...options });
  cleanup.push(() => ap.close());
  await ap.open();
  return { peer, ap };
}

test('connects on heartbeat and reports mode, armed, position and battery', async () => {
  const { ap } = await connected();
  assert.deepEqual(ap.status, { state: 'available' });
  assert.deepEqual(ap.state(), { connected: true, armed: false, mode: 'GUIDED' });
  await waitFor(() => ap.position() !== undefined && ap.battery.status.state === 'available', 'position and battery');
  const p = ap.position()!;
  assert.equal(p.lat, 47.397742);
  assert.equal(p.lon, 8.545594);
  assert.equal(p.alt, 12.5);
  assert.deepEqual([p.vn, p.ve, p.vd], [1.5, -0.2, 0.1]);
  const b = await ap.battery.read();
  assert.deepEqual(b, { remaining: 0.87, voltage: 12.34, current: 15.2 });
});

test('arm is acknowledged, and the next heartbeat shows the vehicle armed', async () => {
  const { peer, ap } = await connected();
  await ap.arm();
  assert.equal(peer.longs.at(-1)!.command, common.MavCmd.COMPONENT_ARM_DISARM);
  assert.equal(peer.longs.at(-1)!._param1, 1);
  await waitFor(() => ap.state().armed, 'armed heartbeat');
  await ap.disarm();
  await waitFor(() => !ap.state().armed, 'disarmed heartbeat');
});

test('a denied command fails with the MAV_RESULT name', async () => {
  const { peer, ap } = await connected();
  peer.reply = (cmd) => (cmd === common.MavCmd.NAV_TAKEOFF ? 2 : 0);
  await assert.rejects(ap.takeoff(10), (e: unknown) => {
    assert.ok(e instanceof DeviceError);
    assert.equal(e.code, 'denied');
    assert.match(e.message, /drone-1.*MAV_CMD_NAV_TAKEOFF denied: MAV_RESULT_DENIED/);
    return true;
  });
  assert.equal(peer.longs.at(-1)!._param7, 10);
  assert.equal(mavResultName(4), 'MAV_RESULT_FAILED');
});

test('a lost COMMAND_ACK is retried with an incremented confirmation', async () => {
  const { peer, ap } = await connected({ commandTimeoutMs: 300 });
  peer.reply = (_cmd, attempt) => (attempt === 0 ? 'drop' : 0);
  await ap.returnToHome();
  const rtl = peer.longs.filter((c) => c.command === common.MavCmd.NAV_RETURN_TO_LAUNCH);
  assert.deepEqual(rtl.map((c) => c.confirmation), [0, 1]);
});

test('no COMMAND_ACK at all: a timeout error after the configured attempts', async () => {
  const { peer, ap } = await connected({ commandTimeoutMs: 150, commandAttempts: 3 });
  peer.reply = () => 'drop';
  await assert.rejects(ap.land(), (e: unknown) => {
    assert.ok(e instanceof DeviceError);
    assert.equal(e.code, 'timeout');
    assert.match(e.message, /drone-1.*MAV_CMD_NAV_LAND: no COMMAND_ACK after 3 attempt\(s\) of 150 ms/);
    return true;
  });
  assert.equal(peer.longs.filter((c) => c.command === common.MavCmd.NAV_LAND).length, 3);
});

test('goto sends DO_REPOSITION as COMMAND_INT with exact coordinates and the change-mode flag', async () => {
  const { peer, ap } = await connected();
  await ap.goto({ lat: 47.3980123, lon: 8.5461234, alt: 20 }, { speed: 5 });
  const c = peer.ints.at(-1)!;
  assert.equal(c.command, common.MavCmd.DO_REPOSITION);
  assert.equal(c.frame, 3); // MAV_FRAME_GLOBAL_RELATIVE_ALT
  assert.deepEqual([c._param5, c._param6, c._param7], [473980123, 85461234, 20]);
  assert.deepEqual([c._param1, c._param2], [5, 1]);
  await assert.rejects(ap.goto({ lat: 91, lon: 0, alt: 1 }), /invalid target/);
});

test('setMode sends DO_SET_MODE with the ArduCopter custom mode; unknown modes are refused', async () => {
  const { peer, ap } = await connected();
  await ap.setMode('RTL');
  const c = peer.longs.at(-1)!;
  assert.equal(c.command, common.MavCmd.DO_SET_MODE);
  assert.deepEqual([c._param1, c._param2], [1, 6]);
  await waitFor(() => ap.state().mode === 'RTL', 'RTL heartbeat');
  await assert.rejects(ap.setMode('WARP'), (e: unknown) => e instanceof DeviceError && e.code === 'invalid' && /unknown mode "WARP"/.test(e.message));
});

test('lost heartbeats mark the autopilot unavailable; commands then fail at once', async () => {
  const { peer, ap } = await connected({ heartbeatTimeoutMs: 300 });
  peer.heartbeats = false;
  await waitFor(() => ap.status.state === 'unavailable', 'link loss');
  assert.deepEqual(ap.status, { state: 'unavailable', reason: 'no heartbeat for 300 ms' });
  assert.equal(ap.state().connected, false);
  await assert.rejects(ap.arm(), (e: unknown) => e instanceof DeviceError && e.code === 'unavailable');
  peer.heartbeats = true;
  await waitFor(() => ap.status.state === 'available', 'link back');
});

test('open fails with the device and the cause: no heartbeat, or the port in use', async () => {
  const silent = createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
  cleanup.push(() => silent.close());
  const port = silent.address().port;
  const ap = new MavlinkAutopilot({ id: 'drone-2', bind: { port: 0, address: '127.0.0.1' }, remote: { host: '127.0.0.1', port }, openTimeoutMs: 200 });
  await assert.rejects(ap.open(), (e: unknown) => {
    assert.ok(e instanceof DeviceError);
    assert.equal(e.code, 'open-failed');
    assert.match(e.message, /^device "drone-2": cannot open: no heartbeat from an autopilot on udp 127\.0\.0\.1:0 within 200 ms/);
    return true;
  });
  assert.equal(ap.status.state, 'unavailable');

  const busy = new MavlinkAutopilot({ id: 'drone-3', bind: { port, address: '127.0.0.1' } });
  await assert.rejects(busy.open(), /^DeviceError: device "drone-3": cannot open MAVLink on udp 127\.0\.0\.1:\d+: bind EADDRINUSE/);
  assert.match((busy.status as { reason: string }).reason, /EADDRINUSE/);
});

/** A vehicle behind a mock serial port at path, and an autopilot configured to open it. */
async function serialConnected(options: Partial<MavlinkAutopilotOptions> = {}): Promise<{ peer: SerialPeer; ap: MavlinkAutopilot }> {
  const path = '/dev/ttyACM0';
  SerialPortMock.binding.createPort(path, { echo: false, record: false });
  cleanup.push(() => SerialPortMock.binding.reset());
  const peer = new SerialPeer();
  cleanup.push(() => peer.stop());
  const ap = new MavlinkAutopilot({
    id: 'drone-s',
    serial: {
      path,
      baudRate: 115200,
      portFactory: (o) => {
        const port = new SerialPortMock(o);
        port.on('open', () => peer.attach(port.port!)); // the vehicle answers as soon as the port is open
        return port;
      },
    },
    openTimeoutMs: 5000,
    commandTimeoutMs: 1000,
    ...options,
  });
  cleanup.push(() => ap.close());
  await ap.open();
  return { peer, ap };
}

test('serial: connects on heartbeat over a serial port, reads position and battery, commands are acknowledged', async () => {
  const { peer, ap } = await serialConnected();
  assert.deepEqual(ap.status, { state: 'available' });
  assert.deepEqual(ap.state(), { connected: true, armed: false, mode: 'GUIDED' });
  assert.equal(ap.localPort, undefined);
  await waitFor(() => ap.position() !== undefined && ap.battery.status.state === 'available', 'position and battery');
  assert.equal(ap.position()!.lat, 47.397742);
  assert.deepEqual(await ap.battery.read(), { remaining: 0.87, voltage: 12.34, current: 15.2 });
  await ap.arm();
  await waitFor(() => ap.state().armed, 'armed heartbeat');
  await ap.goto({ lat: 47.3980123, lon: 8.5461234, alt: 20 });
  assert.deepEqual([peer.ints.at(-1)!._param5, peer.ints.at(-1)!._param6], [473980123, 85461234]);
  peer.reply = (cmd) => (cmd === common.MavCmd.NAV_TAKEOFF ? 2 : 0);
  await assert.rejects(ap.takeoff(10), /drone-s.*MAV_CMD_NAV_TAKEOFF denied: MAV_RESULT_DENIED/);
  await ap.close();
  assert.deepEqual(ap.status, { state: 'unavailable', reason: 'closed' });
});

test('serial: a lost ACK is retried; a silent port times out; a missing port fails open with the fix', async () => {
  const { peer, ap } = await serialConnected({ commandTimeoutMs: 200 });
  peer.reply = (_cmd, attempt) => (attempt === 0 ? 'drop' : 0);
  await ap.land();
  assert.deepEqual(peer.longs.filter((c) => c.command === common.MavCmd.NAV_LAND).map((c) => c.confirmation), [0, 1]);

  SerialPortMock.binding.createPort('/dev/ttyUSB0');
  const silent = new MavlinkAutopilot({ id: 'drone-t', serial: { path: '/dev/ttyUSB0', baudRate: 57600, portFactory: (o) => new SerialPortMock(o) }, openTimeoutMs: 200 });
  await assert.rejects(silent.open(), /^DeviceError: device "drone-t": cannot open: no heartbeat from an autopilot on serial \/dev\/ttyUSB0 @ 57600 baud within 200 ms/);

  const missing = new MavlinkAutopilot({ id: 'drone-u', serial: { path: '/dev/ttyAMA9', baudRate: 57600, portFactory: (o) => new SerialPortMock(o) } });
  await assert.rejects(missing.open(), (e: unknown) => {
    assert.ok(e instanceof DeviceError);
    assert.equal(e.code, 'open-failed');
    assert.match(e.message, /^device "drone-u": cannot open MAVLink on serial \/dev\/ttyAMA9 @ 57600 baud: .*does not exist.*; fix: check the path \(ls \/dev\/serial\/by-id\).*dialout group/);
    return true;
  });
  assert.match((missing.status as { reason: string }).reason, /ttyAMA9/);
});
