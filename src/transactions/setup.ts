// Builds the transaction support of one proxy instance: the router (homes of transactional ids), the flip guard
// (the participant hook and the pre-flight), the handlers, the Produce concern and the metrics.
import type { Logger } from 'pino';
import type client from 'prom-client';
import type { Cluster } from '../../routing/cluster.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';
import type { ProducerIdMap } from '../proxy/producer-id-map.ts';
import type { ProduceConcern } from '../proxy/produce/produce-session.ts';
import { TransactionMetrics } from './transaction-metrics.ts';
import { TransactionRouter } from './transaction-router.ts';
import { TransactionFlipGuard } from './transaction-flip-guard.ts';
import { createTransactionHandlers, type TransactionHandlers } from './transaction-handlers.ts';
import { transactionProduceConcern } from './transaction-produce-concern.ts';
import { FileTransactionStore, MemoryTransactionStore, type TransactionStore } from './transaction-store.ts';
import { FleetTransactionStore } from './fleet-transaction-store.ts';
import { fleetOwnership, type TransactionOwnership } from './transaction-ownership.ts';
import type { FleetTransactionLog } from '../fleet/transaction-log.ts';
import type { ProxyNode } from '../proxy/proxy-context.ts';
import { TransactionUpstream } from './transaction-upstream.ts';

export interface TransactionSupport {
  router: TransactionRouter;
  guard: TransactionFlipGuard;
  handlers: TransactionHandlers;
  concern: ProduceConcern;
}

export function createTransactionSupport(options: {
  clusters: Record<Cluster, ClusterClient>;
  producerIds: ProducerIdMap;
  clusterOf: (topic: string) => Cluster;
  clusterOrder: () => readonly Cluster[];
  /** The JSON-lines file of transactional ids; null keeps them in memory. */
  stateFile: string | null;
  drainMs: number;
  /** flip.openTransactionsAtBound. */
  atBound?: 'abort-flip' | 'abort-transactions';
  registry: client.Registry | null;
  log: Logger;
  /** A fleet member: ids' state in the control topic, ownership by rendezvous over live members. */
  fleet?: { transactions: FleetTransactionLog; member: string; live: () => readonly string[]; keyOwner: (key: string) => { member: string; node: ProxyNode } | null } | null;
}): TransactionSupport {
  const fleet = options.fleet ?? null;
  const store: TransactionStore = fleet !== null ? new FleetTransactionStore(fleet.transactions)
    : options.stateFile === null ? new MemoryTransactionStore() : new FileTransactionStore(options.stateFile);
  const ownership: TransactionOwnership | undefined = fleet === null ? undefined : fleetOwnership(fleet.keyOwner, fleet.member);
  const router = new TransactionRouter({
    upstream: new TransactionUpstream(options.clusters),
    producerIds: options.producerIds,
    clusterOf: options.clusterOf,
    clusterOrder: options.clusterOrder,
    store,
    ...(ownership !== undefined ? { ownership } : {}),
    metrics: options.registry === null ? null : new TransactionMetrics(options.registry),
    log: options.log.child({ component: 'transactions' }),
  });
  const guard = new TransactionFlipGuard(router, {
    drainMs: options.drainMs,
    ...(options.atBound !== undefined ? { atBound: options.atBound } : {}),
    fleet: fleet === null ? null : {
      member: fleet.member,
      live: fleet.live,
      announce: (moveId) => fleet.transactions.announceDrained(moveId, fleet.member),
      drained: (moveId) => fleet.transactions.drainedMembers(moveId),
      onDrained: (listener) => fleet.transactions.onDrained(listener),
    },
  });
  return { router, guard, handlers: createTransactionHandlers(router, guard), concern: transactionProduceConcern(router) };
}
