// The libp2p node of a Covey agent: one factory that composes the transport stack named in
// shared/DESIGN.md (libp2p 2.x generation), plus helpers for the agent's identity key and the
// swarm's pre-shared key.
//
//   transports   TCP and WebSockets
//   protector    optional pnet (a swarm key): peers without the same key cannot even start noise
//   encryption   noise; muxer yamux
//   services     identify (gossipsub needs the peers' protocols), ping, gossipsub (StrictSign)
//   discovery    optional mDNS and an optional bootstrap list; libp2p 2 only *reports* discovered
//                peers, peers.ts (PeerKeeper) dials them and keeps voters connected
//
// libp2p's connection monitor pings every connection periodically (on by default), which also
// keeps TCP's 2-minute inactivity timeout from closing a quiet consensus link.

import { sendWindowUpdatesAtHalfWindow } from './yamux/window-updates.ts';
import { TieredNoiseCrypto } from './noise-crypto.ts';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { gossipsub, type GossipsubEvents, type GossipsubOpts } from '@chainsafe/libp2p-gossipsub';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { bootstrap } from '@libp2p/bootstrap';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { identify, type Identify } from '@libp2p/identify';
import type { ConnectionGater, PrivateKey, PubSub } from '@libp2p/interface';
import { mdns } from '@libp2p/mdns';
import { ping, type PingService } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { webSockets } from '@libp2p/websockets';
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p';

// A type alias, not an interface: libp2p's ServiceMap constraint needs an index-compatible type.
export type CoveyServices = {
  identify: Identify;
  ping: PingService;
  pubsub: PubSub<GossipsubEvents>;
};

export type CoveyNode = Libp2p<CoveyServices>;

export interface CoveyNodeOptions {
  /** The agent's identity (its peer id is derived from it). */
  readonly privateKey: PrivateKey;
  /** Multiaddrs to listen on. Default: all IPv4 interfaces, TCP 4001 and WebSockets 4002. */
  readonly listen?: readonly string[];
  /** Multiaddrs to announce instead of the listen addresses (e.g. behind NAT). */
  readonly announce?: readonly string[];
  /** Bootstrap peers (multiaddrs ending in /p2p/<peer id>). Empty or absent: no bootstrap. */
  readonly bootstrap?: readonly string[];
  /** Discover peers on the local network with mDNS. Default false. */
  readonly mdns?: boolean;
  /** A pnet swarm key file's contents (/key/swarm/psk/1.0.0/ format). Absent: no pnet. */
  readonly swarmKey?: Uint8Array;
  /** Extra gossipsub settings; `globalSignaturePolicy` is always StrictSign. */
  readonly gossipsub?: Partial<GossipsubOpts>;
  /** Most open connections before the connection manager prunes (untagged peers first). */
  readonly maxConnections?: number;
  /** Which peers may connect (e.g. the swarm roster's); absent: everyone the protector lets through. */
  readonly connectionGater?: Partial<ConnectionGater>;
  /** Start the node before returning it. Default true. */
  readonly start?: boolean;
}

/** Default listen addresses: TCP for devices, WebSockets for browsers and proxies. */
export const listenDefault: readonly string[] = ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws'];
/**
 * What one yamux stream may buffer unread (its receive window), at most. js yamux doubles a busy
 * stream's window up to 16 MiB, so a peer that writes faster than this agent reads could park
 * 16 MiB per stream here — a flood's memory, held until read. 256 KiB (yamux's starting window) is
 * a per-stream budget that still fills a LAN link (256 KiB per round trip of ~1 ms) and ~2.5 MB/s
 * at 100 ms; a frame of Covey's largest (4 MiB, transports/wire/codec.ts) crosses in 16 windows.
 */
export const yamuxOptions = { initialStreamWindowSize: 256 * 1024, maxStreamWindowSize: 256 * 1024 } as const;
/** Open connections kept at most; a swarm of a few hundred devices needs far fewer per node. */
export const maxConnectionsDefault = 300;

