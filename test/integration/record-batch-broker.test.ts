// The batch-header rewrite against Kafka's own checks: a batch whose producer id/epoch the codec rewrote (CRC
// patched in O(log n)) is accepted by a real broker, a batch with a broken CRC is refused with CORRUPT_MESSAGE
// (so acceptance means the broker really checked), and the Java consumer — which verifies every batch's CRC
// (check.crcs=true, its default) — reads the rewritten records back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import pino from 'pino';
import { ensureKafkaPair, createTopic, uniqueTopic, bootstrapOf } from '../support/kafka.ts';
import { ClusterClient } from '../../src/upstream/cluster-client.ts';
import { ApiKey } from '../../protocol/messages/index.ts';
import { defaultProduceRequest } from '../../protocol/messages/produce-request.ts';
import type { ProduceResponse } from '../../protocol/messages/produce-response.ts';
import { ZERO_UUID } from '../../protocol/uuid.ts';
import { rewriteProducer, splitBatches, verifyCrc, type BatchView } from '../../protocol/record-batch.ts';
import { buildBatch } from '../support/build-batch.ts';
import { LIBS_DIR } from '../../scripts/kafka/testbed.ts';

const topic = uniqueTopic('rewrite');
let client: ClusterClient;

before(async () => {
  await ensureKafkaPair();
  await createTopic('source', topic, 1);
  client = new ClusterClient({ name: 'source', bootstrap: [bootstrapOf('source')], requestTimeoutMs: 10_000, metadataTtlMs: 1_000, maxFrameBytes: 100 * 1024 * 1024, logger: pino({ level: 'silent' }) });
  await client.start();
});

after(() => client?.close());

async function produce(records: Buffer): Promise<number> {
  const meta = await client.topic(topic);
  const conn = await client.connection(meta.partitions[0].leaderId);
  const res = (await conn.send(ApiKey.Produce, 9, {
    ...defaultProduceRequest(),
    acks: -1,
    timeoutMs: 10_000,
    topicData: [{ name: topic, topicId: ZERO_UUID, partitionData: [{ index: 0, records }] }],
  })) as ProduceResponse;
  return res.responses[0].partitionResponses[0].errorCode;
}

test('a rewritten batch is accepted by the broker and read back by the Java consumer with CRC checks', async () => {
  // A batch as a client would send it under some other producer id, then mapped to a pid this cluster issued.
  const values = Array.from({ length: 20 }, (_, i) => `rewritten-${i}-${'z'.repeat(200)}`);
  const batch = buildBatch({ producerId: 999_999n, producerEpoch: 3, baseSequence: 0, records: values.map((v, i) => ({ key: `k${i}`, value: v })) });
  const { producerId, producerEpoch } = await client.initProducerId();
  rewriteProducer(batch, 0, { producerId, producerEpoch });
  const view = splitBatches(batch)[0] as BatchView;
  assert.equal(view.producerId, producerId);
  assert.equal(view.producerEpoch, producerEpoch);
  assert.ok(verifyCrc(view), 'our own check agrees');
  assert.equal(await produce(batch), 0, 'the broker accepts the rewritten batch');

  // Control: the same kind of batch with one flipped bit in the records but the old CRC is refused.
  const bad = buildBatch({ producerId, producerEpoch, baseSequence: 20, records: [{ key: 'x', value: 'corrupt' }] });
  bad[bad.length - 2] ^= 0x01;
  assert.equal(await produce(bad), 2, 'CORRUPT_MESSAGE: the broker verifies batch CRCs on produce');

  const out = spawnSync('java', [
    '-cp', path.join(LIBS_DIR, '*'), 'org.apache.kafka.tools.consumer.ConsoleConsumer',
    '--bootstrap-server', bootstrapOf('source'), '--topic', topic, '--from-beginning',
    '--max-messages', String(values.length), '--timeout-ms', '20000',
    '--command-property', 'check.crcs=true', '--command-property', 'auto.offset.reset=earliest',
  ], { encoding: 'utf8', timeout: 60_000 });
  const lines = out.stdout.split('\n').filter((l) => l.startsWith('rewritten-'));
  assert.deepEqual(lines, values, `the Java consumer reads every record (stderr: ${out.stderr.slice(-500)})`);
});
