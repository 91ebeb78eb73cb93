// The validation kit of the pure cores, written once (issue 14): consensus/core/validate.ts and
// transports/membership/validate.ts both check attacker-shaped input with these. Each helper either
// returns a checked copy or throws a Rejection that names the path and the problem; the validators
// catch it at their API edge (`Rejection.reasonOf`) and return `{ ok: false, reason }`.
//   - Fields are read as own data-property descriptors, once each: a getter is refused without
//     being called, and a proxy cannot answer two questions differently.
//   - Nothing here runs the input's code where it can be avoided (describe, the Rejection check).
//
// Pure: no clock, timer, randomness, logger or I/O, and it imports nothing.

/**
 * Thrown inside a validator and caught at its API edge. Recognised by its private field, not by
 * `instanceof`: an attacker's proxy can throw from a trap, and `instanceof` on a thrown proxy would
 * run its getPrototypeOf trap inside the catch block.
 */
export class Rejection {
  readonly #reason: string;
  constructor(reason: string) {
    this.#reason = reason;
  }
  static reasonOf(e: unknown): string | null {
    return typeof e === 'object' && e !== null && #reason in e ? (e as Rejection).#reason : null;
  }
}

export function reject(path: string, problem: string): never {
  throw new Rejection(`${path}: ${problem}`);
}

/** A short description of a received value that runs none of its code. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'number': case 'boolean': return String(v);
    case 'string': return `string ${quote(v)}`;
    case 'undefined': return 'undefined';
    case 'object':
      try {
        return Array.isArray(v) ? 'an array' : 'an object';
      } catch {
        return 'an object'; // a revoked proxy
      }
    default: return `a ${typeof v}`;
  }
}

/** A string for a reason: JSON-quoted, cut after 40 characters. */
export function quote(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

/** A non-array object whose prototype is Object.prototype or null (what any decoder produces). */
export function plainObject(raw: unknown, path: string): object {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) reject(path, `expected an object, got ${describe(raw)}`);
  const proto: unknown = Object.getPrototypeOf(raw);
  if (proto !== Object.prototype && proto !== null) reject(path, 'expected a plain object');
  return raw;
}

/**
 * Reads one own data property through a single descriptor lookup (so a proxy cannot answer two
 * questions differently); a getter is rejected without being called.
 */
export function ownValue(obj: object, key: string | number, path: string, missing = 'missing'): unknown {
  const d = Reflect.getOwnPropertyDescriptor(obj, key);
  if (d === undefined) reject(path, missing);
  if (!('value' in d)) reject(path, 'accessor properties are not allowed');
  return d.value;
}

/** A dense array of min..max entries, copied entry by entry. */
export function array(raw: unknown, path: string, min: number, max: number): unknown[] {
  if (!Array.isArray(raw)) reject(path, `expected an array, got ${describe(raw)}`);
  const length: unknown = (raw as unknown[]).length;
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) reject(path, 'invalid array length');
  if (min === max && length !== min) reject(path, `expected ${min} entries, got ${length}`);
  if (length < min) reject(path, `expected at least ${min} entries, got ${length}`);
  if (length > max) reject(path, `expected at most ${max} entries, got ${length}`);
  const out: unknown[] = new Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = ownValue(raw as object, i, `${path}[${i}]`, 'missing entry (sparse array)');
  }
  return out;
}

/** UTF-8 length of `s`, or -1 when it holds a lone surrogate (no UTF-8 form). */
export function utf8Bytes(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1); // NaN past the end
      if (!(next >= 0xdc00 && next <= 0xdfff)) return -1;
      bytes += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return -1;
    else bytes += 3;
  }
  return bytes;
}
