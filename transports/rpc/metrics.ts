// Prometheus metrics of the consensus RPC. Metrics are looked up before they are made, so two RPC
// instances on one registry (an agent restarted in-process, two epochs' groups side by side, tests)
// share counters instead of failing on a duplicate name. counterIn is that look-up for the other
// transports of this folder (snapshot and join transfers).

import { Counter, Registry } from 'prom-client';

/** Why a received frame was dropped (the `reason` label). */
export type DropReason = 'oversized' | 'truncated' | 'malformed' | 'invalid' | 'non_voter';

export interface RpcMetrics {
  readonly framesDropped: Counter<'reason'>;
  readonly framesReceived: Counter;
  readonly messagesReceived: Counter;
  readonly framesSent: Counter;
  readonly messagesSent: Counter;
  readonly sendFramesDropped: Counter<'reason'>;
  readonly submitsServed: Counter<'outcome'>;
}

/** The counter `name` of `registry`, made there (with `help` and `labelNames`) if it is not yet. */
export function counterIn<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<L>;
  return new Counter<L>({ name, help, labelNames, registers: [registry] });
}

export function rpcMetrics(registry: Registry): RpcMetrics {
  return {
    framesDropped: counterIn(registry, 'covey_rpc_frames_dropped_total',
      'Received consensus frames dropped before reaching the core, by reason', ['reason']),
    framesReceived: counterIn(registry, 'covey_rpc_frames_received_total', 'Consensus frames received and accepted'),
    messagesReceived: counterIn(registry, 'covey_rpc_messages_received_total', 'Consensus messages received and delivered to the core'),
    framesSent: counterIn(registry, 'covey_rpc_frames_sent_total', 'Consensus frames written to a peer stream'),
    messagesSent: counterIn(registry, 'covey_rpc_messages_sent_total', 'Consensus messages written to a peer stream'),
    sendFramesDropped: counterIn(registry, 'covey_rpc_send_frames_dropped_total',
      'Outgoing consensus frames dropped (queue_full: oldest dropped from a full per-peer queue; ' +
      'too_large: a message alone exceeds the frame bound; stopped: queued when the RPC stopped; ' +
      'stale: queued longer than the stale bound while the peer was unreachable)', ['reason']),
    submitsServed: counterIn(registry, 'covey_rpc_submits_served_total',
      'Forwarded client commands served, by outcome (ok, error, invalid)', ['outcome']),
  };
}
