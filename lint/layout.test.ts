// The import rule fails a backwards import and names its arrow, the real tree meets the layout
// with no exception left over, and README's Layout section is the table's.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import ts from 'typescript';
import { checkImport, exceptionFor, exceptions, matchesGlob, roomOf, rooms } from './layout.ts';
import { repoRoot, resolveImport } from './rooms-rule.ts';
import { readmeFile, readmeWithLayout } from './readme.ts';

/** Lints `text` as if it were the file `file` (from the root), with the project's own configuration. */
async function lintAs(file: string, text: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: repoRoot });
  const [result] = await eslint.lintText(text, { filePath: join(repoRoot, file) });
  return result.messages.filter((m) => m.ruleId === 'covey/rooms').map((m) => m.message);
}

const skipped = new Set(['node_modules', 'dist', 'scratch']);

/** Every source file of the repository, as paths from the root. */
function sourceFiles(dir = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(repoRoot, dir), { withFileTypes: true })) {
    if (entry.name.startsWith('.') || skipped.has(entry.name)) continue;
    const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts|mjs|js)$/.test(entry.name)) out.push(path);
  }
  return out;
}

/** Every import of a project file in the tree: TypeScript's own scanner, as `tsc` reads them. */
function projectImports(): Array<{ from: string; to: string }> {
  const out: Array<{ from: string; to: string }> = [];
  for (const from of sourceFiles()) {
    const info = ts.preProcessFile(readFileSync(join(repoRoot, from), 'utf8'), true, true);
    for (const imported of info.importedFiles) {
      const to = resolveImport(from, imported.fileName);
      if (to !== null) out.push({ from, to });
    }
  }
  return out;
}

describe('the import rule (covey/rooms in eslint.config.js)', () => {
  it('fails a backwards import, consensus -> agent, naming the arrow and the files', async () => {
    const messages = await lintAs('consensus/core/planted.ts', "import type { Logger } from '../../agent/log.ts';\nexport type L = Logger;\n");
    assert.equal(messages.length, 1, `expected one error, got ${JSON.stringify(messages)}`);
    assert.match(messages[0], /^consensus -> agent is not an arrow of the layout: consensus\/core\/planted\.ts imports agent\/log\.ts, but consensus may import kit/);
  });

  it('sees every form of import: export from, import(), typeof import() and a bare side-effect import', async () => {
    const text = [
      "export * from '../../sim/history.ts';",
      "export const load = async () => import('../../sim/history.ts');",
      "export type H = typeof import('../../sim/history.ts');",
      "import '../../sim/history.ts';",
    ].join('\n');
    const messages = await lintAs('consensus/core/planted.ts', text);
    assert.equal(messages.length, 4, JSON.stringify(messages));
    for (const m of messages) assert.match(m, /^consensus -> sim is not an arrow/);
  });

  it('fails an import of a room\'s internals where it keeps a door, naming the door', async () => {
    const messages = await lintAs('sim/planted.ts', "import { recover } from '../consensus/core/recovery.ts';\nexport { recover };\n");
    assert.deepEqual(messages, ['sim/planted.ts imports consensus/core/recovery.ts, inside consensus: import its door consensus/index.ts (lint/layout.ts)']);
  });

  it('passes an arrow the layout lists, a door, a package, and a listed exception', async () => {
    assert.deepEqual(await lintAs('agent/planted.ts', "import '../devices/types.ts';\nimport 'pino';\n"), []);
    assert.deepEqual(await lintAs('sim/planted.ts', "import '../transports/membership/index.ts';\n"), []);
    assert.deepEqual(await lintAs('agent/nemesis/run.ts', "import '../../sim/history.ts';\n"), []);
  });

  it('lets only tests and test helpers import a test kit (consensus-testing), and only through its door', async () => {
    const kit = "import { batchArbitrary } from '../../consensus/testing/index.ts';\nexport { batchArbitrary };\n";
    assert.deepEqual(await lintAs('transports/wire/planted.test.ts', kit), []);
    assert.deepEqual(await lintAs('transports/testing/planted.ts', kit), []);
    const shipped = await lintAs('transports/wire/planted.ts', kit);
    assert.equal(shipped.length, 1, JSON.stringify(shipped));
    assert.match(shipped[0], /^transports -> consensus-testing is not an arrow of the layout/);
    const inside = await lintAs('transports/wire/planted.test.ts', "import '../../consensus/testing/arbitraries.ts';\n");
    assert.deepEqual(inside, ['transports/wire/planted.test.ts imports consensus/testing/arbitraries.ts, inside consensus-testing: import its door consensus/testing/index.ts (lint/layout.ts)']);
  });

  it('fails a file in a folder that is no room', async () => {
    const messages = await lintAs('tools/planted.ts', "import '../agent/log.ts';\n");
    assert.deepEqual(messages, ['tools/planted.ts is in no room of lint/layout.ts: add it to a room (and to README\'s Layout)']);
  });
});

describe('the layout table (lint/layout.ts)', () => {
  const imports = projectImports();

  it('reads the real tree: hundreds of imports, dozens across rooms', () => {
    const across = imports.filter(({ from, to }) => roomOf(from) !== roomOf(to));
    assert.ok(imports.length > 500 && across.length > 100, `${imports.length} imports, ${across.length} across rooms`);
  });

  it('the real tree breaks no arrow or door beyond the listed exceptions', () => {
    const broken = imports.map(({ from, to }) => checkImport(from, to)).filter((v) => v !== null && exceptionFor(v.from, v.to) === null);
    assert.deepEqual(broken, []);
  });

  it('every exception is still needed: each of its targets is imported across a rule by one of its sources', () => {
    const needed = imports.filter(({ from, to }) => checkImport(from, to) !== null);
    const unused = exceptions.flatMap((e) => e.to
      .filter((t) => !needed.some(({ from, to }) => matchesGlob(to, t) && e.from.some((f) => matchesGlob(from, f))))
      .map((t) => `${e.from.join(',')} -> ${t} (${e.why})`));
    assert.deepEqual(unused, [], 'remove these from lint/layout.ts: nothing needs them any more');
  });

  it('names only rooms it defines, and every room has a path', () => {
    const names = new Set(rooms.map((r) => r.name));
    assert.equal(names.size, rooms.length);
    for (const r of rooms) {
      assert.ok(r.paths.length > 0, r.name);
      for (const m of r.mayImport) assert.ok(names.has(m) && m !== r.name, `${r.name} may import ${m}`);
      if (r.door !== null) assert.equal(roomOf(r.door.file), r, `${r.name}'s door ${r.door.file} lies in its room`);
    }
  });

  it('README.md\'s Layout section is the table (node lint/readme.ts --write rewrites it)', () => {
    const readme = readFileSync(readmeFile, 'utf8');
    assert.equal(readme, readmeWithLayout(readme));
  });
});
