// The owner of one client Produce request's partitions (Envoy's kafka mesh keeps a ProduceRequestHolder for the
// same reason): it admits each partition through the cutover barrier, finds its upstream leader, guards its
// producer's sequence, maps its producer id, and settles it exactly once. Every per-partition state machine the
// Produce path has (barrier ticket, sequence guard, producer-id map) is advanced here and nowhere else, so a new
// concern (a transaction scope, a write-back copy) plugs in at one seam: ProduceConcern.
//
// Every step is synchronous when nothing is cold (topic not held by a move, metadata cached, producer id mapped):
// a step returns a Promise only when it really has to wait, and the handler awaits only then.
import { rewriteProducer, readBatchHeaders, type BatchView, type ProducerFields } from '../../../protocol/record-batch.ts';
import type { PartitionProduceResponse } from '../../../protocol/messages/produce-response.ts';
import { ErrorCode, isRetriable, mayHaveBeenWritten, isLeadershipError } from '../../../protocol/kafka-errors.ts';
import { isRejection, type Admission } from '../../../routing/cutover-barrier.ts';
import type { ProducerIdentity } from '../../inventory.ts';
import type { TopicMeta } from '../../upstream/cluster-client.ts';
import type { UpstreamProducer } from '../producer-id-map.ts';
import type { ProxyContext } from '../proxy-context.ts';
import { SequenceGuard } from '../sequence-guard.ts';
import { PartitionWrite, partitionAnswer } from './partition-write.ts';

/**
 * A concern of the Produce path beyond routing (transactions, write-back, …). `refuse` runs before the barrier
 * admits a partition; `refuseBeforeSend` again before sending if routing waited; `settled` runs once per
 * partition, right after its settlement.
 */
export interface ProduceConcern {
  refuse?(write: PartitionWrite): { errorCode: number; message: string } | null;
  /**
   * Runs again right before sending, for a write whose routing waited (held by a move, cold metadata, a new
   * producer id): a refusal that depends on time (a fleet lease) may have changed meanwhile. Without side effects.
   */
  refuseBeforeSend?(write: PartitionWrite): { errorCode: number; message: string } | null;
  settled?(write: PartitionWrite): void;
  /**
   * Producer ids of batches this concern owns (transactions): runs once the write is admitted (its cluster known)
   * and its sequence guarded, instead of the idempotent producer-id map. `undefined`: not this concern's batch;
   * a refusal: settle the write as not sent with that error; a mapping: the header fields of each batch.
   */
  mapProducer?(write: PartitionWrite): ProducerMapping | { errorCode: number; message: string } | undefined;
}

/** The upstream header fields for each batch of a write (sequence included when it must be rebased). */
export type ProducerMapping = (batch: BatchView) => ProducerFields;

/** Whether a step left the write routed (true) or settled it (false). */
type Routed = boolean | Promise<boolean>;

export class ProduceSession {
  readonly writes: PartitionWrite[] = [];
  readonly #px: ProxyContext;
  readonly #who: ProducerIdentity | null;
  readonly #concerns: readonly ProduceConcern[];
  #unsettled = 0;
  /** When the request was decoded: every partition's produce latency starts here (one clock read per request). */
  readonly #startedAt = performance.now();

  constructor(px: ProxyContext, who: ProducerIdentity | null) {
    this.#px = px;
    this.#who = who;
    this.#concerns = px.produceConcerns ?? [];
  }

