// The plugin host: runs the agent's plugins and supervises them (TigerBeetle's "crash the part,
// not the whole"). Each plugin moves through
//
//   inactive ──configure──▶ configured ──start──▶ active ──stop──▶ inactive
//                    │                     │          │
//                    └──── throw / hang ───┴──────────┴──▶ failed ──backoff──▶ (configure again)
//
// A hook or callback that throws, rejects, or does not settle in time fails the run: its
// context is ended (timers, subscriptions, watches released), its stop hook gets a chance to make
// the hardware safe, and it is started again after an exponential backoff on the environment's
// clock. The agent and the other plugins keep running. status() is what the HTTP API and
// `covey status` show.

import type { PluginDefinition } from './api.ts';
import type { PluginEnvironment } from './environment.ts';
import { createRun, type PluginRun } from './context.ts';
import type { Cancel } from '../../devices/types.ts';

export type PluginState = 'configured' | 'active' | 'inactive' | 'failed';

/** A plugin to run: its definition, its already-validated options, and where it came from. */
export interface LoadedPlugin {
  readonly definition: PluginDefinition<unknown, unknown>;
  readonly options: unknown;
  /** The module path or package name from the config (for status and errors). */
  readonly source: string;
}

export interface SupervisionOptions {
  /** configure, start and stop must settle within this (ms). */
  readonly hookTimeoutMs: number;
  /** A timer callback or subscriber still running after this long means the plugin hangs (ms). */
  readonly callbackTimeoutMs: number;
  /** First restart delay; doubled after every failure, up to restartMaxMs. */
  readonly restartInitialMs: number;
  readonly restartMaxMs: number;
  /** A run that stayed active this long resets the backoff. */
  readonly restartResetMs: number;
}

export const defaultSupervision: SupervisionOptions = {
  hookTimeoutMs: 10_000,
  callbackTimeoutMs: 30_000,
  restartInitialMs: 1_000,
  restartMaxMs: 60_000,
  restartResetMs: 60_000,
};

export interface PluginStatus {
  readonly name: string;
  readonly version: string;
  readonly source: string;
  readonly state: PluginState;
  /** Restarts after failures since the agent started. */
  readonly restarts: number;
  readonly lastError: string | null;
  /** When the last failure happened (agent wall clock, ISO time). */
  readonly lastErrorAt: string | null;
  /** While failed: ms until the next attempt. */
  readonly nextRestartInMs: number | null;
  /** Telemetry messages dropped because they did not match the topic's schema. */
  readonly telemetryDropped: number;
}

interface Slot {
  readonly loaded: LoadedPlugin;
  state: PluginState;
  run: PluginRun<unknown> | null;
  runState: unknown;
  /** Bumped per run: late completions of an earlier run are ignored. */
  generation: number;
  restarts: number;
  backoffMs: number;
  activeSince: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  restartAt: number | null;
  restartTimer: Cancel | null;
  dropped: number;
}

export class PluginHost {
  readonly #env: PluginEnvironment;
  readonly #o: SupervisionOptions;
  readonly #slots: Slot[];
  #stopped = false;

