// README.md's Layout section, written from lint/layout.ts so the two cannot drift:
// lint/layout.test.ts fails when they differ, and `node lint/readme.ts --write` rewrites it.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exceptions, rooms, type Room } from './layout.ts';
import { repoRoot } from './rooms-rule.ts';

export const readmeFile = join(repoRoot, 'README.md');
export const beginMarker = '<!-- layout: written by `node lint/readme.ts --write` from lint/layout.ts; edit that -->';
export const endMarker = '<!-- layout end -->';

// Folders, and single files outside the room's folders (a file inside one overrides a sub-room).
const where = (r: Room): string => r.paths
  .filter((p) => p.endsWith('/') || !r.paths.some((q) => q.endsWith('/') && p.startsWith(q)))
  .map((p) => `\`${p}\``).join(', ');

function door(r: Room): string {
  if (r.door === null) return 'none: no room imports it';
  if (!r.door.kept) return `\`${r.door.file}\` to come; until then any file (not checked)`;
  if (existsSync(join(repoRoot, r.door.file))) return `\`${r.door.file}\``;
  return `\`${r.door.file}\` (not written yet: the files imported meanwhile are listed below)`;
}

const mayImport = (r: Room): string => {
  const rooms = r.mayImport.length === 0 ? 'nothing of the project' : r.mayImport.join(', ');
  const tests = r.testsMayImport ?? [];
  return tests.length === 0 ? rooms : `${rooms}; its tests and test helpers also ${tests.join(', ')}`;
};

/** The text between the markers. */
export function renderLayout(): string {
  const lines = [
    'Each top-level folder is a room with one job. A room imports another only along the arrows below, and',
    'through the other room\'s door where it keeps one. `npm run lint` checks every import against',
    '`lint/layout.ts`, which holds this table and the known exceptions, each with its reason.',
    '',
    '| room | where | job | door (what others import) | may import |',
    '|---|---|---|---|---|',
    ...rooms.map((r) => `| ${r.name} | ${where(r)} | ${r.job} | ${door(r)} | ${mayImport(r)} |`),
    '',
    `Known exceptions (${exceptions.length}), each with its reason; the faults among them are to be fixed (issues 14, 16):`,
    '',
    ...exceptions.map((e) => `- ${e.from.map((f) => (f === '**' ? 'any room' : `\`${f}\``)).join(', ')} → ${e.to.map((t) => `\`${t}\``).join(', ')}: ${e.why}`),
  ];
  return lines.join('\n');
}

/** The README with its Layout section rewritten from the table. */
export function readmeWithLayout(readme: string): string {
  const begin = readme.indexOf(beginMarker);
  const end = readme.indexOf(endMarker);
  if (begin < 0 || end < begin) throw new Error(`README.md lacks the markers ${beginMarker} ... ${endMarker} in its Layout section`);
  return `${readme.slice(0, begin + beginMarker.length)}\n${renderLayout()}\n${readme.slice(end)}`;
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  const readme = readFileSync(readmeFile, 'utf8');
  const next = readmeWithLayout(readme);
  if (process.argv.includes('--write')) writeFileSync(readmeFile, next);
  else process.stdout.write(renderLayout() + '\n');
}
