// INV7 of PROTOCOL.md §8, checked while a simulation runs: every Commit message sent for an
// instance carries the same command and dependencies, whatever its ballot. One map lookup and one
// field-wise comparison per Commit, so it stays on even in the longest runs.

import { type Commit, depsEqual, formatId, type InstanceId, payloadsEqual } from '../../consensus/index.ts';

/** Violations kept (the first ones tell the story; a broken run would otherwise fill memory). */
const violationsKept = 100;

export class CommitWatch {
  readonly violations: string[] = [];
  private readonly first = new Map<InstanceId, Commit>();

  see(m: Commit, atMs: number): void {
    const first = this.first.get(m.id);
    if (first === undefined) { this.first.set(m.id, m); return; }
    if (first === m || (payloadsEqual(first.cmd, m.cmd) && depsEqual(first.dep, m.dep))) return;
    if (this.violations.length < violationsKept) {
      this.violations.push(`INV7: at ${atMs} ms a Commit for ${formatId(m.id)} (ballot ${m.b}) differs from the one sent at ballot ${first.b}`);
    }
  }
}
