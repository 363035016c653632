// Self-check of the client helpers (Java, kcat, @confluentinc/kafka-javascript): each produces keyed records
// straight to the source broker, and everything must read back with per-key order intact. If these fail, the
// helpers are broken, not the proxy.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapOf, createTopic, ensureKafkaPair, readTopic, uniqueTopic, type ConsumedRecord } from '../support/kafka.ts';
import { runJavaProducer, runProducerPerformance } from '../support/java-client.ts';
import { runKcatProducer } from '../support/kcat.ts';
import { produceWithRdkafka } from '../support/rdkafka.ts';

const RECORDS = 50;
const KEYS = 7;

/** key-i with values `key-i:seq`, interleaved across keys so that per-key order is a real check. */
function keyedRecords(prefix: string): { key: string; value: string }[] {
  return Array.from({ length: RECORDS }, (_, seq) => {
    const key = `${prefix}-k${seq % KEYS}`;
    return { key, value: `${key}#${seq}` };
  });
}

function assertReadBack(sent: { key: string; value: string }[], read: ConsumedRecord[]): void {
  assert.equal(read.length, sent.length, 'every record is read back exactly once');
  const partitionOfKey = new Map<string, number>();
  const readByKey = new Map<string, string[]>();
  for (const r of read) {
    assert.ok(r.key !== null);
    const p = partitionOfKey.get(r.key);
    if (p === undefined) partitionOfKey.set(r.key, r.partition);
    else assert.equal(r.partition, p, `key ${r.key} stays on one partition`);
    readByKey.set(r.key, [...(readByKey.get(r.key) ?? []), r.value ?? '']);
  }
  const sentByKey = new Map<string, string[]>();
  for (const r of sent) sentByKey.set(r.key, [...(sentByKey.get(r.key) ?? []), r.value]);
  assert.deepEqual(readByKey, sentByKey, 'per-key order is preserved');
}

describe('client helpers produce directly to the source cluster', { timeout: 240_000 }, () => {
  const bootstrap = bootstrapOf('source');
  before(async () => {
    await ensureKafkaPair();
  });

  test('Java producer (KmpTestProducer)', async () => {
    const topic = uniqueTopic('direct-java');
    await createTopic('source', topic, 3);
    const records = keyedRecords('java');
    const res = await runJavaProducer({ bootstrap, topic, records });
    assert.equal(res.exitCode, 0, res.stderr);
    assert.equal(res.acked, RECORDS);
    assert.equal(res.failed, 0);
    assert.deepEqual(res.deliveries.map((d) => d.index), records.map((_, i) => i));
    assertReadBack(records, await readTopic('source', topic));
  });

  test('kcat (librdkafka 2.0.2)', async () => {
    const topic = uniqueTopic('direct-kcat');
    await createTopic('source', topic, 3);
    const records = keyedRecords('kcat');
    const res = await runKcatProducer({ bootstrap, topic, records });
    assert.equal(res.exitCode, 0, res.stderr);
    assert.equal(res.failedDeliveries, 0, res.stderr);
    assertReadBack(records, await readTopic('source', topic));
  });

  test('@confluentinc/kafka-javascript (librdkafka 2.15)', async () => {
    const topic = uniqueTopic('direct-rdkafka');
    await createTopic('source', topic, 3);
    const records = keyedRecords('rdkafka');
    const res = await produceWithRdkafka({ bootstrap, topic, records });
    assert.equal(res.deliveries.length, RECORDS);
    for (const d of res.deliveries) {
      assert.equal(d.error, null, `record ${d.index}: ${d.error}`);
      assert.ok(d.partition !== null && d.partition >= 0 && d.partition < 3);
      assert.ok(d.offset !== null && d.offset >= 0);
    }
    assertReadBack(records, await readTopic('source', topic));
  });

  test('ProducerPerformance summary is parsed', async () => {
    const topic = uniqueTopic('direct-perf');
    await createTopic('source', topic, 3);
    const res = await runProducerPerformance({ bootstrap, topic, numRecords: 2000, recordSize: 100, throughput: -1 });
    assert.equal(res.exitCode, 0, res.stderr);
    assert.equal(res.records, 2000);
    assert.ok(res.recordsPerSec > 0);
    assert.ok(res.p99Ms >= res.p50Ms);
    const read = await readTopic('source', topic);
    assert.equal(read.length, 2000);
  });
});
