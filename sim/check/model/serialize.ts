// A canonical, deterministic serialization of an object graph, for the model checker's state
// hashing. It walks own enumerable properties (the fields of class instances included, with the
// class name), arrays, Maps and Sets in their iteration order, and primitives; functions are
// written as a marker. Two states with the same serialization behave the same from then on, as
// long as everything that matters is reachable this way (see README.md, "State hashing"), so it
// may only ever distinguish too much: Map and Set insertion order is kept because the core reads
// it (recovery takes the first suitable answer of a quorum, line 54–55).

/** Serialize `value`, leaving out object properties whose names are in `skip`. Throws on a cycle. */
export function canonical(value: unknown, skip: ReadonlySet<string> = new Set()): string {
  const onPath = new Set<object>();
  const walk = (v: unknown): string => {
    switch (typeof v) {
      case 'number': return Object.is(v, -0) ? '-0' : String(v);
      case 'string': return JSON.stringify(v);
      case 'boolean': return v ? 'T' : 'F';
      case 'undefined': return 'U';
      case 'bigint': return `${v}n`;
      case 'function': return 'fn';
      case 'symbol': throw new Error(`canonical: cannot serialize ${String(v)}`);
    }
    if (v === null) return 'N';
    const o = v as object;
    if (onPath.has(o)) throw new Error('canonical: the object graph has a cycle');
    onPath.add(o);
    let out: string;
    if (Array.isArray(o)) {
      out = '[';
      for (const x of o) out += walk(x) + ',';
      out += ']';
    } else if (o instanceof Map) {
      out = 'M{';
      for (const [k, x] of o) out += walk(k) + ':' + walk(x) + ',';
      out += '}';
    } else if (o instanceof Set) {
      out = 'S{';
      for (const x of o) out += walk(x) + ',';
      out += '}';
    } else {
      out = ((o.constructor as { name?: string } | undefined)?.name ?? '') + '{';
      for (const k of Object.keys(o)) {
        if (skip.has(k)) continue;
        out += k + ':' + walk((o as Record<string, unknown>)[k]) + ',';
      }
      out += '}';
    }
    onPath.delete(o);
    return out;
  };
  return walk(value);
}
