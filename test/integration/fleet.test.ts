// Three real kmp processes on loopback form a fleet (docs/fleet.md): one route table in control topics on the
// source cluster, leases, Metadata from the live set, flips through the move log. With a kafkajs idempotent
// producer writing without pause, reading both clusters directly afterwards:
// - every member lists the same three brokers and cluster id, and partitions are spread over them;
// - flips and rollbacks taken by different instances commit on every member (each shows the version) and the
//   answer reports the hold of each member; every acknowledged record is on one cluster, exactly once;
// - two concurrent flips of one wave through two instances: exactly one wins, the other gets 409;
// - kill -9 of one instance under load: the producer recovers, 0 acknowledged records lost, 0 duplicated.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ensureKafkaPair, createTopics, kafkaFor, uniqueTopic, type ConsumedRecord } from '../support/kafka.ts';
import type { RunningProxy } from '../support/proxy.ts';
import { admin, checkExactlyOnce, fleetView, readBothClusters, startFleetMember, waitFor } from '../support/fleet.ts';
import { formatFleet } from '../../src/fleet/format.ts';
import { kafkajsStreamingProducer, pump, sleep } from '../support/streaming-producers.ts';

const PARTITIONS = 6;
const topics = Array.from({ length: 3 }, (_, i) => uniqueTopic(`fleet-${i}`));
const prefix = `_kmp-it-${randomUUID().slice(0, 8)}`;
const LEASE_MS = 2_000;
let fleet: RunningProxy[] = [];

function startMember(nodeId: number): Promise<RunningProxy> {
  return startFleetMember({ nodeId, topics, prefix, leaseMs: LEASE_MS });
}

before(async () => {
  await ensureKafkaPair();
  await Promise.all([createTopics('source', topics, PARTITIONS), createTopics('target', topics, PARTITIONS)]);
  fleet = [];
  for (let i = 0; i < 3; i++) fleet.push(await startMember(i));
  await waitFor(async () => (await Promise.all(fleet.map(view))).every((v) => v.live.length === 3), 15_000, 'three live members');
});

after(async () => {
  await Promise.all(fleet.map((p) => p.stop()));
});

const view = fleetView;
const readBoth = (): Promise<ConsumedRecord[]> => readBothClusters(topics);

test('every member answers Metadata with the same three brokers and cluster id; leaders spread over them', async () => {
  const views = await Promise.all(fleet.map(view));
  assert.equal(new Set(views.map((v) => v.clusterId)).size, 1);
  for (const v of views) assert.deepEqual(v.live, [...views.map((x) => x.member)].sort());
  const leaders = new Map<number, number>();
  for (const p of fleet) {
    const a = kafkaFor(p.bootstrap, 'kmp-fleet-meta').admin();
    await a.connect();
    try {
      const meta = await a.fetchTopicMetadata({ topics });
      const cluster = await a.describeCluster();
      assert.deepEqual(cluster.brokers.map((b) => b.nodeId).sort(), [0, 1, 2]);
      for (const t of meta.topics) for (const part of t.partitions) leaders.set(part.leader, (leaders.get(part.leader) ?? 0) + 1);
    } finally {
      await a.disconnect();
    }
  }
  assert.deepEqual([...leaders.keys()].sort(), [0, 1, 2], 'each instance leads some partitions');
  // kmp fleet: one line per member, all live at one version. A member that could not renew in time on a loaded
  // machine fences itself until its next renewal (that is the safety rule, docs/fleet.md), so look for up to 10 s.
  const liveLines = (t: string) => t.trim().split('\n').filter((l) => /^kmp-\S*( \*)?\s+\d+\s+\S+\s+live /.test(l)).length;
  let table = formatFleet(await view(fleet[1]));
  for (const deadline = Date.now() + 10_000; liveLines(table) < 3 && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 250));
    table = formatFleet(await view(fleet[1]));
  }
  assert.match(table, /every live member at version \d+/);
  assert.equal(liveLines(table), 3, table);
});

