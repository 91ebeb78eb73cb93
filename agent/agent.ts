// The agent: one per device. It composes the parts (js-libp2p style: small components, one
// factory) — identity, libp2p node, peer keeper, consensus RPC, the replica driver over lmdb (on a
// voter), metrics, the HTTP API and the plugin host — and owns their lifecycle: start, graceful
// stop, and restart from the data directory after a crash.
//
// Plugins (docs/plugins.md) are imported and their options checked before anything else starts,
// so a bad plugin entry fails `Agent.start` with nothing left running; they are started last,
// once the HTTP API is up, and stopped first, while consensus still answers their stop hooks.

import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import {
  type Command, type CommandResult, defaultQuorumConfig, type Operation, quorums, type TaskView,
} from '../consensus/index.ts';
import { WalStorage } from '../consensus/storage/wal-storage.ts';
import { configPath, type AgentConfig } from './config.ts';
import { DeadlineError, ReplicaDriver } from './driver.ts';
import { deadVoter } from './membership-recovery.ts';
import { createHttpApi, HttpError, tokenProblem, type AgentApi, type DeviceInfo, type StaleAnswer, type SubmitOptions } from './http.ts';
import { attachStreamServer, type StreamServer } from './stream/server.ts';
import { pageKeys, type KvEntry, type KvListQuery } from './kv-list.ts';
import { SwarmRoster } from './roster.ts';
import { verifyJoinToken } from './join-token.ts';
import { RosterSync } from './roster-sync.ts';
import { peerIdFromString } from '@libp2p/peer-id';
import { loadIdentity, type Identity } from './identity.ts';
import { createLogger, type Logger } from './log.ts';
import { createMetrics, type AgentMetrics } from './metrics.ts';
import { TelemetryStats } from './telemetry-stats.ts';
import { MemoryReclaim } from './memory-reclaim.ts';
import type { CoveyNode } from '../transports/node.ts';
import { createAgentNode } from './agent-node.ts';
import { formSwarm, type FormingSwarm } from './formation/forming.ts';
import { PeerKeeper } from '../transports/peers.ts';
import { LinkHealth } from '../transports/link-health.ts';
import { ConsensusRpc } from '../transports/rpc/consensus-rpc.ts';
import { SnapshotTransfer } from '../transports/rpc/snapshot-transfer.ts';
import { MembershipDriver } from '../transports/membership/driver.ts';
import { type MemberEvent, type Meta, metaProblem } from '../transports/membership/index.ts';
import { realTimeClock, seededRandom } from '../devices/clock.ts';
import { closeDevices, driverKinds, openDevices } from '../devices/registry.ts';
import type { Device, DeviceStatus } from '../devices/types.ts';
import { AgentEnvironment, type AgentEnvironmentOptions } from './plugins/agent-env.ts';
import { PluginHost, type LoadedPlugin, type PluginStatus } from './plugins/host.ts';
import { loadPlugins } from './plugins/loader.ts';
import { LiveLayer, peerTelemetryTopics } from './live/live.ts';
import { FoxgloveBridge } from './live/foxglove-bridge.ts';

const opening: DeviceStatus = { state: 'unavailable', reason: 'opening' };

export interface AgentOptions {
  readonly logger?: Logger;
  /** Plugin supervision figures (tests shorten them); defaults: host.ts defaultSupervision. */
  readonly supervision?: ConstructorParameters<typeof PluginHost>[2];
  /** Gives up a start that is still forming its swarm (swarm.expectVoters): `covey agent` stopped meanwhile. */
  readonly signal?: AbortSignal;
}

/** Membership events kept for `GET /members/events`. */
const recentEventsMax = 200;

/** How long a non-voter waits before trying the next voter when forwarding fails. */
const forwardRetryMs = 200;
/** How often the core is told which voters this one hears (only changes reach it). */
const reachHintEveryMs = 100;

