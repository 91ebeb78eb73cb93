// Member metadata: its canonical size and its bounds, shared by `setMeta` (a local caller gets a
// clear error) and by validate.ts (a peer's over-size record is dropped with the same reason).

import { metaBytesMax, metaListMax, metaNameBytesMax } from './config.ts';
import type { Meta } from './types.ts';
import { utf8Bytes } from '../../kit/validate-kit.ts';

/** UTF-8 length of a string, or -1 with a lone surrogate (kit/validate-kit.ts). */
export { utf8Bytes };

/**
 * Bytes the record costs on every alive message that carries it, as the wire encoding frames it:
 * each name's UTF-8 bytes plus 2 bytes of framing, plus 8 bytes for role and battery. Counted,
 * not encoded, because the validator runs it on every member of every push-pull.
 */
export function metaSizeBytes(meta: Meta): number {
  let n = 8;
  for (const d of meta.devices) n += Math.max(0, utf8Bytes(d)) + 2;
  for (const p of meta.plugins) n += Math.max(0, utf8Bytes(p)) + 2;
  return n;
}

/** Why `meta` may not be gossiped, or null when it may. Never throws on a well-typed Meta. */
export function metaProblem(meta: Meta): string | null {
  if (meta.role !== 'voter' && meta.role !== 'worker') return `meta.role: expected "voter" or "worker", got ${JSON.stringify(String(meta.role)).slice(0, 40)}`;
  for (const key of ['devices', 'plugins'] as const) {
    const list = meta[key];
    if (list.length > metaListMax) return `meta.${key}: at most ${metaListMax} entries, got ${list.length}`;
    for (let i = 0; i < list.length; i++) {
      const b = utf8Bytes(list[i]);
      if (b < 0) return `meta.${key}[${i}]: not valid UTF-8 (lone surrogate)`;
      if (b === 0 || b > metaNameBytesMax) return `meta.${key}[${i}]: expected 1..${metaNameBytesMax} bytes, got ${b}`;
    }
  }
  if (meta.battery !== null && !(typeof meta.battery === 'number' && meta.battery >= 0 && meta.battery <= 1)) {
    return `meta.battery: expected null or a number in 0..1, got ${String(meta.battery)}`;
  }
  const size = metaSizeBytes(meta);
  if (size > metaBytesMax) return `meta: ${size} bytes is over the ${metaBytesMax}-byte limit (every alive message carries it; drop plugins or devices, or shorten names)`;
  return null;
}

export function metaEqual(a: Meta, b: Meta): boolean {
  return a.role === b.role && a.battery === b.battery && listEqual(a.devices, b.devices) && listEqual(a.plugins, b.plugins);
}

function listEqual(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
