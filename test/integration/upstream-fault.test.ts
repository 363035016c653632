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
  const acked: AckedRecord[] = [];
  const failed: FailedSend[] = [];
  let stop = false;
  const loop = (async () => {
    for (let i = 0; !stop; i++) {
      try {
        const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: `k${i % 5}`, value: `v${i}` }] });
        acked.push({ value: `v${i}`, partition: meta.partition, offset: BigInt(meta.baseOffset ?? '-1') });
      } catch (err) {
        failed.push({ value: `v${i}`, error: errorChain(err), ackedBefore: acked.length });
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
  t.diagnostic(`acknowledged ${acked.length} records in all, ${failed.length} sends failed during the outage`);
  assert.ok(acked.length >= restartedAt + 20, 'the producer recovered after the broker came back');

  const onTarget = new Map((await readTopicAt(target.bootstrap, topic)).map((r) => [r.value, r]));
  const excused = reusedSequenceAcks(acked, failed, onTarget);
  for (const f of failed) t.diagnostic(`failed send ${f.value} (written: ${onTarget.has(f.value)}): ${f.error}`);
  for (const a of excused) t.diagnostic(`${a.value} was acknowledged as the broker's duplicate of a failed send's written batch (kafkajs reused its sequence)`);
  const lost = acked.filter((a) => !onTarget.has(a.value) && !excused.has(a)).map((a) => a.value);
  assert.deepEqual(lost, [], 'no acknowledged record is lost');
  assert.equal((await readTopic('source', topic)).length, 0, 'nothing went to the source');
});

interface AckedRecord {
  value: string;
  partition: number;
  offset: bigint;
}

interface FailedSend {
  value: string;
  error: string;
  /** How many records were acknowledged before this send failed. */
  ackedBefore: number;
}

/**
 * Acknowledgements that are not kmp's to keep: kafkajs rolls an idempotent producer's sequence back after ANY failed
 * send (sendMessages.js: `updateSequence(topic, partition, -n)` in its catch) and never bumps the epoch, so when a
 * send fails although its batch was written (the broker stopped after appending it, before kmp got its answer; kmp
 * then answers "maybe written" with a retriable error, and the client's retries all fail during the outage), the
 * next send to that partition carries the same producer id, epoch and sequence. The broker takes it for a
 * duplicate of the written batch: it answers OK with the written batch's offset and drops the new record. Evidence:
 * test/integration/kafkajs-sequence-reuse.test.ts reproduces it without kmp (kafkajs straight to a broker through a
 * relay that loses one Produce response). Such an ack is excused only if it is exactly that: the first ack on the
 * failed record's partition after the failure, answered with the failed record's offset. Anything else missing is
 * a real loss.
 */
function reusedSequenceAcks(acked: readonly AckedRecord[], failed: readonly FailedSend[], onTarget: ReadonlyMap<string | null, { partition: number; offset: bigint }>): Set<AckedRecord> {
  const excused = new Set<AckedRecord>();
  for (const f of failed) {
    const written = onTarget.get(f.value);
    if (written === undefined) continue;
    const next = acked.slice(f.ackedBefore).find((a) => a.partition === written.partition);
    if (next !== undefined && !onTarget.has(next.value) && next.offset === written.offset) excused.add(next);
  }
  return excused;
}

function errorChain(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error && parts.length < 4; e = (e as Error & { originalError?: unknown }).originalError ?? e.cause) {
    parts.push(`${e.name}: ${e.message}`);
  }
  return parts.join(' <- ');
}

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