export class Agent implements AgentApi {
  readonly config: AgentConfig;
  readonly identity: Identity;
  readonly logger: Logger;
  readonly selfIndex: number | null;
  private readonly metrics: AgentMetrics;
  /** Telemetry per topic, counted by the plugin environment, for /metrics. */
  readonly telemetryStats = new TelemetryStats();
  private readonly startedMs = Date.now();
  /** This incarnation's client id: request ids restart at 1, so the client id must be new too. */
  private readonly clientId: string;
  private requestSeq = 0;
  private driver: ReplicaDriver | null = null;
  private storage: WalStorage | null = null;
  private node: CoveyNode | null = null;
  private keeper: PeerKeeper | null = null;
  private health: LinkHealth | null = null;
  private reachTimer: NodeJS.Timeout | null = null;
  private rpc: ConsensusRpc | null = null;
  private transfer: SnapshotTransfer | null = null;
  private membership: MembershipDriver | null = null;
  readonly roster: SwarmRoster;
  private rosterSync: RosterSync | null = null;
  private readonly recentEvents: Record<string, unknown>[] = [];
  private http: Server | null = null;
  private streams: StreamServer | null = null;
  private loadedPlugins: LoadedPlugin[] = [];
  private pluginEnv: AgentEnvironment | null = null;
  private pluginHost: PluginHost | null = null;
  private memoryReclaim: MemoryReclaim | null = null;
  /** What the dashboard and the live tools stream (agent/live/): events, telemetry, positions. */
  readonly live: LiveLayer;
  /** The opt-in Foxglove WebSocket server over the live layer's telemetry (config `foxglove`). */
  private foxglove: FoxgloveBridge | null = null;
  private readonly memberListeners = new Set<(e: MemberEvent) => void>();
  /** The configured devices, by name, once opened (a device that failed to open is here too, unavailable). */
  private deviceMap: Map<string, Device> = new Map();
  /** The devices being opened (started with the other parts, awaited before the plugins start). */
  private devicesOpening: Promise<void> | null = null;
  private readonly supervision: AgentOptions['supervision'];
  /** performance.now() when each voter was last heard from (messages), for staleness. */
  private readonly lastHeard: number[];
  private readonly cut = new Set<string>();
  private nextVoter = 0;
  private stopping: Promise<void> | null = null;
  readonly faults?: AgentApi['faults'];
  /** With `swarm.expectVoters`: the formation that chose the voters; it keeps answering late agents. */
  private readonly forming: FormingSwarm | null;

  private constructor(config: AgentConfig, identity: Identity, logger: Logger, o: AgentOptions, forming: FormingSwarm | null) {
    this.config = config;
    this.forming = forming;
    this.supervision = o.supervision;
    this.identity = identity;
    this.logger = logger;
    const i = config.voters.findIndex((v) => v.id === identity.peerId);
    this.selfIndex = i < 0 ? null : i;
    this.clientId = `${identity.peerId.slice(-10)}.${this.startedMs.toString(36)}.${randomBytes(4).toString('hex')}`;
    this.lastHeard = new Array<number>(config.voters.length).fill(-Infinity);
    this.live = new LiveLayer({ logger: logger.child({ part: 'live' }) });
    this.roster = new SwarmRoster({ voters: config.voters.map((v) => v.id), bootstrap: config.swarm.roster });
    this.metrics = createMetrics({
      replica: () => {
        const d = this.driver;
        if (d === null) return null;
        const s = d.core.stats;
        return { committed: s.committed, applied: s.applied, pending: d.core.pendingIds().length, queued: d.core.queuedCommands(), fsyncs: d.stats.fsyncs, recoveries: s.recoveriesStarted };
      },
      plugins: () => this.plugins(),
      devices: () => this.devices(),
      // Leases are stamped with the submitters' wall clocks, so "expired" is judged by this one.
      tasks: () => this.driver === null ? null : { tasks: this.driver.stateMachine.listTasks(), nowMs: Date.now() },
      telemetry: this.telemetryStats,
    });
    if (config.faultInjection) {
      this.faults = {
        cut: async (peers) => { for (const p of peers) this.cut.add(p); },
        heal: () => { this.cut.clear(); },
      };
    }
  }

  get registry() {
    return this.metrics.registry;
  }

  get n(): number {
    return this.config.voters.length;
  }

  /** Starts every part; on failure stops what was started and throws an error naming the part. */
  static async start(configIn: AgentConfig, o: AgentOptions = {}): Promise<Agent> {
    const logger = o.logger ?? createLogger({ name: 'covey', level: configIn.log.level });
    const identity = loadIdentity(configPath(configIn, configIn.identity));
    // With swarm.expectVoters the voters are agreed first (agent/formation/); then the agent starts with them as if configured.
    const forming = configIn.swarm.expectVoters === undefined ? null : await formSwarm(configIn, identity, logger, o.signal);
    const config = forming?.config ?? configIn;
    const agent = new Agent(config, identity, logger, o, forming);
    try {
      await agent.startParts();
    } catch (err) {
      await agent.stop().catch(() => {});
      throw err;
    }
    return agent;
  }

