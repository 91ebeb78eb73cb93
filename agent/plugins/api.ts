// The plugin API: what a plugin author writes against. One API for a real agent and for the
// simulator: a plugin reaches the world only through its context, and the context is built from
// an environment (environment.ts) that the agent backs with libp2p, consensus and the wall clock,
// and the simulator with its virtual network, replicas and virtual clock.
//
// docs/plugins.md is the guide; examples/survey is a complete plugin.

import type { z } from 'zod';
import type { Actuator, Autopilot, Battery, Cancel, Device, DeviceKind, DeviceStatus, Sensor } from '../../devices/types.ts';
import type { TaskStatus, TaskView } from '../../consensus/index.ts';
import type { KvEntry } from '../kv-list.ts';

export type { Cancel, KvEntry, TaskStatus, TaskView };

/**
 * What a plugin may touch. Everything else fails with a CapabilityError naming what is missing.
 * - `kv`: key prefixes it may read and write ("survey/" covers "survey/cells/3").
 * - `tasks`: task id prefixes it may create, claim, complete, read and watch.
 * - `topics`: telemetry topics it may publish and subscribe to (exact names).
 * - `devices`: device names, or "kind:autopilot" for any device of that kind.
 * - `membership`: whether it may read the membership view and its events.
 */
export interface Capabilities {
  readonly kv?: readonly string[];
  readonly tasks?: readonly string[];
  readonly topics?: readonly string[];
  readonly devices?: readonly string[];
  readonly membership?: boolean;
}

/** A structured logger (pino's signature: an optional object of fields, then the message). */
export interface PluginLogger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

export interface PluginClock {
  /** The agent's clock, ms since the Unix epoch (virtual in the simulator). */
  now(): number;
}

/** A stale local read: what this agent's replica holds, and how far behind it may be. */
export interface StaleRead<T> {
  readonly value: T;
  readonly stale: true;
  readonly staleness: Record<string, unknown>;
}

/** A stale local listing (StaleRead) that says whether it stopped at its limit before the end. */
export interface Listing<T> extends StaleRead<T[]> {
  /** True when there was more than the limit: the listing holds the first `limit` in order. */
  readonly truncated: boolean;
}

/** A key under a watched prefix changed: its new value, or null when it was deleted. */
export interface KvChange {
  readonly key: string;
  readonly value: string | null;
}

/** Which tasks `tasks.list` returns; every field narrows, none is required. */
export interface TaskFilter {
  /** Task ids starting with this (must be within capabilities.tasks); default: every task the capabilities cover. */
  readonly prefix?: string;
  readonly status?: TaskStatus | readonly TaskStatus[];
  /** The worker holding the claim (an agent id); null: no holder. */
  readonly owner?: string | null;
  /** At most this many (default 1000, at most 10,000), in task id order. */
  readonly limit?: number;
}

