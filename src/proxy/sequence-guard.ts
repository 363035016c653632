// Keeps each idempotent producer's batches in sequence order on their way upstream, which a fresh upstream
// producer id (docs/protocol-notes.md §c point 2) would otherwise not guarantee: a broker accepts *any* first sequence from a
// producer id it has never seen on a partition. After a move, if a later batch of the client reached the new
// cluster before an earlier one (the earlier one failed on the old cluster and is being retried, or was turned
// away here), the broker would accept it, the partition would be out of order, and the client's retry of the
// earlier batch would get OUT_OF_ORDER_SEQUENCE_NUMBER — which librdkafka treats as fatal.
//
// Per (client producer id, epoch, topic, partition) the guard keeps `next`: the sequence the next batch must start
// at. A batch that starts *beyond* `next` (an earlier batch is missing) is not forwarded; the client gets a
// retriable error and resends in order. A batch at or before `next` goes (before: a retry, which the broker
// de-duplicates). A batch known not to be written (it failed with a "not written" error, or never left the
// proxy) moves `next` back to its start. Producers the proxy has not seen yet pass freely.
import { BoundedMap } from '../../routing/bounded-map.ts';

interface Progress {
  next: number;
}

/** Sequences are int32 and wrap from Int32.MAX to 0 (Kafka's incrementSequence). */
const SEQ_SPACE = 0x80000000;

function advance(seq: number, by: number): number {
  return (seq + by) % SEQ_SPACE;
}

/** How far `b` is ahead of `a` on the sequence circle, in [0, 2^31). */
function ahead(a: number, b: number): number {
  return (b - a + SEQ_SPACE) % SEQ_SPACE;
}

/** `b` lies beyond `a` (and not so far that it is really a retry from before a wrap-around). */
function isBeyond(a: number, b: number): boolean {
  const d = ahead(a, b);
  return d > 0 && d < SEQ_SPACE / 2;
}

export class SequenceGuard {
  readonly #progress: BoundedMap<string, Progress>;

  constructor(maxEntries = 500_000) {
    this.#progress = new BoundedMap(maxEntries);
  }

  static key(producerId: bigint, epoch: number, topic: string, partition: number): string {
    return `${producerId}:${epoch}:${partition}:${topic}`;
  }

  /** The client producer (id, epoch) of a key: a write's batch header no longer shows it once its pid was mapped. */
  static producerOf(key: string): { producerId: bigint; epoch: number } {
    const [producerId = '-1', epoch = '-1'] = key.split(':', 2);
    return { producerId: BigInt(producerId), epoch: Number(epoch) };
  }

  /**
   * Whether a batch of `records` sequences starting at `baseSequence` may be forwarded now; when it may, it is
   * counted as forwarded. (A retry of a batch the old cluster already wrote, arriving after a move, is let through:
   * that is the documented cross-cluster duplicate, and refusing it would leave the client retrying forever.)
   */
  forward(key: string, baseSequence: number, records: number): boolean {
    if (baseSequence < 0) return true;
    const end = advance(baseSequence, records);
    const p = this.#progress.get(key);
    if (p === undefined) {
      this.#progress.set(key, { next: end });
      return true;
    }
    if (isBeyond(p.next, baseSequence)) return false;
    if (isBeyond(p.next, end)) p.next = end;
    return true;
  }

  /** A forwarded batch was certainly not written: the client will resend it, so it is the next one due. */
  notWritten(key: string, baseSequence: number): void {
    const p = this.#progress.get(key);
    if (p !== undefined && isBeyond(baseSequence, p.next)) p.next = baseSequence;
  }

  /**
   * Forgets every producer: their next batches pass freely, as after a restart. A fleet calls this when
   * partition leadership may have changed (src/fleet/fleet.ts onLeadershipChange): while another instance led a
   * partition, the client's sequences went on through it, and a `next` kept here from before would turn away
   * every batch of that producer once the partition is led here again.
   */
  clear(): void {
    this.#progress.clear();
  }

  /** The sequence the next batch must start at, if known (for tests and diagnostics). */
  next(key: string): number | undefined {
    return this.#progress.get(key)?.next;
  }

  get size(): number {
    return this.#progress.size;
  }
}
