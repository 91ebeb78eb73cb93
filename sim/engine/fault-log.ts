// The faults of one run as they happened, per agent and in virtual time, for the report's
// timeline (`covey sim --report`). Recording only: the engine tells the log what it did after it
// did it, and nothing here draws randomness, schedules events or feeds back into the run, so the
// trace hash of a seed is the same with or without anyone reading the log.

/** How a cut divides the swarm: the engine's partition shapes, radio silence (a pause), or one scripted by hosted code. */
export type CutShape = 'split' | 'isolate' | 'oneway' | 'flap' | 'silence' | 'scripted';

export type FaultRecord =
  /** The agent's software crashed (`inFlush`: a voter with an fsync in flight). */
  | { readonly kind: 'crash'; readonly agent: number; readonly atMs: number; readonly inFlush: boolean }
  | { readonly kind: 'restart'; readonly agent: number; readonly atMs: number }
  /** Lost for good (hosted code's SimWorld.kill: a drone down); it never restarts. */
  | { readonly kind: 'kill'; readonly agent: number; readonly atMs: number }
  /**
   * A cut from startMs to endMs (null while it lasts). `agents` are the side cut off: the minority
   * of a split, the isolated or silent agent, the two ends of a one-way or flapping link.
   */
  | { readonly kind: 'cut'; readonly shape: CutShape; readonly agents: readonly number[]; readonly startMs: number; endMs: number | null }
  /** The agent processed nothing from startMs to endMs. */
  | { readonly kind: 'stall'; readonly agent: number; readonly startMs: number; endMs: number }
  /** The voter group of `epoch` came to be, with these voters in replica order (the reconfig fault; docs/reconfiguration.md). */
  | { readonly kind: 'epoch'; readonly epoch: number; readonly voters: readonly number[]; readonly atMs: number }
  /** The agent's clock jumped forward by jumpMs, or its rate changed to `rate`. */
  | { readonly kind: 'skew'; readonly agent: number; readonly atMs: number; readonly jumpMs: number | null; readonly rate: number | null };

/** Entries kept at most: a ten-minute run with every fault makes a few thousand. */
export const faultLogEntriesMax = 100_000;

export class FaultLog {
  readonly entries: FaultRecord[] = [];
  /** Entries not kept because the log was full. */
  dropped = 0;
  readonly #cuts = new Map<number, FaultRecord & { kind: 'cut' }>();
  readonly #stalls = new Map<number, FaultRecord & { kind: 'stall' }>();

  crash(agent: number, atMs: number, inFlush: boolean): void {
    this.#add({ kind: 'crash', agent, atMs, inFlush });
  }

  restart(agent: number, atMs: number): void {
    this.#add({ kind: 'restart', agent, atMs });
  }

  kill(agent: number, atMs: number): void {
    this.#add({ kind: 'kill', agent, atMs });
  }

  reconfigure(epoch: number, voters: readonly number[], atMs: number): void {
    this.#add({ kind: 'epoch', epoch, voters: [...voters], atMs });
  }

  /** A cut the network holds under `cutId` until heal(cutId) or healAll(). */
  cut(cutId: number, shape: CutShape, agents: readonly number[], startMs: number): void {
    const e = { kind: 'cut' as const, shape, agents: [...agents].sort((x, y) => x - y), startMs, endMs: null };
    if (this.#add(e)) this.#cuts.set(cutId, e);
  }

  heal(cutId: number, atMs: number): void {
    const e = this.#cuts.get(cutId);
    if (e === undefined) return;
    e.endMs = atMs;
    this.#cuts.delete(cutId);
  }

  stall(agent: number, startMs: number, endMs: number): void {
    const e = { kind: 'stall' as const, agent, startMs, endMs };
    if (this.#add(e)) this.#stalls.set(agent, e);
  }

  skew(agent: number, atMs: number, change: { readonly jumpMs: number } | { readonly rate: number }): void {
    this.#add({ kind: 'skew', agent, atMs, jumpMs: 'jumpMs' in change ? change.jumpMs : null, rate: 'rate' in change ? change.rate : null });
  }

  /** The faults stop (the end of the active phase): every cut heals, every stall ends now. */
  endAll(atMs: number): void {
    for (const id of [...this.#cuts.keys()]) this.heal(id, atMs);
    for (const e of this.#stalls.values()) if (e.endMs > atMs) e.endMs = atMs;
    this.#stalls.clear();
  }

  #add(e: FaultRecord): boolean {
    if (this.entries.length >= faultLogEntriesMax) { this.dropped++; return false; }
    this.entries.push(e);
    return true;
  }
}
