// A small client for kmp's control topics, on the project's own codec (Produce, Fetch, ListOffsets, CreateTopics
// over an upstream ClusterClient): create the topics, append records to partition 0, read from an offset, find
// the end. Every control topic has one partition, so each is one totally ordered log that every member reads in
// the same order — the order is what the route table's compare-and-set and the move protocol rely on.
//
// Why not a client library: kmp already speaks the protocol to both clusters with TLS/SASL, retries and
// connection pools; the control plane needs four requests on one partition, and this keeps one implementation of
// upstream security and one set of integration tests (docs/fleet.md, "The Kafka client").
import { ApiKey } from '../../protocol/messages/index.ts';
import { defaultProduceRequest, defaultTopicProduceData, defaultPartitionProduceData } from '../../protocol/messages/produce-request.ts';
import { defaultFetchRequest, defaultFetchTopic, defaultFetchPartition } from '../../protocol/messages/fetch-request.ts';
import { defaultListOffsetsRequest, defaultListOffsetsTopic, defaultListOffsetsPartition } from '../../protocol/messages/list-offsets-request.ts';
import { ErrorCode, errorName, isRetriable } from '../../protocol/kafka-errors.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';
import type { BrokerConnection } from '../upstream/broker-connection.ts';
import { decodeControlRecords, encodeControlBatch, type ControlRecord, type ReadRecord } from './control-records.ts';

export interface ControlTopicSpec {
  readonly name: string;
  /** compact for state kept by key (members, producer ids); delete for ordered logs. */
  readonly cleanupPolicy: 'compact' | 'delete';
  /** For delete topics: how long records stay; -1 = forever (the route log). */
  readonly retentionMs: number;
}

export class ControlLogError extends Error {
  readonly retriable: boolean;
  constructor(message: string, retriable: boolean) {
    super(message);
    this.name = 'ControlLogError';
    this.retriable = retriable;
  }
}

/** What the store, tailers, membership and transport use of a control log (tests put a log in memory behind it). */
export interface ControlLogPort {
  append(topic: string, records: readonly ControlRecord[]): Promise<bigint>;
  endOffset(topic: string): Promise<bigint>;
  read(topic: string, offset: bigint, maxWaitMs: number, lane: number): Promise<{ records: ReadRecord[]; next: bigint; highWatermark: bigint }>;
}

/** The lanes of the control client's connection pool: appends never queue behind a long-polling fetch. */
const APPEND_LANE = 0;
const PRODUCE_MAX_VERSION = 12; // v13 names topics by id
const FETCH_MAX_VERSION = 12; // v13 names topics by id
const LIST_OFFSETS_MAX_VERSION = 8;
const PARTITION = 0;

export class ControlLog implements ControlLogPort {
  readonly #client: ClusterClient;
  readonly #timeoutMs: number;

  constructor(client: ClusterClient, options: { requestTimeoutMs: number }) {
    this.#client = client;
    this.#timeoutMs = options.requestTimeoutMs;
  }

