// The data path end to end with kafkajs: one idempotent producer session writes, through the proxy, to topics
// routed to the source and to the target; reading both clusters directly shows every record in exactly the
// cluster its route names, in order, with no loss or duplicate, in the partition it would have had directly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, kafkaFor, createTopic, readTopic, uniqueTopic, type ConsumedRecord } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { Partitioners } from 'kafkajs';

let proxy: RunningProxy;
const srcTopic = uniqueTopic('route-src');
const tgtTopic = uniqueTopic('route-tgt');

before(async () => {
  await ensureKafkaPair();
  // Both topics exist on both clusters (as in a real migration); only the route decides where writes go.
  await Promise.all([
    createTopic('source', srcTopic, 4), createTopic('target', srcTopic, 4),
    createTopic('source', tgtTopic, 4), createTopic('target', tgtTopic, 4),
  ]);
  // Default route = target, and a batch (on the source, its initial state) holds the source topic: the
  // client-facing producer id then comes from the target, and batches to the source are rewritten to a pid
  // the source issued — the header-rewrite path is exercised on every source write.
  proxy = await startProxy({ routes: { default: 'target', batches: { 'stay-on-source': { topics: [srcTopic] } } } });
});

after(async () => {
  await proxy?.stop();
});

function expectedPartition(key: string, partitions: number): number {
  // kafkajs' default partitioner is murmur2 (Java-compatible); computing it with kafkajs itself keeps the test
  // honest about "the same partition it would have had without the proxy".
  const partitioner = Partitioners.DefaultPartitioner();
  return partitioner({ topic: 't', partitionMetadata: Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] })), message: { key, value: '' } });
}

function groupByKey(records: ConsumedRecord[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const r of records) m.set(r.key!, [...(m.get(r.key!) ?? []), r.value!]);
  return m;
}

test('kafkajs: idempotent acks=all producer writes to source- and target-routed topics in one session', async () => {
  const producer = kafkaFor(proxy.bootstrap, 'kmp-it-kafkajs').producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const sent = new Map<string, { key: string; value: string }[]>([[srcTopic, []], [tgtTopic, []]]);
  try {
    for (let round = 0; round < 8; round++) {
      for (const topic of [srcTopic, tgtTopic]) {
        const messages = Array.from({ length: 25 }, (_, i) => ({ key: `key-${(round * 25 + i) % 11}`, value: `${topic}:${round * 25 + i}` }));
        sent.get(topic)!.push(...messages);
        await producer.send({ topic, acks: -1, messages });
      }
    }
  } finally {
    await producer.disconnect();
  }
  for (const [topic, cluster, other] of [[srcTopic, 'source', 'target'], [tgtTopic, 'target', 'source']] as const) {
    const got = await readTopic(cluster, topic);
    const wrong = await readTopic(other, topic);
    assert.equal(wrong.length, 0, `${topic}: nothing may reach ${other}`);
    assert.equal(got.length, sent.get(topic)!.length, `${topic}: every record exactly once on ${cluster}`);
    const expected = new Map<string, string[]>();
    for (const m of sent.get(topic)!) expected.set(m.key, [...(expected.get(m.key) ?? []), m.value]);
    assert.deepEqual(groupByKey(got), expected, `${topic}: per-key order equals send order`);
    for (const r of got) assert.equal(r.partition, expectedPartition(r.key!, 4), `${topic}: key ${r.key} in its direct-path partition`);
    // Offsets contiguous from 0 per partition: no duplicates, no gaps.
    const perPartition = new Map<number, bigint[]>();
    for (const r of got) perPartition.set(r.partition, [...(perPartition.get(r.partition) ?? []), r.offset]);
    for (const offsets of perPartition.values()) offsets.forEach((o, i) => assert.equal(o, BigInt(i)));
  }
});

test('a topic that does not exist: the client sees UNKNOWN_TOPIC_OR_PARTITION like from the cluster', async () => {
  const producer = kafkaFor(proxy.bootstrap, 'kmp-it-missing').producer({ allowAutoTopicCreation: false, retry: { retries: 1, initialRetryTime: 50 } });
  await producer.connect();
  try {
    await assert.rejects(
      producer.send({ topic: uniqueTopic('does-not-exist'), acks: -1, messages: [{ value: 'x' }] }),
      (err: Error) => /does not host this topic-partition|UNKNOWN_TOPIC_OR_PARTITION|This server does not host/i.test(`${err.message} ${(err as { type?: string }).type ?? ''} ${String((err as { originalError?: unknown }).originalError ?? '')}`),
    );
  } finally {
    await producer.disconnect();
  }
});
