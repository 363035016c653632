// The two upstream clusters as the proxy uses them: one ClusterClient each, with its security (re-read on SIGHUP)
// and its metrics, and the background loop that keeps connecting to a cluster that is not up yet.
import type { Logger } from 'pino';
import type { Cluster } from '../../routing/cluster.ts';
import type { KmpConfig } from '../config/index.ts';
import type { ProxyMetrics } from '../metrics.ts';
import { createUpstreamSecurity, type UpstreamSecurity } from '../security/setup.ts';
import { ClusterClient } from './cluster-client.ts';

export interface UpstreamClusters {
  readonly clusters: Record<Cluster, ClusterClient>;
  readonly security: Record<Cluster, UpstreamSecurity>;
}

/**
 * Builds both clients. `onBrokerDown` runs whenever a broker connection drops (cluster health probes at once);
 * it is called late, so the health check may be built after the clients.
 */
export function createClusterClients(config: KmpConfig, log: Logger, metrics: ProxyMetrics, onBrokerDown: (cluster: Cluster) => void): UpstreamClusters {
  const security: Record<Cluster, UpstreamSecurity> = {
    source: createUpstreamSecurity(config.clusters.source),
    target: createUpstreamSecurity(config.clusters.target),
  };
  const client = (name: Cluster): ClusterClient => {
    const c = config.clusters[name];
    log.info({ cluster: name, security: security[name].description }, 'upstream security');
    return new ClusterClient({
      security: () => security[name].current(),
      name,
      bootstrap: c.bootstrap,
      requestTimeoutMs: c.requestTimeoutMs,
      metadataTtlMs: c.metadataTtlMs,
      connectionsPerBroker: c.connectionsPerBroker,
      onUpstreamResponse: (cluster, apiKey, seconds) => metrics.observeUpstream(cluster, apiKey, seconds),
      maxFrameBytes: config.proxy.maxFrameBytes,
      logger: log,
      onBrokerState: (cluster, broker, up) => {
        metrics.upstreamBrokerUp.set({ cluster, broker }, up ? 1 : 0);
        if (!up) onBrokerDown(cluster);
      },
    });
  };
  // Source first, then target: the order their "upstream security" lines were always logged in.
  const source = client('source');
  const target = client('target');
  return { clusters: { source, target }, security };
}

/**
 * Keeps trying to start `c` in the background (backoff 100 ms doubling to 5 s) until it answers or `stopping()`;
 * /readyz says when both clusters answered Metadata.
 */
export async function keepStarting(c: ClusterClient, log: Logger, stopping: () => boolean): Promise<void> {
  for (let delay = 100; !stopping(); delay = Math.min(delay * 2, 5_000)) {
    try {
      await c.start();
      log.info({ cluster: c.name, clusterId: c.clusterId }, 'upstream cluster ready');
      return;
    } catch (err) {
      log.warn({ cluster: c.name, err: String(err), retryInMs: delay }, 'upstream cluster not reachable yet');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
