// The agent: one per device. `createAgent(config, ports)` composes it (js-libp2p style: small
// parts, one factory) from the parts below — replica storage and driver (on a voter), libp2p
// node, consensus RPC, snapshot transfer, peer keeper, link health, membership, roster sync, the
// HTTP API (optional), devices, the plugin environment, the live layer, the Foxglove bridge, the
// plugin host — over explicit ports (agent/ports.ts: clock and timers, network, storage, entropy,
// logger), and one lifecycle (agent/lifecycle.ts) starts them in that order and stops them in
// reverse: graceful work first (plugins' stop hooks, devices, the HTTP API refusing new
// connections, the driver finishing its turn in flight), then the resources, then the last HTTP
// connections. `Agent.start(config)` is createAgent with the real ports, started.
//
// Plugins (docs/plugins.md) are imported and their options checked by createAgent, before any
// part starts, so a bad plugin entry fails `Agent.start` with nothing left running; they are
// started last, once the HTTP API is up, and stopped first, while consensus still answers their
// stop hooks.

import type { Server } from 'node:http';
import { join } from 'node:path';
import {
  type Command, type CommandResult, defaultQuorumConfig, type Operation, quorums, type TaskView,
} from '../consensus/index.ts';
import { configPath, type AgentConfig } from './config.ts';
import { DeadlineError, ReplicaDriver } from './driver.ts';
import { deadVoter } from './membership-recovery.ts';
import {
  createHttpApi, HttpError, tokenProblem, type AgentApi, type DeviceInfo, type StaleAnswer, type SubmitOptions,
} from './http.ts';
import { attachStreamServer, type StreamServer } from './stream/server.ts';
import { pageKeys, type KvEntry, type KvListQuery } from './kv-list.ts';
import { SwarmRoster } from './roster.ts';
import { plannedVoters, requestReason, votersChangeProblem, votersCommand, votersView, type VotersRequest, type VotersView } from './voters-api.ts';
import { verifyJoinToken } from './join-token.ts';
import { RosterSync } from './roster-sync.ts';
import { peerIdFromString } from '@libp2p/peer-id';
import { loadIdentity, type Identity } from './identity.ts';
import { createLogger, type Logger } from './log.ts';
import { createMetrics, type AgentMetrics } from './metrics.ts';
import { TelemetryStats } from './telemetry-stats.ts';
import { MemoryReclaim } from './memory-reclaim.ts';
import type { CoveyNode } from '../transports/node.ts';
import { formSwarm } from './formation/forming.ts';
import { Lifecycle, type Part } from './lifecycle.ts';
import { realAgentPorts, type AgentClock, type AgentPorts } from './ports.ts';
import { PeerKeeper } from '../transports/peers.ts';
import { LinkHealth } from '../transports/link-health.ts';
import type { ConsensusRpc } from '../transports/rpc/consensus-rpc.ts';
import { JoinTransfer } from '../transports/rpc/join-transfer.ts';
import { EpochGroups, type Group } from './epoch-groups.ts';
import { VoterReplacer } from './voter-replacer.ts';
import { VotersSync } from './voters-sync.ts';
import type { ReplacementView } from './voter-replacement.ts';
import { MembershipDriver } from '../transports/membership/driver.ts';
import { type MemberEvent, type Meta, metaProblem } from '../transports/membership/index.ts';
import { seededRandom } from '../devices/clock.ts';
import { closeDevices, driverKinds, openDevices } from '../devices/registry.ts';
import type { Device, DeviceStatus } from '../devices/types.ts';
import { AgentEnvironment, type AgentEnvironmentOptions } from './plugins/agent-env.ts';
import { PluginHost, type LoadedPlugin, type PluginStatus } from './plugins/host.ts';
import { loadPlugins } from './plugins/loader.ts';
import { LiveLayer, peerTelemetryTopics } from './live/live.ts';
import { FoxgloveBridge } from './live/foxglove-bridge.ts';

export type { AgentPorts } from './ports.ts';


const opening: DeviceStatus = { state: 'unavailable', reason: 'opening' };

export interface AgentOptions {
  readonly logger?: Logger;
  /** Plugin supervision figures (tests shorten them); defaults: host.ts defaultSupervision. */
  readonly supervision?: ConstructorParameters<typeof PluginHost>[2];
  /** Gives up a start that is still forming its swarm (swarm.expectVoters): `covey agent` stopped meanwhile. */
  readonly signal?: AbortSignal;
}

export interface CreateAgentOptions {
  /** The agent's key; default: read from (or created at) the config's identity file. */
  readonly identity?: Identity;
  readonly supervision?: AgentOptions['supervision'];
  /** Whether to serve the HTTP API (and the submit stream); default true. */
  readonly http?: boolean;
}

/**
 * The one composition of an agent: loads and checks the configured plugins (a bad one rejects
 * here, before anything runs), then composes the parts over `ports`. Nothing starts until
 * `agent.start()`; `agent.stop()` stops what started.
 */
export async function createAgent(config: AgentConfig, ports: AgentPorts, o: CreateAgentOptions = {}): Promise<Agent> {
  const identity = o.identity ?? loadIdentity(configPath(config, config.identity));
  const plugins = await loadPlugins(config.plugins, config.baseDir);
  return new Agent({ config, identity, ports, plugins, supervision: o.supervision, http: o.http ?? true });
}

interface Composition {
  readonly config: AgentConfig;
  readonly identity: Identity;
  readonly ports: AgentPorts;
  readonly plugins: LoadedPlugin[];
  readonly supervision: AgentOptions['supervision'];
  readonly http: boolean;
}

