// `kmp serve`: builds the running proxy from a validated config and keeps it up until SIGTERM/SIGINT.
// Data flows one way: listener → client connection → dispatcher → handler → router (switch table + barrier)
// → upstream cluster client → merge → the connection's ordered response queue.
import type { Logger } from 'pino';
import { ConfigError, loadConfig, parseHostPort, proxyNodesOf, type KmpConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { ProxyMetrics } from './metrics.ts';
import { ProducerInventory } from './inventory.ts';
import { ClusterClient } from './upstream/cluster-client.ts';
import { ProducerIdMap } from './proxy/producer-id-map.ts';
import { SequenceGuard } from './proxy/sequence-guard.ts';
import { ProxyListener } from './proxy/listener.ts';
import { createDispatcher } from './proxy/dispatcher.ts';
import { accepts, advertisedApis } from './proxy/api-versions.ts';
import type { ProxyContext } from './proxy/proxy-context.ts';
import { startAdminServer, type AdminServer } from './admin/server.ts';
import { createControlPlane, type ControlPlane, type OperationResult } from '../routing/control-plane.ts';
import type { AdminControlPlane } from './admin/control-plane-port.ts';
import { FileStateStore } from '../routing/file-state-store.ts';
import type { Cluster } from '../routing/cluster.ts';
import { createPreflight } from './preflight.ts';

export interface RunningProxy {
  readonly port: number;
  readonly admin: AdminServer;
  readonly controlPlane: ControlPlane;
  readonly metrics: ProxyMetrics;
  shutdown(graceMs?: number): Promise<void>;
}

/** A stable cluster id for the proxy: configured nodes define the cluster, so the id follows from them. */
function proxyClusterId(config: KmpConfig): string {
  return Buffer.from(`kmp:${config.proxy.advertised}`.padEnd(16, '.').slice(0, 16)).toString('base64url');
}

export async function startProxyServer(config: KmpConfig, log: Logger): Promise<RunningProxy> {
  const metrics = new ProxyMetrics();
  const clusters: Record<Cluster, ClusterClient> = {
    source: null as unknown as ClusterClient,
    target: null as unknown as ClusterClient,
  };
  for (const name of ['source', 'target'] as const) {
    const c = config.clusters[name];
    clusters[name] = new ClusterClient({
      name,
      bootstrap: c.bootstrap,
      requestTimeoutMs: c.requestTimeoutMs,
      metadataTtlMs: c.metadataTtlMs,
      maxFrameBytes: config.proxy.maxFrameBytes,
      logger: log,
      onBrokerState: (cluster, broker, up) => metrics.upstreamBrokerUp.set({ cluster, broker }, up ? 1 : 0),
    });
  }

  const controlPlane = await createControlPlane({
    rules: config.routes,
    store: new FileStateStore(config.state.file),
    flipTimeoutMs: config.flip.timeoutMs,
    maxHeldRequests: config.flip.maxHeldRequests,
    hooks: {
      preflight: createPreflight(clusters),
      partitionsOf: async (topic) => {
        for (const c of ['source', 'target'] as const) {
          const meta = await clusters[c].topic(topic).catch(() => null);
          if (meta && meta.errorCode === 0) return meta.partitions.map((p) => p.partition);
        }
        return 'unknown';
      },
      knownTopics: async () => {
        const names = new Set<string>();
        for (const c of ['source', 'target'] as const) {
          for (const t of await clusters[c].allTopics().catch(() => [])) if (!t.isInternal) names.add(t.name);
        }
        return [...names];
      },
    },
  });
  for (const w of controlPlane.warnings) log.warn({ warning: w }, 'route state');

  const defaultCluster = config.routes.default as Cluster;
  // Topics that moved before this process started cannot use the identity pid mapping: the partition may
  // already hold writes of the client's pid at an older sequence (see producer-id-map.ts).
  const movedBefore = new Set(controlPlane.ledger().map((e) => e.topic));
  const producerIds = new ProducerIdMap({
    defaultCluster,
    allocate: (cluster) => clusters[cluster].initProducerId(),
    movedBefore: (topic) => movedBefore.has(topic),
  });

  const advertised = () => advertisedApis([clusters.source.versions, clusters.target.versions]);
  const px: ProxyContext = {
    log,
    clusters,
    router: {
      admit: (topic, partition) => controlPlane.barrier.admit(topic, partition),
      complete: (ticket, outcome) => controlPlane.barrier.complete(ticket, outcome),
      abandon: (ticket) => controlPlane.barrier.abandon(ticket),
      clusterOf: (topic) => controlPlane.resolve(topic).cluster,
    },
    producerIds,
    sequences: new SequenceGuard(),
    nodes: proxyNodesOf(config),
    clusterId: proxyClusterId(config),
    defaultCluster,
    acceptsVersion: (apiKey, version) => accepts(advertised(), apiKey, version),
    metrics,
    inventory: new ProducerInventory(),
  };

  // Upstream clusters: keep trying in the background; /readyz says when both answered Metadata.
  let stopping = false;
  const startCluster = async (c: ClusterClient): Promise<void> => {
    for (let delay = 100; !stopping; delay = Math.min(delay * 2, 5_000)) {
      try {
        await c.start();
        log.info({ cluster: c.name, clusterId: c.clusterId }, 'upstream cluster ready');
        return;
      } catch (err) {
        log.warn({ cluster: c.name, err: String(err), retryInMs: delay }, 'upstream cluster not reachable yet');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  };
  const clustersReady = Promise.all([startCluster(clusters.source), startCluster(clusters.target)]);
  // Advertised API versions depend on both clusters: wait for them (bounded) before accepting producers.
  await Promise.race([clustersReady, new Promise((r) => setTimeout(r, 30_000))]);

  const listen = parseHostPort(config.proxy.listen)!;
  const listener = new ProxyListener({
    host: listen.host,
    port: listen.port,
    logger: log,
    maxFrameBytes: config.proxy.maxFrameBytes,
    maxInflightRequestsPerConnection: 64,
    maxConnections: 10_000,
    dispatch: createDispatcher(px, advertised),
    onConnectionChange: (open) => metrics.connections.set(open),
  });
  const bound = await listener.listen();
  log.info({ listen: `${bound.host}:${bound.port}`, advertised: config.proxy.advertised, clusterId: px.clusterId }, 'proxy listening');

  metrics.routeVersion.set(controlPlane.version);
  const refreshRouteMetrics = () => {
    metrics.routeVersion.set(controlPlane.version);
    metrics.routeInfo.reset();
    const view = controlPlane.routes();
    for (const b of view.batches) metrics.routeInfo.set({ kind: 'batch', name: b.name, cluster: b.cluster, state: b.state }, 1);
    for (const t of view.topics) metrics.routeInfo.set({ kind: 'topic', name: t.topic, cluster: t.cluster, state: t.state }, 1);
  };
  refreshRouteMetrics();

  const admin = await startAdminServer({
    listen: config.admin.listen,
    tokens: config.admin.tokens,
    controlPlane: instrumentWrites(controlPlane, metrics, refreshRouteMetrics, log),
    status: () => ({
      connections: listener.connections.size,
      inflightRequests: [...listener.connections].reduce((n, c) => n + c.inflight, 0),
      heldRequests: controlPlane.barrier.heldNow,
      routeVersion: controlPlane.version,
      clusters: Object.fromEntries((['source', 'target'] as const).map((c) => [c, { ready: clusters[c].ready, clusterId: clusters[c].clusterId }])),
    }),
    ready: () => clusters.source.ready && clusters.target.ready,
    registry: {
      contentType: metrics.registry.contentType,
      metrics: async () => {
        metrics.heldRequests.set(controlPlane.barrier.heldNow);
        metrics.inflightRequests.set([...listener.connections].reduce((n, c) => n + c.inflight, 0));
        return metrics.registry.metrics();
      },
    },
    logger: log,
    inventory: () => px.inventory?.topics() ?? [],
  });

  return {
    port: bound.port,
    admin,
    controlPlane,
    metrics,
    async shutdown(graceMs = 10_000) {
      stopping = true;
      log.info({ graceMs }, 'shutting down: no new connections, finishing in-flight requests');
      await listener.close(graceMs);
      await admin.close();
      await controlPlane.close();
      clusters.source.close();
      clusters.target.close();
    },
  };
}

/** The control plane as the admin API sees it, with route metrics and flip hold times following every write. */
function instrumentWrites(cp: ControlPlane, metrics: ProxyMetrics, refresh: () => void, log: Logger): AdminControlPlane {
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

export async function runServe(configPath: string): Promise<number> {
  let config: KmpConfig;
  try {
    config = loadConfig(configPath);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`kmp: invalid config, not starting.\n${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger({ level: config.log.level });
  process.on('uncaughtException', (err) => {
    // Nothing a client sends should get here; if something does, it is a bug worth a loud line, and the other
    // connections keep being served.
    log.error({ err }, 'uncaught exception');
  });
  const proxy = await startProxyServer(config, log);
  let shuttingDown = false;
  const stop = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, 'signal received');
    proxy.shutdown().then(
      () => {
        log.info('stopped');
        log.flush?.();
        setTimeout(() => process.exit(0), 50).unref();
      },
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return 0;
}
