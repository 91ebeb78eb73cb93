// NetLab: a small real network for a local swarm, made of Linux network namespaces. Each agent
// gets its own namespace with one interface (eth0, 10.213.S.(i+1)/24) on a bridge in the host's
// namespace; the host holds 10.213.S.254 on that bridge, so clients running here reach every agent
// as a client beside it would, and a fault between agents never cuts a client from its own agent.
//
// Faults are made inside the agents' namespaces, so they act on real packets:
// - a cut from agent a to agent b is a blackhole route in a's namespace for b's address: what a
//   sends to b is dropped silently (as on a radio link that went away; nothing resets a TCP
//   connection). A cut one way kills TCP both ways, as a DROP rule on one side does.
// - loss is an nftables rule in the sender's namespace dropping a share of its packets to other
//   agents (this kernel has no netem; needs the `nft` command, Debian package nftables).
//
// Needs root (CAP_NET_ADMIN) and the `ip` command (iproute2). Every name carries the owning
// process's pid, so a lab left behind by a killed run is found and removed by the next one.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** What a lab's names start with; `cvn` + pid + … must fit Linux's 15-character interface names. */
const nsPrefix = 'covey-nem-';
const bridgePrefix = 'cvnem';
const agentsMax = 32;

export class NetLabError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NetLabError';
  }
}

/** Why a lab cannot be made here, or null when it can. */
export function netLabUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'the network nemesis needs root to make network namespaces (run it as root, e.g. `sudo npm run chaos:net`; CI runs as root)';
  if (!commandExists('ip')) return 'the network nemesis needs the `ip` command (apt-get install iproute2)';
  // Listing is not enough (a container may list but not create): make and remove a namespace and
  // a bridge, as a lab does.
  const ns = `covey-probe-${process.pid}`;
  const made = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
  if (made.status !== 0) return `this machine does not let Covey make network namespaces (\`ip netns add\`: ${made.stderr.trim() || `exit ${made.status}`})`;
  spawnSync('ip', ['netns', 'del', ns]);
  const bridge = `cvprobe${process.pid}`;
  const br = spawnSync('ip', ['link', 'add', bridge, 'type', 'bridge'], { encoding: 'utf8' });
  if (br.status !== 0) return `this machine does not let Covey make a bridge (\`ip link add … type bridge\`: ${br.stderr.trim() || `exit ${br.status}`})`;
  spawnSync('ip', ['link', 'del', bridge]);
  return null;
}

/** Whether packet loss can be made (nftables). */
export function lossAvailable(): boolean {
  return commandExists('nft');
}

export class NetLab {
  readonly agents: number;
  readonly subnet: number;
  readonly #pid = process.pid;
  #up = false;
  /** Cuts in force, "a>b". */
  readonly #cuts = new Set<string>();
  readonly #lossy = new Set<number>();

  constructor(agents: number) {
    if (!Number.isInteger(agents) || agents < 1 || agents > agentsMax) throw new NetLabError(`a lab holds 1 to ${agentsMax} agents, got ${agents}`);
    this.agents = agents;
    // One /24 per run, from the pid, so that concurrent runs on one machine do not collide.
    this.subnet = 1 + (process.pid % 250);
  }

  namespace(i: number): string {
    return `${nsPrefix}${this.#pid}-${i}`;
  }

  address(i: number): string {
    return `10.213.${this.subnet}.${i + 1}`;
  }

  get hostAddress(): string {
    return `10.213.${this.subnet}.254`;
  }

