// Deadlines for the control plane's hooks that ask the clusters before a move holds anything. A move must fail
// at flip.timeoutMs, not at the upstream request timeout (30 s), when a cluster hangs.
//
// The pre-flight, bounded in time. It reads both clusters' metadata and configs; a hung broker (a paused
// JVM, a half-open connection) answers nothing until the upstream request timeout, so a rollback with the source
// down would wait for that instead of failing at flip.timeoutMs (issue #13: "aborts at flip.timeoutMs with the
// lag in the message; the route stays on the target"). Past the deadline the move is refused, naming what the
// caller can explain (the write-back lag); the abandoned checks finish or time out on their own.
import type { Cluster } from '../routing/cluster.ts';
import type { PreflightResult } from '../routing/operations.ts';

export type Preflight = (topics: readonly string[], to: Cluster) => Promise<PreflightResult>;

export function preflightWithDeadline(preflight: Preflight, timeoutMs: number, explain: (topics: readonly string[], to: Cluster) => string | null = () => null): Preflight {
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) throw new RangeError(`pre-flight timeout must be > 0 ms, got ${timeoutMs}`);
  return async (topics, to) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<PreflightResult>((resolve) => {
      timer = setTimeout(() => {
        const why = explain(topics, to);
        const from: Cluster = to === 'target' ? 'source' : 'target';
        resolve({
          refusals: [`pre-flight: the clusters did not answer within ${timeoutMs} ms (is ${to} down or hung?)${why === null ? '' : ` (${why})`}; the route stays on ${from}`],
          warnings: [],
        });
      }, timeoutMs);
    });
    const checked = preflight(topics, to);
    checked.catch(() => undefined); // abandoned after the deadline: its late failure is nobody's to handle
    try {
      return await Promise.race([checked, late]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * `answer`, or `fallback` when it has not settled within `ms` (or failed): for lookups whose contract already is
 * "a cluster that does not answer contributes nothing" (the known topics, a topic's partitions).
 */
export async function answerWithin<T>(answer: Promise<T>, ms: number, fallback: T): Promise<T> {
  answer.catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  try {
    return await Promise.race([answer.catch(() => fallback), late]);
  } finally {
    clearTimeout(timer);
  }
}
