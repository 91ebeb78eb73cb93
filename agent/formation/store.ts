// Where a forming agent keeps its formation state: `<dataDir>/formation.json`, written whole and
// durably (temporary file, fsync, rename, fsync of the directory) before anything that depends on
// it leaves the agent — a member's acceptance before its answer, "formed" before it is told. It is
// read back through the same checks as a frame from the network, paired with the write.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { peerIdPattern } from '../../consensus/index.ts';
import { fsyncPath } from '../../transports/node.ts';
import { ConfigError } from '../config-error.ts';
import { initialState, type FormationState } from './rule.ts';
import { addrsMax, addrBytesMax, votersMax } from './wire.ts';

export const formationFileName = 'formation.json';

const peerId = z.string().regex(peerIdPattern);
const proposal = z.strictObject({ set: z.array(peerId).min(1).max(votersMax), attempt: z.number().int().min(1) });
const fileSchema = z.strictObject({
  version: z.literal(1),
  swarm: z.string(),
  expectVoters: z.number().int().min(1).max(votersMax),
  formed: z.array(z.strictObject({ id: peerId, addrs: z.array(z.string().max(addrBytesMax)).max(addrsMax) })).nullable(),
  lock: proposal.nullable(),
  attempt: z.number().int().min(0),
});

export interface FormationStore {
  readonly file: string;
  load(): FormationState;
  save(s: FormationState): void;
}

/**
 * The store in `dataDir`. Its swarm name and k are those of the config: a file made under
 * another name or k is refused with the fix, since a formed swarm never changes by this path.
 */
export function formationStore(dataDir: string, swarm: string, expectVoters: number): FormationStore {
  const file = join(dataDir, formationFileName);
  return {
    file,
    load(): FormationState {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return initialState;
        throw new ConfigError(`${file}: cannot read the formation state (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        throw new ConfigError(`${file}: damaged (not JSON); restore it from a backup, or delete it only if this agent never accepted a proposal (docs/agent.md, "A swarm that forms by itself")`);
      }
      const r = fileSchema.safeParse(raw);
      if (!r.success) throw new ConfigError(`${file}: damaged (${r.error.issues[0].path.join('.')}: ${r.error.issues[0].message}); restore it from a backup`);
      const f = r.data;
      if (f.swarm !== swarm || f.expectVoters !== expectVoters) {
        throw new ConfigError(`${file}: this data dir belongs to swarm "${f.swarm}" formed with expectVoters ${f.expectVoters}, but the config says "${swarm}" and ${expectVoters}; ` +
          'a formed swarm keeps its voters: put the config back, or give this agent a new data dir to join another swarm');
      }
      return { formed: f.formed, lock: f.lock, attempt: f.attempt };
    },
    save(s: FormationState): void {
      const body = { version: 1, swarm, expectVoters, formed: s.formed, lock: s.lock, attempt: s.attempt };
      fileSchema.parse(body); // what is written must read back
      mkdirSync(dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(body, null, 2) + '\n');
      fsyncPath(tmp);
      renameSync(tmp, file);
      fsyncPath(dirname(file));
    },
  };
}
