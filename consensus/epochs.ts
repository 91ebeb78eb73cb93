// A swarm of named peers whose voter set changes, in memory (docs/reconfiguration.md): one
// consensus group (a `Cluster`) per epoch, each with its own voters, quorums, ids and network.
// It plays the part an agent's driver plays for reconfiguration:
// - a peer's commands go to the group of the newest epoch it votes in;
// - when a replica's group closes (Ready.closed, durable), the next epoch's group is made from the
//   change (voters, and the state at the change as every replica's base), the closing peer joins
//   it if it is one of its voters, and the commands it handed on are submitted there;
// - a new voter (not in the closed epoch) joins as soon as the group exists: it is given the state
//   at the change, which is what state transfer gives it on a real swarm (rule 6);
// - a crash crashes a peer in every group it runs; a restart restarts it in each group it had joined.
// Tests and the simulator's reconfiguration checks drive it; the core never sees a peer name.

import { Cluster, type ClusterOptions } from './cluster.ts';
import { defaultQuorumConfig } from './core/quorum.ts';
import type { ClientReply, EpochClose } from './core/types.ts';
import { changeVoters, type Command } from './statemachine/commands.ts';

export interface EpochGroup {
  readonly epoch: number;
  /** Peer names in replica-index order. */
  readonly voters: readonly string[];
  readonly cluster: Cluster;
  /** The state every replica starts from: the state at the change that closed the epoch before (undefined in epoch 0). */
  readonly base: unknown;
  /** Which replicas have joined (been started at least once); a joined one may be down. */
  readonly joined: boolean[];
  /** How many of each replica's closes were acted on (Cluster.closes is set once per incarnation). */
  readonly closesSeen: (EpochClose | null)[];
}

export type GroupOptions = Omit<ClusterOptions, 'n' | 'f' | 'e' | 'epoch' | 'base' | 'joined'>;

export class EpochCluster {
  readonly groups: EpochGroup[] = [];
  /** Every reply a peer's clients got, from any epoch. */
  readonly replies = new Map<string, ClientReply[]>();
  private readonly options: GroupOptions;
  private readonly down = new Set<string>();

  constructor(voters: readonly string[], options: GroupOptions = {}) {
    this.options = options;
    this.groups.push(this.makeGroup(0, voters, undefined, voters.map(() => true)));
  }

  private makeGroup(epoch: number, voters: readonly string[], base: unknown, joined: boolean[]): EpochGroup {
    const cluster = new Cluster({ ...this.options, ...defaultQuorumConfig(voters.length), epoch, base, joined });
    return { epoch, voters, cluster, base, joined, closesSeen: voters.map(() => null) };
  }

  get current(): EpochGroup {
    return this.groups[this.groups.length - 1];
  }

  /** The newest group in which `peer` has joined as a voter, or null (a removed or never voter). */
  groupOf(peer: string): { group: EpochGroup; r: number } | null {
    for (let g = this.groups.length - 1; g >= 0; g--) {
      const group = this.groups[g];
      const r = group.voters.indexOf(peer);
      if (r >= 0 && group.joined[r]) return { group, r };
    }
    return null;
  }

  isUp(peer: string): boolean {
    return !this.down.has(peer);
  }

  /** A client command at `peer`: to its newest group. */
  submit(peer: string, command: Command): void {
    const at = this.groupOf(peer);
    if (at === null) throw new Error(`${peer} is no voter`);
    if (!at.group.cluster.up[at.r]) throw new Error(`${peer} is down`);
    at.group.cluster.submit(at.r, command);
    this.afterStep();
  }

  /** Deliver message i of the group of `epoch` (to a down replica it is lost). */
  deliver(epoch: number, i: number): void {
    this.groups[epoch].cluster.deliver(i);
    this.afterStep();
  }

  tick(peer: string, advanceMs: number, entropy = 0): void {
    for (const group of this.groups) {
      const r = group.voters.indexOf(peer);
      if (r < 0 || !group.joined[r] || !group.cluster.up[r]) continue;
      group.cluster.nowMs += advanceMs;
      group.cluster.tick(r, entropy);
    }
    this.afterStep();
  }

