// The fleet's new-route check on the Produce path (a ProduceConcern, src/proxy/produce/produce-session.ts): for a
// while after a partition moved, an idempotent batch on the new route is checked against the old cluster's
// producer state before it is forwarded, so a client's retry of a batch that a gone instance appended on the old
// cluster (its answer lost with the instance) is answered as written instead of being appended a second time on
// the new cluster. Why and when it is safe: routing/fleet/new-route-guard.ts; what producers see: docs/fleet.md.
//
// The old cluster's state is one DescribeProducers per partition and route generation (the last sequence it
// appended per upstream producer id). Which upstream ids are this client's there: the ones the fleet mapped its
// (pid, epoch) to on that cluster (the shared producer-id topic, any generation), plus the client's own pid when
// that cluster issued it (written unchanged there before the topic's first move, producer-id-map.ts). Client
// sequences never change on the way upstream for idempotent batches and only grow per partition within an epoch,
// so "the old cluster's last sequence is at or beyond this batch's last" means the batch is there.
//
// - refuse (before admission, on the route as it is now): wait → a retriable error; duplicate → answered with
//   ErrorCode.NONE and not sent, and the sequence guard counts the batch as forwarded (the client goes on with the
//   next one).
// - refuseBeforeSend (a write that waited, e.g. held by the move and released onto the new route): anything but
//   forward is a retriable error. A duplicate is not answered here: the session would count it as not written
//   and the sequence guard would then wait for it again; the client's resend gets the answer from refuse.
// Transactional batches are the transaction concern's (they are sent only inside a transaction on one cluster).
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import { ApiKey } from '../../protocol/messages/index.ts';
import type { Cluster } from '../../routing/cluster.ts';
import { NewRouteGuard, type NewRouteVerdict, type OldPartitionState, type RouteEpoch } from '../../routing/fleet/new-route-guard.ts';
import type { ProducerMapping } from '../../routing/state-store.ts';
import type { ProduceConcern } from '../proxy/produce/produce-session.ts';
import type { PartitionWrite } from '../proxy/produce/partition-write.ts';
import type { ProducerIdMap } from '../proxy/producer-id-map.ts';
import { SequenceGuard } from '../proxy/sequence-guard.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';
import { leaderConnection } from '../writeback/partition-io.ts';

/** One client batch (or the batches of one partition write): its producer and the last sequence it carries. */
export interface ClientBatch {
  readonly producerId: bigint;
  readonly epoch: number;
  readonly lastSequence: number;
  /** The first sequence it carries (ordering of a producer's pipelined batches). */
  readonly baseSequence?: number;
}

export interface NewRouteConcernOptions {
  readonly clusters: Record<Cluster, ClusterClient>;
  readonly producerIds: ProducerIdMap;
  readonly sequences: SequenceGuard;
  /** The route a topic's batches take now: its cluster and the barrier's generation (0: never moved). */
  readonly routeOf: (topic: string) => RouteEpoch;
  /** The upstream producers the fleet mapped a client's (pid, epoch) to on a cluster (KafkaStateStore). */
  readonly mappingsOf: (clientProducerId: bigint, clientEpoch: number, cluster: Cluster) => readonly ProducerMapping[];
  /** Defaults: window 300 s (librdkafka's message.timeout.ms; Java's delivery.timeout.ms is 120 s). */
  readonly windowMs?: number;
  readonly loadTimeoutMs?: number;
  readonly giveUpAfterMs?: number;
  readonly now?: () => number;
}

const SEQ_SPACE = 0x80000000;

/** `at` is at or beyond `seq` on the int32 sequence circle (within half of it; Kafka sequences wrap). */
function reached(at: number, seq: number): boolean {
  return (at - seq + SEQ_SPACE) % SEQ_SPACE < SEQ_SPACE / 2;
}

/** The client batch of a write whose header is still the client's (before its pid is mapped), or null. */
function clientBatch(w: PartitionWrite): ClientBatch | null {
  const first = w.batches[0];
  const last = w.batches[w.batches.length - 1];
  if (first === undefined || last === undefined || first.producerId < 0n || first.baseSequence < 0 || first.isTransactional) return null;
  return { producerId: first.producerId, epoch: first.producerEpoch, lastSequence: (last.baseSequence + last.lastOffsetDelta) % SEQ_SPACE, baseSequence: first.baseSequence };
}

