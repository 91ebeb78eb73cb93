// One lifecycle for the parts of an agent (agent.ts `createAgent`), on js-libp2p's `Startable`
// model but sequential: js-libp2p starts its components side by side and lets them order
// themselves with before/after hooks; an agent's parts depend on each other (the driver on
// storage, the RPC on the node, the plugins on everything), so they start one after another in
// the order given — dependencies first — and stop in reverse.
//
// Phases, each over the parts in order (start) or in reverse (stop):
//   beforeStart  what may begin early and run beside the later starts (devices that take seconds
//                to open); a part with it is stopped even if its start never ran
//   start        the part runs once it returns; a part whose start throws cleans up after itself
//   beforeStop   graceful work while every other part still runs (plugins' stop hooks, the
//                replica driver finishing its turn in flight, a server refusing new connections)
//   stop         releases the part's resources
//   afterStop    what must outlast every other part (open HTTP connections answering last)
//
// A start that fails stops what started, in reverse, and rejects with a PartStartError naming
// the part. stop() is idempotent: every call returns the same promise; a part's stop that throws
// is reported (onStopError) and the others still stop.

export interface Startable {
  beforeStart?(): void | Promise<void>;
  start(): void | Promise<void>;
  beforeStop?(): void | Promise<void>;
  stop(): void | Promise<void>;
  afterStop?(): void | Promise<void>;
}

/** One named part of a composition. */
export interface Part extends Startable {
  readonly name: string;
}

/** Why a composition did not start: `part` is the one that failed, `cause` its error. */
export class PartStartError extends Error {
  readonly part: string;

  constructor(part: string, cause: unknown) {
    const message = cause instanceof Error ? cause.message : String(cause);
    super(`cannot start the agent's ${part}: ${message}`, { cause });
    this.name = 'PartStartError';
    this.part = part;
  }
}

type StopPhase = 'beforeStop' | 'stop' | 'afterStop';

export interface LifecycleOptions {
  /** A part's stop phase threw; the lifecycle goes on stopping the others. */
  readonly onStopError?: (part: string, phase: StopPhase, err: unknown) => void;
}

export class Lifecycle {
  readonly #parts: readonly Part[];
  readonly #o: LifecycleOptions;
  /** Parts entered (beforeStart or start returned), in the order they were: what stop stops. */
  readonly #entered: Part[] = [];
  #starting: Promise<void> | null = null;
  /** The part's beforeStart or start in flight. */
  #current: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;

  constructor(parts: readonly Part[], o: LifecycleOptions = {}) {
    const names = new Set<string>();
    for (const p of parts) {
      if (names.has(p.name)) throw new Error(`two parts are named ${p.name}; each part needs its own name`);
      names.add(p.name);
    }
    this.#parts = parts;
    this.#o = o;
  }

  /** The parts' names, in start order. */
  get names(): string[] {
    return this.#parts.map((p) => p.name);
  }

  /** Starts every part once; on failure stops what started and rejects with a PartStartError. */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  /** Stops what started, in reverse; every call returns the same promise. Never rejects. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #start(): Promise<void> {
    for (const phase of ['beforeStart', 'start'] as const) {
      for (const p of this.#parts) {
        if (this.#stopping !== null) {
          throw new Error(`the agent was stopped while starting (before its ${p.name} started)`);
        }
        if (p[phase] === undefined) continue;
        // The part counts as entered inside the promise stop() waits for: no part is left running.
        this.#current = (async () => {
          await p[phase]!();
          if (!this.#entered.includes(p)) this.#entered.push(p);
        })();
        try {
          await this.#current;
        } catch (err) {
          this.#current = null;
          await this.stop();
          throw new PartStartError(p.name, err);
        }
      }
    }
    this.#current = null;
  }

  async #stop(): Promise<void> {
    // A part starting now finishes first (the start then sees the stop and gives up).
    await this.#current?.catch(() => {});
    const parts = [...this.#entered].reverse();
    for (const phase of ['beforeStop', 'stop', 'afterStop'] as const) {
      for (const p of parts) {
        if (p[phase] === undefined) continue;
        try {
          await p[phase]();
        } catch (err) {
          this.#o.onStopError?.(p.name, phase, err);
        }
      }
    }
  }
}
