// Test-only variants of the consensus core, each reintroducing one known bug through the seams
// in consensus/core/replica.ts, so the model checker can be shown to catch it. Never used outside
// the model checker and its tests.

import {
  type Ballot, type Envelope, type Instance, type Message, type Ready, Replica,
} from '../../../consensus/index.ts';
import { variantNames, type VariantName } from './defaults.ts';

/**
 * PROTOCOL.md §10 pitfall 1, the original EPaxos's single ballot variable: a RecoverOK reports
 * the ballot the process had last joined instead of the ballot it last voted in (abal), so
 * recovery judges the answers by it (lines 52–55) and can pick a value that was never chosen
 * over one that was.
 */
export class SingleBallotReplica extends Replica {
  protected override reportedBallot(_inst: Readonly<Instance>, balBefore: Ballot): Ballot {
    return balBefore;
  }
}

/**
 * PROTOCOL.md §4, delayed self-delivery: the messages a process sends itself go through the
 * network like any other, instead of being applied at once. A coordinator that has sent its
 * Commit to the others can then answer a Recover while still PREACCEPTED, and line 56 makes the
 * recovery choose Nop.
 */
export class DelayedSelfDeliveryReplica extends Replica {
  private toSelf: Message[] = [];

  protected override deliverToSelf(msg: Message): void {
    this.toSelf.push(msg);
  }

  override takeReady(): Ready {
    const ready = super.takeReady();
    if (this.toSelf.length === 0) return ready;
    const own: Envelope[] = this.toSelf.map((msg) => ({ from: this.self, to: this.self, msg }));
    this.toSelf = [];
    return { ...ready, messages: [...ready.messages, ...own] };
  }
}

/**
 * PROTOCOL.md §12, "Votes count once durable", broken: a process counts its own vote the moment it
 * casts it, while its proposals and Commits still leave before its records are durable. A
 * coordinator can then fast-commit on a vote that a crash erases: recovery, no longer seeing a
 * fast quorum, chooses Nop where the command was committed.
 */
export class VoteBeforeDurableReplica extends Replica {
  protected override deferOwnVote(msg: Message): void {
    this.deliverToSelf(msg);
  }

  protected override fastCommitLeavesEarly(): boolean {
    return true;
  }
}

/**
 * docs/reconfiguration.md rule 3 off: holding a voters.change does not seal a replica. It goes on
 * proposing, and reporting dependencies for commands it had not reported before, which can then
 * name the change: such a command executes after the change closed the epoch (RC1).
 */
export class NoSealReplica extends Replica {
  protected override sealsOnHolding(): boolean {
    return false;
  }
}

export { variantNames, type VariantName };

export function variantClass(v: VariantName): typeof Replica {
  switch (v) {
    case 'real': return Replica;
    case 'single-ballot': return SingleBallotReplica;
    case 'delayed-self-delivery': return DelayedSelfDeliveryReplica;
    case 'vote-before-durable': return VoteBeforeDurableReplica;
    case 'no-seal': return NoSealReplica;
  }
}
