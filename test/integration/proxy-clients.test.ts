// Three real client families through the proxy — the Java producer (kafka-clients 4.3.1), librdkafka 2.15
// (@confluentinc/kafka-javascript) and kafkajs — plus Debian's kcat (librdkafka 2.0.2) as the old client. Each,
// idempotent with acks=all, writes keyed records to a source-routed and a target-routed topic in the same
// producer session. Reading both clusters directly: every record is in exactly the cluster its route names,
// none lost or duplicated, per-key order equals send order, and each key is in the partition the same client
// picks when it talks to a broker directly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, kafkaFor, createTopics, readTopic, uniqueTopic, bootstrapOf, type ConsumedRecord } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { runJavaProducer } from '../support/java-client.ts';
import { produceWithRdkafka } from '../support/rdkafka.ts';
import { runKcatProducer } from '../support/kcat.ts';

const PARTITIONS = 4;
type Client = 'java' | 'rdkafka' | 'kafkajs' | 'kcat';
const CLIENTS: Client[] = ['java', 'rdkafka', 'kafkajs', 'kcat'];
const topics = Object.fromEntries(CLIENTS.map((c) => [c, { src: uniqueTopic(`cl-${c}-src`), tgt: uniqueTopic(`cl-${c}-tgt`), ctl: uniqueTopic(`cl-${c}-ctl`) }])) as Record<Client, { src: string; tgt: string; ctl: string }>;
let proxy: RunningProxy;

before(async () => {
  await ensureKafkaPair();
  const routed = CLIENTS.flatMap((c) => [topics[c].src, topics[c].tgt]);
  await Promise.all([
    createTopics('source', [...routed, ...CLIENTS.map((c) => topics[c].ctl)], PARTITIONS),
    createTopics('target', routed, PARTITIONS),
  ]);
  // Default route = target; the *-src topics sit in a batch that is on the source. The client-facing pid comes
  // from the target, so every write to the source goes through the producer-id rewrite.
  proxy = await startProxy({ routes: { default: 'target', batches: { 'stay-on-source': { topics: CLIENTS.map((c) => topics[c].src) } } } });
});

after(async () => {
  await proxy?.stop();
});

interface Rec {
  topic: string;
  key: string;
  value: string;
}

function records(c: Client): Rec[] {
  const out: Rec[] = [];
  for (let i = 0; i < 60; i++) {
    const topic = i % 2 === 0 ? topics[c].src : topics[c].tgt;
    out.push({ topic, key: `key-${i % 10}`, value: `${c}-${i}` });
  }
  return out;
}

/** Produces `recs` with one producer session of client `c` against `bootstrap`. */
async function produce(c: Client, bootstrap: string, recs: Rec[]): Promise<void> {
  switch (c) {
    case 'java': {
      const r = await runJavaProducer({ bootstrap, topic: recs[0].topic, records: recs.map((x) => ({ key: x.key, value: x.value, topic: x.topic })), props: { 'max.in.flight.requests.per.connection': '5', 'linger.ms': '5' } });
      assert.equal(r.failed, 0, `java: ${r.deliveries.find((d) => d.error)?.error ?? ''} ${r.stderr.slice(-2000)}`);
      assert.equal(r.acked, recs.length);
      return;
    }
    case 'rdkafka': {
      const r = await produceWithRdkafka({ bootstrap, records: recs.map((x) => ({ topic: x.topic, key: x.key, value: x.value })) });
      const bad = r.deliveries.filter((d) => d.error !== null);
      assert.deepEqual(bad, [], 'rdkafka: every record delivered');
      return;
    }
    case 'kafkajs': {
      const producer = kafkaFor(bootstrap, 'kmp-it-clients-kafkajs').producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      try {
        for (const x of recs) await producer.send({ topic: x.topic, acks: -1, messages: [{ key: x.key, value: x.value }] });
      } finally {
        await producer.disconnect();
      }
      return;
    }
    case 'kcat': {
      // kcat writes one topic per run: two sessions, one per topic.
      for (const topic of [...new Set(recs.map((x) => x.topic))]) {
        const r = await runKcatProducer({ bootstrap, topic, records: recs.filter((x) => x.topic === topic).map((x) => ({ key: x.key, value: x.value })) });
        assert.equal(r.exitCode, 0, `kcat: ${r.stderr}`);
        assert.equal(r.failedDeliveries, 0, `kcat: ${r.stderr}`);
      }
    }
  }
}

function keyPartitions(got: ConsumedRecord[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of got) {
    const prev = m.get(r.key!);
    assert.ok(prev === undefined || prev === r.partition, `key ${r.key} stays in one partition`);
    m.set(r.key!, r.partition);
  }
  return m;
}

for (const c of CLIENTS) {
  test(`${c}: idempotent acks=all through the proxy, routed per topic`, async () => {
    const recs = records(c);
    await produce(c, proxy.bootstrap, recs);
    // The control run: the same client and keys, directly to a broker.
    await produce(c, bootstrapOf('source'), recs.map((x) => ({ ...x, topic: topics[c].ctl })));
    const direct = keyPartitions(await readTopic('source', topics[c].ctl));

    for (const [topic, cluster, other] of [[topics[c].src, 'source', 'target'], [topics[c].tgt, 'target', 'source']] as const) {
      const sent = recs.filter((x) => x.topic === topic);
      const got = await readTopic(cluster, topic);
      assert.equal((await readTopic(other, topic)).length, 0, `${topic}: nothing on ${other}`);
      assert.equal(got.length, sent.length, `${topic}: every record exactly once on ${cluster}`);
      const expected = new Map<string, string[]>();
      for (const x of sent) expected.set(x.key, [...(expected.get(x.key) ?? []), x.value]);
      const actual = new Map<string, string[]>();
      for (const r of got) actual.set(r.key!, [...(actual.get(r.key!) ?? []), r.value!]);
      assert.deepEqual(actual, expected, `${topic}: per-key order equals send order`);
      for (const [key, partition] of keyPartitions(got)) {
        assert.equal(partition, direct.get(key), `${topic}: key ${key} in the partition the client picks directly`);
      }
    }
  });
}