  private async startParts(): Promise<void> {
    const c = this.config;
    const log = this.logger;
    const q = quorums(defaultQuorumConfig(this.n));
    // Plugins first: a missing module or bad options stops the start before anything runs.
    this.loadedPlugins = await loadPlugins(c.plugins, c.baseDir);
    // Devices open while the rest starts (a MAVLink link may take seconds to hear a heartbeat);
    // the plugins start only once every device is open or has failed to.
    this.devicesOpening = this.openConfiguredDevices();
    const meta = this.advertisedMeta();
    if (this.selfIndex !== null) {
      const dir = join(configPath(c, c.dataDir), 'consensus');
      mkdirSync(dir, { recursive: true });
      this.storage = await WalStorage.open(dir);
      this.driver = await ReplicaDriver.start({
        replica: { self: this.selfIndex, n: this.n, f: q.f, e: q.e, tickMs: c.consensus.tickMs, snapshotEveryApplied: c.consensus.snapshotEveryApplied },
        storage: this.storage,
        logger: log.child({ part: 'replica' }),
        send: (envs) => {
          if (this.rpc === null) return;
          this.rpc.send(this.cut.size === 0 ? envs : envs.filter((e) => !this.cut.has(c.voters[e.to].id)));
        },
        sendSnapshots: (envs) => {
          for (const e of envs) if (!this.cut.has(c.voters[e.to].id)) this.transfer?.send(e.to, e.msg);
        },
        onExecuted: (batch) => this.live.executed(batch),
      });
    }
    const admits = (peer: string): boolean => this.roster.admits(peer);
    if (this.forming !== null) {
      // The forming swarm's node, with its connections: from now on this agent's roster decides who connects.
      this.forming.admitWith(admits);
      this.node = this.forming.node;
    } else {
      this.node = await createAgentNode(c, this.identity.privateKey, admits, log);
    }
    this.rpc = new ConsensusRpc({
      node: this.node,
      voters: c.voters.map((v) => v.id),
      self: this.selfIndex,
      logger: log.child({ part: 'rpc' }),
      registry: this.metrics.registry,
      onMessage: (from, msg) => {
        if (this.cut.has(c.voters[from].id)) return;
        this.lastHeard[from] = performance.now();
        this.health?.heard(c.voters[from].id);
        this.driver?.receive(from, msg);
      },
      onSubmit: (command, from) => {
        const refused = this.submitRefusal(command, from);
        return refused !== null ? Promise.reject(new Error(refused)) : this.submitLocal(command, c.consensus.requestTimeoutMs);
      },
    });
    await this.rpc.start();
    this.transfer = new SnapshotTransfer({
      node: this.node,
      voters: c.voters.map((v) => v.id),
      self: this.selfIndex,
      logger: log.child({ part: 'snapshots' }),
      registry: this.metrics.registry,
      onSnapshot: (from, raw) => {
        if (this.cut.has(c.voters[from].id)) return;
        this.driver?.receiveSnapshot(from, raw);
      },
    });
    await this.transfer.start();
    this.keeper = new PeerKeeper({
      node: this.node,
      peers: c.voters.filter((v) => v.id !== this.identity.peerId).map((v) => ({ id: v.id, addrs: v.addrs })),
      bootstrap: c.bootstrap,
      logger: log.child({ part: 'peers' }),
    });
    await this.keeper.start();
    // Whether each other voter is heard, not just connected (a cut network keeps connections open).
    this.health = new LinkHealth({
      node: this.node,
      peers: c.voters.filter((v) => v.id !== this.identity.peerId).map((v) => v.id),
      logger: log.child({ part: 'health' }),
    });
    await this.health.start();
    // The core's quorum choices follow what this voter hears (a hint; the core's 'reachable' event).
    this.reachTimer = setInterval(() => this.driver?.setReachable(this.reachableVoters()), reachHintEveryMs);
    this.reachTimer.unref();
    this.membership = new MembershipDriver({
      node: this.node,
      swarm: c.swarm.name,
      logger: log.child({ part: 'membership' }),
      registry: this.metrics.registry,
      meta,
      // Statements about itself signed with its identity; only roster members heard, in their roles.
      privateKey: this.identity.privateKey,
      trust: { isAdmitted: (id) => this.roster.admits(id), roleOf: (id) => this.roster.roleOf(id) },
      // Voters (with known addresses, as multiaddrs) and bootstrap peers are the seeds.
      seeds: [
        ...c.voters.filter((v) => v.id !== this.identity.peerId).flatMap((v) => v.addrs.length === 0 ? [v.id] : v.addrs.map((a) => `${a}/p2p/${v.id}`)),
        ...c.bootstrap,
      ],
      onEvent: (e) => this.onMemberEvent(e),
    });
    await this.membership.start();
    this.rosterSync = new RosterSync({
      roster: this.roster,
      swarm: c.swarm.name,
      pubsub: this.node.services.pubsub,
      read: this.driver === null ? null : { version: () => this.driver!.stateMachine.rosterVersion(), view: () => this.driver!.stateMachine.roster() },
      logger: log.child({ part: 'roster' }),
    });
    this.roster.onChange((revoked) => {
      for (const peer of revoked) {
        this.logger.warn({ peer }, 'peer revoked from the roster; closing its connections');
        this.node?.hangUp(peerIdFromString(peer)).catch(() => {});
      }
    });
    this.rosterSync.start();
    const [host, port] = splitHostPort(c.http.listen);
    this.http = createHttpApi(this, { token: c.http.token, logger: log.child({ part: 'http' }), live: this.live.routes });
    this.streams = attachStreamServer(this.http, {
      submit: (command) => this.driver !== null ? this.submitLocal(command, c.consensus.requestTimeoutMs) : this.forward(command, c.consensus.requestTimeoutMs),
      authorize: (req) => tokenProblem(req, c.http.token),
      logger: log.child({ part: 'stream' }),
      onCommand: (op, outcome, seconds) => {
        this.metrics.commands.inc({ op, outcome });
        this.metrics.commandSeconds.observe({ op }, seconds);
      },
    });
    await new Promise<void>((resolve, reject) => {
      this.http!.once('error', (err) => reject(new Error(`cannot listen for HTTP on ${c.http.listen}: ${(err as Error).message} (change http.listen)`)));
      this.http!.listen(port, host, () => resolve());
    });
    await this.devicesOpening;
    this.pluginEnv = new AgentEnvironment({
      agentId: this.identity.peerId,
      role: this.selfIndex === null ? 'worker' : 'voter',
      swarm: c.swarm.name,
      submit: (op) => this.submit(op, {}),
      staleGet: this.selfIndex === null ? null : (key) => this.staleGet(key),
      staleList: this.selfIndex === null ? null : (q) => { const a = this.staleList(q); return { value: { entries: a.value, next: a.next }, stale: true, staleness: a.staleness }; },
      staleTasks: this.selfIndex === null ? null : () => this.staleTasks(),
      pubsub: this.node.services.pubsub,
      admits: (peer) => this.roster.admits(peer),
      members: () => this.membership?.members() ?? [],
      onMemberEvent: (fn) => { this.memberListeners.add(fn); return () => { this.memberListeners.delete(fn); }; },
      devices: this.deviceMap,
      logger: log.child({ part: 'plugins' }),
      storeDir: join(configPath(c, c.dataDir), 'plugins'),
      telemetry: this.telemetryStats,
      observer: { declared: (topic, schema) => this.live.tap.declare(topic, schema), published: (topic, data) => this.live.tap.published(topic, data) },
    });
    this.startLive(this.pluginEnv, this.node.services.pubsub);
    await this.startFoxglove(log);
    this.pluginHost = new PluginHost(this.pluginEnv, this.loadedPlugins, this.supervision);
    await this.pluginHost.start(); // never rejects for one plugin's failure: failed plugins are supervised
    // Gives memory back once a burst is over (agent/memory-reclaim.ts says why it is needed).
    // Not while cut off from a majority: a heal may come at any moment, and the pause would hold it up.
    const majority = quorums(defaultQuorumConfig(this.n)).slowQuorumSize;
    this.memoryReclaim = new MemoryReclaim({
      logger: log.child({ part: 'memory' }), registry: this.metrics.registry, holdOff: () => this.reachableVoters().length < majority,
    });
    this.memoryReclaim.start();
    log.info({ peerId: this.identity.peerId, role: this.selfIndex === null ? 'worker' : `voter ${this.selfIndex}`, http: this.httpUrl, addrs: this.node.getMultiaddrs().map(String), plugins: this.loadedPlugins.map((p) => p.definition.name), devices: this.devices().map((d) => `${d.name}:${d.status.state}`) }, 'agent started');
  }

