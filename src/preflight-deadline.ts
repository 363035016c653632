// A pre-flight bounded in time. The pre-flight reads both clusters' metadata and configs; a hung broker (a paused
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
