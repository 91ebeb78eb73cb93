// The byte links a MavlinkAutopilot talks over: UDP (SITL, telemetry bridges, companion computers
// on the same network) or a serial port (USB to the flight controller, a telemetry radio).
// Both hand raw bytes to the caller, which frames them with node-mavlink's splitter.
import { createSocket } from 'node:dgram';

export interface MavlinkLink {
  /** "udp 0.0.0.0:14550" or "serial /dev/ttyACM0 @ 115200 baud", for messages. */
  readonly where: string;
  send(bytes: Uint8Array): Promise<void>;
  close(): void;
  /** The bound local UDP port (UDP only). */
  localPort?(): number | undefined;
}

export interface LinkHandlers {
  onData(bytes: Buffer): void;
  /** A failure after open (socket error, serial port unplugged). */
  onError(message: string): void;
}

export interface UdpLinkOptions {
  readonly bind: { readonly port: number; readonly address?: string };
  /** Where to send; default the last address a datagram came from. */
  readonly remote?: { readonly host: string; readonly port: number };
}

/** Binds a UDP socket; rejects with the bind error (e.g. EADDRINUSE). */
export async function openUdpLink(options: UdpLinkOptions, handlers: LinkHandlers): Promise<MavlinkLink> {
  const { bind, remote } = options;
  const socket = createSocket({ type: 'udp4' });
  let lastSender: { host: string; port: number } | undefined;
  socket.on('message', (buf, rinfo) => {
    if (!remote) lastSender = { host: rinfo.address, port: rinfo.port }; // reply to whoever talks to us
    handlers.onData(buf);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(bind.port, bind.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    socket.close();
    throw e;
  }
  socket.on('error', (e) => handlers.onError(`socket error: ${e.message}`));
  return {
    where: udpWhere(bind),
    send(bytes) {
      const to = remote ?? lastSender;
      if (!to) return Promise.resolve(); // nobody to talk to yet: the vehicle speaks first
      return new Promise((resolve, reject) => socket.send(bytes, to.port, to.host, (err) => (err ? reject(err) : resolve())));
    },
    close() {
      try {
        socket.close();
      } catch {
        // already closed
      }
    },
    localPort() {
      try {
        return socket.address().port;
      } catch {
        return undefined;
      }
    },
  };
}

export function udpWhere(bind: { readonly port: number; readonly address?: string }): string {
  return `udp ${bind.address ?? '0.0.0.0'}:${bind.port}`;
}

/** The part of serialport's SerialPort (a Duplex stream) we use. */
export interface SerialPortLike {
  open(callback: (err: Error | null) => void): void;
  write(data: Uint8Array, callback: (err: Error | null | undefined) => void): boolean;
  close(callback?: (err: Error | null) => void): void;
  on(event: 'data', listener: (data: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'close', listener: (err?: Error | null) => void): unknown;
  readonly isOpen: boolean;
}

/** Builds a port that is not open yet; default `new SerialPort(...)` from the serialport package. Tests pass serialport's SerialPortMock. */
export type SerialPortFactory = (options: { path: string; baudRate: number; autoOpen: false }) => SerialPortLike;

export interface SerialLinkOptions {
  readonly path: string;
  /** 115200 for USB to a flight controller (the rate is ignored on USB CDC), 57600 for SiK telemetry radios. */
  readonly baudRate: number;
  readonly portFactory?: SerialPortFactory;
}

export function serialWhere(o: { readonly path: string; readonly baudRate: number }): string {
  return `serial ${o.path} @ ${o.baudRate} baud`;
}

/** Opens the serial port; rejects with serialport's error (e.g. "No such file or directory, cannot open /dev/ttyACM0"). */
export async function openSerialLink(options: SerialLinkOptions, handlers: LinkHandlers): Promise<MavlinkLink> {
  const factory = options.portFactory ?? (await defaultSerialFactory());
  const port = factory({ path: options.path, baudRate: options.baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  let closing = false;
  port.on('data', (data) => handlers.onData(data));
  port.on('error', (e) => handlers.onError(`serial port error: ${e.message}`));
  // A USB adapter pulled out closes the port by itself ("disconnected").
  port.on('close', (e) => {
    if (!closing) handlers.onError(`serial port closed${e ? `: ${e.message}` : ''}`);
  });
  return {
    where: serialWhere(options),
    send(bytes) {
      if (!port.isOpen) return Promise.resolve();
      return new Promise((resolve, reject) => port.write(bytes, (err) => (err ? reject(err) : resolve())));
    },
    close() {
      closing = true;
      if (port.isOpen) port.close(() => undefined);
    },
  };
}

/** serialport is loaded only when a serial link is used, so UDP-only agents never load its native addon. */
async function defaultSerialFactory(): Promise<SerialPortFactory> {
  const { SerialPort } = await import('serialport');
  return (o) => new SerialPort(o);
}
