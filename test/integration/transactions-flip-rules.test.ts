// The rules of moving transactional producers, with real brokers and the real clients:
// - a transaction open across a flip request: the flip waits, then aborts at flip.transactionDrainMs, naming the
//   id; the route is unchanged and the transaction still commits on the old cluster;
// - a wave that splits topics one id writes together is refused (named); forced anyway, a transaction that then
//   adds a partition on the other cluster gets an abortable error and Java's abortTransaction() recovers; its
//   next transaction runs on the new cluster;
// - a zombie writing with the same transactional id straight to the old cluster is fenced by the flip;
// - a consume-transform-produce app (Java consumer + sendOffsetsToTransaction): its flip is refused without force;
// - afterwards no transaction is left open on either cluster (DescribeProducers).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, kafkaFor, createTopics, uniqueTopic, bootstrapOf } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { openTransactions, readCommitted, startJavaTxnProducer } from '../support/transactions.ts';

let proxy: RunningProxy;
const longTopic = uniqueTopic('txn-long');
const pairA = uniqueTopic('txn-pair-a');
const pairB = uniqueTopic('txn-pair-b');
const zombieTopic = uniqueTopic('txn-zombie');
const ctpIn = uniqueTopic('txn-ctp-in');
const ctpOut = uniqueTopic('txn-ctp-out');
const DRAIN_MS = 3_000;

before(async () => {
  await ensureKafkaPair();
  const topics = [longTopic, pairA, pairB, zombieTopic, ctpIn, ctpOut];
  await Promise.all([createTopics('source', topics, 2), createTopics('target', topics, 2)]);
  proxy = await startProxy({
    routes: {
      default: 'source',
      batches: { long: { topics: [longTopic] }, pair: { topics: [pairA] }, zombie: { topics: [zombieTopic] }, ctp: { topics: [ctpOut] } },
    },
    extra: { flip: { timeoutMs: 10_000, maxHeldRequests: 10_000, transactionDrainMs: DRAIN_MS } },
  });
});

after(async () => {
  await proxy?.stop();
});

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${proxy.adminUrl}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function clusterOf(topic: string): Promise<string> {
  return (await admin('GET', `/v1/routes/resolve?topic=${topic}`)).json.cluster as string;
}

const values = async (cluster: 'source' | 'target', topic: string): Promise<string[]> => (await readCommitted(cluster, topic)).map((r) => r.value).sort();

test('a transaction open across a flip request: the flip waits, aborts at its bound naming the id, the route stays', async () => {
  const id = `long-${longTopic}`;
  const java = startJavaTxnProducer(proxy.bootstrap, id);
  try {
    await java.waitFor(/^READY$/);
    java.send(`OPEN t1 ${longTopic}:k:held-open`);
    await java.waitFor(/^OPENED t1$/);
    const started = Date.now();
    const flip = await admin('POST', '/v1/batches/long/flip', { reason: 'long transaction' });
    const waited = Date.now() - started;
    assert.equal(flip.status, 503, JSON.stringify(flip.json));
    assert.match(JSON.stringify(flip.json), new RegExp(`transactions still open.*${id}`));
    assert.ok(waited >= DRAIN_MS - 100, `the flip answered after ${waited} ms, before its bound`);
    assert.equal(await clusterOf(longTopic), 'source');
    java.send('END t1 commit');
    await java.waitFor(/^COMMITTED t1$/);
    assert.deepEqual(await values('source', longTopic), ['held-open']);
    assert.deepEqual(await values('target', longTopic), []);
    const inv = (await admin('GET', '/v1/transactions')).json as { flips: { label: string; waitedMs: number; outcome: string }[] };
    const f = inv.flips.find((x) => x.label.includes('"long"'));
    assert.equal(f?.outcome, 'timeout');
  } finally {
    java.send('STOP');
    await java.finish();
  }
});

test('a wave that splits a transaction group is refused; forced, the cross-cluster add is abortable and Java recovers', async () => {
  const id = `pair-${pairA}`;
  const java = startJavaTxnProducer(proxy.bootstrap, id);
  try {
    await java.waitFor(/^READY$/);
    java.send(`ONE t1 commit ${pairA}:k:a1 ${pairB}:k:b1`);
    await java.waitFor(/^COMMITTED t1$/);
    const refused = await admin('POST', '/v1/batches/pair/flip', { reason: 'split' });
    assert.equal(refused.status, 409, JSON.stringify(refused.json));
    const text = JSON.stringify(refused.json);
    assert.match(text, /splits a transaction group/);
    assert.ok(text.includes(id) && text.includes(pairA) && text.includes(pairB), text);
    assert.equal(await clusterOf(pairA), 'source');

    const forced = await admin('POST', '/v1/batches/pair/flip', { reason: 'split, forced', force: true });
    assert.equal(forced.status, 200, JSON.stringify(forced.json));
    java.send(`ONE t2 commit ${pairB}:k:b2 ${pairA}:k:a2`);
    const failed = await java.waitFor(/^(FAILED|COMMITTED) t2/);
    // AddPartitionsToTxn v0-3 carry no per-partition message: the client sees the abortable code, kmp's log says why.
    assert.match(failed, /^FAILED t2 .*TransactionAbortableException/);
    assert.match(proxy.logs(), new RegExp(`topic ${pairA} is routed to target but transactional id \\\\"${id}\\\\" runs its transactions on source`));
    await java.waitFor(/^RECOVERED t2$/);
    java.send(`ONE t3 commit ${pairA}:k:a3`);
    await java.waitFor(/^COMMITTED t3$/);
    java.send(`ONE t4 commit ${pairB}:k:b4`);
    await java.waitFor(/^COMMITTED t4$/);
    assert.ok(!java.lines().some((l) => l.startsWith('FATAL')), java.lines().join('\n'));
    assert.deepEqual(await values('source', pairA), ['a1']);
    assert.deepEqual(await values('target', pairA), ['a3']);
    assert.deepEqual(await values('source', pairB), ['b1', 'b4']);
    const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    const refusals = /kmp_transaction_cross_cluster_refusals_total\{api="AddPartitionsToTxn"\} (\d+)/.exec(metrics);
    assert.ok(refusals !== null && Number(refusals[1]) >= 1, metrics.split('\n').filter((l) => l.includes('transaction')).join('\n'));
  } finally {
    java.send('STOP');
    await java.finish();
  }
});