  /** A bridge that cannot listen is logged and left off: watching the swarm is not worth stopping the agent. */
  private async startFoxglove(log: Logger): Promise<void> {
    const listen = this.config.foxglove?.listen;
    if (listen === undefined) return;
    try {
      this.foxglove = await FoxgloveBridge.start({ tap: this.live.tap, listen, logger: log.child({ part: 'foxglove' }), name: `covey ${this.config.swarm.name} ${this.identity.peerId.slice(-6)}` });
      log.info({ url: this.foxgloveUrl }, 'Foxglove bridge listening (Foxglove Studio: Open connection → Foxglove WebSocket)');
    } catch (err) {
      log.error({ err }, (err as Error).message);
    }
  }

  /** ws://host:port of the Foxglove bridge, or null when it is off (or could not listen). */
  get foxgloveUrl(): string | null {
    const listen = this.config.foxglove?.listen;
    if (this.foxglove === null || listen === undefined) return null;
    return `ws://${listen.slice(0, listen.lastIndexOf(':'))}:${this.foxglove.port}`;
  }

  /** The live layer listens through the plugin environment's telemetry (agent/live/live.ts). */
  private startLive(env: AgentEnvironment, pubsub: AgentEnvironmentOptions['pubsub']): void {
    const timers = realTimeClock();
    this.live.start({
      tap: {
        selfId: this.identity.peerId,
        subscribe: (topic, fn) => env.subscribe(topic, fn),
        publish: (topic, data) => env.publish(topic, data),
        onPeerTopic: peerTelemetryTopics(pubsub, this.config.swarm.name),
        every: (ms, fn) => timers.every(ms, fn),
      },
      devices: this.deviceMap,
      counters: {
        replica: () => {
          const d = this.driver;
          return d === null ? null : { committed: d.core.stats.committed, fastCommits: d.core.stats.fastCommits, slowCommits: d.core.stats.slowCommits, recoveries: d.core.stats.recoveriesStarted };
        },
        latency: async () => {
          const values = (await this.metrics.commandSeconds.get()).values;
          const total = (suffix: string): number => values.filter((v) => v.metricName === `covey_command_seconds_${suffix}`).reduce((a, v) => a + v.value, 0);
          return { count: total('count'), sumS: total('sum') };
        },
        reachableVoters: () => this.reachableVoters().length,
        voters: this.n,
      },
    });
  }

