// The control plane as the admin API sees it: every write refreshes the route metrics, observes the flip's hold
// time and logs one line per route change, so the admin server itself stays free of metrics and logging policy.
import type { Logger } from 'pino';
import type { ControlPlane, OperationResult } from '../../routing/control-plane.ts';
import type { ProxyMetrics } from '../metrics.ts';
import type { AdminControlPlane } from './control-plane-port.ts';

/** Sets kmp_route_version and kmp_route_info from the control plane's current routes. */
export function routeMetricsRefresher(cp: ControlPlane, metrics: ProxyMetrics): () => void {
  return () => {
    metrics.routeVersion.set(cp.version);
    metrics.routeInfo.reset();
    const view = cp.routes();
    for (const b of view.batches) metrics.routeInfo.set({ kind: 'batch', name: b.name, cluster: b.cluster, state: b.state }, 1);
    for (const t of view.topics) metrics.routeInfo.set({ kind: 'topic', name: t.topic, cluster: t.cluster, state: t.state }, 1);
  };
}

/** The control plane as the admin API sees it, with route metrics and flip hold times following every write. */
export function instrumentWrites(cp: ControlPlane, metrics: ProxyMetrics, refresh: () => void, log: Logger): AdminControlPlane {
  const after = async (action: string, op: Promise<OperationResult>): Promise<OperationResult> => {
    const result = await op;
    if (!result.dryRun) {
      if (result.timings) metrics.flipHoldSeconds.observe({ action }, result.timings.holdMs / 1000);
      refresh();
      // One line per route change, with the fields an operator greps for.
      for (const change of result.changes) {
        log.info({
          event: 'route-change', action, target: result.target, change, version: result.version,
          from: result.move?.from, to: result.move?.to, topics: result.move?.topics,
          holdMs: result.timings?.holdMs, outcome: result.outcome, forced: result.forced,
        }, 'route changed');
      }
    }
    return result;
  };
  return {
    routes: () => cp.routes(),
    resolve: (topic) => cp.resolve(topic),
    audit: () => cp.audit(),
    ledger: () => cp.ledger(),
    flipBatch: (name, o) => after('flip', cp.flipBatch(name, o)),
    rollbackBatch: (name, o) => after('rollback', cp.rollbackBatch(name, o)),
    promoteBatch: (name, o) => after('promote', cp.promoteBatch(name, o)),
    flipTopic: (topic, o) => after('flip', cp.flipTopic(topic, o)),
    rollbackTopic: (topic, o) => after('rollback', cp.rollbackTopic(topic, o)),
    rollbackAll: (o) => after('rollback-all', cp.rollbackAll(o)),
  };
}
