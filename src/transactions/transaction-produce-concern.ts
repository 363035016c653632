// Transactional batches on the Produce path (a ProduceConcern, src/proxy/produce/produce-session.ts):
// - refuse, before the barrier: a batch of a producer id kmp did not give out, of a stale epoch, for a partition
//   not added to the open transaction (kmp sees every partition before its data: transaction version 1), or for
//   a topic routed to another cluster than the id's home — each with an abortable error and a message;
// - mapProducer, once admitted: the batch goes to the home under kmp's upstream producer id and epoch, its
//   sequence rebased to the home period (transactional-producer.ts); a batch the barrier sent to another
//   cluster than the home (a forced move in the middle of a transaction) is refused instead.
//
// In a fleet the batch reaches the partition's leader, which is often not the id's owner: its view of the id comes
// from the control topic and may lag the owner's by a few milliseconds (the owner writes before it answers, the
// others read the log). So a non-authoritative view refuses only what is certain (an older epoch: fenced) and
// answers what may be lag — an unknown producer id, a newer epoch, a home that disagrees with the route, a
// sequence base not agreed yet — with a retriable NOT_ENOUGH_REPLICAS; the client resends after its backoff.
// Lag lasts milliseconds: a disagreement that persists past STALE_GRACE_MS is real and gets the abortable error.
// The partitions of the open transaction are checked only by an authoritative view (the home's broker verifies
// them too).
// Cost: one Map get per partition and a header patch, as for idempotent batches.
import { BatchAttribute, type BatchView, type ProducerFields } from '../../protocol/record-batch.ts';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import type { PartitionWrite } from '../proxy/produce/partition-write.ts';
import type { ProduceConcern, ProducerMapping } from '../proxy/produce/produce-session.ts';
import type { TransactionRouter } from './transaction-router.ts';
import { TransactionalProducer } from './transactional-producer.ts';

type Refusal = { errorCode: number; message: string };

/** How long a fleet member treats a disagreement with the route as lag of the shared state. */
export const STALE_GRACE_MS = 3_000;

export function transactionProduceConcern(router: TransactionRouter, now: () => number = () => performance.now()): ProduceConcern {
  /** First retriable refusal per (pid, partition) for a disagreement that may be lag; bounded by STALE_GRACE_MS. */
  const lagging = new Map<string, number>();
  const transactional = (w: PartitionWrite): BatchView | null => {
    const first = w.batches[0];
    return first !== undefined && (first.attributes & BatchAttribute.transactional) !== 0 ? first : null;
  };
  /** A refusal that may be lag: retriable within the grace, then `final`. */
  const maybeLag = (w: PartitionWrite, first: BatchView, message: string, final: Refusal): Refusal => {
    const key = `${first.producerId}/${w.topic}/${w.partition}`;
    const since = lagging.get(key);
    const t = now();
    if (since === undefined) {
      if (lagging.size > 10_000) lagging.clear();
      lagging.set(key, t);
    } else if (t - since > STALE_GRACE_MS) {
      lagging.delete(key);
      return final;
    }
    return { errorCode: ErrorCode.NOT_ENOUGH_REPLICAS, message: `kmp: ${message}; retry` };
  };
  const check = (w: PartitionWrite, first: BatchView, cluster: string): Refusal | null => {
    const p = router.byClientProducerId(first.producerId);
    const unknown: Refusal = { errorCode: ErrorCode.TRANSACTION_ABORTABLE, message: `kmp: producer id ${first.producerId} was not initialised through kmp with a transactional id` };
    if (p === undefined) return router.ownership.shared ? maybeLag(w, first, `producer id ${first.producerId} not known here yet`, unknown) : unknown;
    const authoritative = router.authoritative(p);
    if (first.producerEpoch !== p.clientEpoch) {
      const fenced: Refusal = { errorCode: ErrorCode.INVALID_PRODUCER_EPOCH, message: `kmp: producer epoch ${first.producerEpoch} is not the current one of transactional id "${p.transactionalId}"` };
      if (authoritative || first.producerEpoch < p.clientEpoch) return fenced;
      return maybeLag(w, first, `epoch ${first.producerEpoch} of "${p.transactionalId}" not known here yet`, fenced);
    }
    if (p.abortRequested !== null) return { errorCode: ErrorCode.TRANSACTION_ABORTABLE, message: `kmp: ${p.abortRequested}` };
    if (authoritative && !p.hasPartition(w.topic, w.partition)) {
      return { errorCode: ErrorCode.TRANSACTION_ABORTABLE, message: `kmp: ${w.topic}-${w.partition} was not added to the transaction of "${p.transactionalId}" (AddPartitionsToTxn first)` };
    }
    if (cluster !== p.home) {
      const split: Refusal = { errorCode: ErrorCode.TRANSACTION_ABORTABLE, message: `kmp: ${w.topic} is routed to ${cluster} but the transaction of "${p.transactionalId}" runs on ${p.home}; abort the transaction` };
      const refusal = authoritative ? split : maybeLag(w, first, `the home of "${p.transactionalId}" (${p.home}) and the route of ${w.topic} (${cluster}) disagree here`, split);
      if (refusal.errorCode !== ErrorCode.NOT_ENOUGH_REPLICAS) router.metrics?.crossClusterRefusals.inc({ api: 'Produce' });
      return refusal;
    }
    return null;
  };
  return {
    refuse(w) {
      const first = transactional(w);
      return first === null ? null : check(w, first, router.clusterOf(w.topic));
    },
    mapProducer(w): ProducerMapping | Refusal | undefined {
      const first = transactional(w);
      if (first === null) return undefined;
      const refusal = check(w, first, w.cluster!);
      if (refusal !== null) return refusal;
      const p = router.byClientProducerId(first.producerId)!;
      const base = router.sequenceBase(p, w.topic, w.partition, first.baseSequence);
      if (base === null) return { errorCode: ErrorCode.NOT_ENOUGH_REPLICAS, message: `kmp: agreeing on the sequence base of ${w.topic}-${w.partition} for "${p.transactionalId}" with the fleet; retry` };
      if (lagging.size > 0) lagging.delete(`${first.producerId}/${w.topic}/${w.partition}`);
      return (b: BatchView): ProducerFields => ({
        producerId: p.upstream.producerId,
        producerEpoch: p.upstream.producerEpoch,
        baseSequence: TransactionalProducer.rebase(b.baseSequence, base),
      });
    },
  };
}
