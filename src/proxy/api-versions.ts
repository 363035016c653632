// What the proxy advertises in its own ApiVersions answer (docs/design.md §1, docs/protocol-notes.md §f): per API, the intersection of
// what the proxy implements and what *both* clusters support, so any request can be forwarded at the version
// the client picked, whichever cluster its partitions go to.
import { ApiKey } from '../../protocol/messages/index.ts';
import type { VersionRange } from '../upstream/broker-connection.ts';

interface ProxyApi {
  apiKey: number;
  min: number;
  max: number;
  /** Lowest version the proxy really accepts, when it advertises a lower minimum for a client quirk. */
  acceptFrom?: number;
  /** Versions are not limited by what the clusters support (answered by the proxy itself). */
  local?: boolean;
}

/**
 * The proxy's own API table.
 * - Produce is advertised from v0 although v0-2 are rejected: librdkafka checks gzip/snappy support by asking
 *   for Produce v0 (KAFKA-18659), as Kafka 4 brokers do. Capped at v12: v13 addresses topics by id, and ids
 *   differ between source and target.
 * - Fetch is advertised but refused: librdkafka only uses record format v2 when Fetch >= 4 is advertised.
 * - FindCoordinator is advertised for librdkafka's LZ4 feature check; it is answered with an error.
 * - ApiVersions stops at v4 (v5 adds a cluster-id check, KIP-1242); Metadata at v12 (v13 only adds a
 *   top-level error code).
 */
export const PROXY_APIS: readonly ProxyApi[] = [
  { apiKey: ApiKey.Produce, min: 0, max: 12, acceptFrom: 3 },
  { apiKey: ApiKey.Fetch, min: 4, max: 12, local: true },
  { apiKey: ApiKey.Metadata, min: 0, max: 12 },
  { apiKey: ApiKey.ApiVersions, min: 0, max: 4, local: true },
  { apiKey: ApiKey.InitProducerId, min: 0, max: 5 },
  { apiKey: ApiKey.FindCoordinator, min: 0, max: 4, local: true },
  // Transactions v1 (docs/transactions.md): partitions are added explicitly (AddPartitionsToTxn v4+ is broker to
  // broker), EndTxn stops before v5 (KIP-890's new producer id/epoch per transaction).
  { apiKey: ApiKey.AddPartitionsToTxn, min: 0, max: 3 },
  { apiKey: ApiKey.AddOffsetsToTxn, min: 0, max: 4 },
  { apiKey: ApiKey.EndTxn, min: 0, max: 4 },
  // TxnOffsetCommit v5 adds offsets without AddOffsetsToTxn under transaction version 2: stop at v4.
  { apiKey: ApiKey.TxnOffsetCommit, min: 0, max: 4 },
];

export interface AdvertisedApi {
  apiKey: number;
  minVersion: number;
  maxVersion: number;
}

/** The ranges to advertise given each cluster's ranges (null while a cluster has not been reached yet). */
export function advertisedApis(clusters: (Map<number, VersionRange> | null)[]): AdvertisedApi[] {
  const out: AdvertisedApi[] = [];
  for (const api of PROXY_APIS) {
    let min = api.min;
    let max = api.max;
    if (!api.local) {
      for (const versions of clusters) {
        if (!versions) continue;
        const r = versions.get(api.apiKey);
        if (!r) {
          max = -1;
          break;
        }
        // Keep the advertised minimum of a quirk (Produce 0) but never go above what a cluster serves.
        if (api.acceptFrom === undefined) min = Math.max(min, r.min);
        max = Math.min(max, r.max);
      }
    }
    if (max >= min) out.push({ apiKey: api.apiKey, minVersion: min, maxVersion: max });
  }
  return out;
}

/** Whether the proxy accepts a request at this version (not merely advertises it). */
export function accepts(apis: readonly AdvertisedApi[], apiKey: number, version: number): boolean {
  const a = apis.find((x) => x.apiKey === apiKey);
  if (!a) return false;
  const floor = PROXY_APIS.find((p) => p.apiKey === apiKey)?.acceptFrom ?? a.minVersion;
  return version >= floor && version <= a.maxVersion;
}

/**
 * The advertised table, computed once per change of what the clusters support (not on every request): ApiVersions
 * answers with `advertised`, and every handler checks a request's version with `accepts` (two Map reads).
 */
export class ApiVersionTable {
  readonly #sources: () => (Map<number, VersionRange> | null)[];
  readonly #generation: () => number;
  #seen = -1;
  #advertised: AdvertisedApi[] = [];
  #accepted = new Map<number, { from: number; to: number }>();

  /** `generation` changes whenever any source's ranges change (ClusterClient.versionsGeneration summed). */
  constructor(sources: () => (Map<number, VersionRange> | null)[], generation: () => number) {
    this.#sources = sources;
    this.#generation = generation;
  }

  get advertised(): AdvertisedApi[] {
    this.#refresh();
    return this.#advertised;
  }

  /** Whether the proxy accepts a request at this version (not merely advertises it). */
  accepts(apiKey: number, version: number): boolean {
    this.#refresh();
    const r = this.#accepted.get(apiKey);
    return r !== undefined && version >= r.from && version <= r.to;
  }

  #refresh(): void {
    const g = this.#generation();
    if (g === this.#seen) return;
    this.#seen = g;
    this.#advertised = advertisedApis(this.#sources());
    this.#accepted = new Map(this.#advertised.map((a) => [a.apiKey, { from: PROXY_APIS.find((p) => p.apiKey === a.apiKey)?.acceptFrom ?? a.minVersion, to: a.maxVersion }]));
  }
}
