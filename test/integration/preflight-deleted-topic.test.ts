// A deleted topic must not block its wave (issue #11 point 3): after a topic that kmp had seen is deleted on
// both clusters, flipping its wave succeeds, with a warning that the topic was skipped; before the fix every
// flip was refused ("does not exist on target") until kmp restarted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, kafkaFor, createTopic, uniqueTopic, withAdmin } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';

const prefix = `${uniqueTopic('deleted')}.`;
const kept = `${prefix}kept`;
const gone = `${prefix}gone`;
let proxy: RunningProxy;

before(async () => {
  await ensureKafkaPair();
  for (const cluster of ['source', 'target'] as const) for (const t of [kept, gone]) await createTopic(cluster, t, 1);
  proxy = await startProxy({ routes: { default: 'source', batches: { wave: { prefixes: [prefix] } } } });
});

after(async () => {
  await proxy?.stop();
});

test('a topic deleted on both clusters after kmp saw it is skipped by pre-flight, not refused', async () => {
  // kmp sees both topics (the barrier remembers every topic it admitted a write for).
  const producer = kafkaFor(proxy.bootstrap, 'kmp-it-deleted').producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (const t of [kept, gone]) await producer.send({ topic: t, acks: -1, messages: [{ value: 'x' }] });
  } finally {
    await producer.disconnect();
  }
  for (const cluster of ['source', 'target'] as const) await withAdmin(cluster, (admin) => admin.deleteTopics({ topics: [gone], timeout: 10_000 }));

  const flip = async () => fetch(`${proxy.adminUrl}/v1/batches/wave/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"reason":"deleted topic","dryRun":true}' });
  // Deletion takes a moment to reach every broker's metadata: retry the dry run until the topic is gone.
  let result: { refusals: string[]; preflight: { warnings: string[] } | null } | null = null;
  for (let i = 0; i < 50; i++) {
    const res = await flip();
    assert.equal(res.status, 200, await res.clone().text());
    result = await res.json() as typeof result;
    if (result!.preflight?.warnings.some((w) => w.includes(gone))) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.deepEqual(result!.refusals, [], 'nothing refused');
  assert.ok(result!.preflight!.warnings.includes(`${gone}: exists on neither cluster (deleted?): skipped`), JSON.stringify(result));
  const real = await fetch(`${proxy.adminUrl}/v1/batches/wave/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"reason":"deleted topic"}' });
  assert.equal(real.status, 200, await real.clone().text());
  const done = await real.json() as { move: { topics: string[] } };
  assert.ok(done.move.topics.includes(kept));
});