/**
 * A producer's batches of one partition that were answered 'wait' hold back its later batches: a client with
 * several batches in flight (Java: up to 5) would otherwise have batch N turned away while N+1, arriving once the
 * old cluster's state is loaded, is forwarded — a sequence gap the broker refuses (OUT_OF_ORDER_SEQUENCE_NUMBER)
 * and the client must recover from (found by fleet-pause.test.ts: a Java producer stalled for a minute). Keyed by
 * producer, epoch and partition; the value is the lowest sequence answered 'wait' and not yet let through.
 */
class WaitingSequences {
  /** The lowest waited sequence and when it was first waited (a client that never resends it is not waited for long). */
  readonly #lowest = new Map<string, { base: number; at: number }>();
  readonly #now: () => number;
  readonly #maxMs: number;

  constructor(now: () => number, maxMs: number) {
    this.#now = now;
    this.#maxMs = maxMs;
  }

  static key(b: ClientBatch, topic: string, partition: number): string {
    return `${b.producerId}:${b.epoch}:${partition}:${topic}`;
  }

  /** Records a batch answered 'wait'. */
  waited(key: string, base: number): void {
    const lowest = this.#lowest.get(key);
    if (lowest === undefined) this.#lowest.set(key, { base, at: this.#now() });
    else if (reached(lowest.base, base)) this.#lowest.set(key, { base, at: lowest.at });
    if (this.#lowest.size > 100_000) this.#lowest.delete(this.#lowest.keys().next().value as string);
  }

  /** Whether a batch must wait behind an earlier one of its producer; a batch at or before the lowest clears it. */
  mustWait(key: string, base: number): boolean {
    const lowest = this.#lowest.get(key);
    if (lowest === undefined) return false;
    if (reached(lowest.base, base) || this.#now() - lowest.at > this.#maxMs) {
      this.#lowest.delete(key); // this is the waited batch (or an earlier one) coming back: order is restored
      return false;
    }
    return true;
  }
}

export class NewRouteConcern implements ProduceConcern {
  readonly guard: NewRouteGuard<ClientBatch>;
  readonly #o: NewRouteConcernOptions;
  /** `${generation}:${topic}` whose partitions were all prefetched (bounded). */
  readonly #prefetched = new Set<string>();
  readonly #waiting: WaitingSequences;

  constructor(options: NewRouteConcernOptions) {
    this.#o = options;
    this.#waiting = new WaitingSequences(options.now ?? (() => performance.now()), 10_000);
    this.guard = new NewRouteGuard<ClientBatch>({
      windowMs: options.windowMs ?? 300_000,
      loadTimeoutMs: options.loadTimeoutMs ?? 5_000,
      giveUpAfterMs: options.giveUpAfterMs ?? 30_000,
      now: options.now ?? (() => performance.now()),
      load: (topic, partition, oldCluster) => this.#describe(topic, partition, oldCluster),
    });
  }

