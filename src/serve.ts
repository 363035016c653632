// `kmp serve`: builds the running proxy from a validated config and keeps it up until SIGTERM/SIGINT.
// Data flows one way: listener → client connection → dispatcher → handler → router (switch table + barrier)
// → upstream cluster client → merge → the connection's ordered response queue.
// This file is the composition root only: each part is built by its owner's setup function and wired here, in
// an order that matters (a part's closures may reach parts built later, but only once they are called).
import type { Logger } from 'pino';
import { ConfigError, loadConfig, proxyClusterIdOf, proxyNodesOf, type KmpConfig } from './config/index.ts';
import { createLogger } from './logger.ts';
import { ProxyMetrics } from './metrics.ts';
import { createGates } from './gates/setup.ts';
import { createConsumers } from './consumers/setup.ts';
import { createMigrationGates } from './gates/migration-gates.ts';
import { createClusterClients, keepStarting } from './upstream/cluster-clients.ts';
import { ProducerIdMap } from './proxy/producer-id-map.ts';
import { SequenceGuard } from './proxy/sequence-guard.ts';
import { RecentProducers } from './proxy/recent-producers.ts';
import { createWarmUp } from './proxy/warm-up.ts';
import { moveErrorConcern } from './proxy/move-error-concern.ts';
import { startListeners } from './proxy/listeners.ts';
import { createDispatcher } from './proxy/dispatcher.ts';
import { ApiVersionTable } from './proxy/api-versions.ts';
import type { ProxyContext } from './proxy/proxy-context.ts';
import { startAdminServer, type AdminServer } from './admin/server.ts';
import { instrumentWrites, routeMetricsRefresher } from './admin/instrument-writes.ts';
import { proxyStatus, scrapedRegistry } from './admin/proxy-status.ts';
import { createControlPlane, type ControlPlane } from '../routing/control-plane.ts';
import { FileStateStore } from '../routing/file-state-store.ts';
import type { ProducerMapping } from '../routing/state-store.ts';
import type { Cluster } from '../routing/cluster.ts';
import type { WarmUp } from '../routing/warm-up.ts';
import { createControlPlaneHooks } from './control-plane-hooks.ts';
import { ClusterHealth, readinessOf } from './cluster-health.ts';
import { createWriteBack } from './writeback/setup.ts';
import { startFleetRuntime } from './fleet/setup.ts';
import { leadershipConcern } from './fleet/leadership-concern.ts';
import { NewRouteConcern } from './fleet/new-route-concern.ts';
import { createTransactionSupport, type TransactionSupport } from './transactions/setup.ts';
import { reloadAll } from './reload.ts';

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

