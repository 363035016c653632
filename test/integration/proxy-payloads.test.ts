// Payload shapes through the proxy with kafkajs: 1 MiB records, gzip-compressed batches, and acks=0 (no
// response at all, and the connection's later responses still line up).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { CompressionTypes } from 'kafkajs';
import { ensureKafkaPair, kafkaFor, createTopic, readTopic, uniqueTopic, bootstrapOf } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { produceWithRdkafka } from '../support/rdkafka.ts';
import { consumeWithJava, runJavaProducer } from '../support/java-client.ts';

let proxy: RunningProxy;
const big = uniqueTopic('big');
const gz = uniqueTopic('gzip');
const fire = uniqueTopic('acks0');

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopic('target', big, 1), createTopic('source', gz, 2), createTopic('source', fire, 1)]);
  proxy = await startProxy({ routes: { default: 'source', batches: { large: { topics: [big] } } } });
  const flip = await fetch(`${proxy.adminUrl}/v1/batches/large/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"reason":"payload test","force":true}' });
  assert.equal(flip.status, 200, await flip.text());
});

after(async () => {
  await proxy?.stop();
});

test('1 MiB records, routed to the target with producer-id rewrite, arrive intact', async () => {
  const producer = kafkaFor(proxy.bootstrap, 'kmp-it-big').producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  // Hex text of random bytes: 1 MiB values that survive the UTF-8 round trip of readTopic byte for byte.
  const values = Array.from({ length: 3 }, () => randomBytes(512 * 1024 - 100).toString('hex'));
  try {
    for (const [i, v] of values.entries()) await producer.send({ topic: big, acks: -1, messages: [{ key: `big-${i}`, value: v }] });
  } finally {
    await producer.disconnect();
  }
  const got = await readTopic('target', big);
  assert.equal(got.length, 3);
  assert.deepEqual(got.map((r) => r.key), ['big-0', 'big-1', 'big-2']);
  got.forEach((r, i) => assert.ok(r.value === values[i], `record ${i}: all ${values[i].length} bytes identical`));
});

test('gzip-compressed batches pass through unchanged and decode on the cluster side', async () => {
  const producer = kafkaFor(proxy.bootstrap, 'kmp-it-gzip').producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const sent: string[] = [];
  try {
    for (let b = 0; b < 5; b++) {
      const messages = Array.from({ length: 50 }, (_, i) => ({ key: `g${i % 4}`, value: `gzip-${b}-${i}-${'x'.repeat(100)}` }));
      sent.push(...messages.map((m) => m.value));
      await producer.send({ topic: gz, acks: -1, compression: CompressionTypes.GZIP, messages });
    }
  } finally {
    await producer.disconnect();
  }
  const got = await readTopic('source', gz);
  assert.deepEqual(new Set(got.map((r) => r.value)), new Set(sent));
  assert.equal(got.length, sent.length);
  const digest = (xs: string[]) => createHash('sha256').update(xs.sort().join('\n')).digest('hex');
  assert.equal(digest(got.map((r) => r.value!)), digest([...sent]));
});

test('gzip, snappy and lz4 (librdkafka) and zstd (Java) batches pass through unchanged (target route, producer-id rewrite)', async () => {
  // The librdkafka client here is built without libzstd, so zstd comes from the Java producer.
  const zstdValues = Array.from({ length: 200 }, (_, i) => `zstd-${i}-${'compressible '.repeat(20)}`);
  const java = await runJavaProducer({ bootstrap: proxy.bootstrap, topic: big, records: zstdValues.map((value, i) => ({ key: `c${i % 3}`, value })), props: { 'compression.type': 'zstd', 'linger.ms': '20' } });
  assert.equal(java.acked, 200, java.stderr);
  for (const codec of ['gzip', 'snappy', 'lz4'] as const) {
    const values = Array.from({ length: 200 }, (_, i) => `${codec}-${i}-${'compressible '.repeat(20)}`);
    const r = await produceWithRdkafka({
      bootstrap: proxy.bootstrap,
      records: values.map((value, i) => ({ topic: big, key: `c${i % 3}`, value })),
      config: { 'compression.codec': codec, 'linger.ms': 20 },
    });
    assert.deepEqual(r.deliveries.filter((d) => d.error !== null), [], `${codec}: every record delivered`);
  }
  // kafkajs cannot decompress snappy/lz4/zstd: read with Kafka's own Java consumer (which also checks CRCs).
  const { values: got, stderr } = consumeWithJava({ bootstrap: bootstrapOf('target'), topic: big, maxMessages: 3 + 800 });
  const odd = got.filter((v) => !/^(gzip|snappy|lz4|zstd)-/.test(v) && v.length < 1000);
  assert.deepEqual(odd, [], 'only the records of this topic');
  assert.equal(got.length, 803, stderr.slice(-1000));
  for (const codec of ['gzip', 'snappy', 'lz4', 'zstd']) {
    assert.equal(got.filter((v) => v.startsWith(`${codec}-`)).length, 200, `${codec}: all 200 records on the target`);
  }
});

test('acks=0: records are forwarded, no response is sent, and later acks=all responses still match', async () => {
  const producer = kafkaFor(proxy.bootstrap, 'kmp-it-acks0').producer({ idempotent: false });
  await producer.connect();
  try {
    for (let i = 0; i < 20; i++) await producer.send({ topic: fire, acks: 0, messages: [{ value: `fire-${i}` }] });
    // A request with a response after the fire-and-forget ones: kafkajs matches it by correlation id, and the
    // proxy must not have queued empty slots that would hold it back.
    const res = await producer.send({ topic: fire, acks: -1, messages: [{ value: 'acked' }] });
    assert.equal(res[0].errorCode, 0);
  } finally {
    await producer.disconnect();
  }
  const got = await readTopic('source', fire);
  assert.equal(got.length, 21);
  assert.equal(got.at(-1)!.value, 'acked');
});
