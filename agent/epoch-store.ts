// The epochs an agent has moved to, on its disk (docs/reconfiguration.md, "One consensus group per
// epoch"). Epoch 0 is the config's `voters:` and its group's storage is `<dataDir>/consensus`, as
// before reconfiguration existed. Each later epoch E is a directory `<dataDir>/epochs/E/` holding
// `epoch.json` (its voters in replica order and the change that opened it) and, on an agent that
// votes in it, the group's own storage under `consensus/`, which starts from the state at the
// change (rule 6).
//
// An epoch directory appears whole or not at all: it is made as `E.tmp`, the group's first record
// (the state at the change) and epoch.json are made durable there, and only then is it renamed to
// `E` and the parent directory synced. A crash before the rename leaves a `.tmp` that the next
// start removes; the agent then restarts in epoch E−1, whose replica executes the change again on
// restore (Replica.restore re-closes), and the epoch is made again. So a restart always comes back
// in the newest epoch this agent had moved to, never in one half made.
//
// Once an epoch is retired here (docs/reconfiguration.md rule 9: every voter of the next epoch
// holds the state at its change), nothing ever reads its group's records again, so they are
// removed: a device keeps one epoch's log, not every epoch's. `retired.json` records the newest
// epoch retired, durably, before its storage goes; a restart never opens a retired epoch's group,
// and removes the storage of one a crash left between the mark and the removal. epoch.json stays
// (a few hundred bytes: the voters of that epoch, which `list` still reports).

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { voterCounts, voterNamePattern } from '../consensus/index.ts';

export interface EpochRecord {
  /** ≥ 1: epoch 0 is the config's and has no record. */
  readonly epoch: number;
  /** Peer ids in replica order: voter i is replica i of the epoch's group. */
  readonly voters: readonly string[];
  /** The voters.change that opened the epoch (its instance id, as text). */
  readonly change: string;
}

/** Epochs beyond this on one disk are refused as damage: a swarm changes voters rarely. */
const epochMax = 1_000_000;

const recordSchema = z.strictObject({
  epoch: z.number().int().min(1).max(epochMax),
  voters: z.array(z.string().regex(voterNamePattern)).refine((v) => (voterCounts as readonly number[]).includes(v.length) && new Set(v).size === v.length,
    { message: `a voter set has ${voterCounts.join(', ')} distinct voters` }),
  change: z.string().min(1).max(200),
});

const retiredSchema = z.strictObject({ retiredThrough: z.number().int().min(0).max(epochMax) });

export class EpochStore {
  readonly #dir: string;
  readonly #epoch0Storage: string;

  /** `dir`: `<dataDir>/epochs`; `epoch0Storage`: epoch 0's group storage, `<dataDir>/consensus`. */
  constructor(dir: string, epoch0Storage: string) {
    this.#dir = dir;
    this.#epoch0Storage = epoch0Storage;
  }

  /** Where epoch `epoch`'s group keeps its records (on an agent that votes in it). */
  storageDir(epoch: number): string {
    return epoch === 0 ? this.#epoch0Storage : join(this.#dir, String(epoch), 'consensus');
  }

  /** The newest epoch retired here (its group's records removed), or -1 when none. */
  retiredThrough(): number {
    const file = join(this.#dir, 'retired.json');
    if (!existsSync(file)) return -1;
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`cannot read ${file}: ${(err as Error).message}; restore it from a backup, or write {"retiredThrough": E} naming the epoch before the newest under ${this.#dir}`, { cause: err });
    }
    const r = retiredSchema.safeParse(raw);
    if (!r.success) throw new Error(`${file} is damaged (${r.error.issues.map((i) => `${i.path.join('.') || 'record'}: ${i.message}`).join('; ')}); restore it from a backup, or write {"retiredThrough": E} naming the epoch before the newest under ${this.#dir}`);
    return r.data.retiredThrough;
  }

  /**
   * Epoch `epoch` is retired here: recorded durably, then its group's storage removed (the group
   * must be closed). A later epoch than one already recorded raises the mark; an older one only
   * removes what is left.
   */
  retire(epoch: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`epoch store: not an epoch: ${String(epoch)}`);
    if (epoch > this.retiredThrough()) {
      mkdirSync(this.#dir, { recursive: true });
      const file = join(this.#dir, 'retired.json');
      writeDurably(`${file}.tmp`, JSON.stringify({ retiredThrough: epoch }) + '\n');
      renameSync(`${file}.tmp`, file);
      syncDir(this.#dir);
    }
    rmSync(this.storageDir(epoch), { recursive: true, force: true });
  }

  /**
   * Every epoch made whole here, oldest first. Half-made ones (`.tmp`) are removed. A damaged
   * epoch.json is an error naming the file: guessing the voters would change what this agent
   * believes about the swarm. Storage left of a retired epoch (a crash between the mark and the
   * removal) is removed.
   */
  list(): EpochRecord[] {
    if (!existsSync(this.#dir)) return [];
    const out: EpochRecord[] = [];
    for (const name of readdirSync(this.#dir)) {
      if (name.endsWith('.tmp')) {
        rmSync(join(this.#dir, name), { recursive: true, force: true });
        continue;
      }
      if (!/^[0-9]+$/.test(name)) continue;
      const file = join(this.#dir, name, 'epoch.json');
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        throw new Error(`cannot read ${file}: ${(err as Error).message}; restore it from a backup, or remove ${join(this.#dir, name)} and let the agent rejoin the swarm as a worker`, { cause: err });
      }
      const r = recordSchema.safeParse(raw);
      if (!r.success || String(r.data.epoch) !== name) {
        const why = r.success ? `it names epoch ${r.data.epoch}` : r.error.issues.map((i) => `${i.path.join('.') || 'record'}: ${i.message}`).join('; ');
        throw new Error(`${file} is damaged (${why}); restore it from a backup, or remove ${join(this.#dir, name)} and let the agent rejoin the swarm as a worker`);
      }
      out.push(r.data);
    }
    out.sort((a, b) => a.epoch - b.epoch);
    // A crash between a retirement's mark and the removal of that epoch's storage.
    const retired = this.retiredThrough();
    for (const e of [0, ...out.map((r) => r.epoch)]) if (e <= retired && existsSync(this.storageDir(e))) rmSync(this.storageDir(e), { recursive: true, force: true });
    return out;
  }

  /**
   * Makes epoch `record.epoch` whole on disk: `prepare(storageDir)` writes the group's first
   * records (null: this agent does not vote in it), then epoch.json, then the rename. Resolves
   * once all of it is durable.
   */
  async create(record: EpochRecord, prepare: ((storageDir: string) => Promise<void>) | null): Promise<void> {
    const r = recordSchema.parse(record);
    const final = join(this.#dir, String(r.epoch));
    if (existsSync(final)) throw new Error(`assertion: epoch ${r.epoch} already exists at ${final}`);
    const tmp = `${final}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    if (prepare !== null) {
      const dir = join(tmp, 'consensus');
      mkdirSync(dir);
      await prepare(dir);
    }
    writeDurably(join(tmp, 'epoch.json'), JSON.stringify(r) + '\n');
    syncDir(tmp);
    renameSync(tmp, final);
    syncDir(this.#dir);
  }
}

function writeDurably(file: string, text: string): void {
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
