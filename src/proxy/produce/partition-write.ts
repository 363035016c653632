// One partition of one client Produce request, from the moment it is read until its answer is known. The
// ProduceSession that owns it is the only code that changes it; everything else reads.
import type { BatchView } from '../../../protocol/record-batch.ts';
import type { PartitionProduceResponse } from '../../../protocol/messages/produce-response.ts';
import type { Cluster } from '../../../routing/cluster.ts';
import type { Ticket } from '../../../routing/cutover-barrier.ts';

/**
 * How a partition's write ended, exactly once:
 * - `ok`: the upstream acknowledged it;
 * - `failed`: it certainly was not written (an error answer that means "not appended", or a proxy-side failure
 *   before or instead of sending: no metadata, no leader, corrupt batch, no producer id);
 * - `unknown`: it may have been written (timeout, broken connection after sending, NOT_ENOUGH_REPLICAS_AFTER_APPEND);
 * - `not-sent`: it never left the proxy and never counted as an attempt (turned away by the cutover barrier or
 *   the sequence guard): the client simply resends it.
 */
export type Settlement = 'ok' | 'failed' | 'unknown' | 'not-sent';

const NO_BATCHES: readonly BatchView[] = Object.freeze([]);

export class PartitionWrite {
  readonly topic: string;
  readonly partition: number;
  /** The client's record batches: a slice of its frame, forwarded as is (header fields patched in place). */
  readonly records: Buffer | null;
  /** performance.now() when the request was decoded: where the write's produce latency starts (gates' evidence). */
  readonly startedAt: number;
  /** The batch headers, read once (the only pass over the records). */
  batches: readonly BatchView[] = NO_BATCHES;
  /** Offsets the records take in the log (lastOffsetDelta + 1 per batch): the ledger's last offset. */
  offsetSpan = 0;
  /** Records in the batches, from their headers (metrics). */
  recordCount = 0;
  /** The barrier's admission while the write is in flight; null before admission and once settled. */
  ticket: Ticket | null = null;
  cluster: Cluster | null = null;
  /** Upstream leader broker id on `cluster`. */
  leaderId = -1;
  /** Idempotent batches: the sequence guard's key and the first batch's base sequence. */
  sequenceKey: string | null = null;
  baseSequence = -1;
  /** The answer for the client; set when settled. */
  result: PartitionProduceResponse | null = null;
  settlement: Settlement | null = null;
  /**
   * Set by a concern's settled() when the client's answer must wait (write-back with ackAfterWriteBack: until
   * the source has the copy). The handler answers once every write's promise resolved; the concern may replace
   * `result` before it resolves.
   */
  answerAfter: Promise<void> | null = null;
  /**
   * Code that keeps `records` (or a view of the client's frame, e.g. a BatchView) past the client's answer sets
   * this: write-back's copy queue, the schema sampler's queue. Otherwise the frame's memory is reused for a later
   * request once the answer is written (frame-pool.ts).
   */
  recordsKept = false;

  /** `startedAt`: the request's one timestamp, shared by its partitions (default now). */
  constructor(topic: string, partition: number, records: Buffer | null, startedAt = performance.now()) {
    this.topic = topic;
    this.partition = partition;
    this.records = records;
    this.startedAt = startedAt;
  }

  get settled(): boolean {
    return this.settlement !== null;
  }
}

/** A partition answer with the proxy's own error (no upstream answer to pass on). */
export function partitionAnswer(index: number, errorCode: number, errorMessage: string | null): PartitionProduceResponse {
  return {
    index,
    errorCode,
    baseOffset: -1n,
    logAppendTimeMs: -1n,
    logStartOffset: -1n,
    recordErrors: [],
    errorMessage,
    currentLeader: { leaderId: -1, leaderEpoch: -1 },
  };
}
