// Write-back with a hung source (issue #13): the SOURCE here is a scratch broker this file owns (the shared pair is
// never paused), the target is the shared target. Producers write through kmp the whole time.
// 1. Rollback hold with a healthy source: several (flip, rollback) cycles under load; the rollback's hold includes
//    the tail of the copy. The distribution is printed as one JSON line prefixed WB-FIGURES.
// 2. Flip to the target, SIGSTOP the source: a rollback aborts within ~1.5 × flip.timeoutMs naming the write-back lag, the
//    route stays on the target, and producers keep being acknowledged (by the target). SIGCONT: the lag drains to 0
//    and the rollback then succeeds. Read directly from the source: every acknowledged record exactly once, in order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, createTopics, readTopicAt, uniqueTopic } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { startScratchBroker, type ScratchBroker } from '../support/scratch-broker.ts';
import { kafkajsStreamingProducer, pump, sleep, type Pump, type StreamingProducer } from '../support/streaming-producers.ts';
import { checkExactlyOnceInOrder, copiedRecordsOf, createTopicsAt, distribution, holdMsOf, lagRecordsOf, metricsText, moveWave, waitForLagZero } from '../support/write-back.ts';

const PARTITIONS = 2;
const FLIP_TIMEOUT_MS = 4_000;
const HEALTHY_ROLLBACKS = 6;

let scratch: ScratchBroker | null = null;
let proxy: RunningProxy | null = null;
/** Stopped and closed in after() too, so a failed assertion does not leave clients keeping the process alive. */
const pumps: Pump[] = [];
const producers: StreamingProducer[] = [];

before(async () => {
  await ensureKafkaPair();
  scratch = await startScratchBroker('wb-pause');
});

after(async () => {
  scratch?.resume(); // a failed assertion may leave it paused
  await Promise.all(pumps.map((p) => p.stop()));
  await Promise.all(producers.map((p) => p.close(5_000).catch(() => undefined)));
  await proxy?.stop();
  await scratch?.stop();
});

async function routeOf(p: RunningProxy, topic: string): Promise<string> {
  const res = await fetch(`${p.adminUrl}/v1/routes/resolve?topic=${encodeURIComponent(topic)}`);
  const body = (await res.json()) as { cluster?: string };
  return String(body.cluster);
}

function ackedCount(producers: readonly StreamingProducer[]): number {
  return producers.reduce((n, p) => n + p.acked.size, 0);
}

