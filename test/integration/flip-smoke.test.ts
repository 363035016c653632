// A flip and a rollback while one kafkajs idempotent producer writes without pause: every acknowledged record is
// on exactly one cluster, each partition's records on a cluster form contiguous segments in send order, and the
// producer never sees an error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureKafkaPair, kafkaFor, createTopic, readTopic, uniqueTopic, type ConsumedRecord } from '../support/kafka.ts';
import { startProxy, type RunningProxy } from '../support/proxy.ts';

let proxy: RunningProxy;
const topic = uniqueTopic('flip-smoke');

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopic('source', topic, 3), createTopic('target', topic, 3)]);
  proxy = await startProxy({ routes: { default: 'source', batches: { 'wave-1': { topics: [topic] } } } });
});

after(async () => {
  await proxy?.stop();
});

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${proxy.adminUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

test('flip and rollback under load keep every partition ordered and complete', async (t) => {
  const producer = kafkaFor(proxy.bootstrap, 'kmp-it-flip').producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const sent: { key: string; value: string }[] = [];
  let stop = false;
  let errors = 0;
  const loop = (async () => {
    for (let i = 0; !stop; i++) {
      const messages = Array.from({ length: 5 }, (_, j) => ({ key: `k${(i * 5 + j) % 13}`, value: `v${i * 5 + j}` }));
      try {
        await producer.send({ topic, acks: -1, messages });
        sent.push(...messages);
      } catch (err) {
        errors++;
        t.diagnostic(`send failed: ${String(err)}`);
      }
    }
  })();
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await pause(500);
  const flip = await admin('POST', '/v1/batches/wave-1/flip', { reason: 'smoke test' });
  assert.equal(flip.status, 200, JSON.stringify(flip.json));
  await pause(500);
  const back = await admin('POST', '/v1/batches/wave-1/rollback', { reason: 'smoke test' });
  assert.equal(back.status, 200, JSON.stringify(back.json));
  await pause(500);
  const again = await admin('POST', '/v1/batches/wave-1/flip', { reason: 'smoke test, again' });
  assert.equal(again.status, 200, JSON.stringify(again.json));
  await pause(500);
  stop = true;
  await loop;
  await producer.disconnect();
  t.diagnostic(`sent ${sent.length} records; hold times (ms): ${[flip, back, again].map((r) => JSON.stringify((r.json.timings as { holdMs?: number } | null)?.holdMs)).join(', ')}`);
  assert.equal(errors, 0, 'the producer saw no error');

  const [src, tgt] = await Promise.all([readTopic('source', topic), readTopic('target', topic)]);
  assert.equal(src.length + tgt.length, sent.length, 'every acknowledged record exactly once across both clusters');
  assert.ok(src.length > 0 && tgt.length > 0, 'both clusters received writes');

  // Per key: the records, ordered by (segment order), equal the send order. Segments of a partition follow the
  // flips: source, target, source, target. Reconstruct each partition's sequence by walking the ledger order.
  const ledger = await admin('GET', '/v1/ledger');
  const entries = (ledger.json.entries ?? ledger.json.ledger ?? ledger.json.items ?? []) as { topic: string; partition: number; from: string; to: string; lastOffsetOnOld: string | null; firstOffsetOnNew: string | null }[];
  assert.ok(entries.length >= 9, `ledger has an entry per partition per move (got ${entries.length})`);
  for (let p = 0; p < 3; p++) {
    const moves = entries.filter((e) => e.topic === topic && e.partition === p);
    const bySide: Record<string, ConsumedRecord[]> = { source: src.filter((r) => r.partition === p), target: tgt.filter((r) => r.partition === p) };
    // Cut each cluster's log of the partition at the ledger's boundaries and interleave in move order.
    const cursor: Record<string, number> = { source: 0, target: 0 };
    const sequence: ConsumedRecord[] = [];
    let side = 'source';
    for (const m of moves) {
      const last = m.lastOffsetOnOld === null ? -1n : BigInt(m.lastOffsetOnOld);
      const list = bySide[side];
      while (cursor[side] < list.length && list[cursor[side]].offset <= last) sequence.push(list[cursor[side]++]);
      side = m.to;
      if (m.firstOffsetOnNew !== null) assert.equal(bySide[side][cursor[side]]?.offset ?? BigInt(m.firstOffsetOnNew), BigInt(m.firstOffsetOnNew), `partition ${p}: first offset on ${side} matches the ledger`);
    }
    sequence.push(...bySide[side].slice(cursor[side]));
    const other = side === 'source' ? 'target' : 'source';
    assert.equal(cursor[other], bySide[other].length, `partition ${p}: no record on ${other} after its last segment`);
    const expected = sent.filter((m) => sequence.some((r) => r.key === m.key));
    const keysHere = new Set(sequence.map((r) => r.key));
    assert.deepEqual(sequence.map((r) => r.value), expected.filter((m) => keysHere.has(m.key)).map((m) => m.value), `partition ${p}: cross-cluster order equals send order`);
  }
});
