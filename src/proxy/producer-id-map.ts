// Producer ids are only valid in the cluster that issued them, and sequence numbers are per (pid, partition).
// The proxy keeps the client's sequence numbers and maps the client-facing pid per destination (docs/design.md §5):
// - the client-facing pid comes from the default cluster, where it maps to itself (nothing is rewritten on the
//   common path);
// - every other (cluster, generation) gets a fresh upstream pid from that cluster. `generation` changes each time
//   a partition moves onto a cluster, so a partition that comes back never meets the pid it wrote under before
//   (its sequence there is behind the client's and the broker would answer OUT_OF_ORDER_SEQUENCE_NUMBER),
//   while a broker accepts any first sequence from a pid it has never seen on that partition.
import { BoundedMap } from '../../routing/bounded-map.ts';
import type { Cluster } from '../../routing/cluster.ts';

export interface UpstreamProducer {
  producerId: bigint;
  producerEpoch: number;
}

export type AllocatePid = (cluster: Cluster) => Promise<UpstreamProducer>;

export class ProducerIdMap {
  readonly #defaultCluster: Cluster;
  readonly #allocate: AllocatePid;
  readonly #movedBefore: (topic: string) => boolean;
  /** A mapping being allocated is a Promise until it resolves, then the value itself (synchronous hits). */
  #mapped: BoundedMap<string, UpstreamProducer | Promise<UpstreamProducer>>;

  constructor(opts: { defaultCluster: Cluster; allocate: AllocatePid; maxEntries?: number; movedBefore?: (topic: string) => boolean }) {
    this.#defaultCluster = opts.defaultCluster;
    this.#allocate = opts.allocate;
    this.#movedBefore = opts.movedBefore ?? (() => false);
    const max = opts.maxEntries ?? 200_000;
    this.#mapped = new BoundedMap(max);
  }



  /**
   * The upstream (pid, epoch) for a batch of client pid/epoch going to `cluster` at partition `generation`, or
   * null when the batch goes out unchanged (identity on the default cluster before any move; or no pid at all).
   * A topic that moved before this process started (known from the ledger) never uses the identity: its
   * partitions may hold the client's pid at an older sequence.
   */
  lookup(topic: string, client: UpstreamProducer, cluster: Cluster, generation: number): UpstreamProducer | null | Promise<UpstreamProducer> {
    if (client.producerId < 0n) return null;
    if (cluster === this.#defaultCluster && generation === 0 && !this.#movedBefore(topic)) return null;
    const key = `${client.producerId}:${client.producerEpoch}:${cluster}:${generation}`;
    let p = this.#mapped.get(key);
    if (!p) {
      const allocating = this.#allocate(cluster);
      p = allocating;
      this.#mapped.set(key, allocating);
      allocating.then(
        (value) => {
          if (this.#mapped.peek(key) === allocating) this.#mapped.set(key, value);
        },
        // A failed allocation must not stick: the next batch asks again.
        () => {
          if (this.#mapped.peek(key) === allocating) this.#mapped.delete(key);
        },
      );
    }
    return p;
  }

  get size(): number {
    return this.#mapped.size;
  }
}
