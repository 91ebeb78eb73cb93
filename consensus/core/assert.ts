// Assertions of the core: invariants stated where they must hold, checked on every run (they
// cost a comparison or two), so a violation stops the replica at the bug rather than letting a
// wrong state be persisted and sent. A failure is a bug in Covey, never bad input: input is
// refused by validate.ts before it reaches the core.

export class AssertionFailed extends Error {
  constructor(message: string) {
    super(`assertion: ${message}`);
    this.name = 'AssertionFailed';
  }
}

/** Throws AssertionFailed with `what()` (built only on failure) when `cond` is false. */
export function assert(cond: boolean, what: () => string): asserts cond {
  if (!cond) throw new AssertionFailed(what());
}