export interface KvApi {
  /** Linearizable read, through consensus. Rejects with UnavailableError when no majority answers in time. */
  get(key: string): Promise<string | null>;
  /** This agent's local copy, possibly stale (voters only; elsewhere rejects and says so). */
  getStale(key: string): Promise<StaleRead<string | null>>;
  put(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
  /** Compare-and-set: writes `value` (null deletes) only when the current value is `expected` (null: absent). */
  cas(key: string, expected: string | null, value: string | null): Promise<boolean>;
  /**
   * The keys under a prefix (within capabilities.kv) with their values, sorted by key: this
   * agent's local copy, possibly stale (voters only; on a worker it rejects and says so). At most
   * `limit` entries (default 1000, at most 10,000); `truncated` says there were more.
   */
  list(prefix: string, options?: { readonly limit?: number }): Promise<Listing<KvEntry>>;
  /**
   * Calls fn with every key under the prefix (within capabilities.kv) as first seen, then with each
   * change (value null: deleted), reading the local listing every intervalMs (default 1000; voters
   * only: on a worker it throws at once). Changes between two reads are merged: a key written
   * twice reports its last value. Watches at most 10,000 keys (a warning is logged beyond).
   */
  watch(prefix: string, fn: (change: KvChange) => void | Promise<void>, options?: { readonly intervalMs?: number }): Cancel;
}

/** The holder's proof of a claim: present it to renew, complete or release. */
export interface TaskClaim {
  readonly taskId: string;
  readonly token: number;
  readonly leaseExpiresMs: number;
}

/** The task board's answer: accepted, or refused with the reason (and the task as it stands). */
export type TaskOutcome<T> =
  | { readonly ok: true; readonly value: T; readonly task: TaskView }
  | { readonly ok: false; readonly error: string; readonly task?: TaskView };

export interface TasksApi {
  /** Creates a task; refused if it exists. */
  create(taskId: string, spec: string): Promise<TaskOutcome<TaskView>>;
  /** Claims it for this agent with a lease; the claim's token fences every later report. */
  claim(taskId: string, leaseMs: number): Promise<TaskOutcome<TaskClaim>>;
  renew(claim: TaskClaim, leaseMs: number): Promise<TaskOutcome<TaskClaim>>;
  /** Completes it; refused when the claim's token is no longer current (someone else claimed it). */
  complete(claim: TaskClaim, result: string): Promise<TaskOutcome<TaskView>>;
  release(claim: TaskClaim): Promise<TaskOutcome<TaskView>>;
  /** Linearizable read of one task; null when it does not exist. */
  get(taskId: string): Promise<TaskView | null>;
  /**
   * Calls fn with the task whenever it changes (status, owner, token or result), reading it every
   * intervalMs (default 1000) through consensus; read failures are retried, not reported.
   */
  watch(taskId: string, fn: (task: TaskView | null) => void | Promise<void>, options?: { readonly intervalMs?: number }): Cancel;
  /**
   * The tasks matching the filter, by task id, from this agent's local copy of the board (possibly
   * stale; voters only, on a worker it rejects and says so). Only tasks whose ids the plugin's
   * capabilities.tasks cover are listed. Finds work whose announcement was lost: list the open
   * tasks and claim one (the claim goes through consensus, so a stale listing is safe).
   */
  list(filter?: TaskFilter): Promise<Listing<TaskView>>;
}

export interface Topic<T> {
  readonly name: string;
  /** Validates value against the topic's schema and broadcasts it to the swarm (best effort). */
  publish(value: T): Promise<void>;
  /** Messages from other agents that pass the schema; the rest are dropped and counted. */
  subscribe(fn: (value: T, from: string) => void | Promise<void>): Cancel;
}

export interface TelemetryApi {
  /** A telemetry topic with its schema. Published and received values are checked against it. */
  topic<S extends z.ZodType>(name: string, schema: S): Topic<z.output<S>>;
}

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

export interface MemberView {
  readonly id: string;
  readonly state: MemberState;
  readonly role: string;
  readonly self: boolean;
}

export interface MemberChange {
  readonly type: 'joined' | 'alive' | 'suspect' | 'dead' | 'left' | 'updated';
  readonly member: MemberView;
}

export interface MembershipApi {
  members(): MemberView[];
  on(fn: (change: MemberChange) => void | Promise<void>): Cancel;
}

export interface DeviceInfo {
  readonly name: string;
  readonly kind: DeviceKind;
  readonly status: DeviceStatus;
}

export interface DevicesApi {
  /** The devices this plugin may use (declared names and kinds), with their status. */
  list(): DeviceInfo[];
  /** By name; a device that failed to open is returned and its operations reject with DeviceError 'unavailable'. */
  autopilot(name: string): Autopilot;
  sensor<T = unknown>(name: string): Sensor<T>;
  actuator<T = unknown>(name: string): Actuator<T>;
  battery(name: string): Battery;
  /** The first device of a kind this plugin may use, or undefined. */
  find(kind: DeviceKind): Device | undefined;
}

/** The plugin's private durable namespace on this agent (not replicated; survives restarts). */
export interface PluginStore {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  keys(prefix?: string): Promise<string[]>;
}

export interface PluginContext<O = unknown> {
  readonly plugin: { readonly name: string; readonly version: string };
  /** This agent: its id (libp2p peer id; "agent-7" in the simulator) and role. */
  readonly agent: { readonly id: string; readonly role: 'voter' | 'worker' };
  /** The options from the agent config, validated by the plugin's schema. */
  readonly options: O;
  readonly log: PluginLogger;
  readonly clock: PluginClock;
  /** Runs fn every ms of the agent's clock. A throw or rejection fails the plugin (and it is restarted). */
  every(ms: number, fn: () => void | Promise<void>): Cancel;
  after(ms: number, fn: () => void | Promise<void>): Cancel;
  /** Resolves after ms; rejects with PluginStoppedError if the plugin stops first. */
  sleep(ms: number): Promise<void>;
  /**
   * Runs a long task (a mission loop) under supervision: if it rejects with anything but
   * PluginStoppedError the run fails and is restarted. It should stop when `signal` aborts; no
   * hang timeout applies to it.
   */
  spawn(what: string, fn: () => Promise<void>): void;
  /** A uniform number in [0, 1) (seeded in the simulator). */
  random(): number;
  /** Aborted when this run of the plugin stops (stop, failure, or agent shutdown). */
  readonly signal: AbortSignal;
  readonly kv: KvApi;
  readonly tasks: TasksApi;
  readonly telemetry: TelemetryApi;
  readonly membership: MembershipApi;
  readonly devices: DevicesApi;
  readonly store: PluginStore;
}

/**
 * A plugin. `configure` runs first on every run (after a restart too) and returns the run's state;
 * `start` begins the work and should return promptly (long work goes in timers or un-awaited
 * loops that watch `ctx.signal`); `stop` ends it. Timers, subscriptions and watches made through
 * the context are released by the host after `stop`, so a plugin need not track them.
 */
export interface PluginDefinition<O = unknown, S = unknown> {
  readonly name: string;
  readonly version: string;
  readonly capabilities: Capabilities;
  /** The options schema (zod); the agent validates the config's `options` against it before configure. */
  readonly options?: z.ZodType<O>;
  configure?(ctx: PluginContext<O>): S | Promise<S>;
  start(ctx: PluginContext<O>, state: S): void | Promise<void>;
  stop?(ctx: PluginContext<O>, state: S): void | Promise<void>;
}

export const pluginNamePattern = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Declares a plugin; checks the definition's shape now, so a mistake shows where it is made. */
export function definePlugin<O = unknown, S = undefined>(d: PluginDefinition<O, S>): PluginDefinition<O, S> {
  if (typeof d !== 'object' || d === null) throw new TypeError('definePlugin: expected an object with name, version, capabilities and start');
  if (typeof d.name !== 'string' || !pluginNamePattern.test(d.name)) {
    throw new TypeError(`definePlugin: name must be a short lowercase name (letters, digits, dashes), got ${JSON.stringify(d.name)}`);
  }
  if (typeof d.version !== 'string' || d.version === '') throw new TypeError(`definePlugin(${d.name}): version must be a non-empty string such as "1.0.0"`);
  if (typeof d.capabilities !== 'object' || d.capabilities === null) throw new TypeError(`definePlugin(${d.name}): capabilities must be an object (use {} for none)`);
  if (typeof d.start !== 'function') throw new TypeError(`definePlugin(${d.name}): start(ctx, state) is required`);
  for (const hook of ['configure', 'stop'] as const) {
    if (d[hook] !== undefined && typeof d[hook] !== 'function') throw new TypeError(`definePlugin(${d.name}): ${hook} must be a function`);
  }
  if (d.options !== undefined && typeof (d.options as { safeParse?: unknown }).safeParse !== 'function') {
    throw new TypeError(`definePlugin(${d.name}): options must be a zod schema`);
  }
  return Object.freeze({ ...d });
}

// The errors a plugin catches are told apart by a brand under a global symbol, not by class
// identity: the agent may run from its bundle (agent/cli/bundle.ts) while a plugin imports this
// file, or an installed plugin its own copy of it, and `err instanceof UnavailableError` must hold
// for an error thrown by any copy.
function brand(error: Error, kind: string): void {
  Object.defineProperty(error, Symbol.for(`covey.${kind}`), { value: true });
}

function branded(x: unknown, kind: string): boolean {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[Symbol.for(`covey.${kind}`)] === true;
}

/** An attempt outside the plugin's declared capabilities. */
export class CapabilityError extends Error {
  readonly plugin: string;
  readonly capability: string;
  constructor(plugin: string, capability: string, detail: string) {
    super(`plugin "${plugin}" lacks capability ${capability}: ${detail}`);
    this.name = 'CapabilityError';
    this.plugin = plugin;
    this.capability = capability;
    brand(this, 'CapabilityError');
  }

  static override [Symbol.hasInstance](x: unknown): boolean { return branded(x, 'CapabilityError'); }
}

/** The operation could not reach a majority of voters in time; it may still take effect. */
export class UnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnavailableError';
    brand(this, 'UnavailableError');
  }

  static override [Symbol.hasInstance](x: unknown): boolean { return branded(x, 'UnavailableError'); }
}

/** The plugin's run ended while this was waiting. */
export class PluginStoppedError extends Error {
  constructor(plugin: string) {
    super(`plugin "${plugin}" stopped`);
    this.name = 'PluginStoppedError';
    brand(this, 'PluginStoppedError');
  }

  static override [Symbol.hasInstance](x: unknown): boolean { return branded(x, 'PluginStoppedError'); }
}
