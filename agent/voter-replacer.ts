// Runs the automatic replacement policy (agent/voter-replacement.ts) on a voter: once a second it
// looks at what this agent sees — membership's dead verdicts, the voters it reaches, the live
// roster members and what they advertise — and when the policy says so, submits the voters.change
// that gives the lost voter's seat to the best candidate. One change at a time from here: the next
// look waits until the submitted one is answered (and the core refuses to propose a change while
// one it holds is pending: rule 8). The outcome is the epoch's close, seen by every agent.

import type { CommandResult } from '../consensus/index.ts';
import type { Logger } from './log.ts';
import type { AgentClock } from './ports.ts';
import { decideReplacement, type ReplacementDecision, type ReplacementPolicy, type ReplacementView } from './voter-replacement.ts';

/** How often the policy looks. */
export const replacementLookEveryMs = 1000;

export interface VoterReplacerOptions {
  readonly policy: ReplacementPolicy;
  readonly clock: AgentClock;
  readonly logger: Logger;
  /** What this agent sees now; null while it does not vote (only voters decide). */
  view(): ReplacementView | null;
  /** Submits the voters.change of the current epoch. */
  submit(voters: readonly string[], reason: string): Promise<CommandResult>;
}

export class VoterReplacer {
  readonly #o: VoterReplacerOptions;
  #cancel: (() => void) | null = null;
  #submitting = false;
  #last: ReplacementDecision = { kind: 'none' };
  #lastLogged = '';

  constructor(o: VoterReplacerOptions) {
    this.#o = o;
  }

  /** The policy's latest word (for `GET /voters` and `covey status`). */
  get last(): ReplacementDecision {
    return this.#last;
  }

  start(): void {
    this.#cancel = this.#o.clock.every(replacementLookEveryMs, () => this.look());
  }

  stop(): void {
    this.#cancel?.();
    this.#cancel = null;
  }

  /** One look (exposed for tests). */
  look(): void {
    if (this.#submitting) return;
    const view = this.#o.view();
    if (view === null) {
      this.#last = { kind: 'none' };
      return;
    }
    const d = decideReplacement(view, this.#o.policy);
    this.#last = d;
    this.#logOnce(d);
    if (d.kind !== 'replace') return;
    this.#submitting = true;
    this.#o.logger.warn({ out: d.out, in: d.in, voters: d.voters }, `replacing a lost voter: ${d.reason}`);
    this.#o.submit(d.voters, `automatic: ${d.reason}`).then(
      (r) => {
        if (r.ok) this.#o.logger.info({ epoch: r.value, out: d.out, in: d.in }, `voter ${d.out} replaced by ${d.in}`);
        else this.#o.logger.warn({ out: d.out, in: d.in, error: r.error }, 'the replacement did not take effect');
      },
      (err: unknown) => { this.#o.logger.warn({ out: d.out, in: d.in, err: (err as Error).message }, 'the replacement was not answered; the policy looks again'); },
    ).finally(() => { this.#submitting = false; });
  }

  /** A waiting reason is logged when it changes, not every second. */
  #logOnce(d: ReplacementDecision): void {
    const key = d.kind === 'wait' ? d.reason : d.kind;
    if (key === this.#lastLogged) return;
    this.#lastLogged = key;
    if (d.kind === 'wait') this.#o.logger.info({ reason: d.reason }, 'a voter is to be replaced, not yet');
  }
}
