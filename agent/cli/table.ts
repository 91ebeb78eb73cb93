// Plain-text tables for the client commands: each column as wide as its widest cell, so a long
// task id or key widens its column instead of pushing the rest of its row out of line.

/** Widest a cell is printed before it is cut with "…" (a 1 MiB value would fill the terminal). */
export const cellCharsMax = 80;

export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = [headers, ...rows].map((r) => r.map(cell));
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const last = headers.length - 1;
  return cells.map((r) => r.map((v, c) => (c === last ? v : v.padEnd(widths[c]))).join('  ').trimEnd()).join('\n') + '\n';
}

/** One line, at most cellCharsMax characters: control characters (a newline in a value) are escaped. */
function cell(v: string): string {
  // eslint-disable-next-line no-control-regex
  const line = /[\u0000-\u001f\u007f]/.test(v) ? JSON.stringify(v).slice(1, -1) : v;
  return line.length > cellCharsMax ? line.slice(0, cellCharsMax - 1) + '…' : line;
}
