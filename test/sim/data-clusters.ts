// The simulated data clusters (source and target): per partition, the ordered log of appended writes. A write is
// identified by the client's (producer id, sequence) — here one write id — and a cluster appends a write id at
// most once per partition: the broker's idempotence, with the upstream producer id shared by the fleet (persisted
// producer-id mappings), so a retry through any member on the same cluster is deduplicated. Across clusters
// nothing deduplicates: that is what the move protocol must prevent.

import type { Cluster } from '../../routing/cluster.ts';

export interface Append {
  readonly writeId: number;
  readonly cluster: Cluster;
  readonly offset: bigint;
  readonly at: number;
  readonly member: string;
  /** The route table version the forwarding member had. */
  readonly version: number;
}

export class DataClusters {
  /** `${topic}/${partition}` → every append, both clusters, in time order (what the invariants read). */
  readonly appends = new Map<string, Append[]>();
  readonly #offsets = new Map<string, bigint>();
  readonly #dedup = new Map<string, bigint>();
  duplicatesAbsorbed = 0;

  /**
   * The write ids `cluster` has appended on a partition, copied now: the simulated DescribeProducers (the broker's
   * producer state says which of a producer's sequences it has; a write id stands for one (producer, sequence)).
   */
  appendedIds(cluster: Cluster, topic: string, partition: number): ReadonlySet<number> {
    const ids = new Set<number>();
    for (const a of this.appends.get(`${topic}/${partition}`) ?? []) if (a.cluster === cluster) ids.add(a.writeId);
    return ids;
  }

  /** Appends (or deduplicates) a write; returns its offset and whether it is new. */
  append(cluster: Cluster, topic: string, partition: number, writeId: number, at: number, member: string, version: number): { offset: bigint; fresh: boolean } {
    const key = `${topic}/${partition}`;
    const dedupKey = `${cluster}/${key}/${writeId}`;
    const seen = this.#dedup.get(dedupKey);
    if (seen !== undefined) {
      this.duplicatesAbsorbed += 1;
      return { offset: seen, fresh: false };
    }
    const offsetKey = `${cluster}/${key}`;
    const offset = this.#offsets.get(offsetKey) ?? 0n;
    this.#offsets.set(offsetKey, offset + 1n);
    this.#dedup.set(dedupKey, offset);
    const list = this.appends.get(key) ?? [];
    list.push({ writeId, cluster, offset, at, member, version });
    this.appends.set(key, list);
    return { offset, fresh: true };
  }
}
