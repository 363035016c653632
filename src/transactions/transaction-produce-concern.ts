// Transactional batches on the Produce path (a ProduceConcern, src/proxy/produce/produce-session.ts):
// - refuse, before the barrier: a batch of a producer id kmp did not give out, of a stale epoch, for a partition
//   not added to the open transaction (kmp sees every partition before its data: transaction version 1), or for
//   a topic routed to another cluster than the id's home — each with an abortable error and a message;
// - mapProducer, once admitted: the batch goes to the home under kmp's upstream producer id and epoch, its
//   sequence rebased to the home period (transactional-producer.ts); a batch the barrier sent to another
//   cluster than the home (a forced move in the middle of a transaction) is refused instead.
// Cost: one Map get per partition and a header patch, as for idempotent batches.
import { BatchAttribute, type BatchView, type ProducerFields } from '../../protocol/record-batch.ts';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import type { PartitionWrite } from '../proxy/produce/partition-write.ts';
import type { ProduceConcern, ProducerMapping } from '../proxy/produce/produce-session.ts';
import type { TransactionRouter } from './transaction-router.ts';

type Refusal = { errorCode: number; message: string };

export function transactionProduceConcern(router: TransactionRouter): ProduceConcern {
  const transactional = (w: PartitionWrite): BatchView | null => {
    const first = w.batches[0];
    return first !== undefined && (first.attributes & BatchAttribute.transactional) !== 0 ? first : null;
  };
  const check = (w: PartitionWrite, first: BatchView, cluster: string): Refusal | null => {
    const p = router.byClientProducerId(first.producerId);
    if (p === undefined) return { errorCode: ErrorCode.TRANSACTION_ABORTABLE, message: `kmp: producer id ${first.producerId} was not initialised through kmp with a transactional id` };
    if (first.producerEpoch !== p.clientEpoch) return { errorCode: ErrorCode.INVALID_PRODUCER_EPOCH, message: `kmp: producer epoch ${first.producerEpoch} is not the current one of transactional id "${p.transactionalId}"` };
    if (!p.hasPartition(w.topic, w.partition)) {
      return { errorCode: ErrorCode.TRANSACTION_ABORTABLE, message: `kmp: ${w.topic}-${w.partition} was not added to the transaction of "${p.transactionalId}" (AddPartitionsToTxn first)` };
    }
    if (cluster !== p.home) {
      router.metrics?.crossClusterRefusals.inc({ api: 'Produce' });
      return { errorCode: ErrorCode.TRANSACTION_ABORTABLE, message: `kmp: ${w.topic} is routed to ${cluster} but the transaction of "${p.transactionalId}" runs on ${p.home}; abort the transaction` };
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
      return (b: BatchView): ProducerFields => ({
        producerId: p.upstream.producerId,
        producerEpoch: p.upstream.producerEpoch,
        baseSequence: p.upstreamSequence(w.topic, w.partition, b.baseSequence),
      });
    },
  };
}
