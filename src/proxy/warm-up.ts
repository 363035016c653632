// The warm-up before a move's hold (routing/warm-up.ts says why): everything the Produce path needs to send a
// released request to the new cluster without waiting is made ready while producers still write to the old one.
//   1 metadata of the moving topics, fetched fresh from the new cluster (a cache entry about to expire would
//     otherwise make the first released request wait for a Metadata round trip);
//   2 upstream connections to every leader of those partitions, on every pooled lane a client connection can
//     use (ClusterClient.connection(nodeId, lane)); connecting negotiates the API versions (ApiVersions);
//   3 upstream producer ids on the new cluster for every idempotent producer seen writing those topics
//     recently, for the partition generation the move creates (the ProducerIdMap allocates per client pid,
//     epoch, cluster and generation; the warm-up asks exactly what the first released batch will ask).
// Anything that fails throws with the reason: the participant then fails the move before holding anything.
import { ErrorCode, errorName } from '../../protocol/kafka-errors.ts';
import type { Cluster } from '../../routing/cluster.ts';
import { errorMessage } from '../../routing/errors.ts';
import type { WarmUp, WarmUpReport, WarmUpRequest } from '../../routing/warm-up.ts';
import type { TopicMeta } from '../upstream/cluster-client.ts';
import type { ProducerIdMap } from './producer-id-map.ts';
import type { RecentProducers } from './recent-producers.ts';

/** What the warm-up needs of an upstream cluster (ClusterClient has it). */
export interface WarmableCluster {
  topic(name: string, opts: { refresh: boolean }): Promise<TopicMeta>;
  connection(nodeId: number, lane: number): Promise<unknown>;
  readonly lanes: number;
}

export interface WarmUpOptions {
  readonly clusters: Record<Cluster, WarmableCluster>;
  readonly producerIds: ProducerIdMap;
  readonly recentProducers: RecentProducers;
  /** A producer counts as writing a topic if it did within this many ms. Default 300 000. */
  readonly recentWithinMs?: number;
  /** InitProducerId requests in flight at once. Default 8. */
  readonly concurrency?: number;
}

const MAX_NAMED = 5;

function named(list: readonly string[]): string {
  return list.slice(0, MAX_NAMED).join(', ') + (list.length > MAX_NAMED ? `, … (${list.length})` : '');
}

export function createWarmUp(options: WarmUpOptions): WarmUp {
  const recentWithinMs = options.recentWithinMs ?? 300_000;
  const concurrency = Math.max(1, options.concurrency ?? 8);
  return async (request: WarmUpRequest): Promise<WarmUpReport> => {
    const started = performance.now();
    const client = options.clusters[request.to];
    const notes: string[] = [];
    const stopIfAborted = (): void => {
      if (request.signal.aborted) throw request.signal.reason instanceof Error ? request.signal.reason : new Error('warm-up aborted');
    };

    // 1 metadata, fresh
    const metas = await Promise.all(
      request.topics.map(({ topic }) =>
        client.topic(topic, { refresh: true }).catch((error: unknown) => {
          throw new Error(`metadata of "${topic}" could not be read from ${request.to}: ${errorMessage(error)}`);
        }),
      ),
    );
    stopIfAborted();
    const leaders = new Set<number>();
    const missing: string[] = [];
    const leaderless: string[] = [];
    const present = new Set<string>();
    for (const meta of metas) {
      if (meta.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) {
        missing.push(meta.name);
        continue;
      }
      if (meta.errorCode !== ErrorCode.NONE) throw new Error(`topic "${meta.name}" on ${request.to}: ${errorName(meta.errorCode)}`);
      for (const p of meta.partitions) {
        if (p.leaderId < 0) leaderless.push(`${meta.name}[${p.partition}]`);
        else leaders.add(p.leaderId);
      }
      present.add(meta.name);
    }
    if (leaderless.length > 0) throw new Error(`no leader on ${request.to} for ${named(leaderless)}`);
    // Pre-flight decides whether a move may go ahead without the topic on the new side (force); not the warm-up.
    if (missing.length > 0) notes.push(`not on ${request.to}, nothing to warm: ${named(missing)}`);

    // 2 connections to every leader on every lane (each connect negotiates the API versions)
    const lanes = client.lanes;
    const connecting: Promise<unknown>[] = [];
    for (const leader of leaders) {
      for (let lane = 0; lane < lanes; lane++) {
        connecting.push(
          client.connection(leader, lane).catch((error: unknown) => {
            throw new Error(`${request.to} broker ${leader} (lane ${lane}) unreachable: ${errorMessage(error)}`);
          }),
        );
      }
    }
    await Promise.all(connecting);
    stopIfAborted();

    // 3 upstream producer ids for the generation the move creates, once per (client pid, epoch, generation)
    const jobs = new Map<string, () => Promise<unknown> | unknown>();
    for (const { topic, generation } of request.topics) {
      if (!present.has(topic)) continue;
      for (const p of options.recentProducers.of(topic, recentWithinMs)) {
        const key = `${p.producerId}:${p.producerEpoch}:${generation}`;
        if (!jobs.has(key)) jobs.set(key, () => options.producerIds.lookup(topic, p, request.to, generation));
      }
    }
    const queue = [...jobs.values()];
    const worker = async (): Promise<void> => {
      for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
        stopIfAborted();
        try {
          await job();
        } catch (error) {
          throw new Error(`no producer id from ${request.to}: ${errorMessage(error)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
    stopIfAborted();

    return {
      ms: performance.now() - started,
      topics: present.size,
      connections: leaders.size * lanes,
      producerIds: jobs.size,
      notes,
    };
  };
}
