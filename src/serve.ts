// `kmp serve`: builds the running proxy from a validated config and keeps it up until SIGTERM/SIGINT.
// Data flows one way: listener → client connection → dispatcher → handler → router (switch table + barrier)
// → upstream cluster client → merge → the connection's ordered response queue.
import type { Logger } from 'pino';
import { ConfigError, listenerNodesOf, loadConfig, parseHostPort, proxyNodesOf, type KmpConfig } from './config/index.ts';
import { createLogger } from './logger.ts';
import { ProxyMetrics, apiName } from './metrics.ts';
import { createGates } from './gates/setup.ts';
import { createConsumers } from './consumers/setup.ts';
import { createMigrationGates } from './gates/migration-gates.ts';
import { ClusterClient } from './upstream/cluster-client.ts';
import { ProducerIdMap } from './proxy/producer-id-map.ts';
import { SequenceGuard } from './proxy/sequence-guard.ts';
import { RecentProducers } from './proxy/recent-producers.ts';
import { createWarmUp } from './proxy/warm-up.ts';
import { moveErrorConcern } from './proxy/move-error-concern.ts';
import { ProxyListener } from './proxy/listener.ts';
import type { ClientConnection } from './proxy/client-connection.ts';
import { ConnectionLimiter } from './security/connection-limiter.ts';
import { RequestMemoryBudget } from './proxy/request-memory-budget.ts';
import { RateLimitedLog } from './rate-limited-log.ts';
import { createSaslAuthenticator, createUpstreamSecurity, type SaslAuthenticatorFactory } from './security/setup.ts';
import { createDispatcher } from './proxy/dispatcher.ts';
import { ApiVersionTable } from './proxy/api-versions.ts';
import type { ProxyContext } from './proxy/proxy-context.ts';
import { startAdminServer, type AdminServer } from './admin/server.ts';
import { createControlPlane, type ControlPlane, type OperationResult } from '../routing/control-plane.ts';
import type { AdminControlPlane } from './admin/control-plane-port.ts';
import { FileStateStore } from '../routing/file-state-store.ts';
import type { ProducerMapping } from '../routing/state-store.ts';
import type { Cluster } from '../routing/cluster.ts';
import { createPreflight } from './preflight.ts';
import { ErrorCode } from '../protocol/kafka-errors.ts';
import { ClusterHealth, readinessOf } from './cluster-health.ts';
import { createWriteBack } from './writeback/setup.ts';
import { startFleetRuntime } from './fleet/setup.ts';
import { leadershipConcern } from './fleet/leadership-concern.ts';
import { createTransactionSupport, type TransactionSupport } from './transactions/setup.ts';

export interface RunningProxy {
  readonly port: number;
  readonly admin: AdminServer;
  readonly controlPlane: ControlPlane;
  readonly metrics: ProxyMetrics;
  /** Bound port per listener name ("default" = proxy.listen). */
  readonly ports: Readonly<Record<string, number>>;
  shutdown(graceMs?: number): Promise<void>;
  /**
   * SIGHUP: re-reads TLS certificates/keys/CAs (client-facing, admin, upstream) and SASL credentials files. Open
   * connections are untouched; what fails to load keeps its previous value and is listed in `errors`.
   */
  reload(): { errors: string[] };
}

/** A stable cluster id for the proxy: configured nodes define the cluster, so the id follows from them. */
function proxyClusterId(config: KmpConfig): string {
  return Buffer.from(`kmp:${config.proxy.advertised}`.padEnd(16, '.').slice(0, 16)).toString('base64url');
}

