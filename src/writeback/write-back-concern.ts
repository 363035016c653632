// The write-back's seam in the Produce path (a ProduceConcern, src/proxy/produce/produce-session.ts):
// - refuse(): transactional batches in a write-back wave (the copy cannot reproduce a transaction atomically on
//   the source yet: its markers are written by the target's coordinator, not by kmp);
// - settled(): every batch the target acknowledged for a partition of a write-back wave that is on the target and
//   not promoted goes to the partition's copier, placed by its target offset.
// It also finds where a partition's copy starts after a flip: the lowest offset among the first answers from the
// target, i.e. the first answer and those of the writes in flight when it came (a write admitted after an answer
// was sent after it, so it lands higher). The barrier's first-offset watch for the ledger works the same way.
// With ackAfterWriteBack the client's answer waits for the copy (PartitionWrite.answerAfter, read by the handler).
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import type { Cluster, RouteStateName } from '../../routing/cluster.ts';
import type { ProduceConcern } from '../proxy/produce/produce-session.ts';
import { partitionAnswer, type PartitionWrite } from '../proxy/produce/partition-write.ts';
import type { PartitionCopier } from './partition-copier.ts';
import type { WaveWriteBack } from './write-back.ts';

export interface WriteBackConcernOptions {
  readonly resolve: (topic: string) => { readonly state: RouteStateName; readonly cluster: Cluster; readonly batch: string | null };
  readonly waveOf: (batch: string | null) => WaveWriteBack;
  readonly copier: (topic: string, partition: number) => PartitionCopier;
  readonly ackTimeoutMs: number;
}

interface StartWatch {
  min: bigint;
  readonly waiting: Set<PartitionWrite>;
}

export class WriteBackConcern implements ProduceConcern {
  readonly #o: WriteBackConcernOptions;
  /** Writes of write-back waves between refuse() and settled(), per partition (for the start watch). */
  readonly #inFlight = new Map<string, Set<PartitionWrite>>();
  readonly #watches = new Map<string, StartWatch>();

  constructor(options: WriteBackConcernOptions) {
    this.#o = options;
  }

  refuse(w: PartitionWrite): { errorCode: number; message: string } | null {
    const route = this.#o.resolve(w.topic);
    if (route.state === 'promoted' || !this.#o.waveOf(route.batch).writeBack) return null;
    if (w.batches[0]?.isTransactional === true) {
      return {
        errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        message: `kmp: transactional producers are refused in write-back waves (${route.batch ?? 'topic'} "${w.topic}"): the copy to the source cannot reproduce a transaction atomically yet`,
      };
    }
    const k = key(w.topic, w.partition);
    let set = this.#inFlight.get(k);
    if (set === undefined) this.#inFlight.set(k, (set = new Set()));
    set.add(w);
    return null;
  }

  settled(w: PartitionWrite): void {
    const k = key(w.topic, w.partition);
    const set = this.#inFlight.get(k);
    if (set === undefined || !set.delete(w)) return; // not a write-back wave when it arrived
    if (set.size === 0) this.#inFlight.delete(k);
    const acked = w.settlement === 'ok' && w.cluster === 'target' && w.result !== null && w.result.baseOffset >= 0n;
    const watch = this.#watches.get(k);
    if (watch !== undefined && watch.waiting.delete(w) && acked && (w.result as { baseOffset: bigint }).baseOffset < watch.min) {
      watch.min = (w.result as { baseOffset: bigint }).baseOffset;
    }
    if (acked) this.#copy(w, k);
    if (watch !== undefined && watch.waiting.size === 0) {
      this.#watches.delete(k);
      this.#o.copier(w.topic, w.partition).openSegment(watch.min);
    }
  }

  #copy(w: PartitionWrite, k: string): void {
    const route = this.#o.resolve(w.topic);
    if (route.state !== 'target') return; // promoted: write-back stops
    const wave = this.#o.waveOf(route.batch);
    if (!wave.writeBack) return;
    const copier = this.#o.copier(w.topic, w.partition);
    const baseOffset = (w.result as { baseOffset: bigint }).baseOffset;
    if (!copier.open && !this.#watches.has(k)) {
      const waiting = new Set(this.#inFlight.get(k) ?? []);
      if (waiting.size === 0) copier.openSegment(baseOffset);
      else this.#watches.set(k, { min: baseOffset, waiting });
    }
    const now = performance.now();
    let offset = baseOffset;
    const copies: Promise<void>[] = [];
    w.recordsKept = true; // the copier's queue holds views of the client's frame
    for (const b of w.batches) {
      const span = b.lastOffsetDelta + 1;
      // The batch is a slice of the client's frame, already sent to the target: the copy may patch it in place.
      const unit = { targetOffset: offset, span, records: b.recordCount, batch: b.bytes, ackedAt: now } as Parameters<PartitionCopier['enqueue']>[0];
      if (wave.ackAfterWriteBack) copies.push(new Promise<void>((resolve) => (unit.copied = resolve)));
      copier.enqueue(unit);
      offset += BigInt(span);
    }
    if (copies.length > 0) w.answerAfter = this.#bounded(w, Promise.all(copies));
  }

  /** The answer waits for the copy, at most ackTimeoutMs; then the client gets a retriable timeout. */
  #bounded(w: PartitionWrite, copied: Promise<unknown>): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        w.result = partitionAnswer(w.partition, ErrorCode.REQUEST_TIMED_OUT, `kmp: the target has the batch but its copy to the source took over ${this.#o.ackTimeoutMs} ms (ackAfterWriteBack); retry`);
        resolve();
      }, this.#o.ackTimeoutMs);
      void copied.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

function key(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