/** Membership events (and moves to a new epoch of the voter set) kept for `GET /members/events`. */
const recentEventsMax = 200;

/** How long a non-voter waits before trying the next voter when forwarding fails. */
const forwardRetryMs = 200;
/**
 * A voter this many instances behind a peer it reaches (back from a partition or a restart) hands
 * its clients' commands to that peer until it is within `catchUpDoneBehindInstances` again: a
 * command it coordinated itself could execute only after everything it conflicts with, i.e. after
 * the catch-up (issue 16: writes at a former minority resumed 2–12 s after a heal). In step, a
 * voter is behind by its in-flight window, tens of instances.
 */
const catchUpBehindInstances = 256;
const catchUpDoneBehindInstances = 64;
/**
 * No memory reclaim this long after a voter reaches a majority again: quiet while cut off, it looks
 * idle to the reclaim's first look after the heal, whose pause (995 ms measured at a heal on this
 * machine, docs/benchmarks.md) would land just when it has most to catch up.
 */
const reclaimAfterHealMs = 15_000;
/** A voter reached while cut off from a majority is not a forwarding target for this long after. */
const minorityMateMs = 30_000;
/** An own instance in flight this long holds every command queued behind it: forward them meanwhile. */
const ownStuckForwardMs = 1000;
/** How often the core is told which voters this one hears (only changes reach it). */
const reachHintEveryMs = 100;

export class Agent implements AgentApi {
  readonly config: AgentConfig;
  readonly identity: Identity;
  readonly logger: Logger;
  /** This agent's replica index in epoch 0 (the config's voters), before the groups open. */
  private readonly configSelf: number | null;
  private readonly ports: AgentPorts;
  private readonly clock: AgentClock;
  private readonly metrics: AgentMetrics;
  /** Telemetry per topic, counted by the plugin environment, for /metrics. */
  readonly telemetryStats = new TelemetryStats();
  private readonly startedMs: number;
  /** This incarnation's client id: request ids restart at 1, so the client id must be new too. */
  private readonly clientId: string;
  private requestSeq = 0;
  /** The parts, in start order, and their one lifecycle. */
  private readonly lifecycle: Lifecycle;
  // What the parts hold while they run (null before their start, or absent on this agent: a
  // worker has no storage or driver, an agent without the HTTP API no server).
  /** The consensus group of each epoch this agent runs; the newest is current (agent/epoch-groups.ts). */
  private groups: EpochGroups | null = null;
  private node: CoveyNode | null = null;
  private keeper: PeerKeeper | null = null;
  private health: LinkHealth | null = null;
  private membership: MembershipDriver | null = null;
  private join: JoinTransfer | null = null;
  private replacer: VoterReplacer | null = null;
  private votersSync: VotersSync | null = null;
  /** When membership declared each peer dead (this agent's clock), until it is heard alive again. */
  private readonly deadSince = new Map<string, number>();
  readonly roster: SwarmRoster;
  private readonly recentEvents: Record<string, unknown>[] = [];
  private http: Server | null = null;
  private readonly loadedPlugins: LoadedPlugin[];
  private pluginHost: PluginHost | null = null;
  /** What the dashboard and the live tools stream (agent/live/): events, telemetry, positions. */
  readonly live: LiveLayer;
  /** The opt-in Foxglove WebSocket server over the live layer's telemetry (config `foxglove`). */
  private foxglove: FoxgloveBridge | null = null;
  private readonly memberListeners = new Set<(e: MemberEvent) => void>();
  /** The configured devices, by name, once opened (a device that failed to open is here too, unavailable). */
  private deviceMap: Map<string, Device> = new Map();
  /** The devices being opened (begun before the other parts start, awaited before the plugins start). */
  private devicesOpening: Promise<void> | null = null;
  private readonly supervision: AgentOptions['supervision'];
  /** clock.now() when each voter was last heard from (messages), for staleness. */
  /** When each voter (by peer id) was last heard on a consensus stream, on the agent's clock. */
  private readonly lastHeard = new Map<string, number>();
  private readonly cut = new Set<string>();
  private nextVoter = 0;
  /** True while far behind a peer (catchUpBehindInstances): clients' commands go to a voter ahead (forwardTarget). */
  private catchingUp = false;
  /** Voters this one reached while it reached fewer than a majority, and when it last did. */
  private readonly minorityMates = new Map<number, number>();
  /** When this voter last reached fewer than a majority of the voters (the reach hint's clock). */
  private cutOffAtMs = -Infinity;
  /** True while this voter's own oldest instance in flight is older than ownStuckForwardMs. */
  private ownStuck = false;
  readonly faults?: AgentApi['faults'];

  constructor(k: Composition) {
    const { config, identity, ports } = k;
    this.config = config;
    this.ports = ports;
    this.clock = ports.clock;
    this.startedMs = ports.clock.wallMs();
    this.loadedPlugins = k.plugins;
    this.supervision = k.supervision;
    this.identity = identity;
    this.logger = ports.logger;
    const i = config.voters.findIndex((v) => v.id === identity.peerId);
    this.configSelf = i < 0 ? null : i;
    const salt = Buffer.from(ports.entropy.bytes(4)).toString('hex');
    this.clientId = `${identity.peerId.slice(-10)}.${this.startedMs.toString(36)}.${salt}`;
    this.live = new LiveLayer({ logger: this.logger.child({ part: 'live' }) });
    this.roster = new SwarmRoster({ voters: config.voters.map((v) => v.id), bootstrap: config.swarm.roster });
    this.metrics = this.createMetrics();
    if (config.faultInjection) {
      this.faults = {
        cut: async (peers) => { for (const p of peers) this.cut.add(p); },
        heal: () => { this.cut.clear(); },
      };
    }
    this.lifecycle = new Lifecycle(this.parts(k.http), {
      onStopError: (part, phase, err) => this.logger.error({ err, part, phase }, `stopping the agent's ${part} failed`),
    });
  }

