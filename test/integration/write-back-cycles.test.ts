// Write-back under many moves (issue #13): the Java idempotent producer (5 requests in flight) and librdkafka
// write keyed records through kmp while the wave goes CYCLES × (flip, rollback) and ends with a re-flip to the
// target; every rollback completes only once the copy caught up. Then an independent consumer reads the SOURCE
// directly (not through kmp): every acknowledged record exactly once, and per partition each producer's records
// (so each key's) in send order. The rollback holds are printed as one WB-FIGURES line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, createTopics, readTopic, uniqueTopic } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { javaStreamingProducer, pump, rdkafkaStreamingProducer, sleep, type Pump, type StreamingProducer } from '../support/streaming-producers.ts';
import { checkExactlyOnceInOrder, copiedRecordsOf, distribution, holdMsOf, moveWave, waitForLagZero } from '../support/write-back.ts';

const CYCLES = 30;
const PARTITIONS = 3;
const KEYS = 30;
const RATE_PER_CLIENT = 250;

let proxy: RunningProxy | null = null;
const pumps: Pump[] = [];
const producers: StreamingProducer[] = [];

before(async () => {
  await ensureKafkaPair();
});

after(async () => {
  await Promise.all(pumps.map((p) => p.stop()));
  await Promise.all(producers.map((p) => p.close(5_000).catch(() => undefined)));
  await proxy?.stop();
});

test(`${CYCLES} × (flip, rollback) and a re-flip under Java and librdkafka load: the source has every acknowledged record exactly once, in order`, { timeout: 170_000 }, async () => {
  const topic = uniqueTopic('wb-cycles30');
  await Promise.all([createTopics('source', [topic], PARTITIONS), createTopics('target', [topic], PARTITIONS)]);
  proxy = await startProxy({
    routes: { default: 'source', batches: { 'wave-1': { topics: [topic] } } },
    extra: { writeBack: { default: { writeBack: true } }, flip: { timeoutMs: 15_000 } },
  });
  const kmp = proxy;
  producers.push(
    javaStreamingProducer({ bootstrap: kmp.bootstrap, firstTopic: topic, props: { 'client.id': 'kmp-wb-cycles-java' } }),
    rdkafkaStreamingProducer({ bootstrap: kmp.bootstrap, firstTopic: topic }),
  );
  await Promise.all(producers.map((p) => p.start()));
  const tags = ['java', 'rdkafka'];
  pumps.push(...producers.map((p, i) => pump(p, { ratePerSec: RATE_PER_CLIENT, maxOutstanding: 1_000, next: (seq) => ({ topic, key: `k${seq % KEYS}`, value: `${tags[i]}#${seq}` }) })));

  const started = performance.now();
  const holds: number[] = [];
  let moves = 0;
  await sleep(500);
  for (let c = 0; c < CYCLES; c++) {
    const f = await moveWave(kmp, 'flip', 'wave-1');
    assert.equal(f.status, 200, `flip ${c}: ${JSON.stringify(f.json)}`);
    moves++;
    await sleep(250 + (c % 3) * 100); // some cycles copy more than others
    const r = await moveWave(kmp, 'rollback', 'wave-1');
    assert.equal(r.status, 200, `rollback ${c}: ${JSON.stringify(r.json)}`);
    holds.push(holdMsOf(r));
    moves++;
    await sleep(150);
  }
  assert.equal((await moveWave(kmp, 'flip', 'wave-1')).status, 200, 're-flip');
  moves++;
  const cyclesMs = performance.now() - started;
  await sleep(500);
  await Promise.all(pumps.splice(0).map((p) => p.stop()));
  await Promise.all(producers.map((p) => p.close(60_000)));
  const closed = producers.splice(0);
  for (const p of closed) {
    assert.ok(p.acked.size > 1_000, `${p.client}: ${p.acked.size} records acknowledged`);
    assert.deepEqual(p.errors.slice(0, 5), [], `${p.client} errors`);
  }
  // The last stay on the target: the copy catches up without a rollback.
  const metrics = await waitForLagZero(kmp, topic, 45_000);
  const source = await readTopic('source', topic, 60_000);
  const checked = checkExactlyOnceInOrder(source, closed, 'source');
  const copied = copiedRecordsOf(metrics, topic);
  assert.ok(copied > 0, 'records were copied');
  console.log(`WB-FIGURES ${JSON.stringify({ figure: 'write-back cycles', cycles: CYCLES, moves, recordsChecked: checked, onSource: source.length, copied, cyclesSeconds: Math.round(cyclesMs / 100) / 10, load: `java + rdkafka x ${RATE_PER_CLIENT} rec/s, ${PARTITIONS} partitions`, rollbackHoldMs: distribution(holds) })}`);
});