  /** A partition of the client's request, in the client's order. */
  add(topic: string, partition: number, records: Buffer | null): PartitionWrite {
    const w = new PartitionWrite(topic, partition, records, this.#startedAt);
    this.writes.push(w);
    this.#unsettled++;
    return w;
  }

  /** Partitions not settled yet. */
  get unsettled(): number {
    return this.#unsettled;
  }

  /**
   * Takes a partition from the client's bytes to a routed write (admitted, leader known, producer id mapped), or
   * settles it. Synchronous unless the topic is held by a move, its metadata is cold or its producer id is new.
   */
  route(w: PartitionWrite): Routed {
    if (!this.#readHeaders(w)) return false;
    for (const c of this.#concerns) {
      const refusal = c.refuse?.(w);
      if (refusal) {
        this.#settle(w, 'not-sent', partitionAnswer(w.partition, refusal.errorCode, refusal.message));
        return false;
      }
    }
    const admission = this.#px.router.admit(w.topic, w.partition);
    return admission instanceof Promise ? admission.then((a) => this.#admitted(w, a)) : this.#admitted(w, admission);
  }

  /**
   * Asks the concerns again, right before sending, for every write still routed: called only when a step waited
   * (a held admission released by a move, cold metadata, a producer-id allocation), since the answer may have
   * changed meanwhile — a fleet instance may have lost its lease while the write was held (leadership-concern.ts),
   * and the others may have counted it gone and moved the partition. A refused write was not sent (no attempt).
   */
  refuseLate(): void {
    for (const w of this.writes) {
      if (w.settlement !== null || w.ticket === null) continue;
      for (const c of this.#concerns) {
        const refusal = c.refuseBeforeSend?.(w);
        if (refusal) {
          this.settleNotSent(w, refusal.errorCode, refusal.message);
          break;
        }
      }
    }
  }

  // ── settlements: the only places a write's ticket, sequence and result change ──────────────────────────────────

  /** The upstream acknowledged the write. `answer` is its partition answer (KIP-951 leader hints already stripped). */
  settleOk(w: PartitionWrite, answer: PartitionProduceResponse): void {
    const ticket = w.ticket;
    w.ticket = null;
    if (ticket !== null) {
      const lastOffset = w.offsetSpan > 0 && answer.baseOffset >= 0n ? answer.baseOffset + BigInt(w.offsetSpan - 1) : undefined;
      this.#px.router.complete(ticket, lastOffset === undefined ? { ok: true, baseOffset: answer.baseOffset } : { ok: true, baseOffset: answer.baseOffset, lastOffset });
    }
    this.#settle(w, 'ok', answer);
  }

  /** The upstream answered the partition with an error (passed on to the client). */
  settleUpstreamError(w: PartitionWrite, answer: PartitionProduceResponse): void {
    if (isLeadershipError(answer.errorCode)) this.#px.clusters[w.cluster!].refreshSoon(w.topic);
    this.#fail(w, mayHaveBeenWritten(answer.errorCode) ? 'unknown' : 'failed', answer);
  }

  /** The write failed without an upstream answer for it; `maybeWritten` when it may have reached the broker. */
  settleFailed(w: PartitionWrite, errorCode: number, message: string | null, maybeWritten = false): void {
    this.#fail(w, maybeWritten ? 'unknown' : 'failed', partitionAnswer(w.partition, errorCode, message));
  }

  /** The write was never sent and counts as no attempt (the client resends it). */
  settleNotSent(w: PartitionWrite, errorCode: number, message: string): void {
    const ticket = w.ticket;
    w.ticket = null;
    if (ticket !== null) this.#px.router.abandon(ticket);
    if (w.sequenceKey !== null) this.#px.sequences.notWritten(w.sequenceKey, w.baseSequence);
    this.#settle(w, 'not-sent', partitionAnswer(w.partition, errorCode, message));
  }

  #fail(w: PartitionWrite, how: 'failed' | 'unknown', answer: PartitionProduceResponse): void {
    if (how === 'failed' && w.sequenceKey !== null) this.#px.sequences.notWritten(w.sequenceKey, w.baseSequence);
    const ticket = w.ticket;
    w.ticket = null;
    const code = answer.errorCode;
    if (ticket !== null) this.#px.router.complete(ticket, { ok: false, retriable: isRetriable(code), errorCode: code, written: how === 'unknown' ? 'unknown' : 'no' });
    this.#settle(w, how, answer);
  }

  #settle(w: PartitionWrite, how: PartitionWrite['settlement'] & string, answer: PartitionProduceResponse): void {
    if (w.settlement !== null) throw new Error(`kmp: ${w.topic}-${w.partition} settled twice (${w.settlement}, then ${how})`);
    w.settlement = how;
    w.result = answer;
    this.#unsettled--;
    for (const c of this.#concerns) c.settled?.(w);
  }

  // ── routing steps ──────────────────────────────────────────────────────────────────────────────────────────────

  /** The one pass over the records: batch headers only, whole blob checked before anything is patched. */
  #readHeaders(w: PartitionWrite): boolean {
    if (w.records === null || w.records.length === 0) return true;
    const read = readBatchHeaders(w.records);
    if (typeof read === 'string') {
      this.settleFailed(w, read === 'legacy' ? ErrorCode.INVALID_RECORD : ErrorCode.CORRUPT_MESSAGE,
        read === 'legacy' ? 'only record batches of format v2 (magic 2) are accepted' : `malformed record batch: ${read}`);
      return false;
    }
    w.batches = read;
    let span = 0;
    let count = 0;
    for (const b of read) {
      span += b.lastOffsetDelta + 1;
      count += b.recordCount;
    }
    w.offsetSpan = span;
    w.recordCount = count;
    return true;
  }

  #admitted(w: PartitionWrite, admission: Admission): Routed {
    if (isRejection(admission)) {
      this.#settle(w, 'not-sent', partitionAnswer(w.partition, admission.errorCode, `kmp: partition is moving between clusters (${admission.reason}), retry`));
      return false;
    }
    w.ticket = admission;
    w.cluster = admission.cluster;
    if (this.#who !== null && w.records !== null && this.#px.inventory?.observe(this.#who, w.topic, admission.cluster, w.batches, w.records) === true) {
      w.recordsKept = true; // a batch was queued for schema sampling
    }
    const client = this.#px.clusters[admission.cluster];
    const cached = client.cachedTopic(w.topic);
    if (cached !== undefined) return this.#located(w, cached);
    return client.topic(w.topic).then(
      (meta) => this.#located(w, meta),
      (err: unknown) => {
        // The routed cluster could not be asked (e.g. unreachable while its metadata expired): a retriable error
        // for this partition, and its ticket is settled so a cutover never waits for it.
        client.refreshSoon(w.topic);
        this.settleFailed(w, ErrorCode.LEADER_NOT_AVAILABLE, `kmp: ${admission.cluster} cluster unavailable: ${err instanceof Error ? err.message : String(err)}`);
        return false;
      },
    );
  }