  private createMetrics(): AgentMetrics {
    return createMetrics({
      replica: () => {
        const d = this.driver;
        if (d === null) return null;
        const s = d.core.stats;
        return {
          committed: s.committed, applied: s.applied, pending: d.core.pendingIds().length,
          queued: d.core.queuedCommands(), fsyncs: d.stats.fsyncs, durableWrites: d.storageDurableWrites, recoveries: s.recoveriesStarted,
        };
      },
      plugins: () => this.plugins(),
      devices: () => this.devices(),
      // Leases are stamped with the submitters' wall clocks, so "expired" is judged by this one.
      tasks: () => this.driver === null
        ? null
        : { tasks: this.driver.stateMachine.listTasks(), nowMs: this.clock.wallMs() },
      telemetry: this.telemetryStats,
      voters: () => ({ epoch: this.epoch, n: this.n, voting: this.selfIndex !== null }),
    });
  }

  get registry() {
    return this.metrics.registry;
  }

  /** The voters of the current epoch, in replica order. */
  get voterIds(): readonly string[] {
    return this.groups?.current.voters ?? this.config.voters.map((v) => v.id);
  }

  /** This agent's replica index in the current epoch's group; null where it does not vote. */
  get selfIndex(): number | null {
    return this.groups === null ? this.configSelf : this.groups.current.self;
  }

  /** The current epoch (0: the config's voters). */
  get epoch(): number {
    return this.groups?.current.epoch ?? 0;
  }

  private get driver(): ReplicaDriver | null {
    return this.groups?.current.driver ?? null;
  }

  private get rpc(): ConsensusRpc | null {
    return this.groups?.current.rpc ?? null;
  }

  get n(): number {
    return this.voterIds.length;
  }

  /** Voters in a majority (this one included): the slow quorum. */
  private get majority(): number {
    return quorums(defaultQuorumConfig(this.n)).slowQuorumSize;
  }

  /** The parts' names, in start order (stop runs in reverse). */
  get partNames(): string[] {
    return this.lifecycle.names;
  }

  /**
   * createAgent with the real ports (agent/ports.ts), started. With swarm.expectVoters the voters
   * are agreed first (agent/formation/); the agent then starts with them as if configured. On
   * failure stops what was started and throws an error naming the part (PartStartError).
   */
  static async start(configIn: AgentConfig, o: AgentOptions = {}): Promise<Agent> {
    const logger = o.logger ?? createLogger({ name: 'covey', level: configIn.log.level });
    const identity = loadIdentity(configPath(configIn, configIn.identity));
    const forming = configIn.swarm.expectVoters === undefined
      ? null
      : await formSwarm(configIn, identity, logger, o.signal);
    const config = forming?.config ?? configIn;
    try {
      const ports = realAgentPorts(config, identity, logger, forming);
      const agent = await createAgent(config, ports, { identity, supervision: o.supervision });
      await agent.start();
      return agent;
    } catch (err) {
      // The forming swarm's node is stopped with the agent's node part; a failure before that part
      // (a bad plugin, storage) leaves it to stop here (stopping it twice is harmless).
      await forming?.formation.stop();
      await forming?.node.stop();
      throw err;
    }
  }

  /** Starts every part, in order; on failure stops what started and rejects naming the part. */
  async start(): Promise<void> {
    await this.lifecycle.start();
    const log = this.logger;
    log.info({
      peerId: this.identity.peerId,
      role: this.selfIndex === null ? 'worker' : `voter ${this.selfIndex}`,
      http: this.httpUrl,
      addrs: this.node?.getMultiaddrs().map(String) ?? [], plugins: this.loadedPlugins.map((p) => p.definition.name),
      devices: this.devices().map((d) => `${d.name}:${d.status.state}`),
    }, 'agent started');
  }

  /** Graceful stop: no new work, finish the turn in flight (flushed to disk), close everything. Idempotent. */
  async stop(): Promise<void> {
    await this.lifecycle.stop();
    this.logger.info('agent stopped');
  }

  // ---- the parts, in start order ---------------------------------------------------------------

  private parts(http: boolean): Part[] {
    return [
      this.nodePart(),
      this.consensusPart(),
      this.joinPart(),
      this.peersPart(),
      this.linkHealthPart(),
      this.reachHintPart(),
      this.membershipPart(),
      this.rosterSyncPart(),
      this.votersSyncPart(),
      this.replacementPart(),
      ...(http ? [this.httpPart()] : []),
      this.devicesPart(),
      ...this.pluginParts(),
      this.memoryReclaimPart(),
    ];
  }

  private nodePart(): Part {
    return {
      name: 'node',
      start: async () => { this.node = await this.ports.network.open((peer) => this.roster.admits(peer)); },
      stop: async () => { if (this.node !== null) await this.ports.network.close(this.node); },
    };
  }

