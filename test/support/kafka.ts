// Helpers for integration tests that talk to the real Kafka pair directly (not through the proxy).
import { Kafka, logLevel, type Admin, type RetryOptions } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { bootstrapOf, startCluster, type ClusterName } from '../../scripts/kafka/testbed.ts';

export { bootstrapOf };
export type { ClusterName };

/** Starts both clusters if they are not running (tests may run without the global setup). */
export async function ensureKafkaPair(): Promise<void> {
  await Promise.all([startCluster('source'), startCluster('target')]);
}

/** `retry` overrides the defaults (a test that outlasts kafkajs' retries on purpose, e.g. a fenced fleet). */
export function kafkaFor(brokers: string | string[], clientId = 'kmp-test', retry: RetryOptions = {}): Kafka {
  return new Kafka({
    clientId,
    brokers: Array.isArray(brokers) ? brokers : [brokers],
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 100, ...retry },
  });
}

export function uniqueTopic(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export async function withAdmin<T>(cluster: ClusterName, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafkaFor(bootstrapOf(cluster), 'kmp-test-admin').admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

export async function createTopic(cluster: ClusterName, topic: string, partitions: number): Promise<void> {
  await createTopics(cluster, [topic], partitions);
}

/**
 * Creates several topics in one CreateTopics request and waits until each has a leader. A broker that has just
 * started (or is busy) may answer with a retriable error: retried, and "already exists" from an earlier attempt
 * counts as done.
 */
export async function createTopics(cluster: ClusterName, topics: string[], partitions: number): Promise<void> {
  await withAdmin(cluster, async (admin) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })), waitForLeaders: false });
        break;
      } catch (err) {
        const type = (err as { type?: string }).type ?? '';
        const nested = ((err as { errors?: { type?: string }[] }).errors ?? []).map((e) => e.type ?? '');
        if ([type, ...nested].every((t) => t === 'TOPIC_ALREADY_EXISTS') && nested.length > 0) break;
        if (attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const meta = await admin.fetchTopicMetadata({ topics });
        if (meta.topics.every((t) => t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0))) return;
      } catch (err) {
        if (attempt > 100) throw err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  });
}

export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: bigint;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

/**
 * Reads a topic from the beginning directly from one cluster until the end offsets seen at the start are
 * reached (so it also proves the *absence* of records: it does not wait for an expected count).
 */
export async function readTopic(cluster: ClusterName, topic: string, timeoutMs = 30_000): Promise<ConsumedRecord[]> {
  return await readTopicAt(bootstrapOf(cluster), topic, timeoutMs, cluster);
}

/** readTopic for any broker (a scratch broker a test owns); `label` names it in errors. */
export async function readTopicAt(bootstrap: string, topic: string, timeoutMs = 30_000, label = bootstrap): Promise<ConsumedRecord[]> {
  const kafka = kafkaFor(bootstrap, 'kmp-test-reader');
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<number, bigint>();
  try {
    for (const o of await admin.fetchTopicOffsets(topic)) ends.set(o.partition, BigInt(o.high));
  } finally {
    await admin.disconnect();
  }
  const pending = new Set([...ends].filter(([, high]) => high > 0n).map(([p]) => p));
  const out: ConsumedRecord[] = [];
  if (pending.size === 0) return out;
  const consumer = kafka.consumer({ groupId: `kmp-test-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`readTopic(${label}, ${topic}) timed out; partitions left: ${[...pending]}`)), timeoutMs);
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          const offset = BigInt(message.offset);
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
          out.push({ topic, partition, offset, key: message.key?.toString() ?? null, value: message.value?.toString() ?? null, headers });
          if (offset + 1n >= (ends.get(partition) ?? 0n)) pending.delete(partition);
          if (pending.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  out.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
  return out;
}
