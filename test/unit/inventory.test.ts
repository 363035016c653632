import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { ProducerInventory, firstRecordValue } from '../../src/inventory.ts';
import { buildBatch, encodeRecord } from '../support/build-batch.ts';

function confluentValue(schemaId: number, payload: string): Buffer {
  const b = Buffer.alloc(5);
  b.writeInt32BE(schemaId, 1);
  return Buffer.concat([b, Buffer.from(payload)]);
}

const who = (clientId: string, software: string) => ({ clientId, softwareName: software, softwareVersion: '1.0', remoteAddress: '127.0.0.1:5555', principal: null });

test('firstRecordValue reads the value of the first record, or null on garbage', () => {
  const rec = encodeRecord({ key: 'k', value: 'hello' }, 0);
  assert.equal(firstRecordValue(rec)?.toString(), 'hello');
  assert.equal(firstRecordValue(encodeRecord({ key: null, value: null }, 0)), null);
  assert.equal(firstRecordValue(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), null);
  assert.equal(firstRecordValue(rec.subarray(0, 5)), null);
});

test('inventory lists producers per topic with software, pids, compression and counts', () => {
  const inv = new ProducerInventory({ sampleEvery: 1 });
  const idem = buildBatch({ producerId: 42n, producerEpoch: 0, baseSequence: 0, records: [{ key: 'a', value: confluentValue(7, 'x') }, { key: 'b', value: confluentValue(7, 'y') }] });
  inv.observe(who('app-1', 'apache-kafka-java'), 'orders', 'source', idem, null, 1_000);
  inv.observe(who('app-1', 'apache-kafka-java'), 'orders', 'source', idem, null, 2_000);
  const gz = buildBatch({ attributes: 1, recordsCount: 1, lastOffsetDelta: 0, recordsPayload: zlib.gzipSync(encodeRecord({ key: 'k', value: confluentValue(9, 'z') }, 0)) });
  inv.observe(who('app-2', 'librdkafka'), 'orders', 'target', gz, null, 2_500);
  inv.observe(who('app-2', 'librdkafka'), 'plain', 'target', buildBatch({ records: [{ value: 'not confluent' }] }), null, 3_000);

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
  assert.deepEqual(orders.schemaIds, [{ id: 7, samples: 2 }, { id: 9, samples: 1 }]);
  assert.equal(plain.nonSchemaSamples, 1);
  assert.deepEqual(plain.schemaIds, []);
});

test('inventory memory is bounded: topic and producer caps evict the least recently used', () => {
  const inv = new ProducerInventory({ maxTopics: 3, maxProducersPerTopic: 2 });
  const batch = buildBatch({ records: [{ value: 'v' }] });
  for (let i = 0; i < 10; i++) inv.observe(who(`c${i}`, 's'), `t${i % 5}`, 'source', batch, null);
  const topics = inv.topics();
  assert.equal(topics.length, 3);
  for (const t of topics) assert.ok(t.producers.length <= 2);
});
