// Transactional producers of three clients (Java KafkaProducer, kafkajs, librdkafka through
// @confluentinc/kafka-javascript) write through kmp while a wave is flipped and rolled back ten times. Read straight
// from both clusters with read_committed consumers: every committed transaction is visible exactly once, all of it
// on one cluster; no aborted transaction is visible anywhere; each producer's transactions keep their order per
// partition and switch cluster at most once per move; no client saw a fatal error; and no transaction is left open
// on either cluster (DescribeProducers).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import rdkafka from '@confluentinc/kafka-javascript';
import { ensureKafkaPair, kafkaFor, createTopics, uniqueTopic, bootstrapOf } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { openTransactions, readCommitted, startJavaTxnProducer, type CommittedRecord } from '../support/transactions.ts';

let proxy: RunningProxy;
const t1 = uniqueTopic('txn-moves-a');
const t2 = uniqueTopic('txn-moves-b');
const MOVES = 10;

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopics('source', [t1, t2], 3), createTopics('target', [t1, t2], 3)]);
  proxy = await startProxy({ routes: { default: 'source', batches: { wave: { topics: [t1, t2] } } }, extra: { flip: { timeoutMs: 10_000, maxHeldRequests: 10_000, transactionDrainMs: 10_000 } } });
});

after(async () => {
  await proxy?.stop();
});

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${proxy.adminUrl}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

interface Outcome {
  committed: Set<string>;
  aborted: Set<string>;
  /** Labels whose transaction failed and was aborted by the client (abortable errors). */
  recovered: Set<string>;
  fatal: string[];
  /** Records per committed transaction. */
  size: number;
}

/** A kafkajs-API transactional loop (kafkajs itself, or librdkafka's KafkaJS-compatible API). */
async function jsLoop(name: string, producer: { transaction(): Promise<{ send(r: unknown): Promise<unknown>; commit(): Promise<void>; abort(): Promise<void> }> }, topic: string, stop: () => boolean, out: Outcome): Promise<void> {
  for (let i = 0; !stop(); i++) {
    const label = `${name}|${i}`;
    const commit = (i + 1) % 4 !== 0;
    let tx;
    try {
      tx = await producer.transaction();
      await tx.send({ topic, messages: [0, 1].map((j) => ({ key: `k${j}`, value: `${label}|${j}` })) });
      if (commit) await tx.commit();
      else await tx.abort();
      (commit ? out.committed : out.aborted).add(label);
    } catch (err) {
      try {
        await tx?.abort();
        out.recovered.add(label);
      } catch (abortErr) {
        out.fatal.push(`${label}: ${String(err)} / abort: ${String(abortErr)}`);
        return;
      }
    }
    await new Promise((r) => setTimeout(r, 30));
  }
}

