// Everything a request handler needs, passed explicitly (no globals): the two upstream clusters, the
// partition router (switch table + cutover barrier), the producer id map, the proxy's identity, metrics.
import type { Logger } from 'pino';
import type { Cluster } from '../../routing/cluster.ts';
import type { CompletionOutcome, Rejection, Ticket } from '../../routing/cutover-barrier.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';
import type { ProducerIdMap } from './producer-id-map.ts';
import type { SequenceGuard } from './sequence-guard.ts';
import type { ProducerInventory } from '../inventory.ts';
import type { ApiVersionTable } from './api-versions.ts';
import type { ProduceConcern } from './produce/produce-session.ts';

/**
 * The data path's view of routing (the cutover barrier plus the switch table): where a partition's next batch
 * goes, and what became of it. See routing/cutover-barrier.ts for the contract of admit/complete/abandon.
 */
export interface PartitionRouter {
  admit(topic: string, partition: number): Ticket | Rejection | Promise<Ticket | Rejection>;
  complete(ticket: Ticket, outcome: CompletionOutcome): void;
  abandon(ticket: Ticket): void;
  /** Cluster a topic is routed to right now (Metadata answers). */
  clusterOf(topic: string): Cluster;
}

export interface ProxyNode {
  nodeId: number;
  host: string;
  port: number;
}

export interface DataPathMetrics {
  producedUpstream(cluster: Cluster, entries: readonly { topic: string; records: Buffer | null; recordCount: number }[]): void;
  producedResponse(entries: readonly { topic: string; cluster: Cluster | null; result: { errorCode: number } | null }[]): void;
}

export interface ProxyContext {
  log: Logger;
  clusters: Record<Cluster, ClusterClient>;
  router: PartitionRouter;
  producerIds: ProducerIdMap;
  /** Keeps a producer's first batches on a partition's new cluster in sequence order. */
  sequences: SequenceGuard;
  /** The proxy instances presented as the cluster's brokers (a fleet: the live members, read on every access). */
  readonly nodes: ProxyNode[];
  /** A fleet: the node id leading a partition (rendezvous over the live members). Absent: a stable hash. */
  leaderOf?: (topic: string, partition: number) => number;
  /** The proxy's own, stable cluster id (never the source's or target's). */
  clusterId: string;
  defaultCluster: Cluster;
  /** What the proxy advertises and accepts, recomputed only when a cluster's versions change. */
  apiVersions: ApiVersionTable;
  /** Concerns of the Produce path beyond routing (see produce/produce-session.ts). */
  produceConcerns?: readonly ProduceConcern[];
  metrics?: DataPathMetrics;
  inventory?: ProducerInventory;
  /** Transactional producers are routed (their batches checked and mapped by a ProduceConcern). */
  transactions?: boolean;
}
