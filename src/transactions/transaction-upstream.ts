// kmp's side of the transaction protocol towards one cluster: finds the transaction (or group) coordinator of a
// key, sends a request there and follows a moved coordinator once (NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE),
// initialises a transactional id (retrying while the coordinator is still completing an earlier transaction), and
// reads the last stable offsets that tell a flip the old cluster's transaction markers have landed.
import { ApiKey, type RequestBodies, type ResponseBodies } from '../../protocol/messages/index.ts';
import { defaultFindCoordinatorRequest } from '../../protocol/messages/find-coordinator-request.ts';
import { defaultInitProducerIdRequest } from '../../protocol/messages/init-producer-id-request.ts';
import { defaultListOffsetsRequest } from '../../protocol/messages/list-offsets-request.ts';
import { ErrorCode } from '../../protocol/kafka-errors.ts';
import type { Cluster } from '../../routing/cluster.ts';
import type { BrokerConnection } from '../upstream/broker-connection.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';
import type { UpstreamIds } from './transactional-producer.ts';

export const CoordinatorKeyType = { GROUP: 0, TRANSACTION: 1 } as const;
export type CoordinatorKeyType = (typeof CoordinatorKeyType)[keyof typeof CoordinatorKeyType];

const MOVED_COORDINATOR = new Set<number>([ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE]);
/** ListOffsets timestamp -1: the log end offset (READ_UNCOMMITTED) or the last stable offset (READ_COMMITTED). */
const LATEST = -1n;
const READ_UNCOMMITTED = 0;
const READ_COMMITTED = 1;

export class TransactionUpstreamError extends Error {
  readonly errorCode: number;
  constructor(message: string, errorCode: number) {
    super(message);
    this.name = 'TransactionUpstreamError';
    this.errorCode = errorCode;
  }
}

export interface InitResult {
  errorCode: number;
  producerId: bigint;
  producerEpoch: number;
  throttleTimeMs: number;
}

export class TransactionUpstream {
  readonly #clusters: Record<Cluster, ClusterClient>;
  /** Coordinator broker ids by `${cluster}/${keyType}/${key}`. */
  readonly #coordinators = new Map<string, number>();

  constructor(clusters: Record<Cluster, ClusterClient>) {
    this.#clusters = clusters;
  }

  /** The broker that coordinates `key` on `cluster` (cached until it answers NOT_COORDINATOR). */
  async coordinator(cluster: Cluster, keyType: CoordinatorKeyType, key: string): Promise<BrokerConnection> {
    const client = this.#clusters[cluster];
    const cacheKey = `${cluster}/${keyType}/${key}`;
    const known = this.#coordinators.get(cacheKey);
    if (known !== undefined) return await client.connection(known);
    const any = await client.anyConnection();
    const max = any.versions.get(ApiKey.FindCoordinator)?.max ?? -1;
    if (max < 1) throw new TransactionUpstreamError(`${cluster}: FindCoordinator is not supported`, ErrorCode.UNSUPPORTED_VERSION);
    // v1-3 carry one key; v4+ a list. v3 is enough and every Kafka since 2.4 serves it.
    const version = Math.min(max, 3);
    const res = await any.send(ApiKey.FindCoordinator, version, { ...defaultFindCoordinatorRequest(), key, keyType });
    if (res.errorCode !== ErrorCode.NONE) {
      throw new TransactionUpstreamError(`${cluster}: FindCoordinator(${key}) failed: ${res.errorMessage ?? res.errorCode}`, res.errorCode);
    }
    this.#coordinators.set(cacheKey, res.nodeId);
    return await client.connection(res.nodeId);
  }

  /**
   * Sends to the coordinator of `key`; a coordinator that moved (the answer's error says so) is looked up again
   * and asked once more. `errorOf` reads the answer's error code.
   */
  async send<K extends ApiKey>(
    cluster: Cluster,
    keyType: CoordinatorKeyType,
    key: string,
    apiKey: K,
    version: number,
    body: RequestBodies[K],
    errorOf: (res: ResponseBodies[K]) => number,
  ): Promise<ResponseBodies[K]> {
    let res = await (await this.coordinator(cluster, keyType, key)).send(apiKey, version, body);
    if (MOVED_COORDINATOR.has(errorOf(res))) {
      this.#coordinators.delete(`${cluster}/${keyType}/${key}`);
      res = await (await this.coordinator(cluster, keyType, key)).send(apiKey, version, body);
    }
    return res;
  }