  /**
   * The consensus groups: the newest epoch's (and the one before it, while it finishes), each with
   * its storage, replica driver, consensus RPC and snapshot transfer (agent/epoch-groups.ts). Their
   * drivers finish their turns in flight while the network still runs.
   */
  private consensusPart(): Part {
    const c = this.config;
    return {
      name: 'consensus',
      start: async () => {
        this.groups = new EpochGroups({
          self: this.identity.peerId,
          voters0: c.voters.map((v) => v.id),
          node: () => this.node!,
          storage: this.ports.storage,
          logger: this.logger,
          registry: this.metrics.registry,
          replica: { tickMs: c.consensus.tickMs, snapshotEveryApplied: c.consensus.snapshotEveryApplied },
          requestTimeoutMs: c.consensus.requestTimeoutMs,
          cut: this.cut,
          heard: (peer) => {
            this.lastHeard.set(peer, this.clock.now());
            this.health?.heard(peer);
          },
          onSubmit: (command, from) => {
            const refused = this.submitRefusal(command, from);
            return refused !== null ? Promise.reject(new Error(refused)) : this.submitLocal(command, c.consensus.requestTimeoutMs);
          },
          forward: (command) => this.forward(command, c.consensus.requestTimeoutMs),
          onExecuted: (batch) => this.live.executed(batch),
          onCurrent: (g) => this.onCurrentEpoch(g),
          offerJoin: (to, offer) => this.join?.offer(to, offer),
        });
        await this.groups.start();
      },
      beforeStop: async () => { await this.groups?.stopDrivers(); },
      stop: async () => { await this.groups?.stop(); },
    };
  }

  /**
   * Join offers (rule 6): a voter whose group closed offers the state at the change to each voter
   * new in the next epoch; this agent accepts one for an epoch newer than its own that names it,
   * from a voter it knows (agent/epoch-groups.ts says when).
   */
  private joinPart(): Part {
    return {
      name: 'join offers',
      start: async () => {
        this.join = new JoinTransfer({
          node: this.node!,
          logger: this.logger.child({ part: 'join' }),
          registry: this.metrics.registry,
          accept: (from, offer) => this.groups!.joinRefusal(from, offer, (peer) => this.roster.isVoter(peer)),
          onOffer: (from, offer) => this.groups!.join(from, offer),
        });
        await this.join.start();
      },
      stop: async () => { await this.join?.stop(); },
    };
  }

  /** The agent moved to a newer epoch (or opened its first): the rest of it follows its voters. */
  private onCurrentEpoch(g: Group): void {
    this.roster.setVoters(g.voters);
    this.minorityMates.clear();
    for (const v of g.voters) {
      if (v === this.identity.peerId) continue;
      this.keeper?.keep(v);
      this.health?.watch(v);
    }
    this.votersSync?.publish();
    // In GET /members/events beside membership's news: the voter set is the swarm's membership too.
    this.pushEvent({ type: 'epoch', epoch: g.epoch, voters: g.voters, role: g.self === null ? 'worker' : 'voter', at: new Date(this.clock.wallMs()).toISOString() });
    this.live.voters(g.epoch, g.voters, g.self === null ? 'worker' : 'voter');
    this.logger.info({ epoch: g.epoch, voters: g.voters, self: g.self }, g.self === null
      ? `epoch ${g.epoch}: this agent does not vote; it forwards its clients' commands to the voters`
      : `epoch ${g.epoch}: this agent votes as replica ${g.self} of ${g.voters.length}`);
  }

  private peersPart(): Part {
    const c = this.config;
    return {
      name: 'peer keeper',
      start: async () => {
        this.keeper = new PeerKeeper({
          node: this.node!,
          peers: [
            ...c.voters.filter((v) => v.id !== this.identity.peerId).map((v) => ({ id: v.id, addrs: v.addrs })),
            ...this.voterIds.filter((id) => id !== this.identity.peerId && !c.voters.some((v) => v.id === id)).map((id) => ({ id, addrs: [] })),
          ],
          bootstrap: c.bootstrap,
          logger: this.logger.child({ part: 'peers' }),
        });
        await this.keeper.start();
      },
      stop: async () => { await this.keeper?.stop(); },
    };
  }

  /** Whether each other voter is heard, not just connected (a cut network keeps connections open). */
  private linkHealthPart(): Part {
    return {
      name: 'link health',
      start: async () => {
        this.health = new LinkHealth({
          node: this.node!,
          peers: this.voterIds.filter((id) => id !== this.identity.peerId),
          logger: this.logger.child({ part: 'health' }),
        });
        await this.health.start();
      },
      stop: async () => { await this.health?.stop(); },
    };
  }

  /** The core's quorum choices follow what this voter hears (a hint; the core's 'reachable' event). */
  private reachHintPart(): Part {
    let cancel: (() => void) | null = null;
    return {
      name: 'reach hint',
      start: () => {
        cancel = this.clock.every(reachHintEveryMs, () => {
          const reachable = this.reachableVoters();
          if (this.driver !== null && reachable.length < this.majority) {
            this.cutOffAtMs = this.clock.now();
            for (const v of reachable) if (v !== this.selfIndex) this.minorityMates.set(v, this.cutOffAtMs);
          }
          this.driver?.setReachable(reachable);
        });
      },
      stop: () => { cancel?.(); },
    };
  }

  private membershipPart(): Part {
    const c = this.config;
    return {
      name: 'membership',
      start: async () => {
        this.membership = new MembershipDriver({
          node: this.node!,
          swarm: c.swarm.name,
          logger: this.logger.child({ part: 'membership' }),
          registry: this.metrics.registry,
          meta: this.advertisedMeta(),
          // Statements about itself signed with its identity; only roster members heard, in their roles.
          privateKey: this.identity.privateKey,
          trust: { isAdmitted: (id) => this.roster.admits(id), roleOf: (id) => this.roster.roleOf(id) },
          // Voters (with known addresses, as multiaddrs) and bootstrap peers are the seeds.
          seeds: [
            ...c.voters.filter((v) => v.id !== this.identity.peerId)
              .flatMap((v) => v.addrs.length === 0 ? [v.id] : v.addrs.map((a) => `${a}/p2p/${v.id}`)),
            ...c.bootstrap,
          ],
          onEvent: (e) => this.onMemberEvent(e),
        });
        await this.membership.start();
      },
      stop: async () => { await this.membership?.stop({ leave: true }); },
    };
  }