test('a zombie with the same transactional id writing straight to the old cluster is fenced by the flip', async () => {
  const id = `zombie-${zombieTopic}`;
  const viaKmp = kafkaFor(proxy.bootstrap, 'kmp-it-txn-app').producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 });
  await viaKmp.connect();
  const tx = await viaKmp.transaction();
  await tx.send({ topic: zombieTopic, messages: [{ key: 'k', value: 'app-1' }] });
  await tx.commit();

  const zombie = kafkaFor(bootstrapOf('source'), 'kmp-it-txn-zombie').producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 });
  await zombie.connect();
  let zombieError: string | null = null;
  let zombieCommits = 0;
  let stop = false;
  const loop = (async () => {
    for (let i = 0; !stop && zombieError === null; i++) {
      try {
        const z = await zombie.transaction();
        await z.send({ topic: zombieTopic, messages: [{ key: 'z', value: `zombie-${i}` }] });
        await z.commit();
        zombieCommits++;
      } catch (err) {
        zombieError = String((err as { type?: string }).type ?? err);
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  await new Promise((r) => setTimeout(r, 800));
  const flip = await admin('POST', '/v1/batches/zombie/flip', { reason: 'zombie' });
  assert.equal(flip.status, 200, JSON.stringify(flip.json));
  const deadline = Date.now() + 10_000;
  while (zombieError === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  stop = true;
  await loop;
  await zombie.disconnect().catch(() => undefined);
  assert.ok(zombieCommits > 0, 'the zombie committed before the flip');
  assert.match(String(zombieError), /PRODUCER_FENCED|INVALID_PRODUCER_EPOCH/);

  const after = await viaKmp.transaction();
  await after.send({ topic: zombieTopic, messages: [{ key: 'k', value: 'app-2' }] });
  await after.commit();
  await viaKmp.disconnect();
  assert.deepEqual(await values('target', zombieTopic), ['app-2']);
});

test('a consume-transform-produce app: its flip is refused without force', async () => {
  const seed = kafkaFor(bootstrapOf('source'), 'kmp-it-txn-seed').producer();
  await seed.connect();
  await seed.send({ topic: ctpIn, messages: [1, 2, 3].map((i) => ({ key: `k${i}`, value: `in-${i}` })) });
  await seed.disconnect();
  const id = `ctp-${ctpOut}`;
  const group = `ctp-group-${ctpOut}`;
  const java = startJavaTxnProducer(proxy.bootstrap, id, {}, { 'kmp.consumer.bootstrap': bootstrapOf('source') });
  try {
    await java.waitFor(/^READY$/);
    java.send(`CTP ${group} ${ctpIn} ${ctpOut} 3`);
    java.send('SLEEP 1');
    java.send(`ONE done commit ${ctpOut}:k:marker`);
    await java.waitFor(/^(COMMITTED|FATAL) done/);
    assert.ok(java.lines().some((l) => l.startsWith('COMMITTED ctp|')), java.lines().join('\n'));
    assert.ok(!java.lines().some((l) => l.startsWith('FAILED')), java.lines().join('\n'));
    assert.deepEqual(await values('source', ctpOut), ['marker', 'out:in-1', 'out:in-2', 'out:in-3']);
    const refused = await admin('POST', '/v1/batches/ctp/flip', { reason: 'ctp' });
    assert.equal(refused.status, 409, JSON.stringify(refused.json));
    assert.match(JSON.stringify(refused.json), new RegExp(`${id}.*consume-transform-produce`));
    assert.equal(await clusterOf(ctpOut), 'source');
    const inv = (await admin('GET', '/v1/transactions')).json as { transactionalIds: { transactionalId: string; commitsOffsets: boolean; groups: string[]; coupledTopics: string[] }[] };
    const entry = inv.transactionalIds.find((x) => x.transactionalId === id);
    assert.deepEqual({ commitsOffsets: entry?.commitsOffsets, groups: entry?.groups, coupledTopics: entry?.coupledTopics }, { commitsOffsets: true, groups: [group], coupledTopics: [ctpOut] });
  } finally {
    java.send('STOP');
    await java.finish();
  }
  // The consumed offsets were committed with the transactions, in the group on the source.
  const offsets = await kafkaFor(bootstrapOf('source')).admin();
  await offsets.connect();
  const committed = await offsets.fetchOffsets({ groupId: group, topics: [ctpIn] });
  await offsets.disconnect();
  assert.equal(committed[0].partitions.reduce((n, p) => n + Number(p.offset), 0), 3);
});

test('no transaction is left open on either cluster', async () => {
  const topics = [longTopic, pairA, pairB, zombieTopic, ctpOut];
  for (const cluster of ['source', 'target'] as const) assert.deepEqual(await openTransactions(cluster, topics), [], cluster);
});
