// Gates part 2 against the real Kafka pair (docs/gates.md):
// - bypass: after a wave moved, kmp's own writes (before and after the flip) are never reported; a kcat producer
//   writing straight to the source is, within 10 s, with the producer id Kafka's own tool (TransactionsCommand
//   describe-producers) shows for it; the report is in GET /v1/bypass, the metric, a log line and an audit note;
// - promotion gate: refused while that bypass is within the window, allowed once the window passed; refused
//   while a kafkajs transactional producer connected straight to the source leaves a transaction open on the
//   wave's partition (and the refusal names the producer id), allowed after it committed and the window passed;
// - canary: a target topic whose acks=all writes fail (min.insync.replicas 2 on a 1-replica topic) is rolled back
//   automatically within the watch window while a producer keeps writing through kmp, the audit's rollback reason
//   carries the figures, and every acknowledged record is on the source exactly once (none on the target);
// - a healthy canary, run through the CLI (progress lines on stderr), proceeds to the whole wave.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { bootstrapOf, createTopics, ensureKafkaPair, kafkaFor, readTopic, uniqueTopic, withAdmin } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { runKcatProducer } from '../support/kcat.ts';
import { kafkajsStreamingProducer, pump, sleep } from '../support/streaming-producers.ts';
import { LIBS_DIR, REPO_ROOT } from '../../scripts/kafka/testbed.ts';

type Json = Record<string, any>;
const p = uniqueTopic('gb').replace(/[^a-zA-Z0-9-]/g, '-');
const waves = { byp: `${p}-byp-`, txn: `${p}-txn-`, bad: `${p}-bad-`, ok: `${p}-ok-` };
const WINDOW_MS = 4_000;
let proxy: RunningProxy;

