// The envelope of the small JSON messages agents publish on their swarm's gossipsub topics (the
// roster, the voter set): bounded UTF-8 JSON, one object of known fields, naming the swarm. What a
// message carries beyond that is its own parser's to check.

/**
 * The object `data` holds, or why it is refused: over `bytesMax`, not UTF-8 JSON, not an object,
 * a field other than `fields` and `swarm`, or another swarm's.
 */
export function parseSwarmJson(data: Uint8Array, swarm: string, bytesMax: number, fields: readonly string[]): Record<string, unknown> | string {
  if (data.length > bytesMax) return `over ${bytesMax} bytes`;
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'not an object';
  const o = raw as Record<string, unknown>;
  const extra = Object.keys(o).find((k) => k !== 'swarm' && !fields.includes(k));
  if (extra !== undefined) return `unknown field ${extra}`;
  if (o.swarm !== swarm) return 'another swarm';
  return o;
}
