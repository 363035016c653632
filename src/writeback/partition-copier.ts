// Write-back of one partition: copies every batch the target holds from the segment start on into the SAME
// partition of the source, in the target's offset order, exactly once.
//
// - Fast path: the data path hands over each batch the target acknowledged (its bytes are a slice of the
//   client's frame; frames are not pooled, so holding the slice until the copy is written is safe). Batches are
//   queued by target offset, so acknowledgements that arrive out of order (several client connections writing
//   one partition) are still copied in the target's order.
// - Gaps: a target offset nobody handed over (a write whose answer was lost, a writer that bypassed kmp, the tail
//   after a restart) is read back from the target with Fetch (baseOffset and partitionLeaderEpoch lie outside the
//   batch CRC; control batches are skipped) once it has been missing for `gapWaitMs`.
// - Exactly once: every copy is written under kmp's own idempotent producer id for this partition with
//   sequence numbers kmp keeps continuous (the batch header's producerId, epoch and baseSequence are rewritten and
//   the CRC patched). Up to `maxInFlight` (≤ 5, the idempotent producer's rule: the broker remembers the last 5
//   batches of a producer for de-duplication) copies of the fast path are in flight per partition, on one
//   connection, in target order; the progress advances only as their answers arrive, in order. A failure
//   abandons the pipeline: its copies go back to the queue and the copier reconciles before sending again.
//   After a restart or such a failure, DescribeProducers on the source gives the last sequence that landed;
//   copies that landed but were not confirmed or persisted are found by scanning the source for kmp's producer
//   id and paired with the target's batches in order (reconcile()).
import { BatchOffset, rewriteProducer, splitBatches } from '../../protocol/record-batch.ts';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import type { Logger } from 'pino';
import type { SyncEntry, SyncMap, WriteBackProgress, WriteBackUpdate } from '../../routing/sync-map.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';
import { PartitionIoError, describeProducer, fetchFrom, logEndOffset, produceBatch } from './partition-io.ts';
import { SEQUENCE_LIMIT, landedCopies } from './landed-copies.ts';

/** One batch the target acknowledged, waiting to be copied. */
export interface CopyUnit {
  readonly targetOffset: bigint;
  /** Offsets it takes (lastOffsetDelta + 1). */
  readonly span: number;
  readonly records: number;
  /** Exactly one batch; its header is rewritten in place when it is copied. */
  readonly batch: Buffer;
  /** performance.now() when the target acknowledged it (lag in seconds). */
  readonly ackedAt: number;
  /** Called once the source has the copy (ackAfterWriteBack). */
  copied?: () => void;
}

export interface CopierDeps {
  readonly source: ClusterClient;
  readonly target: ClusterClient;
  readonly syncMap: SyncMap;
  /** Queue an update for the next group commit (the copy does not wait for the disk). */
  readonly persist: (update: WriteBackUpdate) => void;
  /** Write an update now (a new producer id must be durable before anything is written under it). */
  readonly persistNow: (update: WriteBackUpdate) => Promise<void>;
  readonly log: Logger;
  readonly onCopied: (topic: string, records: number, bytes: number) => void;
  readonly onError: (topic: string) => void;
  readonly gapWaitMs: number;
  readonly retryMs: number;
  readonly fetchMaxBytes: number;
  readonly produceTimeoutMs: number;
  /** Copies in flight per partition on the fast path (1..5). */
  readonly maxInFlight: number;
}

/** A copy sent to the source whose answer has not been taken yet. */
interface InFlightCopy {
  readonly unit: CopyUnit;
  readonly answer: Promise<bigint>;
}

/** Errors that mean kmp's idea of its producer's sequence is not the broker's: reconcile before the next copy. */
const SEQUENCE_ERRORS: ReadonlySet<number> = new Set([ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, ErrorCode.UNKNOWN_PRODUCER_ID, ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.DUPLICATE_SEQUENCE_NUMBER]);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