async function call(method: 'GET' | 'POST', urlPath: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${proxy.adminUrl}${urlPath}`, {
    method,
    headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
    body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? {} : (JSON.parse(text) as Json) };
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

async function produceThroughKmp(topic: string, n: number, tag: string): Promise<void> {
  const producer = kafkaFor(proxy.bootstrap, `kmp-it-gb-${tag}`).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: `${tag}-${i}` })) });
  } finally {
    await producer.disconnect();
  }
}

/** Producer ids Kafka's own tool lists for a partition (an independent view of DescribeProducers). */
function describeProducersWithKafkaTool(topic: string): string[] {
  const r = spawnSync('java', ['-cp', path.join(LIBS_DIR, '*'), 'org.apache.kafka.tools.TransactionsCommand', '--bootstrap-server', bootstrapOf('source'), 'describe-producers', '--topic', topic, '--partition', '0'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  // Header "ProducerId ProducerEpoch LatestCoordinatorEpoch LastSequence LastTimestamp CurrentTransactionStartOffset", then rows.
  return r.stdout.split('\n').slice(1).map((l) => l.trim().split(/\s+/)[0]).filter((id) => /^\d+$/.test(id));
}

before(async () => {
  await ensureKafkaPair();
  proxy = await startProxy({
    routes: { batches: { byp: { prefixes: [waves.byp] }, txn: { prefixes: [waves.txn] }, bad: { prefixes: [waves.bad] }, ok: { prefixes: [waves.ok] } } },
    extra: { gates: { bypass: { intervalMs: 500, windowMs: WINDOW_MS } } },
  });
});

after(async () => {
  await proxy?.stop();
});

test('bypass: kmp writes are not reported; a kcat producer straight to the source is, with its producer id; promotion waits for the window', async () => {
  const topic = `${waves.byp}orders`;
  await Promise.all([createTopics('source', [topic], 1), createTopics('target', [topic], 1)]);
  await produceThroughKmp(topic, 5, 'before');
  const flip = await call('POST', '/v1/batches/byp/flip', { reason: 'bypass test' });
  assert.equal(flip.status, 200, JSON.stringify(flip.json));
  await produceThroughKmp(topic, 5, 'after');
  // Three checks after the flip: the watch is on and kmp's own writes (both sides of the flip) are not bypass.
  await until('the watch of the moved partition', 10_000, async () => ((await call('GET', '/v1/bypass?check=true')).json.watching.partitions >= 1 ? true : null));
  for (let i = 0; i < 3; i++) {
    const r = await call('GET', '/v1/bypass?check=true');
    assert.deepEqual(r.json.active, [], JSON.stringify(r.json));
    await sleep(300);
  }

  const started = Date.now();
  const kcat = await runKcatProducer({ bootstrap: bootstrapOf('source'), topic, records: [1, 2, 3].map((i) => ({ key: `direct-${i}`, value: `direct-${i}` })) });
  assert.equal(kcat.exitCode, 0, kcat.stderr);
  const seen = await until('the bypass report', 10_000, async () => {
    const r = await call('GET', '/v1/bypass');
    return (r.json.active as Json[]).find((b) => b.topic === topic) ?? null;
  });
  const reportedAfterMs = Date.now() - started;
  assert.ok(reportedAfterMs < 10_000, `reported after ${reportedAfterMs} ms`);
  process.stderr.write(`[gates] bypass by kcat reported ${reportedAfterMs} ms after kcat exited\n`);
  assert.equal(seen.cluster, 'source');
  assert.deepEqual(seen.partitions, [0]);
  assert.equal(seen.offsets, '3');
  assert.equal(seen.producerIds.length, 1, JSON.stringify(seen));
  const kafkaToolIds = describeProducersWithKafkaTool(topic);
  assert.ok(kafkaToolIds.includes(seen.producerIds[0]), `kcat's producer id ${seen.producerIds[0]} is among ${kafkaToolIds.join(', ')}`);
  // The pids kmp wrote under on the source are not reported (they are among the tool's ids too).
  assert.ok(kafkaToolIds.length >= 2, `kmp's own producer is listed as well: ${kafkaToolIds.join(', ')}`);

  const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  assert.match(metrics, new RegExp(`kmp_bypass_offsets_total\\{topic="${topic}",cluster="source"\\} 3`));
  assert.match(metrics, new RegExp(`kmp_bypass_active\\{topic="${topic}"\\} 1`));
  assert.match(proxy.logs(), new RegExp(`"event":"bypass".*"producerIds":\\["${seen.producerIds[0]}"\\]`));
  const audit = await call('GET', '/v1/audit');
  const note = (audit.json.entries as Json[]).find((e) => e.action === 'note' && e.target.name === topic);
  assert.ok(note !== undefined, 'an audit note');
  assert.match(note.reason, new RegExp(`${topic}-0 .*producer ids ${seen.producerIds[0]}`));

  // Promotion: refused while the bypass is within the window, naming the check; allowed once it passed.
  const refused = await call('POST', '/v1/batches/byp/promote', { reason: 'too early' });
  assert.equal(refused.status, 409, JSON.stringify(refused.json));
  assert.ok((refused.json.error.details as string[]).some((d) => d.startsWith(`bypass: ${topic}: 3 offsets`) && d.includes(seen.producerIds[0])), JSON.stringify(refused.json));
  await until('the promotion gate to pass', WINDOW_MS + 10_000, async () => {
    const dry = await call('POST', '/v1/batches/byp/promote', { dryRun: true });
    return dry.status === 200 && (dry.json.refusals as string[]).length === 0 ? true : null;
  });
  const lastSeen = Date.parse((await call('GET', '/v1/bypass')).json.recent.at(-1).at);
  assert.ok(Date.now() - lastSeen >= WINDOW_MS, 'the gate passes only once the window since the last bypass write passed');
  const promoted = await call('POST', '/v1/batches/byp/promote', { reason: 'window passed' });
  assert.equal(promoted.status, 200, JSON.stringify(promoted.json));
});

