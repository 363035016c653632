// The four requests write-back sends to one partition's leader: Produce (the copy, on the source), Fetch (the
// recovery path, on the target; a scan of the source after a crash), ListOffsets (the target's log end, for the
// rollback drain) and DescribeProducers (API 61, on the source: the last sequence kmp's write-back producer wrote,
// which tells exactly how far the copy got). Each goes to the partition's current leader; a leadership error
// refreshes the metadata so the next try finds the new leader.
import { ApiKey } from '../../protocol/messages/index.ts';
import { defaultFetchPartition, defaultFetchRequest, defaultFetchTopic } from '../../protocol/messages/fetch-request.ts';
import { defaultListOffsetsPartition, defaultListOffsetsRequest } from '../../protocol/messages/list-offsets-request.ts';
import { ErrorCode, isLeadershipError } from '../../protocol/kafka-errors.ts';
import { ZERO_UUID } from '../../protocol/uuid.ts';
import { UpstreamError, type BrokerConnection } from '../upstream/broker-connection.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';

/** A request error that names the partition and cluster (the lag message and the logs show it). */
export class PartitionIoError extends Error {
  readonly errorCode: number;
  constructor(message: string, errorCode: number) {
    super(message);
    this.name = 'PartitionIoError';
    this.errorCode = errorCode;
  }
}

export interface PartitionRef {
  readonly topic: string;
  readonly partition: number;
}

/** ListOffsets timestamp for "the log end offset". */
const LATEST = -1n;

/** The leader's connection; `lane` spreads partitions over the cluster client's pooled connections. */
export async function leaderConnection(client: ClusterClient, p: PartitionRef, lane: number): Promise<BrokerConnection> {
  const meta = client.cachedTopic(p.topic) ?? (await client.topic(p.topic));
  if (meta.errorCode !== ErrorCode.NONE) {
    client.refreshSoon(p.topic);
    throw new PartitionIoError(`${client.name}: ${p.topic} is not available (error ${meta.errorCode})`, meta.errorCode);
  }
  const pm = meta.partitions[p.partition];
  if (pm === undefined || pm.partition !== p.partition || pm.leaderId < 0) {
    client.refreshSoon(p.topic);
    throw new PartitionIoError(`${client.name}: ${p.topic}[${p.partition}] has no leader`, ErrorCode.LEADER_NOT_AVAILABLE);
  }
  return client.liveConnection(pm.leaderId, lane) ?? (await client.connection(pm.leaderId, lane));
}

function check(client: ClusterClient, p: PartitionRef, what: string, errorCode: number, message?: string | null): void {
  if (errorCode === ErrorCode.NONE) return;
  if (isLeadershipError(errorCode)) client.refreshSoon(p.topic);
  throw new PartitionIoError(`${client.name}: ${what} ${p.topic}[${p.partition}] failed with error ${errorCode}${message ? ` (${message})` : ''}`, errorCode);
}

/** Appends one record batch (Produce v3+ carries exactly one batch per partition); resolves to its base offset. */
export async function produceBatch(client: ClusterClient, p: PartitionRef, batch: Buffer, lane: number, timeoutMs: number): Promise<bigint> {
  const conn = await leaderConnection(client, p, lane);
  // v13 names topics by id; v12 (Kafka 3.7+) is the newest that names them, and every 4.x broker accepts it.
  const version = Math.min(conn.versions.get(ApiKey.Produce)?.max ?? 9, 12);
  const res = await conn.send(ApiKey.Produce, version, {
    transactionalId: null,
    acks: -1,
    timeoutMs,
    topicData: [{ name: p.topic, topicId: ZERO_UUID, partitionData: [{ index: p.partition, records: batch }] }],
  });
  const pr = res.responses[0]?.partitionResponses[0];
  if (pr === undefined) throw new PartitionIoError(`${client.name}: Produce answer lacked ${p.topic}[${p.partition}]`, ErrorCode.UNKNOWN_SERVER_ERROR);
  check(client, p, 'produce to', pr.errorCode, pr.errorMessage);
  return pr.baseOffset;
}

