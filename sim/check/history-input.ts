// Reading a history file in either format: the project's JSON Lines (HISTORY-FORMAT.md) or
// Jepsen's EDN. The format is told by the first character that is not blank: a JSON Lines event
// starts with `{"`; EDN starts with `{:`, `[`, `;` or `#`.

import { parseHistory, type History } from '../history.ts';
import { parseJepsenEdn } from './jepsen-edn.ts';

export type HistoryFormat = 'jsonl' | 'edn';

export function detectFormat(text: string): HistoryFormat {
  const start = /\S/.exec(text);
  if (start === null) return 'jsonl';
  const rest = text.slice(start.index, start.index + 64);
  return /^\{\s*"/.test(rest) ? 'jsonl' : 'edn';
}

export function parseHistoryText(text: string, format: HistoryFormat | 'auto' = 'auto'): { history: History; format: HistoryFormat } {
  const chosen = format === 'auto' ? detectFormat(text) : format;
  return { history: chosen === 'edn' ? parseJepsenEdn(text) : parseHistory(text), format: chosen };
}
