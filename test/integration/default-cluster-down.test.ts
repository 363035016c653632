// The default cluster goes down while the proxy runs (issue #11 points 2 and 7): a producer that starts then
// still gets a producer id (from the other cluster) and every record to a topic routed to the live cluster is
// acknowledged and written once; /v1/status and /readyz show the dead cluster as down, with the reason.
// The shared brokers are never stopped: the source is reached through a relay that the test shuts.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, kafkaFor, createTopic, readTopic, uniqueTopic, bootstrapOf } from '../support/kafka.ts';
import { startProxy } from '../support/proxy.ts';
import { RecordingRelay } from '../../scripts/capture/recording-relay.ts';

before(async () => {
  await ensureKafkaPair();
});

test('the default cluster is down: new idempotent producers still start and write to the other cluster; health says so', async (t) => {
  // The source (the default cluster) is reached through a relay the test shuts; the topic is routed to the target.
  const topic3 = uniqueTopic('fault-default-down');
  await createTopic('target', topic3, 2);
  const [host, port] = bootstrapOf('source').split(':');
  const relay = new RecordingRelay(host, Number(port));
  const relayPort = await relay.listen();
  t.after(() => relay.close().catch(() => undefined));
  const p3 = await startProxy({
    routes: { default: 'source', batches: { away: { topics: [topic3] } } },
    extra: {
      clusters: {
        source: { bootstrap: [`127.0.0.1:${relayPort}`], requestTimeoutMs: 3_000 },
        target: { bootstrap: [bootstrapOf('target')] },
      },
    },
  });
  type Status = { status: string; ready: boolean; clusters: Record<string, { state: string; reason: string | null }> };
  const status = async (): Promise<Status> => (await fetch(`${p3.adminUrl}/v1/status`)).json() as Promise<Status>;
  try {
    assert.equal((await status()).status, 'ok');
    const flip = await fetch(`${p3.adminUrl}/v1/batches/away/flip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"reason":"default-down test"}' });
    assert.equal(flip.status, 200, await flip.text());
    await relay.close(); // the default cluster is gone
    const deadline = Date.now() + 15_000;
    while ((await status()).clusters.source.state !== 'down' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const s = await status();
    t.diagnostic(`status: ${JSON.stringify(s)}`);
    assert.equal(s.clusters.source.state, 'down', 'the dead cluster shows as down');
    assert.ok((s.clusters.source.reason ?? '').length > 0, 'with the reason');
    assert.equal(s.clusters.target.state, 'up');
    assert.equal(s.status, 'degraded');
    const readyz = await fetch(`${p3.adminUrl}/readyz`);
    assert.equal(readyz.status, 200, 'still ready: topics on the target are served');
    assert.equal(((await readyz.json()) as { status: string }).status, 'degraded');
    assert.equal((await fetch(`${p3.adminUrl}/readyz?require=all`)).status, 503);

    // A producer that starts now: InitProducerId cannot reach the default cluster.
    const producer = kafkaFor(p3.bootstrap, 'kmp-it-default-down').producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1_000 } });
    await producer.connect();
    const sent: string[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const batch = Array.from({ length: 10 }, (_, j) => ({ key: `k${j}`, value: `v${i}-${j}` }));
        await producer.send({ topic: topic3, acks: -1, messages: batch });
        sent.push(...batch.map((m) => m.value));
      }
    } finally {
      await producer.disconnect();
    }
    assert.equal(sent.length, 200, 'every record was acknowledged');
    const onTarget = (await readTopic('target', topic3)).map((r) => r.value);
    assert.deepEqual(onTarget.sort(), [...sent].sort(), 'exactly once on the target');
    assert.match(p3.logs(), /producer id issued by target/);
    assert.doesNotMatch(p3.logs(), /undecodable request|request handler failed/);
  } finally {
    await p3.stop();
    await relay.close().catch(() => undefined);
  }
});
