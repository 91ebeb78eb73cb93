// The simulated network between agents: per-message latency drawn from a range, loss,
// duplication, reordering (a message now and then held back far longer than the rest), per-link
// bandwidth (a link carries one message at a time, so a burst queues behind itself), and cuts:
// clean splits, one-way links, a flapping link and isolated agents. A cut is checked when a message
// is sent and again when it arrives, so a partition that starts while a message is in flight eats it.
//
// Everything random comes from the run's one generator, drawn in a fixed order per send.

import type { Random } from './random.ts';

export interface NetworkOptions {
  /** One-way latency, drawn uniformly (ms, µs resolution). */
  readonly latencyMs: { readonly min: number; readonly max: number };
  readonly loss: number;
  readonly duplicate: number;
  /** Probability that a message is held back by an extra `reorderDelayMs`, overtaken by later ones. */
  readonly reorder: number;
  readonly reorderDelayMs: { readonly min: number; readonly max: number };
  /** Per directed link, bytes per millisecond (1,000 ≈ 1 MB/s); null for unlimited. */
  readonly bandwidthBytesPerMs: number | null;
}

export const defaultNetwork: NetworkOptions = {
  latencyMs: { min: 1, max: 5 },
  loss: 0,
  duplicate: 0,
  reorder: 0,
  reorderDelayMs: { min: 10, max: 60 },
  bandwidthBytesPerMs: 2000,
};

export type Cut =
  /** The agents of `side` hear only each other; the rest hear only each other. */
  | { readonly kind: 'split'; readonly side: ReadonlySet<number> }
  /** Messages from `from` to `to` are lost; the other direction works. */
  | { readonly kind: 'oneway'; readonly from: number; readonly to: number }
  /** The link between a and b is down during every other period of `periodUs`, from `startUs`. */
  | { readonly kind: 'flap'; readonly a: number; readonly b: number; readonly periodUs: number; readonly startUs: number }
  /** The agent hears nobody and nobody hears it (a partition of one, or its radio gone silent). */
  | { readonly kind: 'isolate'; readonly agent: number };

export interface NetworkStats {
  sent: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  /** Messages lost to a cut (counted in `dropped` too). */
  cut: number;
}

export class Network {
  readonly stats: NetworkStats = { sent: 0, dropped: 0, duplicated: 0, reordered: 0, cut: 0 };
  private readonly options: NetworkOptions;
  private readonly agents: number;
  /** Active cuts, each under the id `addCut` returned. */
  private readonly cuts = new Map<number, Cut>();
  private nextCutId = 1;
  /** Per directed link (from·agents + to): when it finishes sending what it already carries (µs). */
  private readonly linkFreeUs = new Map<number, number>();

  constructor(agents: number, options: NetworkOptions) {
    this.agents = agents;
    this.options = options;
  }

  addCut(cut: Cut): number {
    const id = this.nextCutId++;
    this.cuts.set(id, cut);
    return id;
  }

  removeCut(id: number): void {
    this.cuts.delete(id);
  }

  clearCuts(): void {
    this.cuts.clear();
  }

  /** Whether a message from `from` to `to` is lost to a cut at virtual time `nowUs`. */
  blocked(from: number, to: number, nowUs: number): boolean {
    if (from === to) return false;
    for (const c of this.cuts.values()) {
      switch (c.kind) {
        case 'split': if (c.side.has(from) !== c.side.has(to)) return true; break;
        case 'oneway': if (c.from === from && c.to === to) return true; break;
        case 'isolate': if (c.agent === from || c.agent === to) return true; break;
        case 'flap':
          if ((c.a === from && c.b === to) || (c.a === to && c.b === from)) {
            if (Math.floor((nowUs - c.startUs) / c.periodUs) % 2 === 1) return true;
          }
          break;
      }
    }
    return false;
  }

  /**
   * Sends one message of `sizeBytes` and returns the virtual times (µs) at which its copies
   * arrive: none when lost, two when duplicated. The caller checks `blocked` again on arrival.
   */
  send(from: number, to: number, sizeBytes: number, nowUs: number, rng: Random): number[] {
    const o = this.options;
    this.stats.sent++;
    // Draw every random choice first, in a fixed order, so a cut does not shift the stream.
    const lost = rng.chance(o.loss);
    const dup = rng.chance(o.duplicate);
    const late = rng.chance(o.reorder);
    if (this.blocked(from, to, nowUs)) { this.stats.dropped++; this.stats.cut++; return []; }
    if (lost) { this.stats.dropped++; return []; }
    // Bandwidth: the message leaves when the link is free and takes size/bandwidth to send.
    let departUs = nowUs;
    if (o.bandwidthBytesPerMs !== null && from !== to) {
      const link = from * this.agents + to;
      const start = Math.max(nowUs, this.linkFreeUs.get(link) ?? 0);
      departUs = start + Math.ceil((sizeBytes * 1000) / o.bandwidthBytesPerMs);
      this.linkFreeUs.set(link, departUs);
    }
    const out: number[] = [];
    const copies = dup ? 2 : 1;
    if (dup) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      let at = departUs + drawUs(rng, o.latencyMs);
      if (late && i === 0) { at += drawUs(rng, o.reorderDelayMs); this.stats.reordered++; }
      out.push(at);
    }
    return out;
  }

  /** Counts a message that arrived while a cut separated its ends. */
  countCutOnArrival(): void {
    this.stats.dropped++;
    this.stats.cut++;
  }
}

export function drawUs(rng: Random, r: { readonly min: number; readonly max: number }): number {
  return rng.int(Math.round(r.min * 1000), Math.round(r.max * 1000));
}
