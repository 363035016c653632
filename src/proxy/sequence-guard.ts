// The one ordering hazard a fresh upstream producer id brings (NOTES §c point 2): a broker accepts *any* first
// sequence from a producer id it has never seen on a partition. After a move, if a later batch of the client
// reached the new cluster before an earlier one (say the earlier one failed on the old cluster and is being
// retried, or the first batch on the new cluster failed without being written), the broker would accept it and
// the partition would be out of order — and the client's retry of the earlier batch would then get
// OUT_OF_ORDER_SEQUENCE_NUMBER.
//
// So, per (client producer id, epoch, topic, partition), the guard remembers the last sequence acknowledged and
// the generation it was acknowledged under. Until the first acknowledgement under a new generation, only the
// batch that continues the acknowledged sequence may go out; any other is answered with a retriable error and
// the client resends it in order. Producers the proxy has never seen acknowledged pass freely (nothing to
// continue from), and after the first acknowledgement under a generation the broker's own checks take over.
import { LRUCache } from 'lru-cache';

interface Progress {
  /** Generation the last acknowledgement came under. */
  generation: number;
  /** Next sequence after the last acknowledged batch. */
  nextSequence: number;
}

const INT32_MAX = 0x7fffffff;

export class SequenceGuard {
  readonly #progress: LRUCache<string, Progress>;

  constructor(maxEntries = 500_000) {
    this.#progress = new LRUCache({ max: maxEntries });
  }

  static key(producerId: bigint, epoch: number, topic: string, partition: number): string {
    return `${producerId}:${epoch}:${partition}:${topic}`;
  }

  /** Whether a batch may be forwarded under `generation`. */
  mayForward(key: string, generation: number, baseSequence: number): boolean {
    const p = this.#progress.get(key);
    return p === undefined || p.generation === generation || p.nextSequence === baseSequence;
  }

  /** Records an acknowledged batch (base sequence and its record count). */
  acknowledged(key: string, generation: number, baseSequence: number, records: number): void {
    // Sequences wrap at Int32.MAX to 0 (Kafka's incrementSequence).
    const last = baseSequence + records - 1;
    const next = last >= INT32_MAX ? last - INT32_MAX : last + 1;
    const p = this.#progress.get(key);
    if (p === undefined) this.#progress.set(key, { generation, nextSequence: next });
    else {
      p.generation = generation;
      p.nextSequence = next;
    }
  }

  get size(): number {
    return this.#progress.size;
  }
}