export async function startProxyServer(config: KmpConfig, log: Logger): Promise<RunningProxy> {
  const metrics = new ProxyMetrics();
  // Probed on a timer and whenever a broker connection drops (cluster-health.ts); set up before the clients so
  // their broker callbacks can reach it.
  let health: ClusterHealth | null = null;
  const clusters: Record<Cluster, ClusterClient> = {
    source: null as unknown as ClusterClient,
    target: null as unknown as ClusterClient,
  };
  const upstreamSecurity = {
    source: createUpstreamSecurity(config.clusters.source),
    target: createUpstreamSecurity(config.clusters.target),
  };
  for (const name of ['source', 'target'] as const) {
    const c = config.clusters[name];
    log.info({ cluster: name, security: upstreamSecurity[name].description }, 'upstream security');
    clusters[name] = new ClusterClient({
      security: () => upstreamSecurity[name].current(),
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
        if (!up) health?.probeNow(cluster);
      },
    });
  }

  const gates = createGates({
    registries: {
      ...(config.clusters.source.schemaRegistry !== undefined ? { source: config.clusters.source.schemaRegistry } : {}),
      ...(config.clusters.target.schemaRegistry !== undefined ? { target: config.clusters.target.schemaRegistry } : {}),
    },
    batches: config.routes.batches,
    auditFile: `${config.state.file}.prepare-audit.jsonl`,
  }, clusters, log);
  // A fleet (config `fleet:`): the route table lives in the control topics, moves go through the move log.
  // What its heartbeats report is read late: the listeners and the control plane exist only further down.
  let fleetReport = () => ({ appliedVersion: 0, connections: 0, inflight: 0 });
  const fleet = await startFleetRuntime(config, log, () => fleetReport());
  const store = fleet?.store ?? new FileStateStore(config.state.file);
  // Write-back (src/writeback/): copies target writes of unpromoted waves back to the source; a rollback's drain
  // waits for its tail and promote is refused while it lags. It reads routes through the control plane below.
  const writeBack = createWriteBack({ config, clusters, store, log, registry: metrics.registry, resolve: (topic) => controlPlane.resolve(topic) });
  // Consumer moves (docs/migration-runbook.md). The sync map is the write-back's (routing/sync-map.ts) once it is
  // wired; until then nothing is copied and only groups on empty partitions can move. `consumers.promotionGate`
  // has the shape of the promote pre-flight hook. Built before the control plane (whose hooks may use it): the
  // closures below reach the control plane only when called.
  const consumers = createConsumers({
    clusters,
    syncMap: writeBack.syncMap,
    batches: config.routes.batches,
    resolve: (topic) => controlPlane.resolve(topic),
    recordAudit: (entry) => controlPlane.recordAudit(entry),
    audit: () => controlPlane.audit(),
  });
  // Bypass detection, promotion gate, canary flips, per-topic evidence (src/gates/migration-gates.ts).
  const migration = createMigrationGates({ config: config.gates, batches: config.routes.batches, clusters, metrics, log });
  // The write-back writes to the source under its own producer ids: expected there, never a bypass.
  migration.attribution.addExpected('write-back', (cluster) => (cluster === 'source' ? [...writeBack.syncMap.partitions()].map((p) => p.producerId) : []));
  // Built once the producer-id map exists (below); the control plane's hooks reach it late.
  let transactions: TransactionSupport | null = null;
  const controlPlane = await createControlPlane({
    rules: config.routes,
    store,
    ...(fleet !== null ? { transport: fleet.transport, member: fleet.member } : {}),
    flipTimeoutMs: config.flip.timeoutMs,
    maxHeldRequests: config.flip.maxHeldRequests,
    afterDrain: (move) => writeBack.drain(move),
    hooks: {
      // Promote waits for the write-back to catch up and for the wave's consumer groups to leave the source.
      promoteCheck: async (topics, batch) => {
        const groups = batch === null ? { refusals: [], warnings: [] } : await consumers.promotionGate(batch);
        return { refusals: [...(await writeBack.promoteRefusals(topics)), ...groups.refusals], warnings: [...groups.warnings] };
      },
      preflight: gates.preflight(createPreflight(clusters)),
      promotePreflight: migration.promotePreflight,
      movePreflight: async (topics, from, to) => transactions?.guard.preflight(topics, from, to) ?? { refusals: [], warnings: [] },
      beforeHold: async (move) => (transactions === null ? null : await transactions.guard.beforeHold(move)),
      partitionsOf: async (topic) => {
        for (const c of ['source', 'target'] as const) {
          const meta = await clusters[c].topic(topic).catch(() => null);
          if (meta && meta.errorCode === ErrorCode.NONE) return meta.partitions.map((p) => p.partition);
        }
        return 'unknown';
      },
      // Late-bound: the producer-id map it warms is built after the control plane (it reads the ledger).
      warmUp: (request) => warmUp(request),
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
    allocate: (cluster, key) => (fleet === null ? clusters[cluster].initProducerId() : fleet.allocate(cluster, key, () => clusters[cluster].initProducerId())),
    movedBefore: (topic) => movedBefore.has(topic),
    // Upstream pids survive a restart: a client's retry after kmp came back carries the same upstream pid.
    known: await store.loadProducerMappings(),
    // In a fleet, fleet.allocate writes the mapping to the shared topic (first writer wins) before it is used.
    ...(fleet === null ? { persist: (m: ProducerMapping) => store.appendProducerMapping(m) } : {}),
  });

  // Before a move holds anything, the new side is made ready (src/proxy/warm-up.ts); every partition error the
  // Produce path answers is counted in the move that covers its topic (routing/move-errors.ts).
  const recentProducers = new RecentProducers();
  const warmUp = createWarmUp({ clusters, producerIds, recentProducers });
  const otherCluster: Cluster = defaultCluster === 'source' ? 'target' : 'source';
  let clusterOrder = (): readonly Cluster[] => [defaultCluster, otherCluster];
  transactions = createTransactionSupport({
    clusters,
    producerIds,
    clusterOf: (topic) => controlPlane.resolve(topic).cluster,
    clusterOrder: () => clusterOrder(),
    stateFile: `${config.state.file}.transactions.jsonl`,
    drainMs: config.flip.transactionDrainMs,
    registry: metrics.registry,
    log,
  });
  const txn = transactions;

  const apiVersions = new ApiVersionTable(
    () => [clusters.source.versions, clusters.target.versions],
    () => clusters.source.versionsGeneration + clusters.target.versionsGeneration,
  );
  const advertised = () => apiVersions.advertised;
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
    clusterId: fleet?.clusterId ?? proxyClusterId(config),
    ...(fleet === null
      ? {}
      : {
          leaderOf: (topic: string, partition: number) => fleet.leaderNodeOf(topic, partition),
        }),
    defaultCluster,
    apiVersions,
    metrics,
    inventory: gates.inventory,
    transactions: true,
    // Leadership first: a partition this instance does not lead is refused before anything else sees it; then
    // the transaction scope (a transactional batch outside its open transaction or home cluster is refused).
    produceConcerns: [
      ...(fleet === null ? [] : [leadershipConcern(fleet.membership)]),
      txn.concern,
      ...migration.produceConcerns,
      recentProducers,
      moveErrorConcern(controlPlane.moveErrors),
      writeBack.concern,
    ],
  };

  // A fleet's brokers are its live members, read on every access (a spread would copy a getter's value once).
  if (fleet !== null) Object.defineProperty(px, 'nodes', { get: () => fleet.nodes() });

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
  // A Metadata request for one topic that does not exist: cheap on any cluster, and proof that it answers.
  const clusterHealth = new ClusterHealth({
    clusters: ['source', 'target'],
    probe: async (c) => {
      await clusters[c].topic('__kmp_health_probe', { refresh: true });
    },
    logger: log,
  });
  health = clusterHealth;
  clusterHealth.start();
  // Resume the copies that were running before a restart (they retry until their clusters answer).
  await writeBack.start();
  await clusterHealth.settled(5_000);

  // Client-facing listeners: the main one (proxy.listen) and proxy.listeners, each plaintext, TLS, SASL or
  // SASL over TLS; connection limits are shared by all of them (src/security/).
  const limits = config.proxy.limits;
  const securityEvents = metrics.securityEvents();
  const limiter = new ConnectionLimiter(limits);
  // Shared by every listener: the request-bytes budget and the rate limit of warnings clients can provoke.
  const requestMemory = new RequestMemoryBudget(limits.maxBufferedRequestBytes);
  const connectionWarnings = new RateLimitedLog();
  // New producers get their pid from a cluster that is up, the default one first (init-producer-id.ts).
  clusterOrder = () => {
    const order: Cluster[] = [defaultCluster, otherCluster];
    return [...order.filter((c) => clusterHealth.state(c) !== 'down'), ...order.filter((c) => clusterHealth.state(c) === 'down')];
  };
  const dispatch = createDispatcher(px, advertised, {
    initProducerId: { clusterOrder },
    transactions: txn.handlers,
  });
  const listenerSpecs = [
    { name: 'default', listen: config.proxy.listen, advertised: config.proxy.advertised, tls: config.proxy.tls, sasl: config.proxy.sasl },
    ...config.proxy.listeners,
  ];
  const listeners: ProxyListener[] = [];
  const saslByListener = new Map<string, SaslAuthenticatorFactory>();
  const allConnections = () => listeners.flatMap((l) => [...l.connections]);
  for (const spec of listenerSpecs) {
    const address = parseHostPort(spec.listen)!;
    const sasl = spec.sasl === undefined ? undefined : createSaslAuthenticator({ listener: spec.name, sasl: spec.sasl, handshakeTimeoutMs: limits.saslHandshakeTimeoutMs, events: securityEvents });
    if (sasl !== undefined) saslByListener.set(spec.name, sasl);
    if (spec.sasl?.mechanisms.includes('PLAIN') && spec.tls === undefined) {
      log.warn({ listener: spec.name }, 'SASL/PLAIN on a listener without TLS: passwords cross the network in clear text');
    }
    listeners.push(new ProxyListener({
      name: spec.name,
      host: address.host,
      port: address.port,
      logger: log,
      maxFrameBytes: config.proxy.maxFrameBytes,
      maxInflightRequestsPerConnection: limits.maxInflightRequestsPerConnection,
      maxConnections: limits.maxConnections,
      limiter,
      idleTimeoutMs: limits.idleTimeoutMs,
      memory: requestMemory,
      frameReadTimeoutMs: limits.frameReadTimeoutMs,
      warnings: connectionWarnings,
      tlsHandshakeTimeoutMs: limits.saslHandshakeTimeoutMs,
      events: securityEvents,
      dispatch,
      ...(spec.name === 'default' ? {} : { advertisedNodes: listenerNodesOf(config, spec.name) }),
      ...(spec.tls !== undefined ? { tls: spec.tls } : {}),
      ...(sasl !== undefined ? { authenticator: sasl.authenticator } : {}),
      onConnectionChange: () => metrics.connections.set(listeners.reduce((n, l) => n + l.connections.size, 0)),
      onRequestDone: (apiKey, seconds) => metrics.observeRequest(apiKey, seconds),
    }));
  }
  const ports: Record<string, number> = {};
  for (const [i, l] of listeners.entries()) {
    const b = await l.listen();
    ports[l.name] = b.port;
    const spec = listenerSpecs[i];
    const security = `${spec.sasl ? `SASL_${spec.tls ? 'SSL' : 'PLAINTEXT'}` : spec.tls ? 'SSL' : 'PLAINTEXT'}`;
    log.info({
      listener: l.name, listen: `${b.host}:${b.port}`, advertised: spec.advertised, security, clusterId: px.clusterId,
      ...(spec.tls ? { clientAuth: spec.tls.clientAuth } : {}),
      ...(spec.sasl ? { mechanisms: spec.sasl.mechanisms, users: saslByListener.get(l.name)?.users } : {}),
    }, 'proxy listening');
  }
  const bound = { port: ports.default };
  // Every listener's connections as one (status, metrics, shutdown).
  const listener = {
    get connections(): ReadonlySet<ClientConnection> {
      return new Set(allConnections());
    },
    close: async (graceMs: number) => {
      await Promise.all(listeners.map((l) => l.close(graceMs)));
    },
  };

  fleetReport = () => ({
    appliedVersion: controlPlane.version,
    connections: listener.connections.size,
    inflight: [...listener.connections].reduce((n, c) => n + c.inflight, 0),
  });
  metrics.routeVersion.set(controlPlane.version);
  const refreshRouteMetrics = () => {
    metrics.routeVersion.set(controlPlane.version);
    metrics.routeInfo.reset();
    const view = controlPlane.routes();
    for (const b of view.batches) metrics.routeInfo.set({ kind: 'batch', name: b.name, cluster: b.cluster, state: b.state }, 1);
    for (const t of view.topics) metrics.routeInfo.set({ kind: 'topic', name: t.topic, cluster: t.cluster, state: t.state }, 1);
  };
  refreshRouteMetrics();

  const adminControlPlane = instrumentWrites(controlPlane, metrics, refreshRouteMetrics, log);
  const admin = await startAdminServer({
    listen: config.admin.listen,
    tokens: config.admin.tokens,
    controlPlane: adminControlPlane,
    migrationGates: migration.bind(controlPlane, adminControlPlane, () => px.inventory?.topics() ?? []),
    status: () => {
      const readiness = readinessOf(clusterHealth.view(), { stopping, requireAll: false });
      const view = clusterHealth.view();
      return {
        ready: readiness.ready,
        status: readiness.status,
        ...(readiness.reasons.length > 0 ? { reasons: readiness.reasons } : {}),
        connections: listener.connections.size,
        inflightRequests: [...listener.connections].reduce((n, c) => n + c.inflight, 0),
        heldRequests: controlPlane.barrier.heldNow,
        bufferedRequestBytes: { used: requestMemory.usedBytes, limit: requestMemory.limitBytes },
        routeVersion: controlPlane.version,
        clusters: Object.fromEntries((['source', 'target'] as const).map((c) => [c, { ...view[c], clusterId: clusters[c].clusterId }])),
      };
    },
    ready: ({ requireAll }) => readinessOf(clusterHealth.view(), { stopping, requireAll }),
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
    gates: gates.bind((topic) => controlPlane.resolve(topic)),
    ...(fleet !== null
      ? {
          fleet: () => fleet.view(fleetReport(), controlPlane.barrier.knownTopics().flatMap((topic) => {
            const meta = clusters[controlPlane.resolve(topic).cluster].cachedTopic(topic);
            return (meta?.partitions ?? []).map((p) => ({ topic, partition: p.partition }));
          })),
        }
      : {}),
    consumers: consumers.admin,
    transactions: () => ({ transactionalIds: txn.router.inventory(), flips: txn.guard.history }),
    ...(config.admin.tls !== undefined ? { tls: config.admin.tls } : {}),
  });

  const reload = (): { errors: string[] } => {
    const errors: string[] = [];
    const attempt = (what: string, fn: () => void): void => {
      try {
        fn();
        log.info({ what }, 'reloaded');
      } catch (err) {
        errors.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
        log.error({ what, err: err instanceof Error ? err.message : String(err) }, 'reload failed; the previous settings stay in force');
      }
    };
    for (const l of listeners) if (l.isTls) attempt(`listener ${l.name} TLS certificate`, () => l.reloadTls());
    for (const [name, sasl] of saslByListener) attempt(`listener ${name} SASL credentials`, () => sasl.reload());
    for (const c of ['source', 'target'] as const) attempt(`cluster ${c} TLS`, () => upstreamSecurity[c].reload());
    if (config.admin.tls !== undefined) attempt('admin TLS certificate', () => admin.reloadTls());
    return { errors };
  };

  return {
    port: bound.port,
    ports,
    reload,
    admin,
    controlPlane,
    metrics,
    async shutdown(graceMs = 10_000) {
      stopping = true;
      if (fleet !== null) {
        // Leave first: the others take this instance's partitions at once (no lease wait), and its clients get
        // NOT_LEADER_OR_FOLLOWER and move on while the listener still answers them.
        await fleet.leave();
        log.info({ member: fleet.member }, 'fleet: left; handing partitions over before closing');
        await new Promise((r) => setTimeout(r, Math.min(graceMs, 1_000)));
      }
      log.info({ graceMs }, 'shutting down: no new connections, finishing in-flight requests');
      await listener.close(graceMs);
      clusterHealth.stop();
      await admin.close();
      await writeBack.close();
      await controlPlane.close();
      await fleet?.close();
      gates.close();
      migration.close();
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
  // Certificates and credentials are re-read without dropping a connection (see RunningProxy.reload).
  process.on('SIGHUP', () => {
    log.info({ signal: 'SIGHUP' }, 'signal received: reloading certificates and credentials');
    const { errors } = proxy.reload();
    log.info({ failed: errors.length }, errors.length === 0 ? 'reload complete' : 'reload finished with errors');
  });
  return 0;
}
