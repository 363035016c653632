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

/** Names a home period: unique per (id, home, upstream pid, upstream epoch). Sequence bases are keyed under it. */
export function periodKeyOf(transactionalId: string, home: string, upstreamProducerId: bigint | string, upstreamEpoch: number): string {
  return `${transactionalId}/${home}/${upstreamProducerId}/${upstreamEpoch}`;
}

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
  /**
   * Whether this instance saw the id's transactions from a point where none was open (it initialised the id, or
   * ended a transaction of it). False for an id read from the store (a restart) or from another fleet member (a
   * new owner after a failover): a transaction may be open upstream that this instance never saw start, so EndTxn
   * is forwarded even when `state` says ready, and the partitions of the open transaction are not checked.
   */
  stateKnown = true;
  /**
   * Whether the current home period began with the client's own InitProducerId: the client's sequences then
   * restart at 0 together with the upstream ones, so no base is learned (every instance rebases the same way).
   * False after a move between transactions (the client's sequences run on).
   */
  aligned = true;
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
   * Set when a flip past its drain bound asks the open transaction to end (flip.openTransactionsAtBound
   * 'abort-transactions'): its next Produce, AddPartitionsToTxn or AddOffsetsToTxn gets TRANSACTION_ABORTABLE
   * with this reason. Cleared when the transaction ends.
   */
  abortRequested: string | null = null;
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

  /**
   * kmp took new upstream ids: sequences restart. `aligned` when the client's InitProducerId started the period
   * (its own sequences restart too), false for a move between transactions.
   */
  newHomePeriod(home: Cluster, upstream: UpstreamIds, aligned: boolean): void {
    this.home = home;
    this.upstream = upstream;
    this.aligned = aligned;
    this.#sequenceBase.clear();
  }

  /** Names the home period (shared sequence bases are stored under it): unique per upstream pid and epoch. */
  get periodKey(): string {
    return periodKeyOf(this.transactionalId, this.home, this.upstream.producerId, this.upstream.producerEpoch);
  }

  /** The client's base sequence on a partition in this period, when known here (always 0 in an aligned period). */
  knownBase(topic: string, partition: number): number | undefined {
    return this.aligned ? 0 : this.#sequenceBase.get(partitionKeyOf(topic, partition));
  }

  learnBase(topic: string, partition: number, base: number): void {
    this.#sequenceBase.set(partitionKeyOf(topic, partition), base);
  }

  /** The upstream sequence of a client sequence, given the period's base on its partition. */
  static rebase(clientSequence: number, base: number): number {
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
    this.abortRequested = null;
    this.state = 'ready';
    this.openSince = null;
    this.partitions.clear();
    this.topicsInTransaction.clear();
  }
}
