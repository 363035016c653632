// Bench topics on the shared test-bed pair: uniquely named per run, and deleted afterwards unless --keep-topics,
// because the pair is shared with other work and 1 KiB × 10^5 records per run adds up.
import { randomUUID } from 'node:crypto';
import { createTopic, withAdmin, type ClusterName } from '../../test/support/kafka.ts';
import { log } from './progress.ts';

export function benchTopic(prefix: string): string {
  return `bench-${prefix}-${randomUUID().slice(0, 8)}`;
}

export async function createTopics(clusters: readonly ClusterName[], topics: readonly string[], partitions: number): Promise<void> {
  for (const cluster of clusters) {
    // One admin call per topic: kafkajs' createTopics with waitForLeaders is happiest with small requests.
    for (const topic of topics) await createTopic(cluster, topic, partitions);
  }
}

export async function deleteTopics(clusters: readonly ClusterName[], topics: readonly string[]): Promise<void> {
  for (const cluster of clusters) {
    try {
      await withAdmin(cluster, (admin) => admin.deleteTopics({ topics: [...topics], timeout: 30_000 }));
    } catch (err) {
      log(`could not delete bench topics on ${cluster} (${String(err)}); delete them by hand: ${topics.join(', ')}`);
    }
  }
}