test('flips through different instances under a kafkajs idempotent load: every member applies them, each acknowledged record exactly once', async () => {
  const producer = kafkajsStreamingProducer({ bootstrap: fleet[0].bootstrap, firstTopic: topics[0] });
  await producer.start();
  const load = pump(producer, { ratePerSec: 200, next: (seq) => ({ topic: topics[seq % topics.length], key: `k${seq % 17}`, value: `kafkajs-${seq}` }) });
  const moves: [number, string][] = [[1, '/v1/batches/wave-1/flip'], [2, '/v1/batches/wave-1/rollback'], [0, '/v1/batches/wave-1/flip'], [1, '/v1/rollback-all']];
  const holds: Record<string, number[]> = {};
  try {
    await sleep(1_000);
    for (const [via, path] of moves) {
      const answer = await admin<{ version: number; members?: { member: string; status: string; holdMs: number | null }[] }>(fleet[via], 'POST', path, { reason: 'fleet test' });
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      assert.equal(answer.json.members?.length, 3, 'the answer reports every member');
      for (const m of answer.json.members ?? []) {
        assert.equal(m.status, 'released');
        (holds[m.member] ??= []).push(m.holdMs ?? NaN);
      }
      await waitFor(async () => (await Promise.all(fleet.map(view))).every((v) => v.members.every((m) => m.appliedVersion === answer.json.version)), 5_000, `every member at version ${answer.json.version}`);
      await sleep(700);
    }
  } finally {
    await load.stop();
    await producer.close(30_000);
  }
  console.log(`fleet holds per member (ms): ${JSON.stringify(holds)}; records acknowledged ${producer.acked.size}`);
  assert.deepEqual(producer.errors, []);
  checkExactlyOnce(producer, await readBoth(), 'kafkajs');
});

test('two concurrent flips of one wave through two instances: exactly one wins, the other is refused with 409', async () => {
  const [a, b] = await Promise.all([
    admin(fleet[0], 'POST', '/v1/batches/wave-1/flip', { reason: 'race a' }),
    admin(fleet[1], 'POST', '/v1/batches/wave-1/flip', { reason: 'race b' }),
  ]);
  assert.deepEqual([a.status, b.status].sort(), [200, 409], JSON.stringify([a.json, b.json]));
  const back = await admin(fleet[2], 'POST', '/v1/rollback-all', { reason: 'reset' });
  assert.equal(back.status, 200, JSON.stringify(back.json));
});

test('kill -9 of one instance under load: the producer recovers; 0 acknowledged records lost, 0 duplicated', async () => {
  // One record per sendBatch: kafkajs 2.2.4 loses records when a broker dies under a sendBatch that spans several
  // brokers (tulios/kafkajs#1303; fix proposed in #1798). Its retry keeps the answers of the brokers that did
  // answer, keyed by broker, and after the metadata refresh the dead broker's partitions lead to one of those, so
  // they are never resent and sendBatch resolves as if they were written. That was this test's one lost record
  // (`kill-298`, acknowledged and on neither cluster): the client's bug, which kmp cannot see. A batch for a single
  // partition is sent to a single broker, and its retry goes to the new leader.
  const producer = kafkajsStreamingProducer({ bootstrap: fleet[0].bootstrap, firstTopic: topics[0], maxPerRequest: 1 });
  await producer.start();
  const load = pump(producer, { ratePerSec: 200, next: (seq) => ({ topic: topics[seq % topics.length], key: `k${seq % 17}`, value: `kill-${seq}` }) });
  let failoverMs = NaN;
  try {
    await sleep(1_500);
    const victim = fleet[2];
    const ackedBefore = producer.acked.size;
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await victim.stop();
    fleet = fleet.slice(0, 2);
    // Failover: the producer's acknowledgements grow again past what it had before the kill plus a full round.
    await waitFor(async () => producer.acked.size > ackedBefore + 400, 30_000, 'acknowledgements after the kill');
    failoverMs = Date.now() - killedAt;
    await waitFor(async () => (await Promise.all(fleet.map(view))).every((v) => v.live.length === 2), 10_000, 'two live members');
    await sleep(1_000);
  } finally {
    await load.stop();
    await producer.close(30_000);
  }
  console.log(`fleet kill -9: failover ${failoverMs} ms (lease ${LEASE_MS} ms); records acknowledged ${producer.acked.size}`);
  assert.ok(failoverMs < LEASE_MS * 10, `failover took ${failoverMs} ms`);
  checkExactlyOnce(producer, await readBoth(), 'kill');
});
