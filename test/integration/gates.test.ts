// Migration gates against the real Kafka pair and two real Apicurio registries (started here on their own ports,
// fresh and in memory, and stopped at the end):
// - `prepare`: the plan names a wave's topic missing on the target with the source's partition count and
//   configs; apply creates it exactly so (checked with kafkajs' DescribeConfigs), a second apply changes nothing,
//   an existing topic with another partition count is never altered, and the flip then passes pre-flight;
// - the schema gate: producers write Confluent-wire-format records (magic 0 + 4-byte id + an Avro body encoded by
//   hand, through kafkajs via the proxy); the inventory shows the id with its subject; a flip is refused naming
//   the id and subject while the target registry lacks it, passes once it is registered there under the same id;
//   a same-id-different-schema case is refused naming what differs, and force is recorded in the audit.
// Apicurio's ccompat API ignores an `id` in a register request (checked on 3.0.9); ids are content ids handed
// out in sequence, so `registerAt` registers throwaway schemas until the next id is the one wanted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { bootstrapOf, ensureKafkaPair, kafkaFor, uniqueTopic, withAdmin } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { startRegistry, stopRegistry } from '../../scripts/registry/testbed.ts';
import { zigzagVarint } from '../support/build-batch.ts';

type Json = Record<string, any>;
const REG = { source: { port: 18181 }, target: { port: 28181 } } as const;
const urls = { source: '', target: '' };
let proxy: RunningProxy;
const p = uniqueTopic('gates').replace(/[^a-zA-Z0-9-]/g, '-');
const waves = { prep: `${p}-prep-`, sg: `${p}-sg-`, diff: `${p}-diff-` };

