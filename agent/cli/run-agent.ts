// `covey agent --config FILE`: load the config, start the agent, run until SIGINT or SIGTERM.
// Its own module because it is the entry of the agent bundle (agent/cli/bundle.ts): the command
// imports either the bundle or this file, and everything the agent needs loads from here.

import { loadConfig } from '../config.ts';
import { Agent } from '../agent.ts';
import { devAgentSetup, type DevAgentOptions } from '../dev.ts';

export async function runAgent(configFile: string): Promise<void> {
  const config = loadConfig(configFile);
  // A swarm that forms by itself may wait long for its peers: a signal then stops the start cleanly.
  const forming = new AbortController();
  const stopForming = () => forming.abort();
  process.once('SIGINT', stopForming);
  process.once('SIGTERM', stopForming);
  let agent: Agent;
  try {
    agent = await Agent.start(config, { signal: forming.signal });
  } catch (err) {
    if ((err as Error).name === 'FormationStoppedError') {
      process.stderr.write(`covey agent: ${(err as Error).message}\n`);
      return;
    }
    throw err;
  } finally {
    process.off('SIGINT', stopForming);
    process.off('SIGTERM', stopForming);
  }
  process.stderr.write(`covey agent ${agent.identity.peerId} running; HTTP API at ${agent.httpUrl}\n`);
  await untilSignal(agent);
}

/** `covey agent --dev`: a one-voter agent with temporary data (agent/dev.ts), until SIGINT or SIGTERM. */
export async function runDevAgent(o: DevAgentOptions & { json?: boolean }): Promise<void> {
  const dev = await devAgentSetup(o);
  let agent: Agent;
  try {
    agent = await Agent.start(dev.config);
  } catch (err) {
    dev.remove();
    throw err;
  }
  const plugins = dev.config.plugins.map((p) => p.module);
  const about = { dev: true, peerId: dev.peerId, http: agent.httpUrl, dataDir: dev.dir, plugins };
  process.stdout.write(o.json === true ? JSON.stringify(about) + '\n' : [
    'covey agent --dev: a swarm of one voter on this machine, for trying plugins (it survives no crash; not for the field)',
    `  peer id   ${dev.peerId}`,
    `  HTTP API  ${agent.httpUrl}   (covey kv get KEY --agent ${agent.httpUrl}; covey status --agent ${agent.httpUrl})`,
    `  data      ${dev.dir}   (temporary: removed when it stops)`,
    `  plugins   ${plugins.length === 0 ? 'none (add --plugin PATH or PACKAGE)' : plugins.join(', ')}`,
    'stop it with Ctrl-C',
  ].join('\n') + '\n');
  await untilSignal(agent);
  dev.remove();
}

/** Runs until SIGINT or SIGTERM, then stops the agent gracefully. */
function untilSignal(agent: Agent): Promise<void> {
  return new Promise<void>((resolveStop) => {
    const stop = (signal: string) => {
      agent.logger.info({ signal }, 'stopping');
      agent.stop().then(resolveStop, (err) => { agent.logger.error({ err }, 'stop failed'); process.exitCode = 1; resolveStop(); });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
