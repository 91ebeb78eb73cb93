// The agent's libp2p node, made from its config: one place for both the agent (agent.ts) and a
// swarm that is still forming (agent/formation/forming.ts), which hands its node on to the agent
// so that connections and discovered addresses survive the moment the swarm forms.

import { readFileSync } from 'node:fs';
import { multiaddr } from '@multiformats/multiaddr';
import type { PrivateKey } from '@libp2p/interface';
import { configPath, type AgentConfig } from './config.ts';
import { keylessExposure } from './exposure.ts';
import type { Logger } from './log.ts';
import { createCoveyNode, type CoveyNode } from '../transports/node.ts';

/** `admits` decides who may connect (the roster's): asked on every connection and dial. */
export async function createAgentNode(c: AgentConfig, privateKey: PrivateKey, admits: (peer: string) => boolean, log: Logger): Promise<CoveyNode> {
  const swarmKey = c.swarm.keyFile === undefined ? undefined : readSwarmKey(configPath(c, c.swarm.keyFile));
  const exposure = keylessExposure(c.listen, swarmKey !== undefined, c.swarm.roster !== undefined);
  if (exposure !== null) log.warn(exposure);
  const admitted = (peer: { toString(): string }): boolean => admits(peer.toString());
  return createCoveyNode({
    // Off the roster: refused once noise has named the peer, and never dialled (docs/security.md).
    connectionGater: {
      denyInboundEncryptedConnection: async (peer) => !admitted(peer),
      denyOutboundEncryptedConnection: async (peer) => !admitted(peer),
      denyDialPeer: async (peer) => !admitted(peer),
    },
    privateKey,
    listen: c.listen,
    announce: c.announce.length === 0 ? undefined : c.announce,
    // libp2p's bootstrap discovery needs the peer id; a forming swarm dials the others by address.
    bootstrap: c.bootstrap.filter(hasPeerId),
    mdns: c.mdns,
    swarmKey,
  });
}

/** Whether a multiaddr names its peer (ends in /p2p/<id>). */
export function hasPeerId(addr: string): boolean {
  try {
    return multiaddr(addr).getPeerId() !== null;
  } catch {
    return false;
  }
}

function readSwarmKey(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`swarm.keyFile: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); copy the swarm's key file there, or remove swarm.keyFile for an open swarm`, { cause: err });
  }
}
