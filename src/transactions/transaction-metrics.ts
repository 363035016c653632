// Prometheus metrics of transactional producers (registered on the proxy's registry).
import client from 'prom-client';
import type { Cluster } from '../../routing/cluster.ts';

export class TransactionMetrics {
  readonly started: client.Counter<'cluster'>;
  readonly ended: client.Counter<'cluster' | 'result'>;
  readonly heldStarts: client.Counter;
  readonly crossClusterRefusals: client.Counter<'api'>;
  readonly rehomes: client.Counter<'from' | 'to' | 'reason'>;
  readonly fences: client.Counter<'cluster' | 'result'>;
  readonly flipWaitSeconds: client.Histogram<'outcome'>;
  readonly open: client.Gauge;
  readonly abortsRequested: client.Counter;

  constructor(registry: client.Registry) {
    const registers = [registry];
    this.started = new client.Counter({ name: 'kmp_transactions_started_total', help: 'Transactions started (first partition or offsets added), per home cluster.', labelNames: ['cluster'], registers });
    this.ended = new client.Counter({ name: 'kmp_transactions_ended_total', help: 'Transactions ended by EndTxn, per home cluster and result (committed, aborted).', labelNames: ['cluster', 'result'], registers });
    this.heldStarts = new client.Counter({ name: 'kmp_transaction_starts_held_total', help: 'Transaction starts (AddPartitionsToTxn/AddOffsetsToTxn) held while a flip moved their topics.', registers });
    this.crossClusterRefusals = new client.Counter({ name: 'kmp_transaction_cross_cluster_refusals_total', help: 'Partitions refused with an abortable error because their topic is routed to another cluster than the transaction\'s home.', labelNames: ['api'], registers });
    this.rehomes = new client.Counter({ name: 'kmp_transaction_rehomes_total', help: 'Transactional ids moved to another home cluster (initialised there, old side fenced).', labelNames: ['from', 'to', 'reason'], registers });
    this.fences = new client.Counter({ name: 'kmp_transaction_fences_total', help: 'InitProducerId sent to a transactional id\'s old cluster to fence it, by result.', labelNames: ['cluster', 'result'], registers });
    this.flipWaitSeconds = new client.Histogram({ name: 'kmp_transaction_flip_wait_seconds', help: 'How long a flip waited for open transactions and last stable offsets before holding.', labelNames: ['outcome'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
    this.abortsRequested = new client.Counter({ name: 'kmp_transaction_aborts_requested_total', help: 'Open transactions asked to abort (an abortable error on their next request) because a flip reached flip.transactionDrainMs (flip.openTransactionsAtBound: abort-transactions).', registers });
    this.open = new client.Gauge({ name: 'kmp_transactions_open', help: 'Transactions open now.', registers });
  }

  startedOn(cluster: Cluster): void {
    this.started.inc({ cluster });
  }
}