  /**
   * Opens the config's devices with the real clock and crypto-seeded randomness (simulated
   * drivers' noise). Never rejects: a device that cannot be opened stays in the map, unavailable
   * with the reason, and a warning names it; the agent runs without it.
   */
  private async openConfiguredDevices(): Promise<void> {
    const specs = this.config.devices;
    if (specs.length === 0) return;
    const random = seededRandom(randomBytes(4).readUInt32LE(0));
    const { devices, failures } = await openDevices(specs, { clock: realTimeClock(), random });
    this.deviceMap = devices;
    for (const f of failures) {
      const spec = specs.find((s) => s.name === f.name);
      this.logger.warn({ device: f.name, driver: spec?.driver, reason: f.error.message }, `${f.error.message}; the agent runs without it (plugins see it unavailable)`);
    }
  }

  /**
   * What this agent gossips about itself: role and the names of its plugins. The record rides on
   * every alive message and is bounded (transports/membership/meta.ts, 512 bytes): plugin names
   * that do not fit are left out of the advertisement (they still run) and a warning says which.
   */
  private advertisedMeta(): Meta {
    let meta: Meta = { role: this.selfIndex === null ? 'worker' : 'voter', devices: [], plugins: [], battery: null };
    const left = { plugins: [] as string[], devices: [] as string[] };
    const add = (key: 'plugins' | 'devices', name: string): void => {
      const next: Meta = { ...meta, [key]: [...meta[key], name] };
      if (metaProblem(next) === null) meta = next;
      else left[key].push(name);
    };
    for (const p of this.loadedPlugins) add('plugins', p.definition.name);
    for (const d of this.config.devices) add('devices', d.name);
    if (left.plugins.length > 0) this.logger.warn({ advertised: meta.plugins, notAdvertised: left.plugins }, `membership metadata is bounded: plugins ${left.plugins.join(', ')} run but are not advertised to other agents`);
    if (left.devices.length > 0) this.logger.warn({ advertised: meta.devices, notAdvertised: left.devices }, `membership metadata is bounded: devices ${left.devices.join(', ')} are driven but not advertised to other agents`);
    return meta;
  }

