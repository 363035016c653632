// Who a producer id on an upstream cluster belongs to, for bypass detection (bypass-detector.ts):
// - this kmp instance's own upstream producer ids, recorded as its writes settle (UpstreamPidRecorder, a
//   ProduceConcern: it reads the id from the batch header after the producer-id map rewrote it, so identity
//   and mapped ids are both covered);
// - other expected ids, from providers other code registers (a write-back helper's kmp-owned ids);
// - ids of other kmp instances of the fleet: a member still writing on an old route is a louder alarm than a
//   direct producer, so it is told apart (the fleet registers a resolver);
// - anything else: a producer connected straight to the cluster.
import { BoundedMap } from '../../routing/bounded-map.ts';
import type { Cluster } from '../../routing/cluster.ts';
import type { ProduceConcern } from '../proxy/produce/produce-session.ts';
import type { PartitionWrite } from '../proxy/produce/partition-write.ts';

/** Byte offset of the producer id in a v2 record batch header. */
const PRODUCER_ID_OFFSET = 43;

export type Attribution =
  | { readonly kind: 'expected'; readonly by: string }
  | { readonly kind: 'fleet'; readonly member: string }
  | { readonly kind: 'unknown' };

/** Producer ids `cluster` is expected to see from kmp itself (a write-back copier's ids, …). */
export type ExpectedPidProvider = (cluster: Cluster) => Iterable<bigint> | ReadonlySet<bigint>;
/** The fleet member (other than this one) that writes to `cluster` under `pid`, or null. */
export type FleetPidResolver = (cluster: Cluster, pid: bigint) => string | null;

/**
 * Records the upstream producer id of every write this instance sent and that may have landed (ok or unknown).
 * Cost per partition write: one 8-byte read and, when the id differs from the previous write's, one map update.
 */
export class UpstreamPidRecorder implements ProduceConcern {
  readonly #seen: Record<Cluster, BoundedMap<bigint, number>>;
  #last: { cluster: Cluster | null; pid: bigint } = { cluster: null, pid: -1n };

  constructor(maxPerCluster = 100_000) {
    this.#seen = { source: new BoundedMap(maxPerCluster), target: new BoundedMap(maxPerCluster) };
  }

  settled(w: PartitionWrite): void {
    if ((w.settlement !== 'ok' && w.settlement !== 'unknown') || w.cluster === null || w.records === null || w.batches.length === 0) return;
    const first = w.batches[0];
    if (first.offset + PRODUCER_ID_OFFSET + 8 > w.records.length) return;
    const pid = w.records.readBigInt64BE(first.offset + PRODUCER_ID_OFFSET);
    if (pid < 0n || (this.#last.pid === pid && this.#last.cluster === w.cluster)) return;
    this.#last = { cluster: w.cluster, pid };
    this.#seen[w.cluster].set(pid, Date.now());
  }

  /** Whether this instance wrote to `cluster` under `pid` (as far as its bounded memory goes). */
  wrote(cluster: Cluster, pid: bigint): boolean {
    return this.#seen[cluster].peek(pid) !== undefined;
  }

  record(cluster: Cluster, pid: bigint): void {
    this.#seen[cluster].set(pid, Date.now());
  }
}

export class ProducerAttribution {
  readonly #own: UpstreamPidRecorder;
  readonly #providers = new Map<string, ExpectedPidProvider>();
  #fleet: FleetPidResolver | null = null;

  constructor(own: UpstreamPidRecorder) {
    this.#own = own;
  }

  /** Ids under `name` (e.g. "write-back") are kmp's own: never reported as bypass. */
  addExpected(name: string, provider: ExpectedPidProvider): void {
    this.#providers.set(name, provider);
  }

  /** Ids of other fleet members: reported as a fleet alarm, not as a direct producer. */
  setFleetResolver(resolver: FleetPidResolver): void {
    this.#fleet = resolver;
  }

  classify(cluster: Cluster, pid: bigint): Attribution {
    if (this.#own.wrote(cluster, pid)) return { kind: 'expected', by: 'kmp' };
    for (const [name, provider] of this.#providers) {
      const ids = provider(cluster);
      if (ids instanceof Set ? ids.has(pid) : [...ids].includes(pid)) return { kind: 'expected', by: name };
    }
    const member = this.#fleet?.(cluster, pid) ?? null;
    if (member !== null) return { kind: 'fleet', member };
    return { kind: 'unknown' };
  }
}