async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${proxy.adminUrl}${path}`, {
    method,
    headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
    body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? {} : (JSON.parse(text) as Json) };
}

/** Highest id each (fresh) registry has handed out: every registration of this file goes through register(). */
const highest = new Map<string, number>();

async function register(url: string, subject: string, schema: string): Promise<number> {
  const res = await fetch(`${url}/subjects/${subject}/versions`, {
    method: 'POST', headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' }, body: JSON.stringify({ schema }),
  });
  const json = (await res.json()) as { id?: number };
  assert.equal(res.status, 200, JSON.stringify(json));
  highest.set(url, Math.max(highest.get(url) ?? 0, json.id!));
  return json.id!;
}

let filler = 0;
/** Registers `schema` under `subject` so that it gets exactly `id` (throwaway schemas fill the gap). */
async function registerAt(url: string, subject: string, schema: string, id: number): Promise<void> {
  while ((highest.get(url) ?? 0) < id - 1) {
    await register(url, `kmp-filler-${p}`, JSON.stringify({ type: 'record', name: `Filler${filler++}`, fields: [] }));
  }
  assert.equal(highest.get(url) ?? 0, id - 1, `the registry already handed out id ${id}`);
  assert.equal(await register(url, subject, schema), id);
}

const avroSchema = (name: string, field: string) => JSON.stringify({ type: 'record', name, fields: [{ name: field, type: 'int' }] });

/** Confluent wire format by hand: magic 0, the id, then the Avro binary of a record with one int field. */
function wireValue(id: number, n: number): Buffer {
  const head = Buffer.alloc(5);
  head.writeInt32BE(id, 1);
  return Buffer.concat([head, zigzagVarint(n)]);
}

async function produce(topic: string, id: number): Promise<void> {
  const producer = kafkaFor(proxy.bootstrap, `kmp-it-gates-${topic}`).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 3 }, (_, i) => ({ key: `k${i}`, value: wireValue(id, i) })) });
  } finally {
    await producer.disconnect();
  }
}

async function inventoryIds(topic: string): Promise<Json[]> {
  for (let i = 0; i < 50; i++) {
    const inv = await call('GET', `/v1/inventory?topic=${topic}`);
    const ids = (inv.json.topics?.[0]?.schemaIds ?? []) as Json[];
    if (ids.length > 0 && ids.every((s) => (s.subjects as string[]).length > 0)) return ids;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`no schema id with subjects in the inventory of ${topic}`);
}

async function createOn(cluster: 'source' | 'target', topic: string, numPartitions: number, configEntries: { name: string; value: string }[] = []): Promise<void> {
  await withAdmin(cluster, (admin) => admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions, configEntries }] }));
}

before(async () => {
  await ensureKafkaPair();
  const [s, t] = await Promise.all([startRegistry('source', REG.source), startRegistry('target', REG.target)]);
  assert.equal(s.alreadyRunning || t.alreadyRunning, false, 'the test needs fresh registries on its own ports');
  urls.source = s.url;
  urls.target = t.url;
  // Keep the source's ids ahead of the target's, so that registerAt can place a source id on the target.
  await register(urls.source, `kmp-filler-${p}`, JSON.stringify({ type: 'record', name: 'FillerSource', fields: [] }));
  proxy = await startProxy({
    routes: { batches: { prep: { prefixes: [waves.prep] }, sg: { prefixes: [waves.sg] }, diff: { prefixes: [waves.diff] } } },
    // `extra` replaces the whole clusters section: the registries are keys of each cluster.
    extra: {
      clusters: {
        source: { bootstrap: [bootstrapOf('source')], schemaRegistry: { url: urls.source } },
        target: { bootstrap: [bootstrapOf('target')], schemaRegistry: { url: urls.target } },
      },
    },
  });
});

after(async () => {
  await proxy?.stop();
  await Promise.all([stopRegistry('source', REG.source), stopRegistry('target', REG.target)]);
});

test('prepare plans and creates the missing topic with the source partitions and configs; then the flip passes', async () => {
  const topic = `${waves.prep}orders`;
  const other = `${waves.prep}mismatch`;
  const configs = [
    { name: 'cleanup.policy', value: 'compact' },
    { name: 'retention.ms', value: '3600000' },
    { name: 'max.message.bytes', value: '200000' },
    { name: 'compression.type', value: 'gzip' },
    { name: 'message.timestamp.type', value: 'LogAppendTime' },
  ];
  await createOn('source', topic, 3, configs);
  await createOn('source', other, 2);
  await createOn('target', other, 1);

  const plan = await call('GET', '/v1/waves/prep/prepare');
  assert.equal(plan.status, 200, JSON.stringify(plan.json));
  assert.equal(plan.json.ready, false);
  const t = (plan.json.topics as Json[]).find((x) => x.topic === topic)!;
  assert.equal(t.status, 'missing');
  assert.equal(t.create.numPartitions, 3);
  for (const c of configs) assert.equal(t.create.configs[c.name], c.value, c.name);
  const m = (plan.json.topics as Json[]).find((x) => x.topic === other)!;
  assert.match(m.problems[0], /2 partitions on the source, 1 on the target/);

  const dry = await call('POST', '/v1/batches/prep/flip', { dryRun: true });
  assert.ok((dry.json.refusals as string[]).some((r) => r.includes(topic)), JSON.stringify(dry.json.refusals));

  const applied = await call('POST', '/v1/waves/prep/prepare', { reason: 'it: prepare' });
  assert.equal(applied.status, 200, JSON.stringify(applied.json));
  assert.deepEqual((applied.json.created as Json[]).map((c) => c.topic), [topic]);
  assert.equal((applied.json.topics as Json[]).find((x) => x.topic === topic)!.status, 'present');

  const described = await withAdmin('target', async (admin) => {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const cfg = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: topic, configNames: configs.map((c) => c.name) }] });
    return { partitions: meta.topics[0].partitions.length, configs: Object.fromEntries(cfg.resources[0].configEntries.map((e) => [e.configName, e.configValue])) };
  });
  assert.equal(described.partitions, 3);
  for (const c of configs) assert.equal(described.configs[c.name], c.value, c.name);
  const otherAfter = await withAdmin('target', (admin) => admin.fetchTopicMetadata({ topics: [other] }));
  assert.equal(otherAfter.topics[0].partitions.length, 1, 'an existing topic is never altered');

  const again = await call('POST', '/v1/waves/prep/prepare', {});
  assert.deepEqual(again.json.created, []);
  const audit = fs.readFileSync(`${proxy.stateDir}/kmp-state.json.prepare-audit.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Json);
  assert.deepEqual(audit.map((a) => [a.wave, a.reason, a.created.map((c: Json) => c.topic)]), [['prep', 'it: prepare', [topic]], ['prep', '', []]]);

  // The mismatched topic still blocks the wave; flipping the prepared topic alone passes.
  const flip = await call('POST', `/v1/topics/${topic}/flip`, { reason: 'prepared' });
  assert.equal(flip.status, 200, JSON.stringify(flip.json));
  assert.deepEqual(flip.json.refusals, []);
});

