// `GET /kv?prefix=P`: one bounded page of a voter's local keys under a prefix, with a
// continuation. The listing is a stale read (no command orders a range read through consensus),
// so it is served by voters, like `?stale=true`. Pages are bounded in entries and in bytes, so a
// prefix over a million keys or a few 1 MiB values never builds one huge answer.

/** Entries on a page unless the client asks for fewer. */
export const kvListLimitDefault = 100;
/** Most entries a page holds, however many are asked for. */
export const kvListLimitMax = 1000;
/** A page stops growing once its keys and values pass this many bytes (it holds at least one entry). */
export const kvListBytesMax = 1024 * 1024;

export interface KvListQuery {
  readonly prefix: string;
  /** Start after this key (the previous page's `next`); null from the first. */
  readonly after: string | null;
  readonly limit: number;
}

export interface KvEntry {
  readonly key: string;
  readonly value: string;
}

export interface KvPage {
  readonly entries: KvEntry[];
  /** Pass as `after` to read on; null when this page reaches the end of the prefix. */
  readonly next: string | null;
}

/** What a page is read from: the state machine's stale local reads. */
export interface KvSource {
  /** Every key, sorted (CoveyStateMachine.keys()). */
  keys(): string[];
  get(key: string): string | null;
}

/** One page of the keys under q.prefix, sorted, starting after q.after. */
export function pageKeys(source: KvSource, q: KvListQuery): KvPage {
  const keys = source.keys();
  let i = lowerBound(keys, q.after === null || q.after < q.prefix ? q.prefix : q.after);
  if (q.after !== null && i < keys.length && keys[i] === q.after) i++;
  const entries: KvEntry[] = [];
  let bytes = 0;
  for (; i < keys.length && keys[i].startsWith(q.prefix); i++) {
    if (entries.length >= q.limit || (entries.length > 0 && bytes >= kvListBytesMax)) {
      return { entries, next: entries[entries.length - 1].key };
    }
    const value = source.get(keys[i]);
    if (value === null) continue;
    entries.push({ key: keys[i], value });
    bytes += Buffer.byteLength(keys[i]) + Buffer.byteLength(value);
  }
  return { entries, next: null };
}

/** The query of `GET /kv`, or a message saying what is wrong with it. */
export function parseKvListQuery(params: URLSearchParams): KvListQuery | string {
  for (const name of params.keys()) {
    if (!['prefix', 'after', 'limit', 'stale'].includes(name)) return `unknown query parameter "${name}" on GET /kv (known: prefix, after, limit)`;
  }
  const limitText = params.get('limit');
  const limit = limitText === null ? kvListLimitDefault : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > kvListLimitMax) return `query "limit" must be a whole number from 1 to ${kvListLimitMax}, got "${limitText}"`;
  return { prefix: params.get('prefix') ?? '', after: params.get('after'), limit };
}

/** First index whose key is ≥ k in sorted keys. */
function lowerBound(keys: readonly string[], k: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