test('rollback with a paused source aborts within ~1.5 × flip.timeoutMs and loses nothing; after SIGCONT the lag drains and rollback succeeds', { timeout: 150_000 }, async () => {
  const source = scratch as ScratchBroker;
  const topic = uniqueTopic('wb-pause');
  await Promise.all([createTopicsAt(source.bootstrap, [topic], PARTITIONS), createTopics('target', [topic], PARTITIONS)]);
  proxy = await startProxy({
    routes: { default: 'source', batches: { 'wave-1': { topics: [topic] } } },
    clusters: { source: [source.bootstrap] },
    extra: { writeBack: { default: { writeBack: true } }, flip: { timeoutMs: FLIP_TIMEOUT_MS } },
  });
  const kmp = proxy;
  producers.push(...[0, 1].map(() => kafkajsStreamingProducer({ bootstrap: kmp.bootstrap, firstTopic: topic, maxPerRequest: 50 })));
  await Promise.all(producers.map((p) => p.start()));
  pumps.push(...producers.map((p, i) => pump(p, { ratePerSec: 150, maxOutstanding: 400, next: (seq) => ({ topic, key: `k${seq % 20}`, value: `p${i}#${seq}` }) })));

  // ── 1. the rollback hold with a healthy source ─────────────────────────────────────────────────────────────
  const holds: number[] = [];
  for (let c = 0; c < HEALTHY_ROLLBACKS; c++) {
    await sleep(400);
    const f = await moveWave(kmp, 'flip', 'wave-1');
    assert.equal(f.status, 200, `flip ${c}: ${JSON.stringify(f.json)}`);
    await sleep(700);
    const r = await moveWave(kmp, 'rollback', 'wave-1');
    assert.equal(r.status, 200, `healthy rollback ${c}: ${JSON.stringify(r.json)}`);
    holds.push(holdMsOf(r));
  }
  console.log(`WB-FIGURES ${JSON.stringify({ figure: 'rollback hold with write-back, healthy source (ms)', load: '2 kafkajs producers x 150 rec/s, 2 partitions', ...distribution(holds) })}`);

  // ── 2. the source hangs while the wave is on the target ───────────────────────────────────────────────────
  assert.equal((await moveWave(kmp, 'flip', 'wave-1')).status, 200);
  await sleep(800);
  source.pause();
  const pausedAt = Date.now();
  await sleep(500);
  const ackedBefore = ackedCount(producers);
  const started = performance.now();
  const aborted = await moveWave(kmp, 'rollback', 'wave-1', 0);
  const tookMs = performance.now() - started;
  const text = JSON.stringify(aborted.json);
  assert.notEqual(aborted.status, 200, `a rollback with the source paused must not succeed: ${text}`);
  // A hung source fails the pre-flight or the warm-up (the rollback then holds nothing) or, if the hang begins later, the copy's
  // drain; either way the answer names the write-back lag.
  assert.match(text, /write-back lag: |write-back to the source did not catch up/, text);
  assert.match(text, new RegExp(`${topic}\\[\\d\\] \\d+ records`), `the abort names the lag per partition: ${text}`);
  // Before the hold kmp looks up the topics (a hung cluster gives up after flip.timeoutMs / 2) and runs the
  // pre-flight and the warm-up, each bounded by flip.timeoutMs; the first to give up refuses the move. Allow
  // scheduling slack on a loaded machine, but far below the 30 s upstream request timeout.
  assert.ok(tookMs < FLIP_TIMEOUT_MS * 1.5 + 3_000, `rollback took ${tookMs.toFixed(0)} ms; flip.timeoutMs is ${FLIP_TIMEOUT_MS}: ${text}`);
  assert.equal(await routeOf(kmp, topic), 'target', 'the route stays on the target');
  const lagWhilePaused = lagRecordsOf(await metricsText(kmp), topic);
  assert.ok(lagWhilePaused !== null && lagWhilePaused > 0, `write-back lag while the source is paused: ${lagWhilePaused}`);
  await sleep(1_500);
  const ackedDuring = ackedCount(producers) - ackedBefore;
  assert.ok(ackedDuring > 50, `producers keep being acknowledged by the target while the source is paused (${ackedDuring} in ~${((Date.now() - pausedAt) / 1000).toFixed(1)} s)`);

  source.resume();
  const resumedAt = performance.now();
  await waitForLagZero(kmp, topic, 45_000);
  const drainMs = performance.now() - resumedAt;
  const back = await moveWave(kmp, 'rollback', 'wave-1');
  assert.equal(back.status, 200, `rollback after SIGCONT: ${JSON.stringify(back.json)}`);
  assert.equal(await routeOf(kmp, topic), 'source');

  await sleep(500);
  await Promise.all(pumps.splice(0).map((p) => p.stop()));
  await Promise.all(producers.map((p) => p.close(30_000)));
  const closed = producers.splice(0);
  // A kafkajs request that was in flight when the source stopped may have timed out before the flip; the client
  // retried it. What matters: every record it was told is written is on the source exactly once.
  const records = await readTopicAt(source.bootstrap, topic, 45_000, 'scratch source');
  const checked = checkExactlyOnceInOrder(records, closed, 'source');
  const copied = copiedRecordsOf(await metricsText(kmp), topic);
  console.log(
    `WB-FIGURES ${JSON.stringify({ figure: 'paused source', rollbackAbortMs: Math.round(tookMs), flipTimeoutMs: FLIP_TIMEOUT_MS, lagWhilePaused, ackedWhilePaused: ackedDuring, drainAfterSigcontMs: Math.round(drainMs), recordsChecked: checked, copied, clientErrors: closed.flatMap((p) => p.errors).length })}`,
  );
});
