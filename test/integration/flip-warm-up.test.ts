// Flips producers do not notice (issue #16 items 1-3), against the real brokers:
// - kafkajs and librdkafka idempotent producers write without pause while a batch is flipped and rolled back
//   several times: every move's answer and audit entry count 0 partition errors, the proxy's
//   kmp_produce_errors_total stays at 0, no producer sees an error, and each move warmed the new side first
//   (producer ids for both producers, connections to the leaders);
// - the new side unreachable (the target is reached through a relay the test closes): the move fails before it
//   holds anything, with the reason; the route stays on the source and the producer writing meanwhile sees no error.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, createTopics, bootstrapOf, uniqueTopic } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { kafkajsStreamingProducer, pump, rdkafkaStreamingProducer, sleep, type StreamingProducer } from '../support/streaming-producers.ts';
import { RecordingRelay } from '../../scripts/capture/recording-relay.ts';

const PARTITIONS = 3;
const RATE = 200;
const MOVES = 6;
const PAUSE_MS = 600;

interface PartitionErrors {
  total: number;
  byError: Record<string, number>;
  reasons: Record<string, number>;
}

interface MoveAnswer {
  version: number;
  timings: { holdMs: number } | null;
  heldRequests: number;
  rejectedRequests: number;
  partitionErrors: PartitionErrors | null;
  warmUp: { ms: number; topics: number; connections: number; producerIds: number; notes: string[] } | null;
  error?: { code: string; message: string };
}

interface AuditEntry {
  seq: number;
  action: string;
  outcome: string;
  version: number;
  changes: unknown[];
  details: { partitionErrors?: PartitionErrors; error?: string };
}

async function admin<T>(proxy: RunningProxy, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`${proxy.adminUrl}${path}`, {
    method,
    headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
    body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
  });
  return { status: res.status, json: (await res.json()) as T };
}

/** kmp_produce_errors_total summed over its labels (0 when the counter has no sample yet). */
async function produceErrors(proxy: RunningProxy): Promise<{ total: number; lines: string[] }> {
  const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  const lines = text.split('\n').filter((l) => l.startsWith('kmp_produce_errors_total{'));
  return { total: lines.reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0), lines };
}

before(async () => {
  await ensureKafkaPair();
});

test('kafkajs and librdkafka write through flips and rollbacks: 0 partition errors because of a move, every move warmed first', async (t) => {
  const topics = Array.from({ length: 4 }, (_, i) => uniqueTopic(`warm-${i}`));
  await Promise.all([createTopics('source', topics, PARTITIONS), createTopics('target', topics, PARTITIONS)]);
  const proxy = await startProxy({ routes: { default: 'source', batches: { wave: { topics } } } });
  const producers: StreamingProducer[] = [
    kafkajsStreamingProducer({ bootstrap: proxy.bootstrap, firstTopic: topics[0] }),
    rdkafkaStreamingProducer({ bootstrap: proxy.bootstrap, firstTopic: topics[0] }),
  ];
  const answers: MoveAnswer[] = [];
  const failures: string[] = [];
  try {
    await Promise.all(producers.map((p) => p.start()));
    const pumps = producers.map((p, n) =>
      pump(p, {
        ratePerSec: RATE,
        maxOutstanding: 2_000,
        next: (seq) => ({ topic: topics[(seq + n) % topics.length], key: `k${seq % 17}`, value: `${p.client}-${seq}` }),
      }),
    );
    let ackedBeforeMoves: number[] = [];
    let ackedAfterMoves: number[] = [];
    try {
      const deadline = Date.now() + 30_000;
      while (producers.some((p) => p.acked.size < 50) && Date.now() < deadline) await sleep(50);
      ackedBeforeMoves = producers.map((p) => p.acked.size);
      for (let i = 0; i < MOVES; i++) {
        await sleep(PAUSE_MS);
        const action = i % 2 === 0 ? 'flip' : 'rollback';
        const res = await admin<MoveAnswer>(proxy, 'POST', `/v1/batches/wave/${action}`, { reason: `warm-up test move ${i + 1}` });
        if (res.status !== 200) {
          failures.push(`${action} ${i + 1}: HTTP ${res.status} ${JSON.stringify(res.json)}`);
          continue;
        }
        answers.push(res.json);
        t.diagnostic(
          `${action} ${i + 1}: hold ${res.json.timings?.holdMs.toFixed(1)} ms, warm-up ${res.json.warmUp?.ms.toFixed(1)} ms ` +
            `(${res.json.warmUp?.connections} connections, ${res.json.warmUp?.producerIds} producer ids), ${res.json.heldRequests} held, ` +
            `partition errors ${JSON.stringify(res.json.partitionErrors)}`,
        );
      }
      ackedAfterMoves = producers.map((p) => p.acked.size);
      await sleep(PAUSE_MS);
    } finally {
      await Promise.all(pumps.map((p) => p.stop()));
      await Promise.all(producers.map((p) => p.close()));
    }
    assert.deepEqual(failures, [], 'every move succeeded');
    assert.equal(answers.length, MOVES);
    for (const [i, a] of answers.entries()) {
      assert.deepEqual(a.partitionErrors, { total: 0, byError: {}, reasons: {} }, `move ${i + 1}: no partition error answered`);
      assert.ok(a.warmUp !== null, `move ${i + 1} warmed the new side`);
      assert.equal(a.warmUp.topics, topics.length);
      assert.ok(a.warmUp.connections >= 1, 'connections to the leaders');
      assert.ok(a.warmUp.producerIds >= 2, `producer ids for both producers (got ${a.warmUp.producerIds})`);
    }
    // The load was real: both producers kept being acknowledged while the moves ran. (Whether a move happens to hold
    // a request is chance: holds last a few milliseconds.)
    for (const [n, p] of producers.entries()) {
      assert.ok(ackedAfterMoves[n] - ackedBeforeMoves[n] > 100, `${p.client}: ${ackedAfterMoves[n] - ackedBeforeMoves[n]} records acknowledged during the moves`);
    }
    t.diagnostic(`requests held by the moves: ${answers.map((a) => a.heldRequests).join(', ')}`);

    const audit = await admin<{ entries: AuditEntry[] }>(proxy, 'GET', '/v1/audit');
    const moves = audit.json.entries.filter((e) => e.changes.length > 0);
    assert.equal(moves.length, MOVES);
    for (const e of moves) assert.equal(e.details.partitionErrors?.total, 0, `audit seq ${e.seq}: 0 partition errors`);
    assert.equal(audit.json.entries.length, MOVES, 'no follow-up entry for errors after a switch');

    const metrics = await produceErrors(proxy);
    assert.equal(metrics.total, 0, `kmp_produce_errors_total: ${metrics.lines.join('; ')}`);
    for (const p of producers) {
      t.diagnostic(`${p.client}: ${p.written} written, ${p.acked.size} acknowledged, ${p.errors.length} error(s)`);
      assert.deepEqual(p.errors.slice(0, 5), [], `${p.client} saw no error`);
      assert.equal(p.acked.size, p.written, `${p.client}: every record acknowledged`);
    }
  } finally {
    await proxy.stop();
  }
});

