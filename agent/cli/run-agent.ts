// `covey agent --config FILE`: load the config, start the agent, run until SIGINT or SIGTERM.
// Its own module because it is the entry of the agent bundle (agent/cli/bundle.ts): the command
// imports either the bundle or this file, and everything the agent needs loads from here.

import { loadConfig } from '../config.ts';
import { Agent } from '../agent.ts';

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
  await new Promise<void>((resolveStop) => {
    const stop = (signal: string) => {
      agent.logger.info({ signal }, 'stopping');
      agent.stop().then(resolveStop, (err) => { agent.logger.error({ err }, 'stop failed'); process.exitCode = 1; resolveStop(); });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
