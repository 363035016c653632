// Reads two facts of partitions on one cluster, for the gates that watch the cluster a wave left:
// - the log-end offset (ListOffsets, timestamp LATEST): growth there after a flip is a write kmp did not route;
// - the active producers (DescribeProducers, API 61): who wrote, at which sequence, and whether a transaction is
//   open (currentTxnStartOffset >= 0).
// Both must be asked of each partition's leader, so requests are grouped by leader: one request per broker per
// probe, however many partitions are watched. Nothing here is on the Produce path.
import { ApiKey } from '../../protocol/messages/index.ts';
import { ErrorCode, errorName, isLeadershipError } from '../../protocol/kafka-errors.ts';
import type { ClusterClient } from '../upstream/cluster-client.ts';

/** ListOffsets' special timestamp: the offset of the next record to be written (the log-end offset). */
const LATEST_TIMESTAMP = -1n;
const LIST_OFFSETS_MAX_VERSION = 8;

export interface TopicPartitions {
  readonly topic: string;
  readonly partitions: readonly number[];
}

export interface ProducerStateView {
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly lastSequence: number;
  /** The max timestamp of the producer's last batch (the producer's clock). */
  readonly lastTimestamp: bigint;
  /** First offset of the producer's open transaction; -1 when none is open. */
  readonly currentTxnStartOffset: bigint;
}

export interface PartitionReading<T> {
  readonly topic: string;
  readonly partition: number;
  /** Null when the partition could not be read; `error` says why. */
  readonly value: T | null;
  readonly error: string | null;
}

/** The part of ClusterClient the probe needs (tests pass their own). */
export type ProbeCluster = Pick<ClusterClient, 'name' | 'topic' | 'connection' | 'refreshSoon'>;

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** Groups partitions by their leader on `cluster`; partitions without a leader or topic come back as errors. */
async function byLeader(cluster: ProbeCluster, wanted: readonly TopicPartitions[]): Promise<{ groups: Map<number, TopicPartitions[]>; failed: PartitionReading<never>[] }> {
  const groups = new Map<number, TopicPartitions[]>();
  const failed: PartitionReading<never>[] = [];
  await Promise.all(wanted.map(async ({ topic, partitions }) => {
    const meta = await cluster.topic(topic).catch((err: unknown) => ({ errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, partitions: [], err }));
    for (const partition of partitions) {
      const pm = meta.errorCode === ErrorCode.NONE ? meta.partitions.find((p) => p.partition === partition) : undefined;
      if (pm === undefined || pm.leaderId < 0) {
        const why = meta.errorCode === ErrorCode.NONE ? 'no leader' : 'err' in meta ? String(meta.err) : errorName(meta.errorCode);
        failed.push({ topic, partition, value: null, error: `${cluster.name}: ${why}` });
        continue;
      }
      const list = groups.get(pm.leaderId) ?? [];
      const entry = list.find((t) => t.topic === topic);
      if (entry === undefined) list.push({ topic, partitions: [partition] });
      else (entry.partitions as number[]).push(partition);
      groups.set(pm.leaderId, list);
    }
  }));
  return { groups, failed };
}

/** Log-end offsets (the next offset to be written) of the partitions, one ListOffsets per leader. */
export async function logEndOffsets(cluster: ProbeCluster, wanted: readonly TopicPartitions[]): Promise<PartitionReading<bigint>[]> {
  const { groups, failed } = await byLeader(cluster, wanted);
  const out: PartitionReading<bigint>[] = [...failed];
  await Promise.all([...groups].map(async ([leader, topics]) => {
    try {
      const conn = await cluster.connection(leader);
      const version = Math.min(conn.versions.get(ApiKey.ListOffsets)?.max ?? 1, LIST_OFFSETS_MAX_VERSION);
      const res = await conn.send(ApiKey.ListOffsets, version, {
        replicaId: -1,
        isolationLevel: 0,
        timeoutMs: 0,
        topics: topics.map((t) => ({ name: t.topic, partitions: t.partitions.map((partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp: LATEST_TIMESTAMP })) })),
      });
      const seen = new Set<string>();
      for (const t of res.topics) {
        for (const p of t.partitions) {
          seen.add(key(t.name, p.partitionIndex));
          if (p.errorCode === ErrorCode.NONE) out.push({ topic: t.name, partition: p.partitionIndex, value: p.offset, error: null });
          else {
            if (isLeadershipError(p.errorCode)) cluster.refreshSoon(t.name);
            out.push({ topic: t.name, partition: p.partitionIndex, value: null, error: `${cluster.name}: ListOffsets ${errorName(p.errorCode)}` });
          }
        }
      }
      for (const t of topics) for (const p of t.partitions) if (!seen.has(key(t.topic, p))) out.push({ topic: t.topic, partition: p, value: null, error: `${cluster.name}: no answer for the partition` });
    } catch (err) {
      for (const t of topics) for (const p of t.partitions) out.push({ topic: t.topic, partition: p, value: null, error: `${cluster.name}: ${err instanceof Error ? err.message : String(err)}` });
    }
  }));
  return out;
}

/** Active producers of the partitions (DescribeProducers, one per leader). */
export async function activeProducers(cluster: ProbeCluster, wanted: readonly TopicPartitions[]): Promise<PartitionReading<readonly ProducerStateView[]>[]> {
  const { groups, failed } = await byLeader(cluster, wanted);
  const out: PartitionReading<readonly ProducerStateView[]>[] = [...failed];
  await Promise.all([...groups].map(async ([leader, topics]) => {
    try {
      const conn = await cluster.connection(leader);
      if (conn.versions.get(ApiKey.DescribeProducers) === undefined) throw new Error('the broker does not support DescribeProducers (Kafka 2.8+)');
      const res = await conn.send(ApiKey.DescribeProducers, 0, { topics: topics.map((t) => ({ name: t.topic, partitionIndexes: [...t.partitions] })) });
      for (const t of res.topics) {
        for (const p of t.partitions) {
          if (p.errorCode === ErrorCode.NONE) {
            out.push({
              topic: t.name, partition: p.partitionIndex, error: null,
              value: p.activeProducers.map((s) => ({ producerId: s.producerId, producerEpoch: s.producerEpoch, lastSequence: s.lastSequence, lastTimestamp: s.lastTimestamp, currentTxnStartOffset: s.currentTxnStartOffset })),
            });
          } else {
            if (isLeadershipError(p.errorCode)) cluster.refreshSoon(t.name);
            out.push({ topic: t.name, partition: p.partitionIndex, value: null, error: `${cluster.name}: DescribeProducers ${errorName(p.errorCode)}${p.errorMessage ? ` (${p.errorMessage})` : ''}` });
          }
        }
      }
    } catch (err) {
      for (const t of topics) for (const p of t.partitions) out.push({ topic: t.topic, partition: p, value: null, error: `${cluster.name}: ${err instanceof Error ? err.message : String(err)}` });
    }
  }));
  return out;
}