  constructor(env: PluginEnvironment, plugins: readonly LoadedPlugin[], options: Partial<SupervisionOptions> = {}) {
    this.#env = env;
    this.#o = { ...defaultSupervision, ...options };
    const names = new Set<string>();
    for (const p of plugins) {
      if (names.has(p.definition.name)) throw new Error(`plugin "${p.definition.name}" is loaded twice (${p.source}); list each plugin once`);
      names.add(p.definition.name);
    }
    this.#slots = plugins.map((loaded) => ({
      loaded, state: 'inactive', run: null, runState: undefined, generation: 0, restarts: 0,
      backoffMs: this.#o.restartInitialMs, activeSince: null, lastError: null, lastErrorAt: null,
      restartAt: null, restartTimer: null, dropped: 0,
    }));
  }

  /** Starts every plugin. Never rejects because of one plugin: a failing plugin is supervised. */
  async start(): Promise<void> {
    await Promise.all(this.#slots.map((s) => this.#launch(s)));
  }

  /** Stops every plugin (stop hooks bounded by the hook timeout) and cancels pending restarts. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#slots.map(async (s) => {
      s.restartTimer?.();
      s.restartTimer = null;
      s.restartAt = null;
      if (s.run !== null) await this.#endRun(s, 'inactive');
      else if (s.state !== 'failed') s.state = 'inactive';
    }));
  }

  status(): PluginStatus[] {
    const now = this.#env.timers.now();
    return this.#slots.map((s) => ({
      name: s.loaded.definition.name,
      version: s.loaded.definition.version,
      source: s.loaded.source,
      state: s.state,
      restarts: s.restarts,
      lastError: s.lastError,
      lastErrorAt: s.lastErrorAt === null ? null : new Date(s.lastErrorAt).toISOString(),
      nextRestartInMs: s.restartAt === null ? null : Math.max(0, Math.round(s.restartAt - now)),
      telemetryDropped: s.dropped + (s.run?.dropped.count ?? 0),
    }));
  }

  /** The plugin's current state (tests and the simulator). */
  state(name: string): PluginState | undefined {
    return this.#slots.find((s) => s.loaded.definition.name === name)?.state;
  }

  async #launch(s: Slot): Promise<void> {
    if (this.#stopped) return;
    const def = s.loaded.definition;
    const generation = ++s.generation;
    const run = createRun(def, s.loaded.options, this.#env, {
      callbackTimeoutMs: this.#o.callbackTimeoutMs,
      onFault: (err) => { if (s.generation === generation) void this.#fail(s, err); },
    });
    s.run = run;
    try {
      s.runState = await this.#hook(`configure`, def.name, () => def.configure?.(run.ctx));
      if (s.generation !== generation) return;
      s.state = 'configured';
      await this.#hook('start', def.name, () => def.start(run.ctx, s.runState));
      if (s.generation !== generation) return;
      s.state = 'active';
      s.activeSince = this.#env.timers.now();
      this.#env.logger(def.name).info({ plugin: def.name, version: def.version, restarts: s.restarts }, 'plugin active');
    } catch (err) {
      if (s.generation === generation) await this.#fail(s, err instanceof Error ? err : new Error(String(err)));
    }
  }

  async #fail(s: Slot, err: Error): Promise<void> {
    if (this.#stopped || s.state === 'failed') return;
    const def = s.loaded.definition;
    const now = this.#env.timers.now();
    // A run that stayed up long enough earns a fresh backoff.
    if (s.activeSince !== null && now - s.activeSince >= this.#o.restartResetMs) s.backoffMs = this.#o.restartInitialMs;
    s.lastError = err.message;
    s.lastErrorAt = this.#env.wallClock();
    await this.#endRun(s, 'failed');
    if (this.#stopped) return;
    const delay = s.backoffMs;
    s.backoffMs = Math.min(this.#o.restartMaxMs, s.backoffMs * 2);
    s.restartAt = this.#env.timers.now() + delay;
    this.#env.logger(def.name).error({ plugin: def.name, err: { message: err.message, stack: err.stack }, restartInMs: delay, restarts: s.restarts }, `plugin failed: ${err.message}`);
    s.restartTimer = this.#env.timers.after(delay, () => {
      s.restartTimer = null;
      s.restartAt = null;
      s.restarts++;
      void this.#launch(s);
    });
  }

  /** Ends the current run: abort and release its resources, then give its stop hook a bounded chance. */
  async #endRun(s: Slot, next: PluginState): Promise<void> {
    const run = s.run;
    if (run === null) return;
    const def = s.loaded.definition;
    const wasStarted = s.state === 'configured' || s.state === 'active';
    s.run = null;
    s.generation++;
    s.state = next;
    s.activeSince = null;
    s.dropped += run.dropped.count;
    run.end();
    if (wasStarted && def.stop !== undefined) {
      try {
        await this.#hook('stop', def.name, () => def.stop!(run.ctx, s.runState));
      } catch (err) {
        this.#env.logger(def.name).warn({ plugin: def.name, err: { message: (err as Error).message } }, 'plugin stop hook failed');
      }
    }
    run.close();
  }

  /** Runs a hook; rejects if it throws, rejects, or has not settled within the hook timeout. */
  #hook<T>(hook: string, plugin: string, fn: () => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const ms = this.#o.hookTimeoutMs;
      const timer = this.#env.timers.after(ms, () => reject(new Error(`plugin "${plugin}": ${hook} did not finish within ${ms} ms (the plugin is not answering)`)));
      Promise.resolve().then(fn).then(
        (v) => { timer(); resolve(v); },
        (err: unknown) => { timer(); reject(err instanceof Error ? err : new Error(String(err))); },
      );
    });
  }
}
