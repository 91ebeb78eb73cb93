// Waiting on a condition in tests that drive real processes and sockets: poll until it holds or
// a deadline passes, then fail naming what was awaited (and the last error, if polling threw).

/** Polls `f` until it returns something other than undefined; errors count as "not yet". */
export async function eventually<T>(what: string, f: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000, intervalMs = 20): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Polls `cond` until it is true. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  await eventually(what, async () => (await cond()) ? true : undefined, timeoutMs);
}
