import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { ProducerInventory } from '../../src/inventory.ts';
import { splitBatches, type BatchView } from '../../protocol/record-batch.ts';
import { buildBatch, encodeRecord } from '../support/build-batch.ts';

function confluentValue(schemaId: number, payload: string): Buffer {
  const b = Buffer.alloc(5);
  b.writeInt32BE(schemaId, 1);
  return Buffer.concat([b, Buffer.from(payload)]);
}

/** What the Produce path hands over: its own header pass over the blob, and the blob. */
const views = (records: Buffer): BatchView[] => splitBatches(records) as BatchView[];

const who = (clientId: string, software: string) => ({ clientId, softwareName: software, softwareVersion: '1.0', remoteAddress: '127.0.0.1:5555', principal: null });

test('inventory lists producers per topic with software, pids, compression, counts and sampled schema ids', async () => {
  const inv = new ProducerInventory({ sampleEvery: 1, subjectsOf: (id) => (id === 7 ? ['orders-value'] : undefined) });
  const idem = buildBatch({ producerId: 42n, producerEpoch: 0, baseSequence: 0, records: [{ key: 'a', value: confluentValue(7, 'x') }, { key: 'b', value: confluentValue(7, 'y') }] });
  inv.observe(who('app-1', 'apache-kafka-java'), 'orders', 'source', views(idem), idem, 1_000);
  inv.observe(who('app-1', 'apache-kafka-java'), 'orders', 'source', views(idem), idem, 2_000);
  const gz = buildBatch({ attributes: 1, recordsCount: 1, lastOffsetDelta: 0, recordsPayload: zlib.gzipSync(encodeRecord({ key: confluentValue(3, 'k'), value: confluentValue(9, 'z') }, 0)) });
  inv.observe(who('app-2', 'librdkafka'), 'orders', 'target', views(gz), gz, 2_500);
  const plainBatch = buildBatch({ records: [{ value: 'not confluent' }] });
  inv.observe(who('app-2', 'librdkafka'), 'plain', 'target', views(plainBatch), plainBatch, 3_000);
  // Nothing is read inside observe(): the samples are still queued.
  assert.deepEqual(inv.topics()[0].schemaIds, []);
  await inv.samplesSettled();

  const [orders, plain] = inv.topics();
  assert.equal(orders.topic, 'orders');
  assert.equal(orders.producers.length, 2);
  const java = orders.producers.find((p) => p.clientId === 'app-1')!;
  assert.equal(java.software.name, 'apache-kafka-java');
  assert.deepEqual(java.producerIds, ['42']);
  assert.equal(java.idempotent, true);
  assert.equal(java.records, 4);
  assert.equal(java.bytes, idem.length * 2);
  assert.deepEqual(java.compressions, ['none']);
  assert.deepEqual(java.remoteAddresses, ['127.0.0.1']);
  const rd = orders.producers.find((p) => p.clientId === 'app-2')!;
  assert.deepEqual(rd.compressions, ['gzip']);
  assert.equal(rd.idempotent, false);
  assert.deepEqual(rd.clusters, ['target']);
  assert.deepEqual(orders.schemaIds, [
    { id: 3, samples: 1, parts: ['key'], via: ['payload'], subjects: [] },
    { id: 7, samples: 4, parts: ['value'], via: ['payload'], subjects: ['orders-value'] },
    { id: 9, samples: 1, parts: ['value'], via: ['payload'], subjects: [] },
  ]);
  assert.deepEqual([...inv.schemaIdsOf(['orders', 'plain', 'absent'])].map(([t, ids]) => [t, [...ids.keys()].sort()]), [['orders', [3, 7, 9]]]);
  assert.equal(plain.nonSchemaSamples, 1);
  assert.deepEqual(plain.schemaIds, []);
});

test('only one batch in sampleEvery per topic is offered to the sampler, and a new id is announced once', async () => {
  const announced: string[] = [];
  const inv = new ProducerInventory({ sampleEvery: 4, onNewSchemaId: (topic, id) => announced.push(`${topic}:${id}`) });
  const batch = buildBatch({ records: [{ value: confluentValue(11, 'v') }] });
  for (let i = 0; i < 10; i++) inv.observe(who('c', 's'), 'events', 'source', views(batch), batch);
  await inv.samplesSettled();
  assert.equal(inv.samplerStats.offered, 3); // batches 0, 4 and 8
  assert.deepEqual(inv.topics()[0].schemaIds.map((s) => [s.id, s.samples]), [[11, 3]]);
  assert.deepEqual(announced, ['events:11']);
});

test('inventory memory is bounded: topic and producer caps evict the least recently used', () => {
  const inv = new ProducerInventory({ maxTopics: 3, maxProducersPerTopic: 2 });
  const batch = buildBatch({ records: [{ value: 'v' }] });
  for (let i = 0; i < 10; i++) inv.observe(who(`c${i}`, 's'), `t${i % 5}`, 'source', views(batch), batch);
  const topics = inv.topics();
  assert.equal(topics.length, 3);
  for (const t of topics) assert.ok(t.producers.length <= 2);
});