  /**
   * Creates the topics that are missing (one partition each; min.insync.replicas 2 when there are 3+ replicas, so
   * an acknowledged control record survives one broker loss and one more broker may be down for maintenance).
   */
  async ensureTopics(topics: readonly ControlTopicSpec[], replicationFactor: number): Promise<void> {
    const minIsr = replicationFactor >= 3 ? 2 : 1;
    const results = await this.#client.createTopics(topics.map((t) => ({
      name: t.name,
      numPartitions: 1,
      replicationFactor,
      configs: {
        'cleanup.policy': t.cleanupPolicy,
        'min.insync.replicas': String(minIsr),
        ...(t.cleanupPolicy === 'delete' ? { 'retention.ms': String(t.retentionMs), 'retention.bytes': '-1' } : {}),
        'compression.type': 'uncompressed',
      },
    })));
    const failed = results.filter((r) => r.errorCode !== ErrorCode.NONE && r.errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS);
    if (failed.length > 0) {
      throw new ControlLogError(
        `cannot create the control topics: ${failed.map((f) => `${f.name}: ${errorName(f.errorCode)}${f.errorMessage ? ` (${f.errorMessage})` : ''}`).join('; ')}`,
        failed.every((f) => isRetriable(f.errorCode)),
      );
    }
    // A topic just created has no leader for a moment: wait until each has one.
    for (const t of topics) {
      for (let attempt = 0; ; attempt++) {
        const meta = await this.#client.topic(t.name, { refresh: true });
        if (meta.errorCode === ErrorCode.NONE && (meta.partitions[0]?.leaderId ?? -1) >= 0) break;
        if (attempt > 100) throw new ControlLogError(`control topic ${t.name} has no leader (${errorName(meta.errorCode)})`, true);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async #leader(topic: string, lane: number): Promise<BrokerConnection> {
    const meta = await this.#client.topic(topic);
    const leader = meta.partitions.find((p) => p.partition === PARTITION)?.leaderId ?? -1;
    if (meta.errorCode !== ErrorCode.NONE || leader < 0) {
      this.#client.invalidate(topic);
      throw new ControlLogError(`control topic ${topic}: no leader (${errorName(meta.errorCode)})`, true);
    }
    return this.#client.connection(leader, lane);
  }

  #partitionError(topic: string, code: number, what: string): ControlLogError {
    if (code === ErrorCode.NOT_LEADER_OR_FOLLOWER || code === ErrorCode.LEADER_NOT_AVAILABLE || code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) {
      this.#client.invalidate(topic);
    }
    return new ControlLogError(`control topic ${topic}: ${what} failed with ${errorName(code)}`, isRetriable(code));
  }

  /** Appends records (acks=all) and resolves with the offset of the first one. */
  async append(topic: string, records: readonly ControlRecord[]): Promise<bigint> {
    const conn = await this.#leader(topic, APPEND_LANE);
    const version = Math.min(conn.versions.get(ApiKey.Produce)?.max ?? 3, PRODUCE_MAX_VERSION);
    const res = await conn.send(ApiKey.Produce, version, {
      ...defaultProduceRequest(),
      acks: -1,
      timeoutMs: this.#timeoutMs,
      topicData: [{ ...defaultTopicProduceData(), name: topic, partitionData: [{ ...defaultPartitionProduceData(), index: PARTITION, records: encodeControlBatch(records) }] }],
    });
    const p = res.responses[0]?.partitionResponses[0];
    if (p === undefined) throw new ControlLogError(`control topic ${topic}: empty Produce answer`, true);
    if (p.errorCode !== ErrorCode.NONE) throw this.#partitionError(topic, p.errorCode, 'append');
    return p.baseOffset;
  }

  /** The offset the next record will get (log end offset). */
  async endOffset(topic: string): Promise<bigint> {
    const conn = await this.#leader(topic, APPEND_LANE);
    const version = Math.min(conn.versions.get(ApiKey.ListOffsets)?.max ?? 1, LIST_OFFSETS_MAX_VERSION);
    const res = await conn.send(ApiKey.ListOffsets, version, {
      ...defaultListOffsetsRequest(),
      replicaId: -1,
      topics: [{ ...defaultListOffsetsTopic(), name: topic, partitions: [{ ...defaultListOffsetsPartition(), partitionIndex: PARTITION, timestamp: -1n }] }],
    });
    const p = res.topics[0]?.partitions[0];
    if (p === undefined) throw new ControlLogError(`control topic ${topic}: empty ListOffsets answer`, true);
    if (p.errorCode !== ErrorCode.NONE) throw this.#partitionError(topic, p.errorCode, 'ListOffsets');
    return p.offset;
  }

  /**
   * Records from `offset` on (waits up to `maxWaitMs` for one). `next` is where the following read starts;
   * a position below the log start (compaction, retention) restarts at the log start.
   */
  async read(topic: string, offset: bigint, maxWaitMs: number, lane: number): Promise<{ records: ReadRecord[]; next: bigint; highWatermark: bigint }> {
    const conn = await this.#leader(topic, lane);
    const version = Math.min(conn.versions.get(ApiKey.Fetch)?.max ?? 4, FETCH_MAX_VERSION);
    const res = await conn.send(ApiKey.Fetch, version, {
      ...defaultFetchRequest(),
      maxWaitMs,
      minBytes: 1,
      maxBytes: 8 * 1024 * 1024,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [{ ...defaultFetchTopic(), topic, partitions: [{ ...defaultFetchPartition(), partition: PARTITION, fetchOffset: offset, partitionMaxBytes: 8 * 1024 * 1024 }] }],
    }, { timeoutMs: maxWaitMs + this.#timeoutMs });
    if (res.errorCode !== ErrorCode.NONE) throw this.#partitionError(topic, res.errorCode, 'Fetch');
    const p = res.responses[0]?.partitions[0];
    if (p === undefined) throw new ControlLogError(`control topic ${topic}: empty Fetch answer`, true);
    if (p.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE && p.logStartOffset > offset) {
      return { records: [], next: p.logStartOffset, highWatermark: p.highWatermark };
    }
    if (p.errorCode !== ErrorCode.NONE) throw this.#partitionError(topic, p.errorCode, 'Fetch');
    const decoded = decodeControlRecords(p.records);
    const records = decoded.records.filter((r) => r.offset >= offset);
    const next = decoded.nextOffset !== null && decoded.nextOffset > offset ? decoded.nextOffset : offset;
    return { records, next, highWatermark: p.highWatermark };
  }
}
