// Upstream fault: the target broker stops in the middle of a run and comes back. The producer, connected only
// to the proxy, recovers by itself (no restart, no reconnect by the application) and every record that was
// acknowledged is on the target.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, kafkaFor, createTopic, readTopic, uniqueTopic } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { startCluster, stopCluster } from '../../scripts/kafka/testbed.ts';

let proxy: RunningProxy;
const topic = uniqueTopic('fault');

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopic('target', topic, 2), createTopic('source', topic, 2)]);
  proxy = await startProxy({ routes: { default: 'target' } });
});

after(async () => {
  await proxy?.stop();
  await startCluster('target'); // leave the pair as we found it, even when the test failed midway
});

test('target broker restart: the producer recovers and no acknowledged record is lost', async (t) => {
  const producer = kafkaFor(proxy.bootstrap, 'kmp-it-fault').producer({
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 5_000 },
  });
  await producer.connect();
  const acked: string[] = [];
  let failures = 0;
  let stop = false;
  const loop = (async () => {
    for (let i = 0; !stop; i++) {
      try {
        await producer.send({ topic, acks: -1, messages: [{ key: `k${i % 5}`, value: `v${i}` }] });
        acked.push(`v${i}`);
      } catch {
        failures++;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  })();
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await wait(1000);
  const before = acked.length;
  assert.ok(before > 0, 'records flow before the fault');
  await stopCluster('target');
  t.diagnostic(`target stopped after ${before} acknowledged records`);
  await wait(2000);
  await startCluster('target');
  const restartedAt = acked.length;
  // Recovery: within 60 s the producer is acknowledged again, without any action from the application.
  const deadline = Date.now() + 60_000;
  while (acked.length < restartedAt + 20 && Date.now() < deadline) await wait(200);
  stop = true;
  await loop;
  await producer.disconnect();
  t.diagnostic(`acknowledged ${acked.length} records in all, ${failures} sends failed during the outage`);
  assert.ok(acked.length >= restartedAt + 20, 'the producer recovered after the broker came back');

  const got = new Set((await readTopic('target', topic)).map((r) => r.value));
  const lost = acked.filter((v) => !got.has(v));
  assert.deepEqual(lost, [], 'no acknowledged record is lost');
  assert.equal((await readTopic('source', topic)).length, 0, 'nothing went to the source');
});