export class PartitionCopier {
  readonly topic: string;
  readonly partition: number;
  readonly #d: CopierDeps;
  readonly #lane: number;
  #progress: WriteBackProgress | null;
  /** Segment start learned before the producer exists (the first copy creates it). */
  #pendingStart: bigint | null = null;
  #reconciled = false;
  readonly #queue: CopyUnit[] = [];
  /** Sent, in target order, contiguous from the progress's nextTargetOffset. */
  readonly #inFlight: InFlightCopy[] = [];
  #deepest = 1;
  /** Highest target offset + 1 known to exist (acknowledged, or the log end read from the target). */
  #knownEnd = -1n;
  #running = false;
  #stopped = false;
  #gapSince = 0;
  #lagSince = 0;
  lastError: string | null = null;

  constructor(topic: string, partition: number, deps: CopierDeps, lane: number) {
    this.topic = topic;
    this.partition = partition;
    this.#d = deps;
    this.#lane = lane;
    this.#progress = deps.syncMap.progress(topic, partition);
  }

  get ref(): { topic: string; partition: number } {
    return { topic: this.topic, partition: this.partition };
  }

  /** A segment is open: the partition is on the target and its copy runs. */
  get open(): boolean {
    return this.#pendingStart !== null || (this.#progress !== null && this.#progress.segmentStart !== null);
  }

  get progress(): WriteBackProgress | null {
    return this.#progress;
  }

  /** Records the target holds that the source has not got yet (0 when no segment is open). */
  get lagRecords(): number {
    if (!this.open) return 0;
    const next = this.#progress?.segmentStart != null ? this.#progress.nextTargetOffset : (this.#pendingStart ?? 0n);
    const lag = this.#knownEnd - next;
    return lag > 0n ? Number(lag) : 0;
  }

  /** Seconds since the oldest record not copied yet was acknowledged by the target. */
  get lagSeconds(): number {
    if (this.lagRecords === 0) return 0;
    const oldest = this.#inFlight[0]?.unit.ackedAt ?? this.#queue[0]?.ackedAt ?? this.#lagSince;
    return oldest > 0 ? (performance.now() - oldest) / 1000 : 0;
  }

  /** The partition moved to the target; its copy starts at `targetOffset`. */
  openSegment(targetOffset: bigint): void {
    const p = this.#progress;
    if (p !== null && p.segmentStart !== null) return;
    if (p === null) this.#pendingStart = targetOffset;
    else this.#update({ ...p, segmentStart: targetOffset, nextTargetOffset: targetOffset > p.nextTargetOffset ? targetOffset : p.nextTargetOffset }, []);
    this.#raiseEnd(targetOffset);
    this.kick();
  }

  /** The partition moved back to the source (after the rollback's drain copied everything). */
  closeSegment(): void {
    const p = this.#progress;
    this.#pendingStart = null;
    if (p !== null && p.segmentStart !== null) this.#update({ ...p, segmentStart: null }, []);
  }

