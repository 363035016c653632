// Upstream fault: the target broker stops in the middle of a run and comes back. The producer, connected only
// to the proxy, recovers by itself (no restart, no reconnect by the application) and every record that was
// acknowledged is on the target. The target here is a scratch broker this file owns: the shared pair is never
// stopped (other files and helpers use it at the same time).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, kafkaFor, createTopic, readTopic, readTopicAt, uniqueTopic, bootstrapOf } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { startScratchBroker, type ScratchBroker } from '../support/scratch-broker.ts';
import { createTopicsAt } from '../support/write-back.ts';
import { RecordingRelay } from '../../scripts/capture/recording-relay.ts';

let proxy: RunningProxy | null = null;
let scratchTarget: ScratchBroker | null = null;
const topic = uniqueTopic('fault');

before(async () => {
  await ensureKafkaPair();
  scratchTarget = await startScratchBroker('uf-target');
  await Promise.all([createTopicsAt(scratchTarget.bootstrap, [topic], 2), createTopic('source', topic, 2)]);
  proxy = await startProxy({ routes: { default: 'target' }, clusters: { target: [scratchTarget.bootstrap] } });
});

after(async () => {
  await proxy?.stop();
  await scratchTarget?.stop();
});

test('target broker restart: the producer recovers and no acknowledged record is lost', async (t) => {
  const kmp = proxy as RunningProxy;
  const target = scratchTarget as ScratchBroker;
  const producer = kafkaFor(kmp.bootstrap, 'kmp-it-fault').producer({
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
  t.diagnostic(`target stopping after ${before} acknowledged records`);
  await target.restart({ downMs: 2000 });
  const restartedAt = acked.length;
  // Recovery: within 60 s the producer is acknowledged again, without any action from the application.
  const deadline = Date.now() + 60_000;
  while (acked.length < restartedAt + 20 && Date.now() < deadline) await wait(200);
  stop = true;
  await loop;
  await producer.disconnect();
  t.diagnostic(`acknowledged ${acked.length} records in all, ${failures} sends failed during the outage`);
  assert.ok(acked.length >= restartedAt + 20, 'the producer recovered after the broker came back');

  const got = new Set((await readTopicAt(target.bootstrap, topic)).map((r) => r.value));
  const lost = acked.filter((v) => !got.has(v));
  assert.deepEqual(lost, [], 'no acknowledged record is lost');
  assert.equal((await readTopic('source', topic)).length, 0, 'nothing went to the source');
});

test('a cluster that cannot be reached at all: partitions get a retriable error, the connection stays, a rollback is not held up', async (t) => {
  // The target is reached through a relay the test can shut; metadata expires quickly so the proxy must ask.
  const topic2 = uniqueTopic('fault-unreach');
  await Promise.all([createTopic('target', topic2, 1), createTopic('source', topic2, 1)]);
  const [host, port] = bootstrapOf('target').split(':');
  const relay = new RecordingRelay(host, Number(port));
  const relayPort = await relay.listen();
  const p2 = await startProxy({
    routes: { default: 'source', batches: { away: { topics: [topic2] } } },
    extra: {
      clusters: {
        source: { bootstrap: [bootstrapOf('source')] },
        target: { bootstrap: [`127.0.0.1:${relayPort}`], requestTimeoutMs: 3_000, metadataTtlMs: 300 },
      },
      flip: { timeoutMs: 3_000, maxHeldRequests: 1000 },
    },
  });
  const post = (path: string) => fetch(`${p2.adminUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"reason":"fault test"}' });
  try {
    assert.equal((await post('/v1/batches/away/flip')).status, 200);
    const producer = kafkaFor(p2.bootstrap, 'kmp-it-unreach').producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 500 } });
    await producer.connect();
    try {
      await producer.send({ topic: topic2, acks: -1, messages: [{ value: 'before' }] });
      await relay.close(); // the target is gone
      await new Promise((r) => setTimeout(r, 600)); // past metadataTtlMs: the proxy has to ask the target again
      const err = await producer.send({ topic: topic2, acks: -1, messages: [{ value: 'during' }] }).then(() => null, (e: Error) => e);
      assert.ok(err !== null, 'the send fails while the target is unreachable');
      t.diagnostic(`client saw: ${err.message}`);
      // Every ticket of the failed writes was settled: the rollback's drain has nothing to wait for.
      const started = Date.now();
      const back = await post('/v1/batches/away/rollback');
      assert.equal(back.status, 200, await back.text());
      assert.ok(Date.now() - started < 2_500, 'the rollback was not held up by leaked writes');
      await producer.send({ topic: topic2, acks: -1, messages: [{ value: 'after' }] });
    } finally {
      await producer.disconnect();
    }
    assert.equal(p2.child.exitCode, null, 'the proxy is still running');
    assert.doesNotMatch(p2.logs(), /request handler failed/);
    const onSource = (await readTopic('source', topic2)).map((r) => r.value);
    assert.deepEqual(onSource, ['after']);
  } finally {
    await p2.stop();
    await relay.close().catch(() => undefined);
  }
});