export async function startProxyServer(config: KmpConfig, log: Logger): Promise<RunningProxy> {
  const metrics = new ProxyMetrics();
  // Probed on a timer and whenever a broker connection drops (cluster-health.ts); declared before the clients so
  // their broker callbacks can reach it, built once they started.
  let health: ClusterHealth | null = null;
  const upstream = createClusterClients(config, log, metrics, (cluster) => health?.probeNow(cluster));
  const { clusters } = upstream;

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
  // Built once the producer-id map exists (below); the control plane's hooks reach them late.
  let transactions: TransactionSupport | null = null;
  let warmUp: WarmUp | null = null;
  const controlPlane = await createControlPlane({
    rules: config.routes,
    store,
    ...(fleet !== null ? { transport: fleet.transport, member: fleet.member } : {}),
    flipTimeoutMs: config.flip.timeoutMs,
    maxHeldRequests: config.flip.maxHeldRequests,
    afterDrain: (move) => writeBack.drain(move),
    hooks: createControlPlaneHooks({
      clusters, gates, migration, consumers, writeBack,
      transactions: () => transactions,
      warmUp: () => warmUp,
      preflightTimeoutMs: config.flip.timeoutMs,
    }),
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
  warmUp = createWarmUp({ clusters, producerIds, recentProducers });
  const otherCluster: Cluster = defaultCluster === 'source' ? 'target' : 'source';
  let clusterOrder = (): readonly Cluster[] => [defaultCluster, otherCluster];
  const txn = createTransactionSupport({
    clusters,
    producerIds,
    clusterOf: (topic) => controlPlane.resolve(topic).cluster,
    clusterOrder: () => clusterOrder(),
    stateFile: `${config.state.file}.transactions.jsonl`,
    drainMs: config.flip.transactionDrainMs,
    atBound: config.flip.openTransactionsAtBound,
    registry: metrics.registry,
    log,
    fleet: fleet === null ? null : { transactions: fleet.transactions, member: fleet.member, live: () => fleet.membership.live(), keyOwner: (key) => fleet.keyOwner(key) },
  });
  transactions = txn;

  const apiVersions = new ApiVersionTable(
    () => [clusters.source.versions, clusters.target.versions],
    () => clusters.source.versionsGeneration + clusters.target.versionsGeneration,
  );
  const advertised = () => apiVersions.advertised;
  const sequences = new SequenceGuard();
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
    sequences,
    nodes: proxyNodesOf(config),
    clusterId: fleet?.clusterId ?? proxyClusterIdOf(config),
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
      ...(fleet === null ? [] : [leadershipConcern(fleet.membership, (topic) => controlPlane.blocksProduce(topic))]),
      // A fleet: a batch on a partition's new route that the old cluster already has is answered, not re-sent.
      ...(fleet === null || config.fleet?.newRouteCheck !== true
        ? []
        : [new NewRouteConcern({
            clusters,
            producerIds,
            sequences,
            routeOf: (topic) => ({ cluster: controlPlane.table.resolve(topic).cluster, generation: controlPlane.barrier.generationOf(topic) }),
            mappingsOf: (pid, epoch, cluster) => fleet.store.mappingsOfClient(pid, epoch, cluster),
          })]),
      txn.concern,
      ...migration.produceConcerns,
      recentProducers,
      moveErrorConcern(controlPlane.moveErrors),
      writeBack.concern,
    ],
  };

  // A fleet's brokers are its live members, read on every access (a spread would copy a getter's value once).
  if (fleet !== null) Object.defineProperty(px, 'nodes', { get: () => fleet.nodes() });
  // The sequence guard's state holds only while this instance led a partition throughout (sequence-guard.ts clear).
  fleet?.onLeadershipChange(() => px.sequences.clear());

  // Upstream clusters: keep trying in the background; /readyz says when both answered Metadata.
  let stopping = false;
  const clustersReady = Promise.all([keepStarting(clusters.source, log, () => stopping), keepStarting(clusters.target, log, () => stopping)]);
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

  // New producers get their pid from a cluster that is up, the default one first (init-producer-id.ts).
  clusterOrder = () => {
    const order: Cluster[] = [defaultCluster, otherCluster];
    return [...order.filter((c) => clusterHealth.state(c) !== 'down'), ...order.filter((c) => clusterHealth.state(c) === 'down')];
  };
  const dispatch = createDispatcher(px, advertised, {
    initProducerId: { clusterOrder },
    transactions: txn.handlers,
  });
  const listeners = await startListeners({ config, log, metrics, dispatch, clusterId: px.clusterId });

  fleetReport = () => ({
    appliedVersion: controlPlane.version,
    connections: listeners.connections.size,
    inflight: listeners.inflight(),
  });
  const refreshRouteMetrics = routeMetricsRefresher(controlPlane, metrics);
  refreshRouteMetrics();

  const adminControlPlane = instrumentWrites(controlPlane, metrics, refreshRouteMetrics, log);
  const admin = await startAdminServer({
    listen: config.admin.listen,
    tokens: config.admin.tokens,
    controlPlane: adminControlPlane,
    migrationGates: migration.bind(controlPlane, adminControlPlane, () => px.inventory?.topics() ?? []),
    status: proxyStatus({ health: clusterHealth, stopping: () => stopping, listeners, controlPlane, clusters }),
    ready: ({ requireAll }) => readinessOf(clusterHealth.view(), { stopping, requireAll }),
    registry: scrapedRegistry(metrics, controlPlane, listeners),
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

  const reload = (): { errors: string[] } => reloadAll(log, [
    (attempt) => listeners.reload(attempt),
    (attempt) => {
      for (const c of ['source', 'target'] as const) attempt(`cluster ${c} TLS`, () => upstream.security[c].reload());
    },
    (attempt) => {
      if (config.admin.tls !== undefined) attempt('admin TLS certificate', () => admin.reloadTls());
    },
  ]);

  return {
    port: listeners.ports.default,
    ports: listeners.ports,
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
      await listeners.close(graceMs);
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