test('promotion gate: refused while a transaction is open on the source partition, allowed after it committed', async () => {
  const topic = `${waves.txn}payments`;
  await Promise.all([createTopics('source', [topic], 1), createTopics('target', [topic], 1)]);
  await produceThroughKmp(topic, 3, 'txn-wave');
  // A transactional producer connected straight to the source opens a transaction before the flip and leaves it open.
  const direct = kafkaFor(bootstrapOf('source'), 'kmp-it-gb-direct-txn').producer({ transactionalId: `${p}-txn`, idempotent: true, maxInFlightRequests: 1 });
  await direct.connect();
  const txn = await direct.transaction();
  await txn.send({ topic, acks: -1, messages: [{ key: 'open', value: 'open-transaction' }] });
  try {
    const flip = await call('POST', '/v1/batches/txn/flip', {});
    assert.equal(flip.status, 200, JSON.stringify(flip.json));
    await sleep(1_500); // the watch baseline is taken after the flip: the open transaction's write is older
    const t0 = performance.now();
    const refused = await call('POST', '/v1/batches/txn/promote', {});
    const gateMs = performance.now() - t0;
    assert.equal(refused.status, 409, JSON.stringify(refused.json));
    const details = refused.json.error.details as string[];
    assert.ok(details.some((d) => d.startsWith(`open-transactions: ${topic}-0: producer id `) && d.includes('has a transaction open on the source cluster')), JSON.stringify(details));
    assert.ok(!details.some((d) => d.startsWith('bypass:')), `no bypass: the write predates the flip: ${JSON.stringify(details)}`);
    process.stderr.write(`[gates] promotion gate (refused, open transaction): ${gateMs.toFixed(0)} ms\n`);
    // A forced promote would be audited; here the transaction ends instead.
    await txn.commit();
  } finally {
    await direct.disconnect();
  }
  // The commit marker is a write straight to the source: a bypass for one window; then the gate passes.
  await until('the promotion gate to pass after the commit', WINDOW_MS + 15_000, async () => {
    const dry = await call('POST', '/v1/batches/txn/promote', { dryRun: true });
    return dry.status === 200 && (dry.json.refusals as string[]).length === 0 ? true : null;
  });
  const promoted = await call('POST', '/v1/batches/txn/promote', { reason: 'transaction committed' });
  assert.equal(promoted.status, 200, JSON.stringify(promoted.json));
});

test('canary: writes failing on the target roll the canary back within the watch; every acknowledged record exactly once', async () => {
  const canary = `${waves.bad}orders`;
  const rest = `${waves.bad}invoices`;
  await createTopics('source', [canary, rest], 1);
  await createTopics('target', [rest], 1);
  // Kafka 4.x caps the effective min.insync.replicas at the replication factor (a 1-replica topic with
  // min.insync.replicas=2 accepts acks=all writes: checked, 778 of 778 written), so the canary topic on the target
  // refuses every batch by size instead: MESSAGE_TOO_LARGE, nothing appended.
  await withAdmin('target', (admin) => admin.createTopics({ waitForLeaders: true, topics: [{ topic: canary, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: '40' }] }] }));

  const producer = kafkajsStreamingProducer({ bootstrap: proxy.bootstrap, firstTopic: canary });
  await producer.start();
  const load = pump(producer, { ratePerSec: 40, maxOutstanding: 200, next: (seq) => ({ topic: canary, key: `k${seq % 7}`, value: `bad-${seq}` }) });
  let stopped = false;
  const stopLoad = async () => {
    if (stopped) return;
    stopped = true;
    await load.stop();
    await producer.close(30_000);
  };
  try {
  await sleep(1_000);
  const WATCH_MS = 20_000;
  const started = Date.now();
  const start = await call('POST', '/v1/batches/bad/flip', { reason: 'canary test', canary: { topics: [canary], watchMs: WATCH_MS, maxErrorRate: 0.001 } });
  assert.equal(start.status, 202, JSON.stringify(start.json));
  const id = start.json.id as string;
  const final = await until('the canary to finish', WATCH_MS + 15_000, async () => {
    const op = await call('GET', `/v1/operations/${id}`);
    return ['rolled-back', 'done', 'failed'].includes(op.json.phase) ? op.json : null;
  });
  const rolledBackAfterMs = Date.now() - started;
  assert.equal(final.phase, 'rolled-back', JSON.stringify(final));
  assert.ok(rolledBackAfterMs < WATCH_MS, `rolled back after ${rolledBackAfterMs} ms, within the ${WATCH_MS} ms watch`);
  assert.match(final.breach, /error rate .*MESSAGE_TOO_LARGE/);
  process.stderr.write(`[gates] canary breach rolled back after ${rolledBackAfterMs} ms: ${final.breach}\n`);

  // The wave did not move; the canary topic is back on the source.
  const routes = await call('GET', '/v1/routes');
  assert.equal((routes.json.batches as Json[]).find((b) => b.name === 'bad')?.state, 'source');
  assert.equal((await call('GET', `/v1/routes/resolve?topic=${canary}`)).json.cluster, 'source');
  const audit = (await call('GET', '/v1/audit')).json.entries as Json[];
  const rollback = audit.find((e) => e.action === 'rollback' && e.target.name === canary);
  assert.ok(rollback !== undefined, 'the rollback is audited');
  assert.match(rollback.reason, /rolled back automatically: error rate .* writes failed/);

  await sleep(2_000); // the producer keeps writing, to the source again
  await stopLoad();
  const onSource = await readTopic('source', canary);
  const onTarget = await readTopic('target', canary);
  assert.equal(onTarget.length, 0, 'nothing was appended on the target');
  const counts = new Map<string, number>();
  for (const r of onSource) counts.set(r.value!, (counts.get(r.value!) ?? 0) + 1);
  const duplicates = [...counts].filter(([, n]) => n > 1);
  assert.deepEqual(duplicates, [], 'no record twice');
  const missing = [...producer.acked.keys()].filter((v) => !counts.has(v));
  assert.deepEqual(missing, [], 'every acknowledged record is on the source');
  // The records the target refused were answered with the error (MESSAGE_TOO_LARGE is final for the client);
  // every other one was acknowledged.
  assert.equal(producer.outstanding, 0);
  assert.ok(producer.errors.every((e) => /larger than the max message size|too large/i.test(e)), producer.errors.slice(0, 3).join('; '));
  assert.ok(producer.acked.size > 0 && producer.acked.size + producer.errors.length >= load.sent, `acknowledged ${producer.acked.size}, failed ${producer.errors.length} of ${load.sent}`);
  } finally {
    await stopLoad();
  }
});