  #located(w: PartitionWrite, meta: TopicMeta): Routed {
    if (meta.errorCode !== ErrorCode.NONE) {
      this.settleFailed(w, meta.errorCode, null);
      return false;
    }
    const pm = meta.partitions[w.partition];
    if (pm === undefined || pm.partition !== w.partition) {
      this.settleFailed(w, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, null);
      return false;
    }
    if (pm.leaderId < 0) {
      this.#px.clusters[w.cluster!].refreshSoon(w.topic);
      this.settleFailed(w, ErrorCode.LEADER_NOT_AVAILABLE, null);
      return false;
    }
    w.leaderId = pm.leaderId;
    const first = w.batches[0];
    if (first === undefined || first.producerId < 0n) return true;
    return this.#guarded(w, first);
  }

  #guarded(w: PartitionWrite, first: BatchView): Routed {
    const key = SequenceGuard.key(first.producerId, first.producerEpoch, w.topic, w.partition);
    if (!this.#px.sequences.forward(key, first.baseSequence, w.offsetSpan)) {
      // An earlier batch of this producer is missing (it failed, or was turned away here): forwarding this one
      // could put the partition out of order on a fresh upstream producer id (see sequence-guard.ts). The client
      // resends it after the earlier ones.
      this.settleNotSent(w, ErrorCode.NOT_LEADER_OR_FOLLOWER, 'kmp: an earlier batch is missing; resend in sequence order');
      return false;
    }
    w.sequenceKey = key;
    w.baseSequence = first.baseSequence;
    for (const c of this.#concerns) {
      const own = c.mapProducer?.(w);
      if (own === undefined) continue;
      if (typeof own !== 'function') {
        this.settleNotSent(w, own.errorCode, own.message);
        return false;
      }
      for (const b of w.batches) rewriteProducer(w.records!, b.offset, own(b));
      return true;
    }
    let mapped: UpstreamProducer | null | Promise<UpstreamProducer>;
    try {
      mapped = this.#px.producerIds.lookup(w.topic, { producerId: first.producerId, producerEpoch: first.producerEpoch }, w.cluster!, w.ticket!.generation);
    } catch (err) {
      return this.#noProducerId(w, err);
    }
    if (mapped instanceof Promise) return mapped.then((m) => this.#rewrite(w, m), (err: unknown) => this.#noProducerId(w, err));
    return this.#rewrite(w, mapped);
  }

  #rewrite(w: PartitionWrite, mapped: UpstreamProducer | null): true {
    // Safe to patch in place: the frame is ours (read from the client socket) and is not used after this.
    if (mapped !== null) for (const b of w.batches) rewriteProducer(w.records!, b.offset, mapped);
    return true;
  }

  #noProducerId(w: PartitionWrite, err: unknown): false {
    this.settleFailed(w, ErrorCode.LEADER_NOT_AVAILABLE, `could not get a producer id from ${w.cluster}: ${String(err)}`);
    return false;
  }
}
