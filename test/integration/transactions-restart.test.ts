// One kmp instance restarted under a Java transactional producer (docs/transactions.md §restart): the id's state
// (home, client-facing and upstream producer ids, the sequence bases of a period that began with a move) is in the
// state file, so
// - between transactions: after the restart the producer simply continues, on the home the flip gave it, with its
//   sequences rebased as before (no OUT_OF_ORDER_SEQUENCE_NUMBER, no duplicate);
// - across a transaction left open over the restart: kmp cannot know it is open, forwards its EndTxn to the home
//   and it commits there (nothing hangs).
// Read straight from both clusters (read_committed) and DescribeProducers: exactly the committed records, on the
// expected cluster, and no open transaction left.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureKafkaPair, createTopics, uniqueTopic } from '../support/kafka.ts';
import { freePort, startProxy, type RunningProxy } from '../support/proxy.ts';
import { openTransactions, readCommitted, startJavaTxnProducer } from '../support/transactions.ts';

const topic = uniqueTopic('txn-restart');
let proxy: RunningProxy | null = null;
let start: () => Promise<RunningProxy>;

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopics('source', [topic], 2), createTopics('target', [topic], 2)]);
  const port = await freePort();
  const adminPort = await freePort();
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmp-txn-restart-'));
  start = () => startProxy({ port, adminPort, stateDir, routes: { default: 'source', batches: { wave: { topics: [topic] } } }, extra: { flip: { timeoutMs: 10_000, transactionDrainMs: 5_000 } } });
  proxy = await start();
});

after(async () => {
  await proxy?.stop();
});

async function restart(): Promise<void> {
  await proxy!.stop();
  proxy = await start();
}

test('a restart of kmp between transactions and inside one: the Java producer continues, nothing is duplicated or left hanging', { timeout: 120_000 }, async () => {
  const id = `restart-${topic}`;
  const java = startJavaTxnProducer(proxy!.bootstrap, id);
  const specs = (label: string) => [0, 1, 2, 3].map((j) => `${topic}:k${j}:${label}-${j}`).join(' ');
  const run = async (line: string, expect: RegExp) => {
    java.send(line);
    return await java.waitFor(expect, 60_000);
  };
  try {
    await java.waitFor(/^READY$/);
    await run(`ONE a commit ${specs('a')}`, /^COMMITTED a$/);
    const flip = await fetch(`${proxy!.adminUrl}/v1/batches/wave/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'restart test' }) });
    assert.equal(flip.status, 200, await flip.text());
    // b runs on target in the period the flip began (the client's sequences run on: bases are learned and kept).
    await run(`ONE b commit ${specs('b')}`, /^COMMITTED b$/);
    await restart();
    await run(`ONE c commit ${specs('c')}`, /^(COMMITTED|FAILED) c/);
    await run(`ONE d abort ${specs('d')}`, /^(ABORTED|FAILED) d/);
    await run(`ONE e commit ${specs('e')}`, /^(COMMITTED|FAILED) e/);
    // A transaction open over a restart: kmp forwards its EndTxn although it never saw it start.
    await run(`OPEN f ${specs('f')}`, /^OPENED f$/);
    await restart();
    await run('END f commit', /^(COMMITTED|FAILED) f/);
    await run(`ONE g commit ${specs('g')}`, /^(COMMITTED|FAILED) g/);
  } finally {
    java.send('STOP');
    await java.finish();
  }
  const lines = java.lines();
  const failed = lines.filter((l) => /^(FAILED|FATAL|RECOVERED)/.test(l));
  assert.deepEqual(failed, [], 'no transaction failed across the restarts');
  const source = (await readCommitted('source', topic)).map((r) => r.value).sort();
  const target = (await readCommitted('target', topic)).map((r) => r.value).sort();
  const of = (...labels: string[]) => labels.flatMap((l) => [0, 1, 2, 3].map((j) => `${l}-${j}`)).sort();
  assert.deepEqual(source, of('a'));
  assert.deepEqual(target, of('b', 'c', 'e', 'f', 'g'), 'each committed record once on target, the aborted d nowhere');
  for (const cluster of ['source', 'target'] as const) assert.deepEqual(await openTransactions(cluster, [topic]), [], `hanging transactions on ${cluster}`);
});
