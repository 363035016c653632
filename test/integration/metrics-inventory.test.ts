// Operator visibility: /metrics counts a known produce exactly, per topic and cluster; the producer inventory
// lists two different client families with their software names.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, kafkaFor, createTopics, uniqueTopic } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { produceWithRdkafka } from '../support/rdkafka.ts';
import { runJavaProducer } from '../support/java-client.ts';

let proxy: RunningProxy;
const src = uniqueTopic('metrics-src');
const tgt = uniqueTopic('metrics-tgt');

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopics('source', [src, tgt], 2), createTopics('target', [src, tgt], 2)]);
  proxy = await startProxy({ routes: { default: 'source', batches: { moved: { topics: [tgt] } } } });
  const res = await fetch(`${proxy.adminUrl}/v1/batches/moved/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"reason":"metrics test"}' });
  assert.equal(res.status, 200, await res.text());
});

after(async () => {
  await proxy?.stop();
});

/** The value of one sample line, e.g. kmp_produce_records_total{topic="t",cluster="source"}; 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.indexOf('}'));
    const got = Object.fromEntries([...body.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

test('/metrics counts a known produce exactly, per topic and cluster', async () => {
  const producer = kafkaFor(proxy.bootstrap, 'kmp-it-metrics').producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let bytesSrc = 0;
  try {
    // 4 requests of 10 records to the source topic, 3 requests of 5 records to the target topic, each request
    // one topic; kafkajs sends all records of a send() in one request.
    for (let i = 0; i < 4; i++) await producer.send({ topic: src, acks: -1, messages: Array.from({ length: 10 }, (_, j) => ({ key: 'same-key', value: `s${i}-${j}` })) });
    for (let i = 0; i < 3; i++) await producer.send({ topic: tgt, acks: -1, messages: Array.from({ length: 5 }, (_, j) => ({ key: 'same-key', value: `t${i}-${j}` })) });
  } finally {
    await producer.disconnect();
  }
  const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  assert.equal(sample(text, 'kmp_produce_records_total', { topic: src, cluster: 'source' }), 40);
  assert.equal(sample(text, 'kmp_produce_records_total', { topic: tgt, cluster: 'target' }), 15);
  assert.equal(sample(text, 'kmp_produce_records_total', { topic: src, cluster: 'target' }), 0);
  assert.equal(sample(text, 'kmp_produce_requests_total', { topic: src, cluster: 'source' }), 4);
  assert.equal(sample(text, 'kmp_produce_requests_total', { topic: tgt, cluster: 'target' }), 3);
  bytesSrc = sample(text, 'kmp_produce_bytes_total', { topic: src, cluster: 'source' });
  // Each request carries one batch of 10 small records: its size is the 61-byte header plus the records.
  assert.ok(bytesSrc > 4 * 61 && bytesSrc < 4 * 61 + 40 * 40, `bytes ${bytesSrc} plausible for 40 small records in 4 batches`);
  assert.equal(sample(text, 'kmp_route_info', { kind: 'batch', name: 'moved', cluster: 'target', state: 'target' }), 1);
  assert.ok(sample(text, 'kmp_route_version', {}) >= 1 || /kmp_route_version [1-9]/.test(text), 'route version counted');
  assert.match(text, /kmp_flip_hold_seconds_count\{action="flip"\} 1/);
  // Durations are observed per request: 7 Produce requests from the client, 4 of them forwarded to the source and
  // 3 to the target — plus one per partition error the proxy answered itself (say a transient
  // UNKNOWN_TOPIC_OR_PARTITION for a topic this fresh), which the client then retried.
  const answeredByProxy = text.split('\n')
    .filter((l) => l.startsWith('kmp_produce_errors_total{') && (l.includes(`topic="${src}"`) || l.includes(`topic="${tgt}"`)))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  assert.equal(sample(text, 'kmp_request_duration_seconds_count', { api: 'Produce' }), 7 + answeredByProxy);
  assert.equal(sample(text, 'kmp_upstream_request_duration_seconds_count', { cluster: 'source', api: 'Produce' }), 4);
  assert.equal(sample(text, 'kmp_upstream_request_duration_seconds_count', { cluster: 'target', api: 'Produce' }), 3);
  assert.ok(sample(text, 'kmp_request_duration_seconds_sum', { api: 'Produce' }) > 0);
  assert.match(text, /kmp_upstream_broker_up\{cluster="source",broker="127\.0\.0\.1:19092"\} 1/);
});

test('the inventory lists the client families writing to a topic, with their software names', async () => {
  const java = await runJavaProducer({ bootstrap: proxy.bootstrap, topic: src, records: [{ key: 'k', value: 'from java' }], props: { 'client.id': 'kmp-it-inventory-java' } });
  assert.equal(java.acked, 1, java.stderr);
  const producer = kafkaFor(proxy.bootstrap, 'kmp-it-inventory-kafkajs').producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({ topic: src, acks: -1, messages: [{ key: 'k', value: 'from kafkajs' }] });
  } finally {
    await producer.disconnect();
  }
  const rd = await produceWithRdkafka({ bootstrap: proxy.bootstrap, records: [{ topic: src, key: 'k', value: 'from librdkafka' }], config: { 'client.id': 'kmp-it-inventory-rdkafka' } });
  assert.equal(rd.deliveries[0].error, null);

  const res = await fetch(`${proxy.adminUrl}/v1/inventory`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { topics: { topic: string; producers: { clientId: string; software: { name: string | null }; idempotent: boolean; clusters: string[] }[] }[] };
  const entry = body.topics.find((t) => t.topic === src);
  assert.ok(entry, 'the topic is in the inventory');
  const byClient = new Map(entry.producers.map((p) => [p.clientId, p]));
  const rdk = byClient.get('kmp-it-inventory-rdkafka');
  assert.ok(rdk, 'librdkafka producer listed');
  // librdkafka-based clients send their software name in ApiVersions v3+; kafkajs uses v2, which has none.
  assert.match(rdk.software.name ?? '', /confluent-kafka-javascript|librdkafka/);
  assert.equal(rdk.idempotent, true);
  assert.deepEqual(rdk.clusters, ['source']);
  const jv = byClient.get('kmp-it-inventory-java');
  assert.ok(jv, 'Java producer listed');
  assert.equal(jv.software.name, 'apache-kafka-java');
  assert.equal(jv.idempotent, true);
  const kjs = byClient.get('kmp-it-inventory-kafkajs');
  assert.ok(kjs, 'kafkajs producer listed');
  assert.equal(kjs.software.name, null, 'kafkajs does not announce its software (ApiVersions v2)');
});