  /** A batch the target acknowledged. */
  enqueue(unit: CopyUnit): void {
    const p = this.#progress;
    if (p !== null && p.segmentStart !== null && unit.targetOffset + BigInt(unit.span) <= p.nextTargetOffset) {
      unit.copied?.(); // a retry the target de-duplicated: its first copy is already on the source
      return;
    }
    let i = this.#queue.length;
    while (i > 0 && this.#queue[i - 1].targetOffset > unit.targetOffset) i--;
    if (this.#queue[i - 1]?.targetOffset === unit.targetOffset) {
      const prev = this.#queue[i - 1].copied;
      const mine = unit.copied;
      this.#queue[i - 1].copied = () => (prev?.(), mine?.());
    } else this.#queue.splice(i, 0, unit);
    this.#raiseEnd(unit.targetOffset + BigInt(unit.span));
    this.kick();
  }

  /** Learns the target's log end (the rollback drain and the restart path ask), then copies up to it. */
  async refreshEnd(): Promise<void> {
    if (!this.open) return;
    this.#raiseEnd(await logEndOffset(this.#d.target, this.ref, this.#lane));
    this.kick();
  }

  stop(): void {
    this.#stopped = true;
  }

  kick(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    void this.#run().finally(() => {
      this.#running = false;
      // A batch acknowledged between the loop's last look and this callback found #running still set, so its
      // kick() did nothing: without this it would wait for the next acknowledgement (forever, if none comes).
      if (this.lagRecords > 0) this.kick();
    });
  }

  #raiseEnd(end: bigint): void {
    if (end > this.#knownEnd) {
      if (this.lagRecords === 0) this.#lagSince = performance.now();
      this.#knownEnd = end;
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopped && this.open) {
      try {
        if (!this.#reconciled) await this.#reconcile();
        if (!(await this.#step())) {
          this.lastError = null;
          return;
        }
      } catch (error) {
        this.lastError = error instanceof Error ? error.message : String(error);
        this.#d.onError(this.topic);
        this.#d.log.warn({ topic: this.topic, partition: this.partition, err: this.lastError }, 'write-back: copy failed, retrying');
        if (error instanceof PartitionIoError && SEQUENCE_ERRORS.has(error.errorCode)) this.#reconciled = false;
        await sleep(this.#d.retryMs);
      }
    }
  }

  /** One copy confirmed (or a skip, or a gap read); false when there is nothing to do now. */
  async #step(): Promise<boolean> {
    const p = this.#progress as WriteBackProgress;
    const next = p.nextTargetOffset;
    if (this.#inFlight.length === 0) {
      while (this.#queue.length > 0 && this.#queue[0].targetOffset < next) {
        const done = this.#queue.shift() as CopyUnit;
        done.copied?.(); // copied already (by the recovery path, or it is a de-duplicated retry)
      }
    }
    this.#fillPipeline(p);
    if (this.#inFlight.length > 0) {
      this.#gapSince = 0;
      await this.#confirmOldest();
      return true;
    }
    const head = this.#queue[0];
    if (this.#knownEnd <= next) return false;
    // A gap: a target offset nobody handed over yet. Another connection's answer may still be on its way.
    const now = performance.now();
    if (this.#gapSince === 0) this.#gapSince = now;
    if (now - this.#gapSince < this.#d.gapWaitMs && head !== undefined) {
      await sleep(this.#d.gapWaitMs - (now - this.#gapSince));
      return true;
    }
    this.#gapSince = 0;
    await this.#fill(next, head?.targetOffset ?? this.#knownEnd);
    return true;
  }

  /** Copies target batches from `from` up to `until` (exclusive) by reading them back from the target. */
  async #fill(from: bigint, until: bigint): Promise<void> {
    const fetched = await fetchFrom(this.#d.target, this.ref, from, this.#d.fetchMaxBytes, this.#lane);
    if (fetched.logStartOffset > from) {
      // Retention (or a truncation) removed records before they were copied: they can never reach the source.
      this.#d.onError(this.topic);
      this.#d.log.error({ topic: this.topic, partition: this.partition, from: String(from), logStart: String(fetched.logStartOffset) }, 'write-back: the target deleted records before they were copied to the source (retention?); skipping them');
      this.#skipTo(fetched.logStartOffset);
      return;
    }
    if (fetched.highWatermark > this.#knownEnd) this.#raiseEnd(fetched.highWatermark);
    if (fetched.records === null || fetched.records.length === 0) {
      if (fetched.highWatermark <= from) this.#knownEnd = from; // nothing there (yet): what was known is not on the log
      return;
    }
    for (const b of splitBatches(fetched.records)) {
      if (b.kind !== 'batch') throw new PartitionIoError(`${this.topic}[${this.partition}]: the target returned a legacy message set`, ErrorCode.CORRUPT_MESSAGE);
      const span = b.lastOffsetDelta + 1;
      const base = b.baseOffset;
      const cur = (this.#progress as WriteBackProgress).nextTargetOffset;
      if (base + BigInt(span) <= cur) continue;
      if (base >= until) return;
      if (base !== cur) throw new PartitionIoError(`${this.topic}[${this.partition}]: target batch at ${base} does not start at the next offset to copy (${cur})`, ErrorCode.CORRUPT_MESSAGE);
      if (b.isControl) {
        this.#skipTo(base + BigInt(span)); // transaction markers are not data; the source writes its own
        continue;
      }
      await this.#copy(b.bytes, base, span, b.recordCount);
    }
  }

  #skipTo(targetOffset: bigint): void {
    const p = this.#progress as WriteBackProgress;
    if (targetOffset > p.nextTargetOffset) this.#update({ ...p, nextTargetOffset: targetOffset }, []);
  }

  /**
   * Sends queued batches that continue the in-flight run (the first one continues nextTargetOffset), each with
   * the sequence that follows the previous one, up to maxInFlight. Nothing is confirmed here.
   */
  #fillPipeline(p: WriteBackProgress): void {
    let cursor = p.nextTargetOffset;
    let sequence = p.nextSequence;
    for (const f of this.#inFlight) {
      cursor += BigInt(f.unit.span);
      sequence = (sequence + f.unit.span) % SEQUENCE_LIMIT;
    }
    while (this.#inFlight.length < this.#d.maxInFlight && this.#queue[0]?.targetOffset === cursor) {
      const unit = this.#queue.shift() as CopyUnit;
      rewriteProducer(unit.batch, 0, { producerId: p.producerId, producerEpoch: p.producerEpoch, baseSequence: sequence });
      // One lane, so one connection: the broker handles its requests in the order they were sent.
      const answer = produceBatch(this.#d.source, this.ref, unit.batch, this.#lane, this.#d.produceTimeoutMs);
      answer.catch(() => undefined); // taken in order by #confirmOldest; a later one may fail before it is awaited
      this.#inFlight.push({ unit, answer });
      cursor += BigInt(unit.span);
      sequence = (sequence + unit.span) % SEQUENCE_LIMIT;
    }
    if (this.#inFlight.length > this.#deepest) {
      this.#deepest = this.#inFlight.length;
      this.#d.log.debug({ topic: this.topic, partition: this.partition, depth: this.#deepest }, 'write-back: copies pipelined');
    }
  }

  /** Takes the oldest in-flight copy's answer: advances the progress, or abandons the whole pipeline. */
  async #confirmOldest(): Promise<void> {
    const first = this.#inFlight[0];
    let sourceOffset: bigint;
    try {
      sourceOffset = await first.answer;
    } catch (error) {
      // The later copies carry sequences that follow this one: they fail too, or landed after it (if it landed
      // although its answer was lost). Wait for all of them, put them back in order, and let reconcile() find
      // what is on the source before anything is sent again.
      const abandoned = this.#inFlight.splice(0);
      await Promise.allSettled(abandoned.map((f) => f.answer));
      this.#queue.unshift(...abandoned.map((f) => f.unit));
      this.#reconciled = false;
      throw error;
    }
    this.#inFlight.shift();
    const p = this.#progress as WriteBackProgress;
    const { unit } = first;
    this.#advance(p, sourceOffset, unit.targetOffset, unit.span);
    this.#d.onCopied(this.topic, unit.records, unit.batch.length);
    unit.copied?.();
  }

  #advance(p: WriteBackProgress, sourceOffset: bigint, targetOffset: bigint, span: number): void {
    const entry: SyncEntry = { sourceOffset, targetOffset, count: span };
    this.#update({ ...p, nextSequence: (p.nextSequence + span) % SEQUENCE_LIMIT, nextTargetOffset: targetOffset + BigInt(span), nextSourceOffset: sourceOffset + BigInt(span) }, [entry]);
  }

  /** Writes one batch to the source under kmp's producer; advances the progress and the sync map. */
  async #copy(batch: Buffer, targetOffset: bigint, span: number, records: number): Promise<void> {
    const p = this.#progress as WriteBackProgress;
    // A batch read back from the target carries its target offset and leader epoch. Kafka refuses a client
    // append whose baseOffset is not 0 (INVALID_RECORD, every retry alike: the copy would never get past it);
    // both fields lie outside the CRC, so resetting them needs no CRC patch.
    batch.writeBigInt64BE(0n, BatchOffset.baseOffset);
    batch.writeInt32BE(-1, BatchOffset.partitionLeaderEpoch);
    rewriteProducer(batch, 0, { producerId: p.producerId, producerEpoch: p.producerEpoch, baseSequence: p.nextSequence });
    const sourceOffset = await produceBatch(this.#d.source, this.ref, batch, this.#lane, this.#d.produceTimeoutMs);
    this.#advance(p, sourceOffset, targetOffset, span);
    this.#d.onCopied(this.topic, records, batch.length);
  }

  #update(progress: WriteBackProgress, entries: readonly SyncEntry[]): void {
    this.#progress = progress;
    const update = { progress, entries };
    this.#d.syncMap.apply(update);
    this.#d.persist(update);
  }

  /** Makes kmp's producer state agree with the source's (see the header); learns the target's log end. */
  async #reconcile(): Promise<void> {
    const d = this.#d;
    let p = this.#progress;
    if (p === null || (this.#pendingStart !== null && p.segmentStart === null)) {
      const start = this.#pendingStart as bigint;
      const pid = await d.source.initProducerId();
      const sourceEnd = await logEndOffset(d.source, this.ref, this.#lane);
      p = { topic: this.topic, partition: this.partition, producerId: pid.producerId, producerEpoch: pid.producerEpoch, nextSequence: 0, nextTargetOffset: start, nextSourceOffset: sourceEnd, segmentStart: start };
      const update = { progress: p, entries: [] };
      await d.persistNow(update);
      this.#progress = p;
      d.syncMap.apply(update);
      this.#pendingStart = null;
    } else {
      const state = await describeProducer(d.source, this.ref, p.producerId, this.#lane);
      const expectedLast = p.nextSequence === 0 ? -1 : p.nextSequence - 1;
      if (state === null && p.nextSequence > 0) {
        // The broker forgot kmp's producer (producer.id.expiration.ms, default 1 day without writes): start a new one.
        const pid = await d.source.initProducerId();
        d.log.warn({ topic: this.topic, partition: this.partition, producerId: String(p.producerId) }, 'write-back: the source no longer knows the write-back producer; using a new one');
        p = { ...p, producerId: pid.producerId, producerEpoch: pid.producerEpoch, nextSequence: 0 };
        const update = { progress: p, entries: [] };
        await d.persistNow(update);
        this.#progress = p;
        d.syncMap.apply(update);
      } else if (state !== null && state.lastSequence !== expectedLast) {
        await this.#recoverLanded(p, state.lastSequence);
      }
      d.log.info({ topic: this.topic, partition: this.partition, producerId: String(this.#progress!.producerId), lastSequence: state?.lastSequence ?? -1, nextTargetOffset: String(this.#progress!.nextTargetOffset) }, 'write-back: resumed (DescribeProducers on the source)');
    }
    this.#reconciled = true;
    this.#raiseEnd(await logEndOffset(d.target, this.ref, this.#lane));
  }

  /** Adopts the copies that landed on the source beyond kmp's progress (landed-copies.ts). */
  async #recoverLanded(p: WriteBackProgress, lastSequence: number): Promise<void> {
    const d = this.#d;
    const updates = await landedCopies({ source: d.source, target: d.target, ref: this.ref, lane: this.#lane, fetchMaxBytes: d.fetchMaxBytes }, p, lastSequence);
    // All or nothing: a scan that failed half-way is simply done again by the next reconcile().
    for (const update of updates) {
      d.syncMap.apply(update);
      d.persist(update);
    }
    this.#progress = updates.at(-1)?.progress ?? p;
    d.log.info({ topic: this.topic, partition: this.partition, recovered: updates.length, lastSequence }, 'write-back: found copies that landed before the restart');
  }
}
