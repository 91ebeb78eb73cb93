// What a stranger can do to an agent that runs without a swarm key (issue 13, finding 3): with no
// private-network key, anyone who reaches a libp2p listen address completes the noise handshake,
// joins the mesh and can open the consensus and submit protocols. Until peers are admitted by a
// roster (swarm.roster, docs/security.md) or a swarm key, nothing keeps strangers out, so running
// without either where strangers can reach the port is said out loud: by `covey init`, and by
// the agent at start.

/** Why this agent is open to strangers, or null (a swarm key or a roster, or loopback only). */
export function keylessExposure(listen: readonly string[], hasSwarmKey: boolean, hasRoster = false): string | null {
  if (hasSwarmKey || hasRoster) return null;
  const open = listen.filter((a) => !/^\/ip4\/127\.|^\/ip6\/::1\//.test(a));
  if (open.length === 0) return null;
  return `no swarm key and no roster, and listening on ${open.join(', ')}: anyone who reaches ${open.length === 1 ? 'it' : 'them'} can join this swarm's mesh and submit commands (the HTTP token does not cover libp2p). ` +
    'Give every agent the same key (covey init --new-swarm-key on one, --swarm-key FILE on the others; swarm.keyFile in the config), ' +
    'list the admitted peers (swarm.roster in the config; docs/security.md), or listen on loopback only';
}
