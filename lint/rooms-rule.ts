// The ESLint rule `covey/rooms`: every import of a project file, in any form (import, export from,
// import(), import type and typeof import()), must follow an arrow of the layout and go through
// the door of a room that keeps one (lint/layout.ts holds the table and the listed exceptions).

import { dirname, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Rule } from 'eslint';
import { importError } from './layout.ts';

/** The repository root: the folder above lint/. */
export const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));

const toPosix = (p: string): string => p.split(sep).join('/');

/** The imported file as a path from the root, for a relative specifier; null for a package. */
export function resolveImport(fromFile: string, specifier: string): string | null {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return null;
  return posix.normalize(posix.join(posix.dirname(fromFile), specifier));
}

// The node shapes the rule reads, as loosely as ESLint's and typescript-eslint's ASTs differ.
interface SourceNode { source?: { type: string; value?: unknown } | null }
interface ImportTypeNode { argument?: { type: string; literal?: { value?: unknown } } }

const rule: Rule.RuleModule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports follow the arrows and doors of lint/layout.ts' },
    schema: [],
  },
  create(context) {
    const file = toPosix(relative(repoRoot, context.filename));
    if (file.startsWith('..') || posix.isAbsolute(file)) return {}; // outside the repository
    const check = (node: Rule.Node, specifier: unknown): void => {
      if (typeof specifier !== 'string') return; // import(expression): nothing to check statically
      const target = resolveImport(file, specifier);
      if (target === null) return;
      const v = importError(file, target);
      if (v !== null) context.report({ node, message: v.message });
    };
    const fromSource = (node: Rule.Node): void => {
      const source = (node as unknown as SourceNode).source;
      if (source?.type === 'Literal') check(node, source.value);
    };
    return {
      ImportDeclaration: fromSource,
      ExportAllDeclaration: fromSource,
      ExportNamedDeclaration: fromSource,
      ImportExpression: fromSource,
      // `typeof import('../x.ts')` and `import('../x.ts').T` in type positions (typescript-eslint's AST).
      ['TSImportType' as string]: (node: Rule.Node) => {
        const argument = (node as unknown as ImportTypeNode).argument;
        if (argument?.type === 'TSLiteralType') check(node, argument.literal?.value);
      },
    };
  },
};

export const roomsPlugin = { rules: { rooms: rule } };
