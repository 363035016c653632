// Write-back's recovery path reads batches back from the target (issue #13): here records written DIRECTLY to the
// target (a writer that bypassed kmp) sit between records kmp copied itself, so the copier finds target offsets
// nobody handed over and fetches them. A batch read back carries its target offset as baseOffset, and Kafka
// refuses a client append whose baseOffset is not 0 (INVALID_RECORD): the copy must reset it. Before that fix
// this was the kill -9 flake (lag stuck after a restart: the tail kmp acknowledged but had not copied before it
// died can only come back this way). Then, reading the source directly: every record once, in the target's order.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapOf, createTopics, ensureKafkaPair, kafkaFor, readTopic, uniqueTopic } from '../support/kafka.ts';
import { startProxy } from '../support/proxy.ts';
import { moveWave, waitForLagZero } from '../support/write-back.ts';

before(async () => {
  await ensureKafkaPair();
});

test('batches read back from the target (not handed over by the data path) are copied to the source, in the target order', { timeout: 90_000 }, async () => {
  const topic = uniqueTopic('wb-gap');
  await Promise.all([createTopics('source', [topic], 1), createTopics('target', [topic], 1)]);
  const proxy = await startProxy({
    routes: { default: 'source', batches: { 'wave-1': { topics: [topic] } } },
    extra: { writeBack: { default: { writeBack: true } }, flip: { timeoutMs: 15_000 } },
  });
  const viaKmp = kafkaFor(proxy.bootstrap, 'kmp-wb-gap').producer({ idempotent: true, maxInFlightRequests: 1 });
  const direct = kafkaFor(bootstrapOf('target'), 'kmp-wb-gap-direct').producer({ idempotent: true, maxInFlightRequests: 1 });
  const expected: string[] = [];
  try {
    await Promise.all([viaKmp.connect(), direct.connect()]);
    assert.equal((await moveWave(proxy, 'flip', 'wave-1')).status, 200);
    // kmp, then the bypass, then kmp again, a few times: each bypass batch is a gap at a non-zero target offset.
    for (let round = 0; round < 4; round++) {
      const mine = Array.from({ length: 5 }, (_, i) => `kmp-${round}-${i}`);
      await viaKmp.send({ topic, acks: -1, messages: mine.map((value) => ({ partition: 0, value })) });
      expected.push(...mine);
      const bypass = Array.from({ length: 3 }, (_, i) => `direct-${round}-${i}`);
      await direct.send({ topic, acks: -1, messages: bypass.map((value) => ({ partition: 0, value })) });
      expected.push(...bypass);
    }
    const last = ['kmp-last'];
    await viaKmp.send({ topic, acks: -1, messages: last.map((value) => ({ partition: 0, value })) });
    expected.push(...last);

    await waitForLagZero(proxy, topic, 30_000);
    const target = (await readTopic('target', topic)).map((r) => r.value);
    assert.deepEqual(target, expected, 'the target holds everything in this order');
    const source = (await readTopic('source', topic)).map((r) => r.value);
    assert.deepEqual(source, expected, 'the source holds the same records, once each, in the target order');
    assert.doesNotMatch(proxy.logs(), /failed with error 87/, 'no copy was refused as INVALID_RECORD');
  } finally {
    await Promise.all([viaKmp.disconnect(), direct.disconnect()]);
    await proxy.stop();
  }
});
