// Before an agent with `swarm.expectVoters` starts: its libp2p node comes up, the formation
// (formation.ts) agrees on the voters with the agents it finds, and meanwhile a small HTTP API
// says what it is waiting for (/ready 503 "found 2 of 3 voters"). Once formed, the HTTP API is
// closed and the agent (agent.ts) takes the node over, with the voters in its config as if they
// had been listed there. A restart with a formed set on disk goes through at once.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { configPath, type AgentConfig } from '../config.ts';
import type { Identity } from '../identity.ts';
import type { Logger } from '../log.ts';
import { createAgentNode, hasPeerId } from '../agent-node.ts';
import { tokenProblem } from '../http.ts';
import { SwarmRoster } from '../roster.ts';
import type { CoveyNode } from '../../transports/node.ts';
import { PeerKeeper } from '../../transports/peers.ts';
import { Formation, type FormationProgress } from './formation.ts';
import type { FormedVoter } from './rule.ts';
import { formationStore } from './store.ts';

export interface FormingSwarm {
  readonly node: CoveyNode;
  readonly formation: Formation;
  /** The config with the formed voters (and only the bootstrap addresses that name their peer). */
  readonly config: AgentConfig;
  /** Hands the connection gate to the agent's roster. */
  admitWith(admits: (peer: string) => boolean): void;
}

/** Forms the swarm (or reads the formed set from disk); `signal` gives up, stopping everything it started. */
export async function formSwarm(config: AgentConfig, identity: Identity, logger: Logger, signal?: AbortSignal): Promise<FormingSwarm> {
  const k = config.swarm.expectVoters;
  if (k === undefined) throw new Error('formSwarm: the config has no swarm.expectVoters');
  const log = logger.child({ part: 'formation' });
  // Until the voters are known, the config's roster alone decides (an open swarm admits everyone).
  const roster = new SwarmRoster({ voters: [], bootstrap: config.swarm.roster });
  let admits = (peer: string): boolean => roster.admits(peer);
  const node = await createAgentNode(config, identity.privateKey, (peer) => admits(peer), logger);
  let keeper: PeerKeeper | null = null;
  let http: Server | null = null;
  let formation: Formation | null = null;
  try {
    formation = new Formation({
      node, swarm: config.swarm.name, expectVoters: k, logger: log, admits: (peer) => admits(peer), bootstrap: config.bootstrap,
      store: formationStore(configPath(config, config.dataDir), config.swarm.name, k),
    });
    const f = formation;
    // Dials what mDNS and bootstrap discovery report (bootstrap addresses that name their peer are kept).
    keeper = new PeerKeeper({ node, peers: [], bootstrap: config.bootstrap.filter(hasPeerId), logger: log });
    await keeper.start();
    await f.start();
    if (f.progress().formed === null) {
      log.info({ expectVoters: k }, f.progress().reason);
      http = await listen(config, identity.peerId, () => f.progress());
    }
    const voters = await untilFormed(f, signal);
    return {
      node,
      formation: f,
      config: { ...config, voters: voters.map((v) => ({ id: v.id, addrs: [...v.addrs] })), bootstrap: config.bootstrap.filter(hasPeerId) },
      admitWith: (fn) => { admits = fn; },
    };
  } catch (err) {
    await formation?.stop();
    await node.stop();
    throw err;
  } finally {
    await keeper?.stop();
    if (http !== null) await close(http);
  }
}

export class FormationStoppedError extends Error {
  override readonly name = 'FormationStoppedError';
}

function untilFormed(f: Formation, signal: AbortSignal | undefined): Promise<readonly FormedVoter[]> {
  if (signal === undefined) return f.formed();
  if (signal.aborted) return Promise.reject(new FormationStoppedError(`stopped while forming the swarm (${f.progress().reason})`));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new FormationStoppedError(`stopped while forming the swarm (${f.progress().reason})`));
    signal.addEventListener('abort', onAbort, { once: true });
    f.formed().then((v) => { signal.removeEventListener('abort', onAbort); resolve(v); }, reject);
  });
}

/** The HTTP API while forming: /health, /ready (503 with the progress), /status; anything else 503. */
async function listen(config: AgentConfig, peerId: string, progress: () => FormationProgress): Promise<Server> {
  const server = createServer((req, res) => answer(req, res, config, peerId, progress));
  const i = config.http.listen.lastIndexOf(':');
  const host = config.http.listen.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(config.http.listen.slice(i + 1));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen for HTTP on ${config.http.listen}: ${err.message} (change http.listen)`)));
    server.listen(port, host, () => resolve());
  });
  return server;
}

function answer(req: IncomingMessage, res: ServerResponse, config: AgentConfig, peerId: string, progress: () => FormationProgress): void {
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const path = (req.url ?? '/').split('?')[0];
  const denied = tokenProblem(req, config.http.token);
  if (denied !== null) return send(401, { error: denied });
  const p = progress();
  if (path === '/health' && req.method === 'GET') return send(200, { ok: true });
  if (path === '/ready' && req.method === 'GET') return send(503, { ready: false, reason: p.reason });
  if (path === '/status' && req.method === 'GET') {
    return send(200, { peerId, swarm: config.swarm.name, role: 'forming', ready: false, readiness: p.reason, formation: { found: p.found, expectVoters: p.expectVoters, holding: p.lock } });
  }
  return send(503, { error: `the swarm is still forming (${p.reason}); retry once /ready answers 200` });
}

function close(server: Server): Promise<void> {
  return new Promise((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
}