test('transactions of Java, kafkajs and librdkafka producers across 10 moves: committed exactly once on one cluster, aborted nowhere', { timeout: 180_000 }, async (t) => {
  const javaId = `java-${t1}`;
  const java = startJavaTxnProducer(proxy.bootstrap, javaId);
  await java.waitFor(/^READY$/);
  java.send(`LOOP 100000 ${t1},${t2} 2 5 40`);

  const kjs = kafkaFor(proxy.bootstrap, 'kmp-it-txn-kafkajs').producer({ transactionalId: `kafkajs-${t1}`, idempotent: true, maxInFlightRequests: 1 });
  await kjs.connect();
  const rdk = new rdkafka.KafkaJS.Kafka({ kafkaJS: { brokers: [proxy.bootstrap], logLevel: rdkafka.KafkaJS.logLevel.NOTHING } }).producer({ kafkaJS: { transactionalId: `rdkafka-${t1}`, idempotent: true } });
  await rdk.connect();
  let stopping = false;
  const kjsOut: Outcome = { committed: new Set(), aborted: new Set(), recovered: new Set(), fatal: [], size: 2 };
  const rdkOut: Outcome = { committed: new Set(), aborted: new Set(), recovered: new Set(), fatal: [], size: 2 };
  const loops = [
    jsLoop(`kafkajs-${t1}`, kjs as never, t1, () => stopping, kjsOut),
    jsLoop(`rdkafka-${t1}`, rdk as never, t2, () => stopping, rdkOut),
  ];

  const holds: number[] = [];
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await pause(1_500);
  for (let m = 0; m < MOVES; m++) {
    const res = await admin('POST', `/v1/batches/wave/${m % 2 === 0 ? 'flip' : 'rollback'}`, { reason: `txn move ${m}` });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    holds.push((res.json.timings as { holdMs: number }).holdMs);
    await pause(700);
  }
  await pause(800);
  stopping = true;
  await Promise.all(loops);
  java.send('STOP');
  const code = await java.finish();
  await kjs.disconnect();
  await rdk.disconnect();

  const javaOut: Outcome = { committed: new Set(), aborted: new Set(), recovered: new Set(), fatal: [], size: 4 };
  for (const line of java.lines()) {
    const [kind, label] = line.split(' ');
    if (kind === 'COMMITTED') javaOut.committed.add(label);
    else if (kind === 'ABORTED') javaOut.aborted.add(label);
    else if (kind === 'RECOVERED') javaOut.recovered.add(label);
    else if (kind === 'FATAL') javaOut.fatal.push(line);
  }
  assert.equal(code, 0, java.lines().slice(-20).join('\n'));
  if (process.env.KMP_TXN_DEBUG_DIR !== undefined) {
    const fs = await import('node:fs');
    fs.writeFileSync(`${process.env.KMP_TXN_DEBUG_DIR}/java.txt`, java.lines().join('\n'));
    fs.writeFileSync(`${process.env.KMP_TXN_DEBUG_DIR}/kmp.txt`, proxy.logs());
  }

  const records: { cluster: string; topic: string; r: CommittedRecord }[] = [];
  for (const cluster of ['source', 'target'] as const) {
    for (const topic of [t1, t2]) for (const r of await readCommitted(cluster, topic)) records.push({ cluster, topic, r });
  }
  const byLabel = new Map<string, { cluster: string; value: string }[]>();
  for (const { cluster, topic, r } of records) {
    const label = r.value.split('|').slice(0, 2).join('|');
    let list = byLabel.get(label);
    if (list === undefined) byLabel.set(label, (list = []));
    list.push({ cluster, value: `${topic}:${r.value}` });
  }
  for (const [name, out] of [['java', javaOut], ['kafkajs', kjsOut], ['librdkafka', rdkOut]] as const) {
    assert.deepEqual(out.fatal, [], `${name}: fatal errors`);
    assert.ok(out.committed.size >= 20, `${name}: only ${out.committed.size} transactions committed`);
    for (const label of out.committed) {
      const seen = byLabel.get(label) ?? [];
      assert.equal(seen.length, out.size, `${name} ${label}: committed with ${out.size} records, ${seen.length} visible: ${JSON.stringify(seen)}`);
      assert.equal(new Set(seen.map((s) => s.value)).size, out.size, `${name} ${label}: a record is visible twice`);
      assert.equal(new Set(seen.map((s) => s.cluster)).size, 1, `${name} ${label}: split across clusters`);
    }
    for (const label of [...out.aborted, ...out.recovered]) assert.equal(byLabel.get(label), undefined, `${name} ${label}: aborted but visible`);
    t.diagnostic(`${name}: ${out.committed.size} committed, ${out.aborted.size} aborted, ${out.recovered.size} aborted after an error`);
  }
  // Order: on each cluster a producer's transactions appear in its order per partition, and across clusters its
  // transactions form at most one run per move (never interleaved between the clusters).
  const runs = new Map<string, { cluster: string; i: number }[]>();
  const lastOnPartition = new Map<string, { i: number; offset: bigint }>();
  for (const { cluster, topic, r } of [...records].sort((a, b) => (a.r.offset < b.r.offset ? -1 : 1))) {
    const [name, index] = r.value.split('|');
    const i = Number(index);
    const key = `${cluster}/${topic}/${r.partition}/${name}`;
    const prev = lastOnPartition.get(key);
    assert.ok(prev === undefined || prev.i <= i, `${key}: transaction ${i} at offset ${r.offset} after transaction ${prev?.i} at ${prev?.offset}`);
    lastOnPartition.set(key, { i, offset: r.offset });
    let list = runs.get(name);
    if (list === undefined) runs.set(name, (list = []));
    list.push({ cluster, i });
  }
  for (const [name, list] of runs) {
    const byIndex = [...new Map(list.map((x) => [x.i, x.cluster])).entries()].sort((a, b) => a[0] - b[0]);
    let changes = 0;
    for (let k = 1; k < byIndex.length; k++) if (byIndex[k][1] !== byIndex[k - 1][1]) changes++;
    assert.ok(changes <= MOVES, `${name}: its transactions switch cluster ${changes} times over ${MOVES} moves`);
  }
  const known = new Set([...javaOut.committed, ...kjsOut.committed, ...rdkOut.committed]);
  for (const label of byLabel.keys()) assert.ok(known.has(label), `${label} is visible but was never reported committed`);
  const onTarget = [...byLabel.values()].filter((l) => l[0].cluster === 'target').length;
  assert.ok(onTarget > 0 && onTarget < byLabel.size, `transactions on target: ${onTarget} of ${byLabel.size}`);

  for (const cluster of ['source', 'target'] as const) assert.deepEqual(await openTransactions(cluster, [t1, t2]), [], `hanging transactions on ${cluster}`);
  const inv = (await admin('GET', '/v1/transactions')).json as { flips: { waitedMs: number; waitedFor: string[]; rehomed: string[] }[] };
  const waits = inv.flips.map((f) => f.waitedMs);
  t.diagnostic(`moves ${MOVES}; hold ms ${JSON.stringify(holds)}; transaction wait ms ${JSON.stringify(waits)}; waited for open transactions in ${inv.flips.filter((f) => f.waitedFor.length > 0).length} flips; transactions checked ${byLabel.size} committed + ${[javaOut, kjsOut, rdkOut].reduce((n, o) => n + o.aborted.size + o.recovered.size, 0)} aborted`);
  assert.equal(inv.flips.length, MOVES);
  for (const f of inv.flips) assert.equal(f.rehomed.length, 3, `every id moved with its wave: ${JSON.stringify(f)}`);
});
