// Write-back (issue #13): while a wave is on the target, kmp copies every batch the target acknowledged into the
// same partition of the source, in the target's order, exactly once. Consumers here read the clusters DIRECTLY.
// - Two idempotent kafkajs producers (two client connections, so acknowledgements of one partition can arrive
//   out of order) write keyed records through kmp while the test runs CYCLES × (flip, rollback) and ends on the
//   target; a rollback completes only once the copy caught up. Then, reading the source directly: every
//   acknowledged record is there exactly once, and per partition every key's records keep their send order.
// - kill -9 kmp while it copies, restart it on the same state: nothing lost, nothing duplicated on the source,
//   and the copy resumed from DescribeProducers.
// - ackAfterWriteBack: at every acknowledgement the source already holds the record.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, createTopics, readTopic, uniqueTopic, type ConsumedRecord } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { kafkajsStreamingProducer, pump, sleep, type StreamingProducer } from '../support/streaming-producers.ts';

const PARTITIONS = 3;
const KEYS = 30;
const WRITE_BACK_ON = { writeBack: { default: { writeBack: true } }, flip: { timeoutMs: 15_000 } };

before(async () => {
  await ensureKafkaPair();
});

async function admin(proxy: RunningProxy, path: string, body: unknown = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${proxy.adminUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function move(proxy: RunningProxy, action: 'flip' | 'rollback' | 'promote', wave: string): Promise<{ status: number; json: Record<string, unknown> }> {
  for (let attempt = 0; ; attempt++) {
    const r = await admin(proxy, `/v1/batches/${wave}/${action}`, { reason: 'write-back test' });
    // An in-doubt write (a retry still pending) aborts a move by design; try again, as an operator would.
    if (r.status === 200 || attempt >= 5 || !JSON.stringify(r.json).includes('unknown outcome')) return r;
    await sleep(300);
  }
}

function valueSeq(v: string): number {
  return Number(v.split('#')[1]);
}

/** Every acknowledged record once on the source, nothing else from the producers, per-key order per partition. */
function checkSource(records: readonly ConsumedRecord[], producers: readonly StreamingProducer[], label: string): number {
  const seen = new Map<string, number>();
  for (const r of records) seen.set(r.value ?? '', (seen.get(r.value ?? '') ?? 0) + 1);
  let checked = 0;
  for (const p of producers) {
    for (const value of p.acked.keys()) {
      assert.equal(seen.get(value), 1, `${label}: acknowledged ${value} is on the source ${seen.get(value) ?? 0} times`);
      checked++;
    }
  }
  const dup = [...seen].filter(([, n]) => n > 1);
  assert.deepEqual(dup, [], `${label}: duplicates on the source`);
  const last = new Map<string, number>();
  for (const r of records) {
    const v = r.value ?? '';
    const k = `${r.partition}/${v.split('#')[0]}/${r.key}`;
    const seq = valueSeq(v);
    assert.ok(seq > (last.get(k) ?? -1), `${label}: ${v} comes after a later record of the same producer and key in partition ${r.partition}`);
    last.set(k, seq);
  }
  return checked;
}

function producersFor(proxy: RunningProxy, topic: string, n: number): StreamingProducer[] {
  return Array.from({ length: n }, () => kafkajsStreamingProducer({ bootstrap: proxy.bootstrap, firstTopic: topic, maxPerRequest: 50 }));
}

function feed(p: StreamingProducer, i: number, topic: string, rate: number) {
  return pump(p, { ratePerSec: rate, maxOutstanding: 500, next: (seq) => ({ topic, key: `k${seq % KEYS}`, value: `p${i}#${seq}` }) });
}

test('flip, rollback, re-flip under load: every acknowledged record is on the source exactly once, in order', { timeout: 120_000 }, async () => {
  const topic = uniqueTopic('wb-cycles');
  await Promise.all([createTopics('source', [topic], PARTITIONS), createTopics('target', [topic], PARTITIONS)]);
  const proxy = await startProxy({ routes: { default: 'source', batches: { 'wave-1': { topics: [topic] } } }, extra: WRITE_BACK_ON });
  try {
    const producers = producersFor(proxy, topic, 2);
    await Promise.all(producers.map((p) => p.start()));
    const pumps = producers.map((p, i) => feed(p, i, topic, 200));
    const holds: number[] = [];
    const CYCLES = 4;
    for (let c = 0; c < CYCLES; c++) {
      await sleep(700);
      const f = await move(proxy, 'flip', 'wave-1');
      assert.equal(f.status, 200, JSON.stringify(f.json));
      await sleep(900);
      const r = await move(proxy, 'rollback', 'wave-1');
      assert.equal(r.status, 200, `rollback ${c}: ${JSON.stringify(r.json)}`);
      holds.push((r.json.timings as { holdMs: number }).holdMs);
    }
    await sleep(500);
    assert.equal((await move(proxy, 'flip', 'wave-1')).status, 200);
    await sleep(800);
    await Promise.all(pumps.map((p) => p.stop()));
    await Promise.all(producers.map((p) => p.close(20_000)));
    for (const p of producers) assert.deepEqual(p.errors, [], `${p.client} errors`);
    // The last stay on the target: its copy catches up without a rollback.
    const metrics = await waitForLagZero(proxy, topic);
    const source = await readTopic('source', topic);
    const checked = checkSource(source, producers, 'source');
    const copied = Number(/kmp_writeback_copied_records_total\{topic="[^"]+"\} (\d+)/.exec(metrics)?.[1] ?? '0');
    assert.ok(copied > 0, 'records were copied');
    holds.sort((a, b) => a - b);
    console.log(`write-back cycles: ${checked} records checked on the source, ${CYCLES * 2 + 1} moves, ${copied} records copied; rollback hold ms min ${holds[0].toFixed(1)} median ${holds[holds.length >> 1].toFixed(1)} max ${holds[holds.length - 1].toFixed(1)}`);
  } finally {
    await proxy.stop();
  }
});

async function waitForLagZero(proxy: RunningProxy, topic: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    const lag = new RegExp(`kmp_writeback_lag_records\\{topic="${topic}"\\} (\\d+)`).exec(text);
    if (lag !== null && lag[1] === '0') return text;
    if (Date.now() > deadline) {
      const lines = proxy.logs().split('\n').filter((l) => l.includes('write-back')).slice(-15);
      assert.fail(`write-back lag of ${topic} did not reach 0: ${lag?.[0] ?? 'no lag metric'}\n${lines.join('\n')}`);
    }
    await sleep(100);
  }
}

test('kill -9 while copying, restart: nothing lost or duplicated on the source, resumed via DescribeProducers', { timeout: 120_000 }, async () => {
  const topic = uniqueTopic('wb-kill');
  await Promise.all([createTopics('source', [topic], PARTITIONS), createTopics('target', [topic], PARTITIONS)]);
  const routes = { default: 'source' as const, batches: { 'wave-1': { topics: [topic] } } };
  let proxy = await startProxy({ routes, extra: WRITE_BACK_ON });
  const { port, adminPort, stateDir } = proxy;
  const producers = producersFor(proxy, topic, 1);
  try {
    await producers[0].start();
    assert.equal((await move(proxy, 'flip', 'wave-1')).status, 200);
    const p = feed(producers[0], 0, topic, 600);
    await sleep(1500);
    await proxy.stop('SIGKILL');
    await sleep(300);
    proxy = await startProxy({ routes, extra: WRITE_BACK_ON, port, adminPort, stateDir });
    await sleep(1500);
    await p.stop();
    await producers[0].close(30_000);
    // Errors while kmp was down are expected (the client retries); every acknowledged record must be there.
    await waitForLagZero(proxy, topic);
    const r = await move(proxy, 'rollback', 'wave-1');
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const checked = checkSource(await readTopic('source', topic), producers, 'after restart');
    assert.match(proxy.logs(), /write-back: resumed \(DescribeProducers on the source\)/);
    const resumed = proxy.logs().split('\n').filter((l) => l.includes('write-back: resumed') || l.includes('landed before the restart'));
    console.log(`kill -9: ${checked} acknowledged records checked on the source; ${producers[0].errors.length} client errors while kmp was down; ${resumed.length} resume lines:\n${resumed.join('\n')}`);
  } finally {
    await proxy.stop();
  }
});

test('ackAfterWriteBack: at every acknowledgement the source already has the record', { timeout: 90_000 }, async () => {
  const topic = uniqueTopic('wb-ack');
  await Promise.all([createTopics('source', [topic], 1), createTopics('target', [topic], 1)]);
  const proxy = await startProxy({
    routes: { default: 'source', batches: { 'wave-1': { topics: [topic] } } },
    extra: { ...WRITE_BACK_ON, writeBack: { default: { writeBack: true }, waves: { 'wave-1': { ackAfterWriteBack: true } } } },
  });
  const { kafkaFor } = await import('../support/kafka.ts');
  const producer = kafkaFor(proxy.bootstrap, 'kmp-wb-ack').producer({ idempotent: true, maxInFlightRequests: 1 });
  try {
    await producer.connect();
    assert.equal((await move(proxy, 'flip', 'wave-1')).status, 200);
    for (let i = 0; i < 20; i++) {
      await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: `ack#${i}` }] });
      // Straight after the acknowledgement, read the source directly.
      const source = await readTopic('source', topic);
      assert.ok(source.some((r) => r.value === `ack#${i}`), `ack#${i} was acknowledged before the source had it`);
    }
  } finally {
    await producer.disconnect();
    await proxy.stop();
  }
});