  refuse(w: PartitionWrite): { errorCode: number; message: string } | null {
    const batch = clientBatch(w);
    if (batch === null) return null;
    const order = WaitingSequences.key(batch, w.topic, w.partition);
    const base = batch.baseSequence ?? batch.lastSequence;
    const verdict = this.guard.check(w.topic, w.partition, this.#o.routeOf(w.topic), batch);
    if (verdict !== 'wait' && this.#waiting.mustWait(order, base)) return waiting(w);
    if (verdict === 'wait') this.#waiting.waited(order, base);
    if (verdict === 'duplicate') {
      // Answered as written: the next batch of this producer must find the guard past this one.
      this.#o.sequences.forward(SequenceGuard.key(batch.producerId, batch.epoch, w.topic, w.partition), w.batches[0]!.baseSequence, w.offsetSpan);
      return { errorCode: ErrorCode.NONE, message: 'kmp: already written on the cluster this partition moved from' };
    }
    if (verdict !== 'wait') return null;
    this.#prefetchTopic(w.topic, this.#o.routeOf(w.topic));
    return waiting(w);
  }

  /**
   * Once one partition of a moved topic needs the old cluster's state, every partition's is loaded: a partition
   * whose leader instance changes later (an instance died, one joined) then finds it ready, instead of its first
   * batch on the new leader waiting once more (clients that back off exponentially would add seconds to failover).
   */
  #prefetchTopic(topic: string, route: RouteEpoch): void {
    const key = `${route.generation}:${topic}`;
    if (this.#prefetched.has(key)) return;
    this.#prefetched.add(key);
    if (this.#prefetched.size > 10_000) this.#prefetched.delete(this.#prefetched.values().next().value as string);
    const old: Cluster = route.cluster === 'source' ? 'target' : 'source';
    const meta = this.#o.clusters[old].cachedTopic(topic);
    if (meta === undefined) return;
    for (const p of meta.partitions) this.guard.prefetch(topic, p.partition, route);
  }

  refuseBeforeSend(w: PartitionWrite): { errorCode: number; message: string } | null {
    if (w.sequenceKey === null || w.cluster === null || w.ticket === null || w.batches[0]?.isTransactional === true) return null;
    const client = SequenceGuard.producerOf(w.sequenceKey);
    const last = w.batches[w.batches.length - 1]!;
    const batch: ClientBatch = { producerId: client.producerId, epoch: client.epoch, lastSequence: (last.baseSequence + last.lastOffsetDelta) % SEQ_SPACE, baseSequence: w.batches[0]!.baseSequence };
    const route = { cluster: w.cluster, generation: w.ticket.generation };
    const verdict: NewRouteVerdict = this.guard.check(w.topic, w.partition, route, batch);
    const order = WaitingSequences.key(batch, w.topic, w.partition);
    if (verdict === 'forward') return this.#waiting.mustWait(order, batch.baseSequence ?? batch.lastSequence) ? waiting(w) : null;
    this.#waiting.waited(order, batch.baseSequence ?? batch.lastSequence);
    this.#prefetchTopic(w.topic, route);
    return waiting(w);
  }

  /** DescribeProducers on the old cluster's leader of the partition: which of the client's batches it has. */
  async #describe(topic: string, partition: number, old: Cluster): Promise<OldPartitionState<ClientBatch>> {
    const client = this.#o.clusters[old];
    const conn = await leaderConnection(client, { topic, partition }, 0);
    const res = await conn.send(ApiKey.DescribeProducers, 0, { topics: [{ name: topic, partitionIndexes: [partition] }] });
    const pr = res.topics[0]?.partitions[0];
    if (pr === undefined) throw new Error(`${old}: DescribeProducers answer lacked ${topic}[${partition}]`);
    if (pr.errorCode !== ErrorCode.NONE) {
      client.refreshSoon(topic);
      throw new Error(`${old}: DescribeProducers of ${topic}[${partition}] failed with error ${pr.errorCode}`);
    }
    const states = new Map(pr.activeProducers.map((s) => [s.producerId, s]));
    return {
      has: (b) => {
        const upstream: { producerId: bigint; producerEpoch: number }[] = this.#o.mappingsOf(b.producerId, b.epoch, old).map((m) => ({ producerId: m.upstreamProducerId, producerEpoch: m.upstreamEpoch }));
        const issuer = this.#o.producerIds.issuerOf(b.producerId);
        if (issuer.cluster === old) upstream.push({ producerId: issuer.producerId, producerEpoch: b.epoch });
        return upstream.some((u) => {
          const s = states.get(u.producerId);
          return s !== undefined && s.producerEpoch === u.producerEpoch && s.lastSequence >= 0 && reached(s.lastSequence, b.lastSequence);
        });
      },
    };
  }
}

function waiting(w: PartitionWrite): { errorCode: number; message: string } {
  // NOT_ENOUGH_REPLICAS: retriable, "not written", and no metadata refresh (the partition's leader is right).
  return { errorCode: ErrorCode.NOT_ENOUGH_REPLICAS, message: `kmp: ${w.topic}-${w.partition} just moved; checking the cluster it moved from for this batch, retry` };
}
