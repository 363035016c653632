// What kmp knows about one transactional.id: the ids the client sees (a stable client-facing producer id and an
// epoch kmp advances), the id's home cluster and the producer id/epoch kmp holds there, the open transaction
// (its partitions, since when), and what the id has written over time (its coupling: the topics it writes
// together, and whether it commits consumer offsets). See docs/transactions.md.
import type { Cluster } from '../../routing/cluster.ts';

export type TransactionState = 'ready' | 'open' | 'ending';

export interface UpstreamIds {
  producerId: bigint;
  producerEpoch: number;
}

/** Producer epochs are int16; Kafka stops at 32766 (Short.MAX_VALUE - 1) and then issues a new producer id. */
export const MAX_CLIENT_EPOCH = 32_766;

const SEQUENCE_SPACE = 2 ** 31;

export function partitionKeyOf(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

export class TransactionalProducer {
  readonly transactionalId: string;
  clientProducerId: bigint;
  clientEpoch: number;
  /** The epoch before the newest re-initialisation: a retried KIP-360 bump from it gets the same answer. */
  previousClientEpoch = -1;
  home: Cluster;
  /** The producer id and epoch kmp holds for this id on `home` (never valid on the other cluster). */
  upstream: UpstreamIds;
  transactionTimeoutMs: number;
  state: TransactionState = 'ready';
  /** performance.now() when the open transaction added its first partition or offsets; null when ready. */
  openSince: number | null = null;
  /** Partitions of the open transaction (partitionKeyOf). */
  readonly partitions = new Set<string>();
  /** Topics of the open transaction. */
  readonly topicsInTransaction = new Set<string>();
  /** Every topic the id has added to a transaction: what a wave must move together. */
  readonly coupledTopics = new Set<string>();
  /** Consumer groups whose offsets the id commits in its transactions (consume-transform-produce). */
  readonly groups = new Set<string>();
  /**
   * Topics of AddPartitionsToTxn / AddOffsetsToTxn requests admitted past the flip guard and not answered yet: a
   * flip that starts meanwhile must wait for them as for an open transaction.
   */
  readonly startingTopics = new Map<string, number>();
  committed = 0;
  aborted = 0;
  /**
   * The client's base sequence of its first batch per partition since kmp took `upstream` (a "home period").
   * Upstream sequences restart at 0 in each period: a fresh upstream epoch on a partition that saw an older epoch
   * of the same producer id (the id came back to a cluster) accepts only sequence 0, while the client's
   * sequences run on across transactions and moves.
   */
  readonly #sequenceBase = new Map<string, number>();

  constructor(init: { transactionalId: string; clientProducerId: bigint; clientEpoch: number; home: Cluster; upstream: UpstreamIds; transactionTimeoutMs: number }) {
    this.transactionalId = init.transactionalId;
    this.clientProducerId = init.clientProducerId;
    this.clientEpoch = init.clientEpoch;
    this.home = init.home;
    this.upstream = init.upstream;
    this.transactionTimeoutMs = init.transactionTimeoutMs;
  }

  get commitsOffsets(): boolean {
    return this.groups.size > 0;
  }

  /** kmp took new upstream ids (InitProducerId on the home, or a move to another home): sequences restart. */
  newHomePeriod(home: Cluster, upstream: UpstreamIds): void {
    this.home = home;
    this.upstream = upstream;
    this.#sequenceBase.clear();
  }

  /** The upstream base sequence for a batch of the client's (first batch of a partition in a period → 0). */
  upstreamSequence(topic: string, partition: number, clientSequence: number): number {
    const key = partitionKeyOf(topic, partition);
    let base = this.#sequenceBase.get(key);
    if (base === undefined) {
      base = clientSequence;
      this.#sequenceBase.set(key, base);
    }
    // Sequences wrap from Int32.MAX_VALUE to 0, on the client and on the broker alike.
    return (((clientSequence - base) % SEQUENCE_SPACE) + SEQUENCE_SPACE) % SEQUENCE_SPACE;
  }

  /** Whether the open or starting transaction touches a topic `moving` says moves. */
  touches(moving: (topic: string) => boolean): boolean {
    if (this.state !== 'ready') for (const t of this.topicsInTransaction) if (moving(t)) return true;
    for (const t of this.startingTopics.keys()) if (moving(t)) return true;
    return false;
  }

  beginStart(topics: readonly string[]): () => void {
    for (const t of topics) this.startingTopics.set(t, (this.startingTopics.get(t) ?? 0) + 1);
    return () => {
      for (const t of topics) {
        const n = (this.startingTopics.get(t) ?? 1) - 1;
        if (n === 0) this.startingTopics.delete(t);
        else this.startingTopics.set(t, n);
      }
    };
  }

  hasPartition(topic: string, partition: number): boolean {
    return this.partitions.has(partitionKeyOf(topic, partition));
  }

  added(topic: string, partition: number, now: number): void {
    this.partitions.add(partitionKeyOf(topic, partition));
    this.topicsInTransaction.add(topic);
    this.coupledTopics.add(topic);
    this.opened(now);
  }

  opened(now: number): void {
    if (this.state === 'ready') {
      this.state = 'open';
      this.openSince = now;
    }
  }

  /** The transaction ended (EndTxn answered, or a re-initialisation aborted it upstream). */
  ended(): void {
    this.state = 'ready';
    this.openSince = null;
    this.partitions.clear();
    this.topicsInTransaction.clear();
  }
}