export interface FetchedRecords {
  /** Record batches from `offset` on (a view of the response frame; the caller may hold it). */
  readonly records: Buffer | null;
  readonly highWatermark: bigint;
  readonly logStartOffset: bigint;
}

/** Reads up to `maxBytes` of batches from `offset` (read uncommitted: control batches are the caller's to skip). */
export async function fetchFrom(client: ClusterClient, p: PartitionRef, offset: bigint, maxBytes: number, lane: number): Promise<FetchedRecords> {
  const conn = await leaderConnection(client, p, lane);
  // v12 is the newest Fetch that names topics (v13+ use topic ids); Kafka 4 accepts v4+.
  const version = Math.min(conn.versions.get(ApiKey.Fetch)?.max ?? 12, 12);
  const res = await conn.send(ApiKey.Fetch, version, {
    ...defaultFetchRequest(),
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{ ...defaultFetchTopic(), topic: p.topic, partitions: [{ ...defaultFetchPartition(), partition: p.partition, fetchOffset: offset, partitionMaxBytes: maxBytes, logStartOffset: -1n }] }],
  });
  check(client, p, 'fetch from', res.errorCode);
  const pd = res.responses[0]?.partitions[0];
  if (pd === undefined) throw new PartitionIoError(`${client.name}: Fetch answer lacked ${p.topic}[${p.partition}]`, ErrorCode.UNKNOWN_SERVER_ERROR);
  check(client, p, 'fetch from', pd.errorCode);
  return { records: pd.records, highWatermark: pd.highWatermark, logStartOffset: pd.logStartOffset };
}

/** The partition's log end offset (the next offset the leader will assign). */
export async function logEndOffset(client: ClusterClient, p: PartitionRef, lane: number): Promise<bigint> {
  const conn = await leaderConnection(client, p, lane);
  const version = Math.min(conn.versions.get(ApiKey.ListOffsets)?.max ?? 1, 7);
  const res = await conn.send(ApiKey.ListOffsets, version, {
    ...defaultListOffsetsRequest(),
    replicaId: -1,
    topics: [{ name: p.topic, partitions: [{ ...defaultListOffsetsPartition(), partitionIndex: p.partition, timestamp: LATEST }] }],
  });
  const pr = res.topics[0]?.partitions[0];
  if (pr === undefined) throw new PartitionIoError(`${client.name}: ListOffsets answer lacked ${p.topic}[${p.partition}]`, ErrorCode.UNKNOWN_SERVER_ERROR);
  check(client, p, 'list offsets of', pr.errorCode);
  return pr.offset;
}

/** The broker's state for one producer id on the partition, or null if the broker has none (never wrote, or expired). */
export async function describeProducer(client: ClusterClient, p: PartitionRef, producerId: bigint, lane: number): Promise<{ producerEpoch: number; lastSequence: number } | null> {
  const conn = await leaderConnection(client, p, lane);
  if (conn.versions.get(ApiKey.DescribeProducers) === undefined) {
    throw new UpstreamError('protocol', `${client.name}: brokers do not support DescribeProducers (Kafka 2.8+), which write-back recovery needs`);
  }
  const res = await conn.send(ApiKey.DescribeProducers, 0, { topics: [{ name: p.topic, partitionIndexes: [p.partition] }] });
  const pr = res.topics[0]?.partitions[0];
  if (pr === undefined) throw new PartitionIoError(`${client.name}: DescribeProducers answer lacked ${p.topic}[${p.partition}]`, ErrorCode.UNKNOWN_SERVER_ERROR);
  check(client, p, 'describe producers of', pr.errorCode, pr.errorMessage);
  const mine = pr.activeProducers.find((s) => s.producerId === producerId);
  return mine === undefined ? null : { producerEpoch: mine.producerEpoch, lastSequence: mine.lastSequence };
}
