import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, kafkaFor, createTopics, uniqueTopic } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { readCommitted } from '../support/transactions.ts';

let proxy: RunningProxy;
const topic = uniqueTopic('txn-smoke');

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopics('source', [topic], 2), createTopics('target', [topic], 2)]);
  proxy = await startProxy({ routes: { default: 'source', batches: { w: { topics: [topic] } } } });
});
after(async () => {
  await proxy?.stop();
});

test('kafkajs transactions through kmp', async () => {
  const producer = kafkaFor(proxy.bootstrap, 'kmp-it-txn').producer({ transactionalId: `tx-${topic}`, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (let i = 0; i < 3; i++) {
    const tx = await producer.transaction();
    await tx.send({ topic, messages: [{ key: 'a', value: `c${i}` }, { key: 'b', value: `c${i}b` }] });
    if (i === 1) await tx.abort();
    else await tx.commit();
  }
  const flip = await fetch(`${proxy.adminUrl}/v1/batches/w/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(flip.status, 200, await flip.text());
  const tx = await producer.transaction();
  await tx.send({ topic, messages: [{ key: 'a', value: 'after' }] });
  await tx.commit();
  await producer.disconnect();
  const src = await readCommitted('source', topic);
  const tgt = await readCommitted('target', topic);
  console.log(JSON.stringify({ src: src.map((r) => r.value), tgt: tgt.map((r) => r.value) }));
  assert.deepEqual(src.map((r) => r.value).sort(), ['c0', 'c0b', 'c2', 'c2b']);
  assert.deepEqual(tgt.map((r) => r.value), ['after']);
  const inv = await (await fetch(`${proxy.adminUrl}/v1/transactions`)).json();
  console.log(JSON.stringify(inv));
});
