// What a move costs the producers: per move, the worst latency of a client's records due around the move, set
// against that client's own p99 and max over the rest of the run (records due in no move's window). A move that
// puts the worst latency more than ADDED_LATENCY_FLAG_MS over the rest-of-run p99 is flagged: that is a pause a
// producer's owner would notice, whatever the hold time in the API answer says.
import { median, percentileSorted, sortedCopy } from './stats.ts';

/** More than this over the client's rest-of-run p99 and the move is flagged. */
export const ADDED_LATENCY_FLAG_MS = 50;

/** A move's window, seconds on the load's clock: [start, end], both inclusive. */
export type MoveWindow = readonly [start: number, end: number];

export interface WindowSplit {
  /** Per window: the worst latency (ms) of samples in it, null when none fell in it. */
  worstPerWindow: (number | null)[];
  /** Samples in no window: the client's "rest of the run". */
  rest: number[];
  /** Samples in at least one window. */
  around: number[];
}

/** Splits per-record (or per-send) samples by when they were due: in some move's window, or in none. */
export function splitByWindows(at: ArrayLike<number>, latencyMs: ArrayLike<number>, windows: readonly MoveWindow[]): WindowSplit {
  if (at.length !== latencyMs.length) throw new Error(`splitByWindows: ${at.length} times but ${latencyMs.length} latencies`);
  const worstPerWindow: (number | null)[] = windows.map(() => null);
  const rest: number[] = [];
  const around: number[] = [];
  for (let i = 0; i < at.length; i++) {
    const t = at[i];
    const ms = latencyMs[i];
    let inAny = false;
    for (let w = 0; w < windows.length; w++) {
      if (t < windows[w][0] || t > windows[w][1]) continue;
      inAny = true;
      worstPerWindow[w] = Math.max(worstPerWindow[w] ?? ms, ms);
    }
    (inAny ? around : rest).push(ms);
  }
  return { worstPerWindow, rest, around };
}

/**
 * The same for report lines that each cover the second before `at` (Java ProducerPerformance prints the max of
 * the records completed in each interval): a line belongs to every window it overlaps.
 */
export function splitIntervalsByWindows(intervals: readonly { at: number; maxMs: number }[], windows: readonly MoveWindow[], intervalSeconds = 1): WindowSplit {
  const worstPerWindow: (number | null)[] = windows.map(() => null);
  const rest: number[] = [];
  const around: number[] = [];
  for (const iv of intervals) {
    let inAny = false;
    for (let w = 0; w < windows.length; w++) {
      if (iv.at < windows[w][0] || iv.at - intervalSeconds > windows[w][1]) continue;
      inAny = true;
      worstPerWindow[w] = Math.max(worstPerWindow[w] ?? iv.maxMs, iv.maxMs);
    }
    (inAny ? around : rest).push(iv.maxMs);
  }
  return { worstPerWindow, rest, around };
}

export interface Baseline {
  p99: number;
  max: number;
  samples: number;
}

export function baselineOf(rest: readonly number[]): Baseline {
  const sorted = sortedCopy(rest);
  return { p99: percentileSorted(sorted, 99), max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1], samples: sorted.length };
}

export interface MoveImpact {
  /** Worst latency around the move, ms; null when the client had no sample in the window. */
  worstMs: number | null;
  /** worstMs − the client's rest-of-run p99: what the move added to a bad-but-normal moment. */
  overRestP99Ms: number | null;
  /** worstMs − the client's rest-of-run max (negative: no worse than the worst moment without a move). */
  overRestMaxMs: number | null;
  flagged: boolean;
}

export function impactOf(worstMs: number | null, baseline: Baseline, flagMs = ADDED_LATENCY_FLAG_MS): MoveImpact {
  if (worstMs === null || !Number.isFinite(baseline.p99)) {
    return { worstMs, overRestP99Ms: null, overRestMaxMs: null, flagged: false };
  }
  const overRestP99Ms = worstMs - baseline.p99;
  return { worstMs, overRestP99Ms, overRestMaxMs: worstMs - baseline.max, flagged: overRestP99Ms > flagMs };
}

/** The typical move for one client: median over moves of (worst around the move − rest p99). */
export function medianAddedMs(impacts: readonly MoveImpact[]): number {
  return median(impacts.map((i) => i.overRestP99Ms ?? Number.NaN));
}
