// The agent's identity: an Ed25519 key whose public half is its libp2p peer id. The key file is
// written durably and never overwritten by transports/node.ts; this file adds the peer id and
// errors that tell an operator what to do.

import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';
import { generateIdentityKey, loadIdentityKey, saveIdentityKey } from '../transports/node.ts';

export interface Identity {
  readonly privateKey: PrivateKey;
  /** The peer id in text form (12D3KooW…). */
  readonly peerId: string;
}

export async function createIdentity(): Promise<Identity> {
  const privateKey = await generateIdentityKey();
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString() };
}

/** Writes a key file; refuses to replace an existing one (that would change the agent's peer id). */
export function saveIdentity(file: string, id: Identity): void {
  try {
    saveIdentityKey(file, id.privateKey);
  } catch (err) {
    if (/already exists/.test((err as Error).message)) {
      throw new Error(`${file} already exists; an agent's key is its identity, so it is never overwritten (delete it by hand to make a new agent)`, { cause: err });
    }
    throw err;
  }
}

export function loadIdentity(file: string): Identity {
  let privateKey: PrivateKey;
  try {
    privateKey = loadIdentityKey(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`identity key ${file} does not exist; \`covey init\` writes one (or fix "identity" in the config)`, { cause: err });
    if (code !== undefined) throw new Error(`cannot read identity key ${file}: ${code}`, { cause: err });
    throw new Error(`identity key ${file} is not a libp2p private key (${(err as Error).message}); restore it from a backup or make a new agent with \`covey init\``, { cause: err });
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString() };
}
