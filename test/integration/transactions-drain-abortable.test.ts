// flip.openTransactionsAtBound: abort-transactions (docs/transactions.md §flip): a transaction still open when a
// flip reaches flip.transactionDrainMs is asked to end instead of the flip being aborted. A Java producer keeps a
// transaction open across the flip request and sends more in it past the bound: that batch gets the abortable
// TRANSACTION_ABORTABLE, the application's abortTransaction() recovers (no fatal error), the flip then completes
// (200) having waited past the bound, the aborted records are visible nowhere, and the producer's next transaction
// commits on the new cluster. No transaction is left open on either cluster.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, createTopics, uniqueTopic } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';
import { openTransactions, readCommitted, startJavaTxnProducer } from '../support/transactions.ts';

const topic = uniqueTopic('txn-ask-abort');
const DRAIN_MS = 2_000;
let proxy: RunningProxy;

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopics('source', [topic], 2), createTopics('target', [topic], 2)]);
  proxy = await startProxy({
    routes: { default: 'source', batches: { wave: { topics: [topic] } } },
    extra: { flip: { timeoutMs: 15_000, transactionDrainMs: DRAIN_MS, openTransactionsAtBound: 'abort-transactions' } },
  });
});

after(async () => {
  await proxy?.stop();
});

test('a transaction open past the drain bound is asked to abort; the Java client recovers and the flip completes', { timeout: 90_000 }, async () => {
  const id = `ask-${topic}`;
  const java = startJavaTxnProducer(proxy.bootstrap, id);
  try {
    await java.waitFor(/^READY$/);
    java.send(`OPEN t1 ${topic}:k0:open-1`);
    await java.waitFor(/^OPENED t1$/);
    const started = Date.now();
    const flip = fetch(`${proxy.adminUrl}/v1/batches/wave/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'ask to abort' }) });
    await new Promise((r) => setTimeout(r, DRAIN_MS + 700));
    java.send(`MORE t1 ${topic}:k1:open-2`);
    const outcome = await java.waitFor(/^(SENT|RECOVERED|FATAL) t1/);
    assert.equal(outcome, 'RECOVERED t1', java.lines().join('\n'));
    assert.ok(java.lines().some((l) => /^FAILED t1 .*TransactionAbortableException: kmp: .*needs the transaction/.test(l)), java.lines().join('\n'));
    const res = await flip;
    const waited = Date.now() - started;
    assert.equal(res.status, 200, await res.text());
    assert.ok(waited >= DRAIN_MS, `the flip answered after ${waited} ms`);
    java.send(`ONE t2 commit ${topic}:k0:after-1 ${topic}:k1:after-2`);
    await java.waitFor(/^COMMITTED t2$/);
  } finally {
    java.send('STOP');
    await java.finish();
  }
  assert.deepEqual(java.lines().filter((l) => l.startsWith('FATAL')), []);
  assert.deepEqual((await readCommitted('source', topic)).map((r) => r.value), [], 'the aborted transaction is visible nowhere');
  assert.deepEqual((await readCommitted('target', topic)).map((r) => r.value).sort(), ['after-1', 'after-2']);
  const inv = (await (await fetch(`${proxy.adminUrl}/v1/transactions`)).json()) as { flips: { outcome: string; waitedMs: number; waitedFor: string[] }[] };
  assert.deepEqual(inv.flips.map((f) => [f.outcome, f.waitedFor]), [['ok', [id]]]);
  assert.ok(inv.flips[0].waitedMs >= DRAIN_MS);
  for (const cluster of ['source', 'target'] as const) assert.deepEqual(await openTransactions(cluster, [topic]), [], `hanging transactions on ${cluster}`);
});
