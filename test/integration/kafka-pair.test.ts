// The test bed itself: both real clusters accept idempotent, acks=all writes from kafkajs and give the
// records back in order. Everything else in the integration suite stands on this.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, kafkaFor, bootstrapOf, createTopic, readTopic, uniqueTopic, withAdmin, type ClusterName } from '../support/kafka.ts';
import { CLUSTERS } from '../../scripts/kafka/testbed.ts';

test('source and target are two distinct clusters', async () => {
  await ensureKafkaPair();
  const ids = await Promise.all((['source', 'target'] as const).map((c) => withAdmin(c, async (a) => (await a.describeCluster()).clusterId)));
  assert.equal(ids[0], CLUSTERS.source.clusterId);
  assert.equal(ids[1], CLUSTERS.target.clusterId);
  assert.notEqual(ids[0], ids[1]);
});

for (const cluster of ['source', 'target'] as ClusterName[]) {
  test(`kafkajs idempotent acks=all round trip on ${cluster}`, async () => {
    await ensureKafkaPair();
    const topic = uniqueTopic(`pair-${cluster}`);
    await createTopic(cluster, topic, 3);
    const producer = kafkaFor(bootstrapOf(cluster)).producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const sent: { key: string; value: string }[] = [];
    try {
      for (let batch = 0; batch < 10; batch++) {
        const messages = Array.from({ length: 30 }, (_, i) => ({ key: `k${(batch * 30 + i) % 7}`, value: `${cluster}-${batch * 30 + i}` }));
        sent.push(...messages);
        const acks = await producer.send({ topic, acks: -1, messages });
        assert.ok(acks.every((a) => a.errorCode === 0));
      }
    } finally {
      await producer.disconnect();
    }
    const got = await readTopic(cluster, topic);
    assert.equal(got.length, sent.length, 'every record comes back exactly once');
    // Per key, the values come back in the order they were sent (a key maps to one partition).
    const byKeySent = new Map<string, string[]>();
    for (const m of sent) byKeySent.set(m.key, [...(byKeySent.get(m.key) ?? []), m.value]);
    const byKeyGot = new Map<string, string[]>();
    for (const r of got) byKeyGot.set(r.key!, [...(byKeyGot.get(r.key!) ?? []), r.value!]);
    assert.deepEqual(byKeyGot, byKeySent);
    // Offsets within each partition are contiguous from 0: nothing lost, nothing duplicated.
    const perPartition = new Map<number, bigint[]>();
    for (const r of got) perPartition.set(r.partition, [...(perPartition.get(r.partition) ?? []), r.offset]);
    for (const offsets of perPartition.values()) offsets.forEach((o, i) => assert.equal(o, BigInt(i)));
  });
}
