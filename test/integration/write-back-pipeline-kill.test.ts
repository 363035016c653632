// Write-back pipelining (issue #13): up to 5 copies in flight per partition. kmp is killed (SIGKILL) twice while
// the Java idempotent producer (5 requests in flight) and librdkafka write through it fast enough that copies
// are pipelined, and restarted on the same state each time. Then, reading the SOURCE directly: every
// acknowledged record exactly once, per partition in each producer's send order; the copies resumed from
// DescribeProducers, and the killed processes had copies pipelined (depth ≥ 2) — so what was in flight when
// they died was a pipeline, not a single copy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, createTopics, readTopic, uniqueTopic } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { javaStreamingProducer, pump, rdkafkaStreamingProducer, sleep, type Pump, type StreamingProducer } from '../support/streaming-producers.ts';
import { checkExactlyOnceInOrder, moveWave, waitForLagZero } from '../support/write-back.ts';

const PARTITIONS = 2;
const KILLS = 2;
const WRITE_BACK_ON = { writeBack: { default: { writeBack: true } }, flip: { timeoutMs: 15_000 } };

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

/** The deepest pipeline a kmp process logged ('write-back: copies pipelined', debug). */
function deepestPipeline(logs: string): number {
  let deepest = 1;
  for (const line of logs.split('\n')) {
    if (!line.includes('write-back: copies pipelined')) continue;
    const depth = (JSON.parse(line) as { depth?: number }).depth ?? 1;
    if (depth > deepest) deepest = depth;
  }
  return deepest;
}

test(`kill -9 mid-pipeline (${KILLS}×), restart: the source has every acknowledged record exactly once, in order`, { timeout: 150_000 }, async () => {
  const topic = uniqueTopic('wb-pipe-kill');
  await Promise.all([createTopics('source', [topic], PARTITIONS), createTopics('target', [topic], PARTITIONS)]);
  const routes = { default: 'source' as const, batches: { 'wave-1': { topics: [topic] } } };
  proxy = await startProxy({ routes, extra: WRITE_BACK_ON });
  const { port, adminPort, stateDir } = proxy;
  const kmpBootstrap = proxy.bootstrap;
  assert.equal((await moveWave(proxy, 'flip', 'wave-1')).status, 200);
  producers.push(
    javaStreamingProducer({ bootstrap: kmpBootstrap, firstTopic: topic, props: { 'client.id': 'kmp-wb-pipe-java', 'linger.ms': '2', 'batch.size': '4096' } }),
    rdkafkaStreamingProducer({ bootstrap: kmpBootstrap, firstTopic: topic, config: { 'linger.ms': 2, 'batch.num.messages': 20 } }),
  );
  await Promise.all(producers.map((p) => p.start()));
  const tags = ['java', 'rdkafka'];
  // Small batches at a high rate: many target acknowledgements per source round trip, so copies queue up.
  pumps.push(...producers.map((p, i) => pump(p, { ratePerSec: 1_500, maxOutstanding: 3_000, next: (seq) => ({ topic, key: `k${seq % 40}`, value: `${tags[i]}#${seq}` }) })));

  const depths: number[] = [];
  for (let k = 0; k < KILLS; k++) {
    await sleep(2_000 + k * 700);
    const killed = proxy;
    await killed.stop('SIGKILL');
    depths.push(deepestPipeline(killed.logs()));
    await sleep(300);
    proxy = await startProxy({ routes, extra: WRITE_BACK_ON, port, adminPort, stateDir });
  }
  await sleep(1_500);
  await Promise.all(pumps.splice(0).map((p) => p.stop()));
  await Promise.all(producers.map((p) => p.close(60_000)));
  const closed = producers.splice(0);
  for (const p of closed) assert.ok(p.acked.size > 1_000, `${p.client}: ${p.acked.size} records acknowledged`);

  await waitForLagZero(proxy, topic, 45_000);
  const r = await moveWave(proxy, 'rollback', 'wave-1');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const checked = checkExactlyOnceInOrder(await readTopic('source', topic, 60_000), closed, 'source after kill -9 mid-pipeline');
  assert.match(proxy.logs(), /write-back: resumed \(DescribeProducers on the source\)/);
  assert.ok(depths.every((d) => d >= 2), `every killed process had copies pipelined (deepest per process: ${depths.join(', ')})`);
  // Errors while kmp was down are expected (the clients retry); what was acknowledged must be on the source.
  const clientErrors = closed.flatMap((p) => p.errors);
  console.log(`WB-FIGURES ${JSON.stringify({ figure: 'kill -9 mid-pipeline', kills: KILLS, deepestPipelinePerKilledProcess: depths, recordsChecked: checked, clientErrors: clientErrors.length, sampleError: clientErrors[0] ?? null })}`);
});