  /** sync 'explicit': make every unsynced step of `peer` durable, in every group it runs. */
  sync(peer: string): void {
    for (const group of this.groups) {
      const r = group.voters.indexOf(peer);
      if (r < 0 || !group.joined[r] || !group.cluster.up[r]) continue;
      while (group.cluster.unsynced[r].length > 0) group.cluster.sync(r);
    }
    this.afterStep();
  }

  crash(peer: string): void {
    this.down.add(peer);
    for (const group of this.groups) {
      const r = group.voters.indexOf(peer);
      if (r >= 0 && group.joined[r] && group.cluster.up[r]) group.cluster.crash(r);
    }
  }

  restart(peer: string): void {
    this.down.delete(peer);
    for (const group of this.groups) {
      const r = group.voters.indexOf(peer);
      if (r >= 0 && group.joined[r] && !group.cluster.up[r]) {
        group.closesSeen[r] = null;
        group.cluster.closes[r] = null;
        group.cluster.restart(r);
      }
    }
    this.afterStep();
  }

  /** Deliver every message of every group (syncing each step) until none is left. */
  runUntilQuiet(maxSteps = 100_000): void {
    for (let steps = 0; steps < maxSteps; steps++) {
      let moved = false;
      for (const group of this.groups) {
        group.cluster.syncAll();
        if (group.cluster.network.length > 0) { group.cluster.deliver(0); moved = true; }
        group.cluster.syncAll();
      }
      this.afterStep();
      if (!moved) return;
    }
  }

  /** Deliver, then tick every up peer, `rounds` times. */
  run(rounds: number, tickMs = 100): void {
    for (let i = 0; i < rounds; i++) {
      this.runUntilQuiet();
      for (const group of this.groups) group.cluster.tickAll(tickMs, i * 7919);
      this.afterStep();
    }
    this.runUntilQuiet();
  }

  /** INV1–INV8 in every group. */
  violations(): string[] {
    return this.groups.flatMap((g) => g.cluster.violations().map((v) => `epoch ${g.epoch}: ${v}`));
  }

  /** Act on closes, collect replies. */
  private afterStep(): void {
    for (let g = 0; g < this.groups.length; g++) {
      const group = this.groups[g];
      for (let r = 0; r < group.voters.length; r++) {
        const replies = group.cluster.replies[r];
        if (replies.length > 0) {
          const peer = group.voters[r];
          const list = this.replies.get(peer) ?? [];
          list.push(...replies.splice(0));
          this.replies.set(peer, list);
        }
        const close = group.cluster.closes[r];
        if (close === null || group.closesSeen[r] === close) continue;
        group.closesSeen[r] = close;
        this.onClose(g, r, close);
      }
    }
  }

  private onClose(g: number, r: number, close: EpochClose): void {
    const peer = this.groups[g].voters[r];
    const command = close.command;
    if (command.op !== 'voters.change') throw new Error(`assertion: epoch ${g} closed by ${command.op}`);
    let next = this.groups[g + 1];
    if (next === undefined) {
      const voters = changeVoters(command);
      const previous = this.groups[g].voters;
      // New voters join at once with the state at the change (rule 6: state transfer gives them that).
      const joined = voters.map((v) => !previous.includes(v));
      next = this.makeGroup(g + 1, voters, close.machine, joined);
      for (let i = 0; i < voters.length; i++) if (joined[i] && this.down.has(voters[i])) next.cluster.crash(i);
      this.groups.push(next);
    } else if (JSON.stringify(close.machine) !== JSON.stringify(next.base)) {
      throw new Error(`epoch ${g} closed at two states: ${peer}'s differs from the first replica's to close`);
    }
    const i = next.voters.indexOf(peer);
    if (i >= 0 && !next.joined[i]) {
      next.joined[i] = true;
      next.cluster.restart(i); // from the base in its storage
    }
    // The commands it handed on: to its replica of the next epoch, or (removed) to the first voter up.
    const target = i >= 0 ? i : next.voters.findIndex((_, k) => next.joined[k] && next.cluster.up[k]);
    for (const cmd of close.requeue) if (target >= 0 && next.cluster.up[target]) next.cluster.submit(target, cmd);
  }
}