  /** Voters announce their epoch; agents that do not vote follow it (agent/voters-sync.ts). */
  private votersSyncPart(): Part {
    return {
      name: 'voters sync',
      start: () => {
        this.votersSync = new VotersSync({
          swarm: this.config.swarm.name,
          pubsub: this.node!.services.pubsub,
          announce: () => (this.selfIndex === null ? null : { epoch: this.epoch, voters: this.voterIds }),
          trusts: (peer) => this.roster.isVoter(peer),
          onAnnouncement: (from, a) => this.groups?.learn(from, a.epoch, a.voters),
          logger: this.logger.child({ part: 'voters' }),
          registry: this.metrics.registry,
        });
        this.votersSync.start();
      },
      stop: () => { this.votersSync?.stop(); },
    };
  }

  /** The automatic replacement of lost voters (agent/voter-replacer.ts), on a voter, when enabled. */
  private replacementPart(): Part {
    const r = this.config.voterReplacement;
    return {
      name: 'voter replacement',
      start: () => {
        if (!r.enabled) return;
        this.replacer = new VoterReplacer({
          policy: { replaceAfterMs: r.afterMs, roles: r.roles, batteryFloor: r.batteryFloor },
          clock: this.clock,
          logger: this.logger.child({ part: 'replacement' }),
          view: () => this.replacementView(),
          submit: (voters, reason) => this.submit({ op: 'voters.change', epoch: this.epoch, voters: voters.join(','), reason }, {}),
        });
        this.replacer.start();
      },
      stop: () => { this.replacer?.stop(); },
    };
  }

  /** What the replacement policy sees here; null where this agent does not vote. */
  private replacementView(): ReplacementView | null {
    const d = this.driver;
    if (d === null || this.membership === null) return null;
    const ids = this.voterIds;
    const reachable = new Set(this.reachableVoters().map((v) => ids[v]));
    return {
      self: this.identity.peerId,
      nowMs: this.clock.now(),
      voters: ids,
      deadSinceMs: new Map([...this.deadSince].filter(([id]) => ids.includes(id))),
      reachable,
      candidates: this.membership.members()
        .filter((m) => m.id !== this.identity.peerId && this.roster.admits(m.id))
        .map((m) => ({ id: m.id, role: m.meta.role, battery: m.meta.battery, alive: m.state === 'alive' })),
      changeInFlight: d.core.isSealed(),
    };
  }

  private rosterSyncPart(): Part {
    let sync: RosterSync | null = null;
    return {
      name: 'roster sync',
      start: () => {
        sync = new RosterSync({
          roster: this.roster,
          swarm: this.config.swarm.name,
          pubsub: this.node!.services.pubsub,
          // The current epoch's state machine, read each time: the agent may start or stop voting,
          // and a closed epoch's machine stays frozen at its change (a worker reads version 0: nothing).
          read: {
            version: () => this.driver?.stateMachine.rosterVersion() ?? 0,
            view: () => this.driver?.stateMachine.roster() ?? { version: 0, decisions: [] },
          },
          logger: this.logger.child({ part: 'roster' }),
        });
        this.roster.onChange((revoked) => {
          for (const peer of revoked) {
            this.logger.warn({ peer }, 'peer revoked from the roster; closing its connections');
            this.node?.hangUp(peerIdFromString(peer)).catch(() => {});
          }
        });
        sync.start();
      },
      stop: () => { sync?.stop(); },
    };
  }

  /**
   * The HTTP API and the submit stream. It refuses new connections once the agent begins to stop;
   * the open ones are closed last, so requests in flight are answered while the parts stop.
   */
  private httpPart(): Part {
    const c = this.config;
    let streams: StreamServer | null = null;
    let closed: Promise<void> = Promise.resolve();
    return {
      name: 'HTTP API',
      start: async () => {
        const server = createHttpApi(this, {
          token: c.http.token, logger: this.logger.child({ part: 'http' }), live: this.live.routes,
        });
        streams = attachStreamServer(server, {
          submit: (command) => this.submitForClient(command, c.consensus.requestTimeoutMs),
          authorize: (req) => tokenProblem(req, c.http.token),
          logger: this.logger.child({ part: 'stream' }),
          onCommand: (op, outcome, seconds) => {
            this.metrics.commands.inc({ op, outcome });
            this.metrics.commandSeconds.observe({ op }, seconds);
          },
        });
        const [host, port] = splitHostPort(c.http.listen);
        await new Promise<void>((resolve, reject) => {
          server.once('error', (err) => {
            reject(new Error(`cannot listen for HTTP on ${c.http.listen}: ${err.message} (change http.listen)`));
          });
          server.listen(port, host, () => resolve());
        });
        this.http = server;
      },
      beforeStop: () => {
        const server = this.http;
        if (server === null) return;
        closed = new Promise<void>((r) => { server.close(() => r()); server.closeIdleConnections(); });
      },
      stop: () => {},
      afterStop: async () => {
        this.http?.closeAllConnections();
        streams?.closeAll();
        await closed;
      },
    };
  }

  /**
   * Devices open while the other parts start (a MAVLink link may take seconds to hear a
   * heartbeat); the plugins start only once every device is open or has failed to. They close
   * after the plugins (whose stop hooks may still command them, e.g. hold position).
   */
  private devicesPart(): Part {
    return {
      name: 'devices',
      beforeStart: () => { this.devicesOpening = this.openConfiguredDevices(); },
      start: async () => { await this.devicesOpening; },
      beforeStop: async () => {
        await this.devicesOpening?.catch(() => {});
        await closeDevices(this.deviceMap);
      },
      stop: () => {},
    };
  }