  /** The HTTP API's base URL, e.g. http://127.0.0.1:7070. */
  get httpUrl(): string {
    const a = this.http?.address();
    if (a === null || a === undefined || typeof a === 'string') return `http://${this.config.http.listen}`;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  /** Graceful stop: no new work, finish the turn in flight (flushed to disk), close everything. */
  stop(): Promise<void> {
    this.stopping ??= this.stopParts();
    return this.stopping;
  }

  private async stopParts(): Promise<void> {
    this.memoryReclaim?.stop();
    await this.foxglove?.stop();
    this.foxglove = null;
    this.live.stop();
    // Plugins first: their stop hooks may still use consensus, telemetry and the store.
    await this.pluginHost?.stop();
    await this.pluginEnv?.close();
    // Devices after the plugins (their stop hooks may still command them, e.g. hold position).
    if (this.devicesOpening !== null) {
      await this.devicesOpening.catch(() => {});
      await closeDevices(this.deviceMap);
    }
    const closeHttp = this.http === null ? Promise.resolve() : new Promise<void>((r) => { this.http!.close(() => r()); this.http!.closeIdleConnections(); });
    await this.driver?.stop();
    await this.membership?.stop({ leave: true });
    this.rosterSync?.stop();
    if (this.reachTimer !== null) clearInterval(this.reachTimer);
    this.reachTimer = null;
    await this.health?.stop();
    await this.keeper?.stop();
    await this.transfer?.stop();
    await this.rpc?.stop();
    await this.forming?.formation.stop();
    await this.node?.stop();
    await this.storage?.close();
    this.http?.closeAllConnections();
    this.streams?.closeAll();
    await closeHttp;
    this.logger.info('agent stopped');
  }

  // ---- the API ---------------------------------------------------------------------------------

  async submit(op: Operation, o: SubmitOptions): Promise<CommandResult> {
    const started = performance.now();
    const command = { clientId: o.clientId ?? this.clientId, requestId: o.requestId ?? ++this.requestSeq, timestampMs: Date.now(), ...op } as Command;
    const timeoutMs = o.timeoutMs ?? this.config.consensus.requestTimeoutMs;
    let outcome = 'error';
    try {
      const r = this.driver !== null ? await this.submitLocal(command, timeoutMs) : await this.forward(command, timeoutMs);
      outcome = r.ok ? 'ok' : 'refused';
      return r;
    } catch (err) {
      if (err instanceof DeadlineError) outcome = 'timeout';
      throw err;
    } finally {
      this.metrics.commands.inc({ op: op.op, outcome });
      this.metrics.commandSeconds.observe({ op: op.op }, (performance.now() - started) / 1000);
    }
  }

  /**
   * Why a command another agent forwarded over libp2p is refused, or null. Only roster members
   * submit (the gater already refuses strangers; this holds during a revocation's first moments),
   * and roster changes come only from voters: a worker's word must not admit or revoke anyone.
   */
  private submitRefusal(command: Command, from: string): string | null {
    if (!this.roster.admits(from)) return `peer ${from} is not on the swarm roster; an operator admits it with \`covey peers admit ${from}\` at a voter`;
    if ((command.op === 'peer.admit' || command.op === 'peer.revoke') && !this.roster.isVoter(from)) {
      return 'roster changes are accepted only from voters; make them at a voter (covey peers admit|revoke --url <a voter\'s HTTP API>)';
    }
    return null;
  }

  async changeRoster(op: 'peer.admit' | 'peer.revoke', peerId: string, o: SubmitOptions): Promise<CommandResult> {
    if (this.driver === null) {
      throw new HttpError(409, 'roster changes are made at a voter (this agent is a worker); run the command with --url pointing at a voter\'s HTTP API');
    }
    if (op === 'peer.revoke' && this.roster.isVoter(peerId)) {
      throw new HttpError(409, `${peerId} is a voter; a voter stays on the roster until it is removed from the voter set (reconfiguration is not built yet, docs/agent.md)`);
    }
    if (op === 'peer.revoke' && peerId === this.identity.peerId) throw new HttpError(409, 'an agent cannot revoke itself; revoke it from another agent');
    return this.submit({ op, peerId }, o);
  }

  async redeemJoinToken(token: string): Promise<CommandResult> {
    if (this.driver === null) throw new HttpError(409, 'join tokens are redeemed at a voter (this agent is a worker); send it to a voter\'s HTTP API');
    const v = await verifyJoinToken(token, { swarm: this.config.swarm.name, nowMs: Date.now() });
    if (!v.ok) throw new HttpError(403, `join token refused: ${v.reason}`);
    const { peer, issuer } = v.claim;
    if (!this.roster.admits(issuer)) throw new HttpError(403, `join token refused: its issuer ${issuer} is not on the roster`);
    if (this.roster.isRevoked(peer)) throw new HttpError(403, `join token refused: ${peer} was revoked; only an operator can admit it again (covey peers admit)`);
    this.logger.info({ peer, issuer }, 'admitting a peer by join token');
    return this.submit({ op: 'peer.admit', peerId: peer }, {});
  }

  peers(): Record<string, unknown> {
    const connected = new Set((this.node?.getConnections() ?? []).map((conn) => conn.remotePeer.toString()));
    return {
      enforced: this.roster.enforced,
      version: this.roster.version,
      peers: this.roster.entries().map((e) => ({ ...e, self: e.peerId === this.identity.peerId, connected: connected.has(e.peerId) })),
    };
  }

  private submitLocal(command: Command, timeoutMs: number): Promise<CommandResult> {
    if (this.driver === null) return Promise.reject(new Error('this agent is not a voter; submit at a voter'));
    return this.driver.submit(command, timeoutMs, () => this.explainNoQuorum());
  }

  /** A non-voter hands the command to a voter it can reach, the next one on failure, until the deadline. */
  private async forward(command: Command, timeoutMs: number): Promise<CommandResult> {
    const deadline = performance.now() + timeoutMs;
    let last = 'no voter reachable';
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      const reachable = this.reachableVoters().filter((v) => v !== this.selfIndex);
      if (reachable.length > 0 && this.rpc !== null) {
        const to = reachable[this.nextVoter++ % reachable.length];
        try {
          // Same client and request id on every attempt: the command takes effect at most once.
          return await this.rpc.submit(to, command, AbortSignal.timeout(Math.max(1, Math.ceil(left))));
        } catch (err) {
          last = `voter ${to}: ${(err as Error).message}`;
        }
      }
      await new Promise((r) => setTimeout(r, Math.min(forwardRetryMs, Math.max(1, deadline - performance.now()))));
    }
    throw new DeadlineError(`no voter answered within ${timeoutMs} ms (last: ${last}); the command may still take effect — retry with the same clientId and requestId to learn its outcome`);
  }