test('canary: a healthy canary (through the CLI, with progress lines) proceeds to the whole wave', async () => {
  const canary = `${waves.ok}orders`;
  const rest = `${waves.ok}invoices`;
  await Promise.all([createTopics('source', [canary, rest], 1), createTopics('target', [canary, rest], 1)]);
  const producer = kafkajsStreamingProducer({ bootstrap: proxy.bootstrap, firstTopic: canary });
  await producer.start();
  const load = pump(producer, { ratePerSec: 40, maxOutstanding: 200, next: (seq) => ({ topic: seq % 2 === 0 ? canary : rest, key: `k${seq % 5}`, value: `ok-${seq}` }) });
  try {
    const cli = spawn(process.execPath, [path.join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'flip', 'ok', '--canary', canary, '--watch', '4s', '--max-error-rate', '0.1%', '--max-p99-ms', '5000', '--admin', proxy.adminUrl], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    cli.stdout.on('data', (d: Buffer) => (out += d.toString()));
    cli.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => cli.once('exit', resolve));
    assert.equal(code, 0, `${out}\n${err}`);
    assert.match(err, /canary op-\w+ ok: watching/);
    assert.match(err, /canary op-\w+ ok: done/);
    assert.match(out, /wave ok flipped to the target/);
    process.stderr.write(`[gates] kmp flip ok --canary … output:\n${err}${out}\n`);
  } finally {
    await load.stop();
    await producer.close(30_000);
  }
  const routes = await call('GET', '/v1/routes');
  assert.equal((routes.json.batches as Json[]).find((b) => b.name === 'ok')?.state, 'target');
  assert.equal((routes.json.topics as Json[]).filter((t) => t.topic === canary).length, 0, 'the canary override is gone: it follows its wave');
  for (const t of [canary, rest]) assert.equal((await call('GET', `/v1/routes/resolve?topic=${t}`)).json.cluster, 'target');
  assert.deepEqual(producer.errors, []);
  // Evidence per topic: both clusters were written, with event age and latency figures.
  const evidence = await call('GET', `/v1/topics/${canary}/evidence`);
  assert.equal(evidence.status, 200);
  assert.ok(evidence.json.evidence.source.records > 0 && evidence.json.evidence.target.records > 0, JSON.stringify(evidence.json));
  assert.ok(evidence.json.evidence.target.eventAgeMs !== null && evidence.json.evidence.target.eventAgeMs < 60_000);
});
