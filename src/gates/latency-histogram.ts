// A fixed-bucket latency histogram that can be snapshotted and subtracted, so a watch window (the canary) gets
// the quantiles of exactly the writes inside it. Recording is one bucket search over 16 bounds and an increment.
export const LATENCY_BOUNDS_MS: readonly number[] = [0.5, 1, 2, 3, 5, 7.5, 10, 15, 25, 50, 75, 100, 250, 500, 1000, 2500, 5000, 10_000];

export class LatencyHistogram {
  /** counts[i]: observations ≤ LATENCY_BOUNDS_MS[i] (and > the previous bound); the last slot is above all bounds. */
  readonly counts: Float64Array;
  max = 0;

  constructor(counts?: Float64Array) {
    this.counts = counts ?? new Float64Array(LATENCY_BOUNDS_MS.length + 1);
  }

  observe(ms: number): void {
    let i = 0;
    while (i < LATENCY_BOUNDS_MS.length && ms > LATENCY_BOUNDS_MS[i]) i++;
    this.counts[i]++;
    if (ms > this.max) this.max = ms;
  }

  get count(): number {
    let n = 0;
    for (const c of this.counts) n += c;
    return n;
  }

  snapshot(): LatencyHistogram {
    const h = new LatencyHistogram(Float64Array.from(this.counts));
    h.max = this.max;
    return h;
  }

  /** The observations made since `earlier` (a snapshot of this histogram). `max` is an upper bound, not exact. */
  since(earlier: LatencyHistogram): LatencyHistogram {
    const out = new Float64Array(this.counts.length);
    for (let i = 0; i < out.length; i++) out[i] = this.counts[i] - earlier.counts[i];
    const h = new LatencyHistogram(out);
    h.max = this.max;
    return h;
  }

  /**
   * The q-quantile (0 < q ≤ 1) in ms, as the upper bound of the bucket it falls in (conservative: a rule
   * "p99 ≤ N ms" is never passed by rounding down); null without observations. Above the last bound: `max`.
   */
  quantile(q: number): number | null {
    const total = this.count;
    if (total === 0) return null;
    const rank = Math.ceil(q * total);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return i < LATENCY_BOUNDS_MS.length ? LATENCY_BOUNDS_MS[i] : this.max;
    }
    return this.max;
  }
}

/** One histogram holding the observations of all of `parts`. */
export function sumHistograms(parts: readonly LatencyHistogram[]): LatencyHistogram {
  const out = new LatencyHistogram();
  for (const h of parts) {
    for (let i = 0; i < out.counts.length; i++) out.counts[i] += h.counts[i];
    if (h.max > out.max) out.max = h.max;
  }
  return out;
}