  /**
   * InitProducerId for a transactional id on `cluster`: fresh (`current` null) or a KIP-360 bump of `current`.
   * CONCURRENT_TRANSACTIONS (the coordinator is still aborting or completing the previous transaction) and a
   * moved coordinator are retried until `deadline` (performance.now()); other errors are returned.
   */
  async initProducerId(cluster: Cluster, transactionalId: string, timeoutMs: number, current: UpstreamIds | null, deadline: number, clientVersion?: number): Promise<InitResult> {
    const any = await this.#clusters[cluster].anyConnection();
    const version = Math.min(any.versions.get(ApiKey.InitProducerId)?.max ?? 0, clientVersion ?? 4, 5);
    const body = {
      ...defaultInitProducerIdRequest(),
      transactionalId,
      transactionTimeoutMs: timeoutMs,
      producerId: version >= 3 && current !== null ? current.producerId : -1n,
      producerEpoch: version >= 3 && current !== null ? current.producerEpoch : -1,
    };
    for (let backoff = 20; ; backoff = Math.min(backoff * 2, 500)) {
      let res: ResponseBodies[typeof ApiKey.InitProducerId];
      try {
        res = await this.send(cluster, CoordinatorKeyType.TRANSACTION, transactionalId, ApiKey.InitProducerId, version, body, (r) => r.errorCode);
      } catch (err) {
        if (performance.now() + backoff > deadline) throw err;
        await sleep(backoff);
        continue;
      }
      const retriable = res.errorCode === ErrorCode.CONCURRENT_TRANSACTIONS || MOVED_COORDINATOR.has(res.errorCode) || res.errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
      if (!retriable || performance.now() + backoff > deadline) {
        return { errorCode: res.errorCode, producerId: res.producerId, producerEpoch: res.producerEpoch, throttleTimeMs: res.throttleTimeMs };
      }
      await sleep(backoff);
    }
  }

  /**
   * The partitions whose last stable offset is still below the log end on `cluster`: a transaction there has not
   * completed (its markers are written broker to broker, so only the partition itself can tell).
   */
  async unstablePartitions(cluster: Cluster, topics: readonly string[]): Promise<string[]> {
    const client = this.#clusters[cluster];
    const byLeader = new Map<number, { name: string; partitions: number[] }[]>();
    for (const topic of topics) {
      const meta = await client.topic(topic);
      if (meta.errorCode !== ErrorCode.NONE) continue; // absent on the old cluster: nothing can hang there
      for (const p of meta.partitions) {
        if (p.leaderId < 0) throw new TransactionUpstreamError(`${cluster}: ${topic}-${p.partition} has no leader`, ErrorCode.LEADER_NOT_AVAILABLE);
        let list = byLeader.get(p.leaderId);
        if (list === undefined) byLeader.set(p.leaderId, (list = []));
        let t = list.find((x) => x.name === topic);
        if (t === undefined) list.push((t = { name: topic, partitions: [] }));
        t.partitions.push(p.partition);
      }
    }
    const behind: string[] = [];
    await Promise.all([...byLeader].map(async ([leader, list]) => {
      const conn = await client.connection(leader);
      const version = Math.min(conn.versions.get(ApiKey.ListOffsets)?.max ?? 2, 7);
      const request = (isolationLevel: number) => ({
        ...defaultListOffsetsRequest(),
        replicaId: -1,
        isolationLevel,
        timeoutMs: 5_000,
        topics: list.map((t) => ({ name: t.name, partitions: t.partitions.map((partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp: LATEST })) })),
      });
      const [end, stable] = await Promise.all([
        conn.send(ApiKey.ListOffsets, version, request(READ_UNCOMMITTED)),
        conn.send(ApiKey.ListOffsets, version, request(READ_COMMITTED)),
      ]);
      const ends = new Map<string, bigint>();
      for (const t of end.topics) for (const p of t.partitions) if (p.errorCode === ErrorCode.NONE) ends.set(`${t.name}-${p.partitionIndex}`, p.offset);
      for (const t of stable.topics) {
        for (const p of t.partitions) {
          const name = `${t.name}-${p.partitionIndex}`;
          const logEnd = ends.get(name);
          if (p.errorCode !== ErrorCode.NONE || logEnd === undefined) behind.push(`${name} (offsets unreadable)`);
          else if (p.offset < logEnd) behind.push(`${name} (last stable offset ${p.offset} < log end ${logEnd})`);
        }
      }
    }));
    return behind.sort();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