test('the schema gate refuses a flip while the target registry lacks an id in use, and passes once it is there', async () => {
  const topic = `${waves.sg}payments`;
  const subject = `${topic}-value`;
  const schema = avroSchema('Payment', 'amount');
  await createOn('source', topic, 2);
  await createOn('target', topic, 2);
  const id = await register(urls.source, subject, schema);
  await produce(topic, id);
  const ids = await inventoryIds(topic);
  assert.deepEqual(ids.map((s) => [s.id, s.parts, s.subjects]), [[id, ['value'], [subject]]]);

  const refused = await call('POST', '/v1/batches/sg/flip', { reason: 'it: schema gate' });
  assert.equal(refused.status, 409, JSON.stringify(refused.json));
  const msg = String(refused.json.error?.message ?? JSON.stringify(refused.json));
  assert.match(msg, new RegExp(`schema id ${id} .*subject ${subject}.* is not in the target registry`));
  const report = await call('GET', '/v1/waves/sg/schemas');
  assert.equal(report.json.checked[0].status, 'missing-on-target');

  await registerAt(urls.target, subject, schema, id);
  // The gate's cost: a dry run is pre-flight only (partition counts, configs, both registries), timed end to end.
  const timings: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const dry = await call('POST', '/v1/batches/sg/flip', { dryRun: true });
    timings.push(performance.now() - t0);
    assert.equal(dry.status, 200, JSON.stringify(dry.json));
  }
  console.log(`[gates] pre-flight with both registries (dry-run flip), 5 runs: ${timings.map((t) => t.toFixed(1)).join(', ')} ms`);
  const ok = await call('POST', '/v1/batches/sg/flip', { reason: 'it: schema present' });
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.equal(ok.json.outcome, 'ok');
});

test('the same id with a different schema on the target is refused with what differs; force is audited', async () => {
  const topic = `${waves.diff}invoices`;
  const subject = `${topic}-value`;
  await createOn('source', topic, 1);
  await createOn('target', topic, 1);
  const id = await register(urls.source, subject, avroSchema('Invoice', 'total'));
  await registerAt(urls.target, subject, avroSchema('Invoice', 'totalCents'), id);
  await produce(topic, id);
  await inventoryIds(topic);

  const refused = await call('POST', '/v1/batches/diff/flip', {});
  assert.equal(refused.status, 409, JSON.stringify(refused.json));
  const msg = String(refused.json.error?.message ?? JSON.stringify(refused.json));
  assert.match(msg, new RegExp(`${topic}: schema id ${id} .*subject ${subject}.* differs in the target registry: schema differs: source .*total".*target .*totalCents`));

  const forced = await call('POST', '/v1/batches/diff/flip', { force: true, reason: 'it: accepted difference' });
  assert.equal(forced.status, 200, JSON.stringify(forced.json));
  assert.equal(forced.json.outcome, 'forced');
  const audit = await call('GET', '/v1/audit');
  const last = (audit.json.entries ?? audit.json.items ?? audit.json) as Json[];
  const entry = [...last].reverse().find((e) => e.target?.name === 'diff' && e.outcome === 'forced');
  assert.ok(entry, JSON.stringify(audit.json).slice(0, 500));
});
