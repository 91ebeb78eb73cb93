// The plugin API's listings — kv.list, kv.watch and tasks.list — over a PluginEnvironment's stale
// local reads (voters hold the state). Pure helpers; context.ts adds capabilities and supervision.

import type { TaskView } from '../../consensus/index.ts';
import { kvListLimitMax, type KvEntry } from '../kv-list.ts';
import type { KvChange, Listing, TaskFilter } from './api.ts';
import type { PluginEnvironment } from './environment.ts';

/** Entries a listing returns unless the plugin asks for fewer. */
export const pluginListLimitDefault = 1000;
/** Most entries one listing returns, and most keys one kv.watch keeps track of. */
export const pluginListLimitMax = 10_000;

/** The limit a plugin asked for, checked. */
export function listLimit(plugin: string, limit: number | undefined): number {
  if (limit === undefined) return pluginListLimitDefault;
  if (!Number.isInteger(limit) || limit < 1 || limit > pluginListLimitMax) {
    throw new RangeError(`plugin "${plugin}": a listing's limit must be a whole number from 1 to ${pluginListLimitMax}, got ${String(limit)}`);
  }
  return limit;
}

/** The first `limit` entries under the prefix, following the environment's pages. */
export async function listKeys(env: PluginEnvironment, prefix: string, limit: number): Promise<Listing<KvEntry>> {
  const value: KvEntry[] = [];
  let after: string | null = null;
  let staleness: Record<string, unknown> = {};
  for (;;) {
    // One more than wanted tells whether the listing was cut short.
    const page = await env.staleList({ prefix, after, limit: Math.min(kvListLimitMax, limit + 1 - value.length) });
    if (after === null) staleness = page.staleness;
    value.push(...page.value.entries);
    if (value.length > limit) return { value: value.slice(0, limit), truncated: true, stale: true, staleness };
    if (page.value.next === null) return { value, truncated: false, stale: true, staleness };
    after = page.value.next;
  }
}

/** What changed from one reading of a prefix to the next, in key order (null: deleted). */
export function kvChanges(before: ReadonlyMap<string, string>, after: readonly KvEntry[]): KvChange[] {
  const out: KvChange[] = [];
  const now = new Set<string>();
  for (const e of after) {
    now.add(e.key);
    if (before.get(e.key) !== e.value) out.push({ key: e.key, value: e.value });
  }
  for (const key of before.keys()) if (!now.has(key)) out.push({ key, value: null });
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Whether a task passes a tasks.list filter. */
export function taskMatches(t: TaskView, f: TaskFilter): boolean {
  if (f.prefix !== undefined && !t.taskId.startsWith(f.prefix)) return false;
  if (f.status !== undefined && (typeof f.status === 'string' ? t.status !== f.status : !f.status.includes(t.status))) return false;
  if (f.owner !== undefined && t.owner !== f.owner) return false;
  return true;
}