  get #bridge(): string {
    return `${bridgePrefix}${this.#pid}`;
  }

  /** The command line that runs `argv` inside agent i's namespace. */
  exec(i: number, argv: readonly string[]): string[] {
    return ['ip', 'netns', 'exec', this.namespace(i), ...argv];
  }

  /** Makes the bridge and the namespaces; removes leftovers of dead runs first. */
  create(): void {
    const why = netLabUnavailable();
    if (why !== null) throw new NetLabError(why);
    removeLeftovers();
    const inUse = ip(['-4', '-o', 'addr', 'show']);
    if (inUse.includes(`10.213.${this.subnet}.`)) throw new NetLabError(`10.213.${this.subnet}.0/24 is in use on this machine; remove what holds it or run again (the subnet follows the pid)`);
    this.#up = true; // from here on destroy() has something to remove
    ip(['link', 'add', this.#bridge, 'type', 'bridge']);
    ip(['addr', 'add', `${this.hostAddress}/24`, 'dev', this.#bridge]);
    ip(['link', 'set', this.#bridge, 'up']);
    for (let i = 0; i < this.agents; i++) {
      const ns = this.namespace(i);
      const hostEnd = `cvn${this.#pid}x${i}`;
      ip(['netns', 'add', ns]);
      ip(['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['link', 'set', hostEnd, 'master', this.#bridge, 'up']);
      ip(['-n', ns, 'addr', 'add', `${this.address(i)}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  }

  /** Agent a's packets to agent b are dropped (one way). Idempotent. */
  cut(a: number, b: number): void {
    this.#check(a, b);
    const k = `${a}>${b}`;
    if (this.#cuts.has(k)) return;
    ip(['-n', this.namespace(a), 'route', 'add', 'blackhole', `${this.address(b)}/32`]);
    this.#cuts.add(k);
  }

  /** Undoes cut(a, b). Idempotent. */
  uncut(a: number, b: number): void {
    this.#check(a, b);
    const k = `${a}>${b}`;
    if (!this.#cuts.has(k)) return;
    ip(['-n', this.namespace(a), 'route', 'del', 'blackhole', `${this.address(b)}/32`]);
    this.#cuts.delete(k);
  }

  /** Cuts every link between the two sides, both ways. */
  split(sideA: readonly number[], sideB: readonly number[]): void {
    for (const a of sideA) for (const b of sideB) { this.cut(a, b); this.cut(b, a); }
  }

  /** Agent i drops `percent` % of its packets to the other agents (nftables). */
  loss(i: number, percent: number): void {
    if (!lossAvailable()) throw new NetLabError('packet loss needs nftables (apt-get install nftables)');
    if (!(percent > 0 && percent < 100)) throw new NetLabError(`loss must be between 0 and 100 %, got ${percent}`);
    this.#check(i, i);
    this.noLoss(i);
    const ns = this.namespace(i);
    const nft = (args: string[]): void => { run(['ip', 'netns', 'exec', ns, 'nft', ...args]); };
    nft(['add', 'table', 'inet', 'covey']);
    nft(['add', 'chain', 'inet', 'covey', 'out', '{ type filter hook output priority 0; }']);
    nft(['add', 'rule', 'inet', 'covey', 'out', 'ip', 'daddr', `10.213.${this.subnet}.0/24`, 'ip', 'daddr', '!=', this.hostAddress,
      'numgen', 'random', 'mod', '100', '<', String(Math.round(percent)), 'drop']);
    this.#lossy.add(i);
  }

  noLoss(i: number): void {
    if (!this.#lossy.has(i)) return;
    run(['ip', 'netns', 'exec', this.namespace(i), 'nft', 'delete', 'table', 'inet', 'covey']);
    this.#lossy.delete(i);
  }

  /** Removes every cut and all loss. */
  heal(): void {
    for (const k of [...this.#cuts]) {
      const [a, b] = k.split('>').map(Number);
      this.uncut(a, b);
    }
    for (const i of [...this.#lossy]) this.noLoss(i);
  }

  /** Cuts in force now, as [from, to] pairs. */
  cuts(): [number, number][] {
    return [...this.#cuts].map((k) => k.split('>').map(Number) as [number, number]);
  }

  /** Removes the namespaces and the bridge. Safe to call twice, and from an exit handler (sync). */
  destroy(): void {
    if (!this.#up) return;
    this.#up = false;
    removeLab(this.#pid);
  }

  #check(a: number, b: number): void {
    for (const x of [a, b]) if (!Number.isInteger(x) || x < 0 || x >= this.agents) throw new NetLabError(`no agent ${x} in a lab of ${this.agents}`);
    if (!this.#up) throw new NetLabError('the lab is not up (create() it first)');
  }
}

/** Removes the labs of runs whose process is gone. */
export function removeLeftovers(): void {
  const pids = new Set<number>();
  for (const line of ip(['netns', 'list']).split('\n')) {
    const m = new RegExp(`^${nsPrefix}(\\d+)-\\d+`).exec(line.trim());
    if (m !== null) pids.add(Number(m[1]));
  }
  for (const line of ip(['-o', 'link', 'show', 'type', 'bridge']).split('\n')) {
    const m = new RegExp(`: ${bridgePrefix}(\\d+)[:@]`).exec(line);
    if (m !== null) pids.add(Number(m[1]));
  }
  for (const pid of pids) if (pid !== process.pid && !processAlive(pid)) removeLab(pid);
}

function removeLab(pid: number): void {
  // Deleting a namespace kills its end of each veth pair, and with it the host's end.
  for (const line of spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n')) {
    const name = line.trim().split(' ')[0];
    if (name.startsWith(`${nsPrefix}${pid}-`)) spawnSync('ip', ['netns', 'del', name]);
  }
  spawnSync('ip', ['link', 'del', `${bridgePrefix}${pid}`]);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ip(args: readonly string[]): string {
  return run(['ip', ...args]);
}

function run(argv: readonly string[]): string {
  try {
    return execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; status?: number };
    throw new NetLabError(`\`${argv.join(' ')}\` failed: ${(e.stderr ?? '').trim() || `exit ${e.status}`}`);
  }
}

function commandExists(name: string): boolean {
  return ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':')].some((d) => d !== '' && existsSync(`${d}/${name}`));
}
