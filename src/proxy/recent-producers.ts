// Which idempotent producers wrote each topic recently: the warm-up before a move (warm-up.ts) allocates their
// upstream producer ids on the new cluster ahead of the hold, so the first batch the hold releases does not wait
// for an InitProducerId round trip. Fed by the Produce path as a ProduceConcern through `refuse`, which never
// refuses: it is the hook that runs once per partition write *before* the producer id is rewritten for the
// upstream cluster (BatchView reads the header from the buffer, so after the rewrite it shows the upstream
// pid). It must stay cheap: two Map reads and, for a producer already known, two field writes.
import type { ProduceConcern } from './produce/produce-session.ts';
import type { PartitionWrite } from './produce/partition-write.ts';

export interface RecentProducer {
  /** The client-facing producer id and epoch (as the client's batches carry them). */
  readonly producerId: bigint;
  readonly producerEpoch: number;
}

interface Seen {
  epoch: number;
  at: number;
}

export interface RecentProducersOptions {
  /** Producers per topic kept (the least recently first seen go first). Default 4 096. */
  readonly maxPerTopic?: number;
  /** Topics kept (the first seen go first). Default 20 000. */
  readonly maxTopics?: number;
  /** Monotonic ms. Default performance.now. */
  readonly now?: () => number;
}

export class RecentProducers implements ProduceConcern {
  readonly #topics = new Map<string, Map<bigint, Seen>>();
  readonly #maxPerTopic: number;
  readonly #maxTopics: number;
  readonly #now: () => number;

  constructor(options: RecentProducersOptions = {}) {
    this.#maxPerTopic = options.maxPerTopic ?? 4_096;
    this.#maxTopics = options.maxTopics ?? 20_000;
    this.#now = options.now ?? (() => performance.now());
  }

  refuse(w: PartitionWrite): null {
    const first = w.batches[0];
    if (first !== undefined) {
      const producerId = first.producerId;
      if (producerId >= 0n) this.record(w.topic, producerId, first.producerEpoch);
    }
    return null;
  }

  record(topic: string, producerId: bigint, producerEpoch: number): void {
    let producers = this.#topics.get(topic);
    if (producers === undefined) {
      if (this.#topics.size >= this.#maxTopics) this.#topics.delete(this.#topics.keys().next().value as string);
      producers = new Map();
      this.#topics.set(topic, producers);
    }
    const seen = producers.get(producerId);
    if (seen !== undefined) {
      seen.epoch = producerEpoch;
      seen.at = this.#now();
      return;
    }
    if (producers.size >= this.#maxPerTopic) producers.delete(producers.keys().next().value as bigint);
    producers.set(producerId, { epoch: producerEpoch, at: this.#now() });
  }

  /** Producers that wrote `topic` within the last `withinMs`. */
  of(topic: string, withinMs: number): RecentProducer[] {
    const producers = this.#topics.get(topic);
    if (producers === undefined) return [];
    const since = this.#now() - withinMs;
    const out: RecentProducer[] = [];
    for (const [producerId, seen] of producers) if (seen.at >= since) out.push({ producerId, producerEpoch: seen.epoch });
    return out;
  }
}
