// Producer ids are only valid in the cluster that issued them, and sequence numbers are per (pid, partition).
// The proxy keeps the client's sequence numbers and maps the client-facing pid per destination (docs/design.md §5):
// - the client-facing pid comes from whichever cluster could issue it (the default cluster first; the other one
//   while the default is down, so that new producers can start as long as one cluster is up). On its issuing
//   cluster it maps to the same upstream pid, so nothing but (at most) the marker below is rewritten there;
// - every other (cluster, generation) gets a fresh upstream pid from that cluster. `generation` changes each time
//   a partition moves onto a cluster, so a partition that comes back never meets the pid it wrote under before
//   (its sequence there is behind the client's and the broker would answer OUT_OF_ORDER_SEQUENCE_NUMBER),
//   while a broker accepts any first sequence from a pid it has never seen on that partition.
//
// Which cluster issued a pid is written into the pid itself, not kept in memory: a pid issued by the non-default
// cluster carries ISSUED_BY_OTHER_CLUSTER (bit 62). Every proxy instance (InitProducerId and Produce may reach
// different ones) and every restart reads it the same way. Remembering it in memory would not do: another
// instance, or this one after a restart, would take the pid for a default-cluster pid and write it unchanged
// there, where the same number may belong to another producer (pids of the two clusters overlap), and the
// broker could then drop that producer's batches as duplicates. Kafka allocates pids upwards from 0 in blocks,
// so real pids never reach bit 62.
import { BoundedMap } from '../../routing/bounded-map.ts';
import type { Cluster } from '../../routing/cluster.ts';
import type { ProducerMapping } from '../../routing/state-store.ts';

export interface UpstreamProducer {
  producerId: bigint;
  producerEpoch: number;
}

/** Which mapping an allocation is for: a fleet persists it under this key so every instance reuses the pid. */
export interface MappingKey {
  readonly clientProducerId: bigint;
  readonly clientEpoch: number;
  readonly generation: number;
}

export type AllocatePid = (cluster: Cluster, key: MappingKey) => Promise<UpstreamProducer>;

/** Marks a client-facing pid issued by the cluster that is not `routes.default`. */
export const ISSUED_BY_OTHER_CLUSTER = 1n << 62n;

export class ProducerIdMap {
  readonly #defaultCluster: Cluster;
  readonly #otherCluster: Cluster;
  readonly #allocate: AllocatePid;
  readonly #movedBefore: (topic: string) => boolean;
  /** A mapping being allocated is a Promise until it resolves, then the value itself (synchronous hits). */
  #mapped: BoundedMap<string, UpstreamProducer | Promise<UpstreamProducer>>;

  readonly #persist: ((m: ProducerMapping) => Promise<void>) | null;

  /**
   * `known`: mappings persisted before a restart (the same client pid, epoch, cluster and generation get the same
   * upstream pid again, so the broker still deduplicates a retry that was in flight when kmp died). `persist`: called
   * for every new mapping; a mapping is used only once it is durable, so no batch ever goes out under an upstream pid
   * that a restart would forget.
   */
  constructor(opts: { defaultCluster: Cluster; allocate: AllocatePid; maxEntries?: number; movedBefore?: (topic: string) => boolean; known?: readonly ProducerMapping[]; persist?: (m: ProducerMapping) => Promise<void> }) {
    this.#defaultCluster = opts.defaultCluster;
    this.#otherCluster = opts.defaultCluster === 'source' ? 'target' : 'source';
    this.#allocate = opts.allocate;
    this.#movedBefore = opts.movedBefore ?? (() => false);
    const max = opts.maxEntries ?? 200_000;
    this.#mapped = new BoundedMap(max);
    this.#persist = opts.persist ?? null;
    for (const m of opts.known ?? []) {
      this.#mapped.set(`${m.clientProducerId}:${m.clientEpoch}:${m.cluster}:${m.generation}`, { producerId: m.upstreamProducerId, producerEpoch: m.upstreamEpoch });
    }
  }

  /** The client-facing pid for a pid that `cluster` issued (InitProducerId answers). */
  clientPid(cluster: Cluster, upstreamPid: bigint): bigint {
    if (upstreamPid < 0n || cluster === this.#defaultCluster) return upstreamPid;
    if (upstreamPid >= ISSUED_BY_OTHER_CLUSTER) throw new RangeError(`producer id ${upstreamPid} from ${cluster} is too large to be marked`);
    return upstreamPid | ISSUED_BY_OTHER_CLUSTER;
  }

  /** The cluster that issued a client-facing pid, and the pid as that cluster knows it. */
  issuerOf(clientPid: bigint): { cluster: Cluster; producerId: bigint } {
    if (clientPid >= 0n && (clientPid & ISSUED_BY_OTHER_CLUSTER) !== 0n) {
      return { cluster: this.#otherCluster, producerId: clientPid & ~ISSUED_BY_OTHER_CLUSTER };
    }
    return { cluster: this.#defaultCluster, producerId: clientPid };
  }

  /**
   * The upstream (pid, epoch) for a batch of client pid/epoch going to `cluster` at partition `generation`, or
   * null when the batch goes out unchanged (a default-cluster pid on the default cluster before any move; or no
   * pid at all). A topic that moved before this process started (known from the ledger) never uses the issuer's
   * pid: its partitions may hold the client's pid at an older sequence.
   */
  lookup(topic: string, client: UpstreamProducer, cluster: Cluster, generation: number): UpstreamProducer | null | Promise<UpstreamProducer> {
    if (client.producerId < 0n) return null;
    const issuer = this.issuerOf(client.producerId);
    if (cluster === issuer.cluster && generation === 0 && !this.#movedBefore(topic)) {
      return issuer.producerId === client.producerId ? null : { producerId: issuer.producerId, producerEpoch: client.producerEpoch };
    }
    const key = `${client.producerId}:${client.producerEpoch}:${cluster}:${generation}`;
    let p = this.#mapped.get(key);
    if (!p) {
      const persist = this.#persist;
      const allocated = this.#allocate(cluster, { clientProducerId: client.producerId, clientEpoch: client.producerEpoch, generation });
      const allocating = persist === null ? allocated : allocated.then(async (up) => {
        await persist({ clientProducerId: client.producerId, clientEpoch: client.producerEpoch, cluster, generation, upstreamProducerId: up.producerId, upstreamEpoch: up.producerEpoch });
        return up;
      });
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