  private explainNoQuorum(): string {
    const others = this.reachableVoters().filter((v) => v !== this.selfIndex).length;
    const q = quorums(defaultQuorumConfig(this.n));
    return `this voter reaches ${others} of the ${this.n - 1} other voters and needs ${q.slowQuorumSize - 1} for a majority; ` +
      'the command may still take effect — retry with the same clientId and requestId to learn its outcome';
  }

  /**
   * Voters this agent reaches now (self included): connected, and heard within the link health's
   * window (transports/link-health.ts) — a cut network leaves connections open for minutes —
   * minus any cut by fault injection.
   */
  reachableVoters(): number[] {
    const connected = new Set(this.rpc?.connectedVoters() ?? []);
    const out: number[] = [];
    for (let v = 0; v < this.n; v++) {
      const id = this.config.voters[v].id;
      if (v === this.selfIndex || (connected.has(v) && this.health?.hearing(id) === true && !this.cut.has(id))) out.push(v);
    }
    this.metrics.reachableVoters.set(out.length);
    return out;
  }

  private staleness(): Record<string, unknown> {
    const d = this.driver!;
    const now = performance.now();
    const q = quorums(defaultQuorumConfig(this.n));
    // The moment a majority (with this voter) was last heard from: the (majority−1)-th most recent.
    const heard = this.lastHeard.filter((_, v) => v !== this.selfIndex).sort((a, b) => b - a);
    const majorityAt = heard[q.slowQuorumSize - 2] ?? -Infinity;
    return {
      appliedInstances: d.core.stats.applied,
      reachableVoters: this.reachableVoters().length,
      majorityReachable: this.reachableVoters().length >= q.slowQuorumSize,
      /** Nothing newer than this can have committed without this voter hearing of it… unless it was cut off: then this bound grows. */
      lastMajorityContactMsAgo: Number.isFinite(majorityAt) ? Math.round(now - majorityAt) : null,
    };
  }

  staleGet(key: string): StaleAnswer<string | null> {
    if (this.driver === null) throw new HttpError(409, 'stale reads are served by voters (they hold the state); ask a voter, or read linearizably here');
    const value = this.driver.stateMachine.get(key);
    return { value, stale: true, staleness: this.staleness() };
  }

  staleList(q: KvListQuery): StaleAnswer<KvEntry[]> & { readonly next: string | null } {
    if (this.driver === null) throw new HttpError(409, 'key listings are served by voters (they hold the state); ask a voter');
    const page = pageKeys(this.driver.stateMachine, q);
    return { value: page.entries, next: page.next, stale: true, staleness: this.staleness() };
  }

  staleTasks(): StaleAnswer<TaskView[]> {
    if (this.driver === null) throw new HttpError(409, 'task listings are served by voters (they hold the state); ask a voter');
    return { value: this.driver.stateMachine.listTasks(), stale: true, staleness: this.staleness() };
  }

  /**
   * Every member the membership protocol knows (SWIM state, incarnation, last heard), and each
   * voter, listed even before membership has heard of it, with whether consensus reaches it.
   */
  members(): unknown[] {
    const reachable = new Set(this.reachableVoters());
    const voterIndex = new Map(this.config.voters.map((v, i) => [v.id, i]));
    const known = new Map((this.membership?.members() ?? []).map((m) => [m.id, m]));
    const ids = [...new Set([...this.config.voters.map((v) => v.id), ...known.keys()])];
    return ids.map((id) => {
      const m = known.get(id);
      const i = voterIndex.get(id);
      return {
        peerId: id,
        self: id === this.identity.peerId,
        role: i !== undefined ? 'voter' : m?.meta.role ?? 'worker',
        replicaId: i ?? null,
        state: id === this.identity.peerId ? 'alive' : m?.state ?? 'unknown',
        incarnation: m?.incarnation ?? null,
        lastHeardMsAgo: m?.lastHeardMsAgo ?? null,
        consensusReachable: i === undefined ? null : reachable.has(i),
        meta: m?.meta ?? null,
      };
    });
  }

  memberEvents(): unknown[] {
    return this.recentEvents;
  }

