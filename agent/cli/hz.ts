// `covey telemetry hz`: the rate of a topic from its messages' arrival times, as `ros2 topic hz`
// reports it — the mean rate over a window of the latest messages, and the spread of the
// intervals between them.

export interface HzReport {
  /** Messages per second: (window − 1) intervals over their total span; null below two messages. */
  readonly rateHz: number | null;
  readonly minS: number | null;
  readonly maxS: number | null;
  readonly stdDevS: number | null;
  /** Messages in the window. */
  readonly window: number;
}

/** The report over arrival times (ms, oldest first). */
export function hzOf(timesMs: readonly number[]): HzReport {
  const n = timesMs.length;
  if (n < 2) return { rateHz: null, minS: null, maxS: null, stdDevS: null, window: n };
  const intervals: number[] = [];
  for (let i = 1; i < n; i++) intervals.push((timesMs[i] - timesMs[i - 1]) / 1000);
  const mean = intervals.reduce((a, b) => a + b, 0) / intervals.length;
  const variance = intervals.reduce((a, b) => a + (b - mean) ** 2, 0) / intervals.length;
  return {
    rateHz: mean > 0 ? 1 / mean : null,
    minS: Math.min(...intervals),
    maxS: Math.max(...intervals),
    stdDevS: Math.sqrt(variance),
    window: n,
  };
}

export function formatHz(r: HzReport): string {
  if (r.rateHz === null) return r.window === 0 ? 'no messages yet' : `1 message so far; a rate needs two`;
  return `rate ${r.rateHz.toFixed(2)} Hz  min ${r.minS!.toFixed(3)} s  max ${r.maxS!.toFixed(3)} s  std dev ${r.stdDevS!.toFixed(5)} s  window ${r.window}`;
}