  /**
   * The plugin environment, the live layer and the Foxglove bridge over it, then the plugin host.
   * All stop gracefully (beforeStop), plugins first, while consensus, telemetry and the store
   * still answer their stop hooks.
   */
  private pluginParts(): Part[] {
    let env: AgentEnvironment | null = null;
    return [
      {
        name: 'plugin environment',
        start: () => { env = this.createPluginEnvironment(); },
        beforeStop: async () => { await env?.close(); },
        stop: () => {},
      },
      {
        name: 'live layer',
        start: () => { this.startLive(env!, this.node!.services.pubsub); },
        beforeStop: () => { this.live.stop(); },
        stop: () => {},
      },
      {
        name: 'Foxglove bridge',
        start: () => this.startFoxglove(),
        beforeStop: async () => {
          await this.foxglove?.stop();
          this.foxglove = null;
        },
        stop: () => {},
      },
      {
        name: 'plugin host',
        start: async () => {
          this.pluginHost = new PluginHost(env!, this.loadedPlugins, this.supervision);
          await this.pluginHost.start(); // never rejects for one plugin's failure: failed plugins are supervised
        },
        beforeStop: async () => { await this.pluginHost?.stop(); },
        stop: () => {},
      },
    ];
  }

  private createPluginEnvironment(): AgentEnvironment {
    const c = this.config;
    return new AgentEnvironment({
      agentId: this.identity.peerId,
      // Read at each use: the voter set moves, and a promoted worker's plugins read its replica at once.
      role: () => (this.selfIndex !== null ? 'voter' : 'worker'),
      swarm: c.swarm.name,
      submit: (op) => this.submit(op, {}),
      staleGet: (key) => this.staleGet(key),
      staleList: (q) => {
        const a = this.staleList(q);
        return { value: { entries: a.value, next: a.next }, stale: true, staleness: a.staleness };
      },
      staleTasks: () => this.staleTasks(),
      pubsub: this.node!.services.pubsub,
      admits: (peer) => this.roster.admits(peer),
      members: () => this.membership?.members() ?? [],
      onMemberEvent: (fn) => { this.memberListeners.add(fn); return () => { this.memberListeners.delete(fn); }; },
      devices: this.deviceMap,
      logger: this.logger.child({ part: 'plugins' }),
      storeDir: join(configPath(c, c.dataDir), 'plugins'),
      telemetry: this.telemetryStats,
      observer: {
        declared: (topic, schema) => this.live.tap.declare(topic, schema),
        published: (topic, data) => this.live.tap.published(topic, data),
      },
    });
  }

  /**
   * Gives memory back once a burst is over (agent/memory-reclaim.ts says why it is needed). Not
   * while cut off from a majority: a heal may come at any moment, and the pause would hold it up.
   */
  private memoryReclaimPart(): Part {
    let reclaim: MemoryReclaim | null = null;
    return {
      name: 'memory reclaim',
      start: () => {
        reclaim = new MemoryReclaim({
          logger: this.logger.child({ part: 'memory' }), registry: this.metrics.registry,
          holdOff: () => this.reachableVoters().length < this.majority || this.clock.now() - this.cutOffAtMs < reclaimAfterHealMs,
        });
        reclaim.start();
      },
      beforeStop: () => { reclaim?.stop(); },
      stop: () => {},
    };
  }

