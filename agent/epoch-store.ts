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

export class EpochStore {
  readonly #dir: string;

  /** `dir`: `<dataDir>/epochs`. */
  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Where epoch `epoch`'s group keeps its records (on an agent that votes in it). */
  storageDir(epoch: number): string {
    return join(this.#dir, String(epoch), 'consensus');
  }

  /**
   * Every epoch made whole here, oldest first. Half-made ones (`.tmp`) are removed. A damaged
   * epoch.json is an error naming the file: guessing the voters would change what this agent
   * believes about the swarm.
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
    return out.sort((a, b) => a.epoch - b.epoch);
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
    const fd = openSync(join(tmp, 'epoch.json'), 'w');
    try {
      writeSync(fd, JSON.stringify(r) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    syncDir(tmp);
    renameSync(tmp, final);
    syncDir(this.#dir);
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
