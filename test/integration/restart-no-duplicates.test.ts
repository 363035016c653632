// kill -9 of kmp under an idempotent load on a topic that has moved, then a restart on the same port and state
// within about a second, many times over: the Java producer retries what was in flight under the same sequence
// numbers, and because the upstream producer ids are persisted (and a moved topic's generation is recovered from
// the ledger), the retry carries the same upstream pid and the broker deduplicates it. Before that fix, 2 of 5
// cycles put a batch twice on the target. Checked: every acknowledged record exactly once, per-key order.
//
// KMP_RESTART_CYCLES sets the number of cycles (default 6 in the suite; the figure was taken with 20).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTopics, ensureKafkaPair, readTopic, uniqueTopic } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { javaStreamingProducer, pump, sleep } from '../support/streaming-producers.ts';

const CYCLES = Number(process.env.KMP_RESTART_CYCLES ?? 6);
const topic = uniqueTopic('restart-dup');
const KEYS = 12;
let proxy: RunningProxy;

before(async () => {
  await ensureKafkaPair();
  await createTopics('source', [topic], 3);
  await createTopics('target', [topic], 3);
  proxy = await startProxy({ routes: { batches: { 'wave-r': { topics: [topic] } } }, extra: { log: { level: 'info' } } });
  const res = await fetch(`${proxy.adminUrl}/v1/batches/wave-r/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 200, await res.text());
});

after(async () => {
  await proxy?.stop('SIGKILL');
});

test(`${CYCLES} × kill -9 and restart under an idempotent load on a moved topic: no duplicate, no loss, per-key order`, async () => {
  // The Java producer keeps retrying across the restarts (delivery.timeout long enough to cover them).
  const producer = javaStreamingProducer({
    bootstrap: proxy.bootstrap,
    firstTopic: topic,
    props: { 'delivery.timeout.ms': '120000', 'request.timeout.ms': '5000', 'retry.backoff.ms': '50', 'reconnect.backoff.max.ms': '200' },
  });
  await producer.start();
  const load = pump(producer, { ratePerSec: Number(process.env.KMP_RESTART_RATE ?? 3000), maxOutstanding: 20_000, next: (seq) => ({ topic, key: `k${seq % KEYS}`, value: `java-${seq}` }) });
  let restarts = 0;
  for (let i = 0; i < CYCLES; i++) {
    await sleep(600 + Math.floor(Math.random() * 600));
    proxy.child.kill('SIGKILL');
    await proxy.stop('SIGKILL');
    await sleep(150);
    proxy = await startProxy({ routes: { batches: { 'wave-r': { topics: [topic] } } }, stateDir: proxy.stateDir, port: proxy.port, adminPort: proxy.adminPort, extra: { log: { level: 'info' } } });
    restarts++;
  }
  await sleep(1_500);
  await load.stop();
  await producer.close(90_000);

  const onTarget = await readTopic('target', topic, 60_000);
  const counts = new Map<string, number>();
  for (const r of onTarget) counts.set(r.value ?? '', (counts.get(r.value ?? '') ?? 0) + 1);
  const duplicates = [...counts].filter(([, n]) => n > 1);
  const lost = [...producer.acked.keys()].filter((v) => !counts.has(v));
  // Per key, the sequence numbers of one producer must only go up in the log (a re-appended batch goes down).
  const lastByKey = new Map<string, number>();
  const regressions: string[] = [];
  for (const r of [...onTarget].sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset))) {
    const seq = Number((r.value ?? '').slice('java-'.length));
    const last = lastByKey.get(r.key ?? '') ?? -1;
    if (seq <= last) regressions.push(`${r.key}: ${last} then ${seq}`);
    lastByKey.set(r.key ?? '', seq);
  }
  console.log(`restarts ${restarts}; acknowledged ${producer.acked.size} of ${producer.written}; on target ${onTarget.length}; duplicates ${duplicates.length}; lost ${lost.length}; per-key regressions ${regressions.length}; client errors ${producer.errors.length}`);
  assert.equal(restarts, CYCLES);
  assert.ok(producer.acked.size > 500, `only ${producer.acked.size} records acknowledged`);
  assert.deepEqual(duplicates.slice(0, 5), [], 'no record twice on the target');
  assert.deepEqual(lost.slice(0, 5), [], 'every acknowledged record on the target');
  assert.deepEqual(regressions.slice(0, 5), [], 'per-key order holds');
  assert.equal(onTarget.length, counts.size);
});