  /** A bridge that cannot listen is logged and left off: watching the swarm is not worth stopping the agent. */
  private async startFoxglove(): Promise<void> {
    const listen = this.config.foxglove?.listen;
    if (listen === undefined) return;
    const log = this.logger;
    try {
      this.foxglove = await FoxgloveBridge.start({
        tap: this.live.tap, listen, logger: log.child({ part: 'foxglove' }),
        name: `covey ${this.config.swarm.name} ${this.identity.peerId.slice(-6)}`,
      });
      log.info({ url: this.foxgloveUrl },
        'Foxglove bridge listening (Foxglove Studio: Open connection → Foxglove WebSocket)');
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
    this.live.start({
      tap: {
        selfId: this.identity.peerId,
        subscribe: (topic, fn) => env.subscribe(topic, fn),
        publish: (topic, data) => env.publish(topic, data),
        onPeerTopic: peerTelemetryTopics(pubsub, this.config.swarm.name),
        every: (ms, fn) => this.clock.every(ms, fn),
      },
      devices: this.deviceMap,
      counters: {
        replica: () => {
          const d = this.driver;
          if (d === null) return null;
          const s = d.core.stats;
          return {
            committed: s.committed, fastCommits: s.fastCommits, slowCommits: s.slowCommits, recoveries: s.recoveriesStarted,
          };
        },
        latency: async () => {
          const values = (await this.metrics.commandSeconds.get()).values;
          const total = (suffix: string): number =>
            values.filter((v) => v.metricName === `covey_command_seconds_${suffix}`).reduce((a, v) => a + v.value, 0);
          return { count: total('count'), sumS: total('sum') };
        },
        reachableVoters: () => this.reachableVoters().length,
        voters: this.n,
      },
    });
  }

  /**
   * Opens the config's devices with the agent's clock and randomness seeded from its entropy
   * (simulated drivers' noise). Never rejects: a device that cannot be opened stays in the map,
   * unavailable with the reason, and a warning names it; the agent runs without it.
   */
  private async openConfiguredDevices(): Promise<void> {
    const specs = this.config.devices;
    if (specs.length === 0) return;
    const random = seededRandom(Buffer.from(this.ports.entropy.bytes(4)).readUInt32LE(0));
    const { devices, failures } = await openDevices(specs, { clock: this.clock, random });
    this.deviceMap = devices;
    for (const f of failures) {
      const spec = specs.find((s) => s.name === f.name);
      this.logger.warn({ device: f.name, driver: spec?.driver, reason: f.error.message },
        `${f.error.message}; the agent runs without it (plugins see it unavailable)`);
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

  // ---- the API ---------------------------------------------------------------------------------

  async submit(op: Operation, o: SubmitOptions): Promise<CommandResult> {
    const started = this.clock.now();
    const command = { clientId: o.clientId ?? this.clientId, requestId: o.requestId ?? ++this.requestSeq, timestampMs: this.clock.wallMs(), ...op } as Command;
    const timeoutMs = o.timeoutMs ?? this.config.consensus.requestTimeoutMs;
    let outcome = 'error';
    try {
      const r = await this.submitForClient(command, timeoutMs);
      outcome = r.ok ? 'ok' : 'refused';
      return r;
    } catch (err) {
      if (err instanceof DeadlineError) outcome = 'timeout';
      throw err;
    } finally {
      this.metrics.commands.inc({ op: op.op, outcome });
      this.metrics.commandSeconds.observe({ op: op.op }, (this.clock.now() - started) / 1000);
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
    if (command.op === 'voters.change' && !this.roster.isVoter(from)) {
      return 'voter set changes are accepted only from voters; make them at a voter (covey voters … --url <a voter\'s HTTP API>)';
    }
    return null;
  }

  async changeRoster(op: 'peer.admit' | 'peer.revoke', peerId: string, o: SubmitOptions): Promise<CommandResult> {
    if (this.driver === null) {
      throw new HttpError(409, 'roster changes are made at a voter (this agent is a worker); run the command with --url pointing at a voter\'s HTTP API');
    }
    if (op === 'peer.revoke' && this.roster.isVoter(peerId)) {
      throw new HttpError(409, `${peerId} is a voter; a voter stays on the roster until it is removed from the voter set (covey voters remove|replace, docs/agent.md)`);
    }
    if (op === 'peer.revoke' && peerId === this.identity.peerId) throw new HttpError(409, 'an agent cannot revoke itself; revoke it from another agent');
    return this.submit({ op, peerId }, o);
  }

  async redeemJoinToken(token: string): Promise<CommandResult> {
    if (this.driver === null) throw new HttpError(409, 'join tokens are redeemed at a voter (this agent is a worker); send it to a voter\'s HTTP API');
    const v = await verifyJoinToken(token, { swarm: this.config.swarm.name, nowMs: this.clock.wallMs() });
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

  /**
   * A client's command: coordinated here, or forwarded — by a worker always, by a voter while it
   * catches up with a peer far ahead or its own instance in flight is stuck (peerToForwardTo).
   * Commands another agent forwarded are never forwarded again (onSubmit submits them locally).
   */
  private async submitForClient(command: Command, timeoutMs: number): Promise<CommandResult> {
    if (this.driver === null) return this.forward(command, timeoutMs);
    const to = this.peerToForwardTo();
    if (to === null || this.rpc === null) return this.submitLocal(command, timeoutMs);
    const deadline = this.clock.now() + timeoutMs;
    try {
      // Same client and request id wherever it goes: it takes effect at most once.
      return await this.rpc.submit(to, command, AbortSignal.timeout(timeoutMs));
    } catch (err) {
      const left = deadline - this.clock.now();
      // A refusal or a broken link leaves time to try here; a forward that used up the deadline does not.
      if (left < 1) throw new DeadlineError(`forwarded to voter ${to} while this one catches up, no answer within ${timeoutMs} ms (${(err as Error).message}); the command may still take effect — retry with the same clientId and requestId to learn its outcome`);
      this.logger.debug({ to, err: (err as Error).message }, 'forwarding failed; submitting here');
      return this.submitLocal(command, left);
    }
  }

  /**
   * The reachable peer to hand a client's command to, or null (the usual case: coordinate it here).
   * Far behind a peer: that peer. Else, with this voter's own oldest instance in flight for
   * `ownStuckForwardMs` (proposed while cut off and waiting for its slow path or a recovery after
   * the heal; commands submitted here queue behind it): the reachable voter furthest ahead, when a
   * majority is reachable at all (if not, the local attempt explains why nothing commits).
   */
  private peerToForwardTo(): number | null {
    const core = this.driver!.core;
    const lag = core.lagBehind();
    const was = this.catchingUp;
    this.catchingUp = lag.peer !== null && lag.instances >= (was ? catchUpDoneBehindInstances : catchUpBehindInstances);
    if (this.catchingUp !== was) {
      this.logger.info({ peer: lag.peer, behindInstances: lag.instances }, this.catchingUp
        ? 'far behind a peer: its clients\' commands go to a voter ahead while this voter catches up'
        : 'caught up: coordinating its clients\' commands again');
    }
    const reachable = this.reachableVoters().filter((v) => v !== this.selfIndex);
    if (this.catchingUp && reachable.length > 0) return this.forwardTarget(reachable);
    // The driver stamps ticks with performance.now(), so the core's times are on that clock.
    const since = core.ownInFlightSinceMs();
    const stuck = since !== null && performance.now() - since >= ownStuckForwardMs;
    if (stuck !== this.ownStuck) {
      this.ownStuck = stuck;
      this.logger.info({ sinceMsAgo: since === null ? null : Math.round(performance.now() - since) }, stuck
        ? 'own instance in flight for long: clients\' commands go to other voters until it completes'
        : 'own instances flow again: coordinating clients\' commands here');
    }
    if (!stuck || reachable.length < this.majority - 1) return null;
    return this.forwardTarget(reachable);
  }

  /**
   * Among reachable voters, the one furthest ahead by its watermark, leaving out those this voter
   * reached while it was cut off from a majority (`minorityMates`): back from the same partition,
   * they are as stuck as it is — and one that installed a snapshot first even looks furthest ahead
   * (chaos:net: the two former minority voters forwarded to each other). Any, if only they remain.
   */
  private forwardTarget(reachable: readonly number[]): number {
    const core = this.driver!.core;
    const now = this.clock.now();
    const others = reachable.filter((v) => !(now - (this.minorityMates.get(v) ?? -Infinity) < minorityMateMs));
    const from = others.length > 0 ? others : reachable;
    return from.reduce((best, v) => (core.peerApplied(v) > core.peerApplied(best) ? v : best));
  }

  private submitLocal(command: Command, timeoutMs: number): Promise<CommandResult> {
    if (this.driver === null) return Promise.reject(new Error('this agent is not a voter; submit at a voter'));
    // Every command coordinated here passes this door (a client's, a forwarded one): a voter set
    // naming a peer off the roster would leave the swarm with a voter nobody may talk to.
    if (command.op === 'voters.change') {
      const refused = votersChangeProblem(command, (id) => this.roster.admits(id));
      if (refused !== null) return Promise.resolve({ ok: false, error: refused });
    }
    return this.driver.submit(command, timeoutMs, () => this.explainNoQuorum());
  }

  /** A non-voter hands the command to a voter it can reach, the next one on failure, until the deadline. */
  private async forward(command: Command, timeoutMs: number): Promise<CommandResult> {
    const deadline = this.clock.now() + timeoutMs;
    let last = 'no voter reachable';
    for (;;) {
      const left = deadline - this.clock.now();
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
      const waitMs = Math.min(forwardRetryMs, Math.max(1, deadline - this.clock.now()));
      await new Promise<void>((r) => { this.clock.after(waitMs, r); });
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
    const ids = this.voterIds;
    for (let v = 0; v < ids.length; v++) {
      const id = ids[v];
      if (v === this.selfIndex || (connected.has(v) && this.health?.hearing(id) === true && !this.cut.has(id))) out.push(v);
    }
    this.metrics.reachableVoters.set(out.length);
    return out;
  }

  private staleness(): Record<string, unknown> {
    const d = this.driver!;
    const now = this.clock.now();
    const q = quorums(defaultQuorumConfig(this.n));
    // The moment a majority (with this voter) was last heard from: the (majority−1)-th most recent.
    const heard = this.voterIds.filter((_, v) => v !== this.selfIndex).map((id) => this.lastHeard.get(id) ?? -Infinity).sort((a, b) => b - a);
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
    const voterIndex = new Map(this.voterIds.map((id, i) => [id, i]));
    const known = new Map((this.membership?.members() ?? []).map((m) => [m.id, m]));
    const ids = [...new Set([...this.voterIds, ...known.keys()])];
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

  /** The voter set: epoch 0, the config's voters, until this agent runs epochs (docs/reconfiguration.md, "Status"). */
  voters(): VotersView {
    const reachable = this.selfIndex === null ? null : new Set(this.reachableVoters());
    const r = this.config.voterReplacement;
    const view = votersView({ epoch: this.epoch, ids: this.voterIds, selfId: this.identity.peerId, reachable, replaceAfterMs: r.enabled ? r.afterMs : null });
    const last = this.selfIndex === null ? undefined : this.replacer?.last;
    return last === undefined || last.kind === 'none' ? view : { ...view, replacement: { kind: last.kind, reason: last.reason } };
  }

  /** Plans the change and proposes it through consensus, at a voter, as changeRoster does. */
  async changeVoters(req: VotersRequest, o: SubmitOptions): Promise<CommandResult> {
    if (this.driver === null) throw new HttpError(409, 'voter-set changes are made at a voter (this agent is a worker); point --agent at a voter\'s HTTP API');
    const { epoch, voters } = this.voters();
    const plan = plannedVoters(voters.map((v) => v.peerId), req, (id) => this.roster.admits(id));
    if (!plan.ok) throw new HttpError(409, plan.error);
    return this.submit(votersCommand(epoch, plan.voters, req.reason ?? requestReason(req)), o);
  }

  private pushEvent(e: Record<string, unknown>): void {
    this.recentEvents.push(e);
    if (this.recentEvents.length > recentEventsMax) this.recentEvents.splice(0, this.recentEvents.length - recentEventsMax);
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
    this.pushEvent({ type: e.type, peerId: e.member.id, state: e.member.state, incarnation: e.member.incarnation, at: new Date(this.clock.wallMs()).toISOString() });
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
    if (e.type === 'dead') this.deadSince.set(e.member.id, this.clock.now());
    else if (e.type === 'join' || e.type === 'alive') this.deadSince.delete(e.member.id);
    const r = deadVoter(e, this.voterIds);
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
      epoch: this.epoch,
      voters: this.voterIds,
      /** The epochs whose consensus groups run here: the current one, and older ones until retired. */
      epochsOpen: this.groups?.all().map((g) => g.epoch) ?? [],
      reachableVoters: reachable.length,
      addrs: this.node?.getMultiaddrs().map(String) ?? [],
      http: this.httpUrl,
      uptimeMs: this.clock.wallMs() - this.startedMs,
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
      storage: d === null ? null : { groupCommits: d.stats.fsyncs, durableWrites: d.storageDurableWrites, recordsPersisted: d.stats.recordsPersisted, failed: d.failed?.message ?? null },
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
