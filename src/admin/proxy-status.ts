// What `GET /v1/status` and `/metrics` report about the running proxy: readiness from cluster health, client
// connections and requests, held requests, the request-bytes budget and the route version.
import type { Cluster } from '../../routing/cluster.ts';
import type { ControlPlane } from '../../routing/control-plane.ts';
import { readinessOf, type ClusterHealth } from '../cluster-health.ts';
import type { ProxyMetrics } from '../metrics.ts';
import type { ProxyListeners } from '../proxy/listeners.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';

export interface ProxyStatusParts {
  readonly health: ClusterHealth;
  readonly stopping: () => boolean;
  readonly listeners: ProxyListeners;
  readonly controlPlane: ControlPlane;
  readonly clusters: Record<Cluster, ClusterClient>;
}

/** The body of `GET /v1/status`. */
export function proxyStatus(parts: ProxyStatusParts): () => unknown {
  const { health, listeners, controlPlane, clusters } = parts;
  return () => {
    const readiness = readinessOf(health.view(), { stopping: parts.stopping(), requireAll: false });
    const view = health.view();
    return {
      ready: readiness.ready,
      status: readiness.status,
      ...(readiness.reasons.length > 0 ? { reasons: readiness.reasons } : {}),
      connections: listeners.connections.size,
      inflightRequests: listeners.inflight(),
      heldRequests: controlPlane.barrier.heldNow,
      bufferedRequestBytes: { used: listeners.requestMemory.usedBytes, limit: listeners.requestMemory.limitBytes },
      routeVersion: controlPlane.version,
      clusters: Object.fromEntries((['source', 'target'] as const).map((c) => [c, { ...view[c], clusterId: clusters[c].clusterId }])),
    };
  };
}

/** The `/metrics` registry, with the gauges that are read rather than pushed set just before each scrape. */
export function scrapedRegistry(metrics: ProxyMetrics, controlPlane: ControlPlane, listeners: ProxyListeners): { contentType: string; metrics: () => Promise<string> } {
  return {
    contentType: metrics.registry.contentType,
    metrics: async () => {
      metrics.heldRequests.set(controlPlane.barrier.heldNow);
      metrics.inflightRequests.set(listeners.inflight());
      return metrics.registry.metrics();
    },
  };
}