export async function createCoveyNode(options: CoveyNodeOptions): Promise<CoveyNode> {
  sendWindowUpdatesAtHalfWindow(); // yamux flow control as rust-yamux and go-yamux do it (see there)
  const discovery: NonNullable<Libp2pOptions['peerDiscovery']> = [];
  if (options.mdns === true) discovery.push(mdns());
  if (options.bootstrap !== undefined && options.bootstrap.length > 0) discovery.push(bootstrap({ list: [...options.bootstrap] }));
  return createLibp2p<CoveyServices>({
    privateKey: options.privateKey,
    start: options.start ?? true,
    addresses: {
      listen: [...(options.listen ?? listenDefault)],
      announce: options.announce === undefined ? [] : [...options.announce],
    },
    transports: [tcp(), webSockets()],
    connectionEncrypters: [noise({ crypto: new TieredNoiseCrypto() })],
    streamMuxers: [yamux(yamuxOptions)],
    connectionGater: options.connectionGater,
    // Imported only with a swarm key: @libp2p/pnet compiles xsalsa20's WebAssembly when loaded.
    connectionProtector: options.swarmKey === undefined ? undefined : (await import('@libp2p/pnet')).preSharedKey({ psk: options.swarmKey }),
    peerDiscovery: discovery,
    connectionManager: {
      maxConnections: options.maxConnections ?? maxConnectionsDefault,
      // libp2p's own redial of KEEP_ALIVE peers (PeerKeeper redials beyond it). Set explicitly:
      // libp2p 2.10 leaves the backoff factor undefined, which makes its timers NaN (→ 1 ms).
      reconnectRetries: 5,
      reconnectRetryInterval: 1000,
      reconnectBackoffFactor: 2,
    },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({ ...options.gossipsub, globalSignaturePolicy: 'StrictSign' }),
    },
  });
}

// ---- identity key ---------------------------------------------------------------------------

export function generateIdentityKey(): Promise<PrivateKey> {
  return generateKeyPair('Ed25519');
}

/** The libp2p protobuf encoding of a private key: the identity key file's contents. */
export function identityKeyToBytes(key: PrivateKey): Uint8Array {
  return privateKeyToProtobuf(key);
}

export function identityKeyFromBytes(bytes: Uint8Array): PrivateKey {
  return privateKeyFromProtobuf(bytes);
}

/**
 * Writes a key file readable by the owner only, durably (temp file, fsync, rename, fsync of the
 * directory), so a crash never leaves a truncated key. Refuses to replace an existing file: the
 * key is the agent's peer id, and replacing it makes a different agent.
 */
export function saveIdentityKey(file: string, key: PrivateKey): void {
  writeSecretFile(file, identityKeyToBytes(key));
}

export function loadIdentityKey(file: string): PrivateKey {
  return identityKeyFromBytes(readFileSync(file));
}

/** Loads the key at `file`, or makes and saves a new one when there is none. */
export async function loadOrCreateIdentityKey(file: string): Promise<PrivateKey> {
  try {
    return loadIdentityKey(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = await generateIdentityKey();
  saveIdentityKey(file, key);
  return key;
}

// ---- swarm key (pnet) ------------------------------------------------------------------------

/** A new swarm key in the /key/swarm/psk/1.0.0/ text format (the file every member shares). */
export async function generateSwarmKey(): Promise<Uint8Array> {
  const bytes = new Uint8Array(95); // header + /base16/ + 64 hex digits, as @libp2p/pnet writes it
  (await import('@libp2p/pnet')).generateKey(bytes);
  return bytes;
}

export function saveSwarmKey(file: string, key: Uint8Array): void {
  writeSecretFile(file, key);
}

function writeSecretFile(file: string, bytes: Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes, { mode: 0o600, flag: 'wx' });
  try {
    fsyncPath(tmp);
    // link, unlike rename, fails when `file` exists instead of silently replacing it.
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${file} already exists; refusing to overwrite a key file`);
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  fsyncPath(dirname(file));
}

/** fsync a file or a directory by path (a directory's fsync makes a rename or link in it durable). */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
