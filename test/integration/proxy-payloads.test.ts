// Payload shapes through the proxy with kafkajs: 1 MiB records, gzip-compressed batches, and acks=0 (no
// response at all, and the connection's later responses still line up).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { CompressionTypes } from 'kafkajs';
import { ensureKafkaPair, kafkaFor, createTopic, readTopic, uniqueTopic } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';

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