test('the new side unreachable: the move fails before holding anything, with the reason; producers see no error', async (t) => {
  // The batch is on the target and moves back to the source, which is reached through a relay the test closes.
  // (A move *to* the target would be stopped earlier by its pre-flight; the warm-up guards every move.)
  const topic = uniqueTopic('warm-fail');
  await Promise.all([createTopics('source', [topic], PARTITIONS), createTopics('target', [topic], PARTITIONS)]);
  const [host, port] = bootstrapOf('source').split(':');
  const relay = new RecordingRelay(host, Number(port));
  const relayPort = await relay.listen();
  const proxy = await startProxy({
    routes: { default: 'source', batches: { wave: { topics: [topic] } } },
    extra: {
      clusters: {
        source: { bootstrap: [`127.0.0.1:${relayPort}`], requestTimeoutMs: 3_000 },
        target: { bootstrap: [bootstrapOf('target')] },
      },
    },
  });
  const producer = kafkajsStreamingProducer({ bootstrap: proxy.bootstrap, firstTopic: topic });
  try {
    const flip = await admin<MoveAnswer>(proxy, 'POST', '/v1/batches/wave/flip', { reason: 'to the target first' });
    assert.equal(flip.status, 200, JSON.stringify(flip.json));
    await producer.start();
    const load = pump(producer, { ratePerSec: RATE, next: (seq) => ({ topic, key: `k${seq % 7}`, value: `kafkajs-${seq}` }) });
    let res: { status: number; json: MoveAnswer };
    try {
      const deadline = Date.now() + 20_000;
      while (producer.acked.size < 50 && Date.now() < deadline) await sleep(50);
      await relay.close(); // the source is gone
      const started = performance.now();
      res = await admin<MoveAnswer>(proxy, 'POST', '/v1/batches/wave/rollback', { reason: 'warm-up failure test' });
      t.diagnostic(`rollback with the source unreachable: HTTP ${res.status} after ${(performance.now() - started).toFixed(0)} ms: ${JSON.stringify(res.json)}`);
      await sleep(1_000); // writes go on meanwhile
    } finally {
      await load.stop();
      await producer.close();
    }
    assert.equal(res.status, 503);
    assert.equal(res.json.error?.code, 'WARM_UP_FAILED');
    const message = res.json.error?.message ?? '';
    assert.match(message, /source/);
    assert.match(message, /nothing was held and the route stays on target/);

    const routes = await admin<{ version: number; batches: { name: string; cluster: string }[] }>(proxy, 'GET', '/v1/routes');
    assert.equal(routes.json.version, 1, 'no new version');
    assert.equal(routes.json.batches.find((b) => b.name === 'wave')?.cluster, 'target', 'route unchanged');
    const audit = await admin<{ entries: AuditEntry[] }>(proxy, 'GET', '/v1/audit');
    const last = audit.json.entries.at(-1);
    assert.equal(last?.action, 'rollback');
    assert.equal(last?.outcome, 'aborted');
    assert.match(last?.details.error ?? '', /not ready/);

    t.diagnostic(`kafkajs: ${producer.written} written, ${producer.acked.size} acknowledged, ${producer.errors.length} error(s)`);
    assert.ok(producer.written > 100, 'the producer kept writing');
    assert.deepEqual(producer.errors.slice(0, 5), [], 'the producer saw no error');
    assert.equal(producer.acked.size, producer.written, 'every record acknowledged');
    const metrics = await produceErrors(proxy);
    assert.equal(metrics.total, 0, `kmp_produce_errors_total: ${metrics.lines.join('; ')}`);
  } finally {
    await proxy.stop();
    await relay.close().catch(() => undefined);
  }
});