  /** Every configured device, in config order: name, kind, driver and status (`opening` until opened). */
  devices(): DeviceInfo[] {
    return this.config.devices.map((spec) => {
      const d = this.deviceMap.get(spec.name);
      return { name: spec.name, kind: d?.kind ?? driverKinds[spec.driver], driver: spec.driver, status: d === undefined ? opening : statusOf(d) };
    });
  }

  /** Each plugin's name, version, source, state, restarts and last error (empty before start). */
  plugins(): PluginStatus[] {
    return this.pluginHost?.status() ?? [];
  }

  /** Membership news: kept for the HTTP API, logged; a dead voter's stalled instances are recovered at once (§12). */
  private onMemberEvent(e: MemberEvent): void {
    this.recentEvents.push({ type: e.type, peerId: e.member.id, state: e.member.state, incarnation: e.member.incarnation, at: new Date().toISOString() });
    if (this.recentEvents.length > recentEventsMax) this.recentEvents.splice(0, this.recentEvents.length - recentEventsMax);
    const level = e.type === 'dead' || e.type === 'suspect' ? 'warn' : 'info';
    this.logger[level]({ member: e.member.id, state: e.member.state, incarnation: e.member.incarnation }, `member ${e.type}`);
    this.live.member(e);
    for (const fn of this.memberListeners) {
      try {
        fn(e);
      } catch (err) {
        this.logger.error({ err }, 'membership listener threw');
      }
    }
    // Heard alive again (perhaps through another member, while the direct link was down): dial now.
    if (e.type === 'join' || e.type === 'alive') this.keeper?.redialNow(e.member.id);
    const r = deadVoter(e, this.config.voters.map((v) => v.id));
    if (r !== null) this.driver?.recoverCoordinator(r);
  }

  readiness(): { ready: boolean; reason: string } {
    const q = quorums(defaultQuorumConfig(this.n));
    const reach = this.reachableVoters().length;
    if (this.driver?.failed) return { ready: false, reason: this.driver.failed.message };
    if (this.driver !== null) {
      return reach >= q.slowQuorumSize
        ? { ready: true, reason: `reaches ${reach} of ${this.n} voters` }
        : { ready: false, reason: `reaches ${reach} of ${this.n} voters, needs ${q.slowQuorumSize} to commit` };
    }
    // A worker forwards to any voter, but nothing commits unless a majority of voters is up: a
    // worker that hears fewer cannot know that its commands would commit.
    if (reach === 0) return { ready: false, reason: 'reaches no voter' };
    return reach >= q.slowQuorumSize
      ? { ready: true, reason: `reaches ${reach} of ${this.n} voters` }
      : { ready: false, reason: `reaches ${reach} of ${this.n} voters; a command needs a majority (${q.slowQuorumSize}) of them up to commit` };
  }

  status(): Record<string, unknown> {
    const d = this.driver;
    const reachable = this.reachableVoters();
    return {
      peerId: this.identity.peerId,
      swarm: this.config.swarm.name,
      role: this.selfIndex === null ? 'worker' : 'voter',
      replicaId: this.selfIndex,
      voters: this.config.voters.map((v) => v.id),
      reachableVoters: reachable.length,
      addrs: this.node?.getMultiaddrs().map(String) ?? [],
      http: this.httpUrl,
      uptimeMs: Date.now() - this.startedMs,
      ...readiness(this.readiness()),
      instances: d === null ? null : {
        committed: d.core.stats.committed,
        executed: d.core.stats.applied,
        pending: d.core.pendingIds().length,
        queuedCommands: d.core.queuedCommands(),
        fastCommits: d.core.stats.fastCommits,
        slowCommits: d.core.stats.slowCommits,
        recoveriesStarted: d.core.stats.recoveriesStarted,
        executedWatermark: d.core.executedWatermark(),
      },
      storage: d === null ? null : { groupCommits: d.stats.fsyncs, recordsPersisted: d.stats.recordsPersisted, failed: d.failed?.message ?? null },
      lastSnapshot: d?.lastSnapshot ?? null,
      plugins: this.plugins(),
      devices: this.devices(),
      faultInjection: this.faults === undefined ? undefined : { cut: [...this.cut] },
    };
  }
}

/** A copy of the driver's status (a getter on most drivers), safe to serialise. */
function statusOf(d: Device): DeviceStatus {
  const s = d.status;
  return s.state === 'available' ? { state: 'available' } : { state: 'unavailable', reason: s.reason };
}

function readiness(r: { ready: boolean; reason: string }): Record<string, unknown> {
  return { ready: r.ready, readiness: r.reason };
}

function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  return [s.slice(0, i).replace(/^\[|\]$/g, ''), Number(s.slice(i + 1))];
}
