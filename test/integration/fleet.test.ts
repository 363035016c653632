// Three real kmp processes on loopback form a fleet (docs/fleet.md): one route table in control topics on the
// source cluster, leases, Metadata from the live set, flips through the move log. With a kafkajs idempotent
// producer writing without pause, reading both clusters directly afterwards:
// - every member lists the same three brokers and cluster id, and partitions are spread over them;
// - flips and rollbacks taken by different instances commit on every member (each shows the version) and the
//   answer reports the hold of each member; every acknowledged record is on one cluster, exactly once;
// - two concurrent flips of one wave through two instances: exactly one wins, the other gets 409;
// - kill -9 of one instance under a kafkajs, a Java and a librdkafka load: each producer recovers, 0 acknowledged
//   records lost, 0 duplicated; FLEET-FIGURES gives when the survivors counted the instance gone and each
//   producer's failover (kill to its first acknowledgement through a new leader of the dead instance's partitions).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ensureKafkaPair, createTopics, kafkaFor, uniqueTopic, type ConsumedRecord } from '../support/kafka.ts';
import type { RunningProxy } from '../support/proxy.ts';
import { admin, checkExactlyOnce, fleetView, readBothClusters, startFleetMember, waitFor } from '../support/fleet.ts';
import { formatFleet } from '../../src/fleet/format.ts';
import { javaStreamingProducer, kafkajsStreamingProducer, pump, rdkafkaStreamingProducer, sleep, type StreamingProducer } from '../support/streaming-producers.ts';
import { holdFigures, metadataVia, printFigures } from '../support/fleet-checks.ts';

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
  printFigures('fleet-moves', { moves: moves.length, holdPerMember: holdFigures(holds), records: { kafkajs: producer.acked.size } });
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

test('kill -9 of one instance under load: the producers recover; 0 acknowledged records lost, 0 duplicated', async () => {
  // One record per sendBatch: kafkajs 2.2.4 loses records when a broker dies under a sendBatch that spans several
  // brokers (tulios/kafkajs#1303; fix proposed in #1798). Its retry keeps the answers of the brokers that did
  // answer, keyed by broker, and after the metadata refresh the dead broker's partitions lead to one of those, so
  // they are never resent and sendBatch resolves as if they were written. That was this test's one lost record
  // (`kill-298`, acknowledged and on neither cluster): the client's bug, which kmp cannot see. A batch for a single
  // partition is sent to a single broker, and its retry goes to the new leader.
  const victim = fleet[2];
  const victimNode = 2;
  const victimLeads = new Set([...(await metadataVia(fleet[0], topics)).leaders].filter(([, node]) => node === victimNode).map(([k]) => k));
  assert.ok(victimLeads.size > 0, 'the instance to kill leads some partitions');
  const producers: StreamingProducer[] = [
    kafkajsStreamingProducer({ bootstrap: fleet[0].bootstrap, firstTopic: topics[0], maxPerRequest: 1 }),
    javaStreamingProducer({ bootstrap: fleet[0].bootstrap, firstTopic: topics[0] }),
    rdkafkaStreamingProducer({ bootstrap: fleet[1].bootstrap, firstTopic: topics[0] }),
  ];
  await Promise.all(producers.map((p) => p.start()));
  const prefixOf = (p: StreamingProducer) => (p.client === 'kafkajs' ? 'kill' : `kill${p.client}`);
  const loads = producers.map((p) =>
    pump(p, { ratePerSec: 150, maxOutstanding: 2_000, next: (seq) => ({ topic: topics[seq % topics.length], key: `k${seq % 17}`, value: `${prefixOf(p)}-${seq}` }) }),
  );
  let killedAt = 0;
  // Acknowledgements on partitions the dead instance led, from 500 ms after the kill: the answers to requests it
  // had forwarded arrive within milliseconds of the kill, and until the survivors count it gone they refuse its
  // partitions (NOT_LEADER_OR_FOLLOWER), so any later one went through the partition's new leader.
  const failedOver = (p: StreamingProducer): number[] =>
    [...p.ackedAt].filter(([v, at]) => at > killedAt + 500 && victimLeads.has(`${p.acked.get(v)?.topic}/${p.acked.get(v)?.partition}`)).map(([, at]) => at);
  const goneAt: Record<string, number> = {};
  try {
    // Every producer has written to the victim's partitions (each client reports the partition of an ack).
    const onVictim = (p: StreamingProducer) => [...p.acked.values()].filter((a) => victimLeads.has(`${a.topic}/${a.partition}`)).length;
    await waitFor(async () => producers.every((p) => onVictim(p) > 10), 45_000, 'every producer writing to the victim’s partitions');
    const survivors = fleet.slice(0, 2);
    const victimId = (await view(victim)).member;
    killedAt = Date.now();
    victim.child.kill('SIGKILL');
    // When each survivor counts the victim gone (its partitions get new leaders in that survivor's Metadata).
    await Promise.all(
      survivors.map(async (s) => {
        const id = (await view(s)).member;
        await waitFor(async () => !(await view(s)).live.includes(victimId), 15_000, `the victim counted gone by ${id}`);
        goneAt[id] = Date.now();
      }),
    );
    await victim.stop();
    fleet = survivors;
    await waitFor(async () => producers.every((p) => failedOver(p).length > 0), 30_000, 'every producer writing to the victim’s partitions again');
    await sleep(1_500);
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
    await Promise.all(producers.map((p) => p.close(30_000)));
  }
  // Failover per producer: from the kill (its first failed request) to its first acknowledgement through a new
  // leader of a partition the dead instance led. The lease part is when the survivors counted the
  // victim gone; the rest is the client's retry backoff and metadata refresh (docs/fleet.md "Failover").
  const failoverMs = Object.fromEntries(producers.map((p) => [p.client, Math.min(...failedOver(p)) - killedAt]));
  const detectedMs = Object.fromEntries(Object.entries(goneAt).map(([m, at]) => [m, at - killedAt]));
  printFigures('fleet-kill', { leaseMs: LEASE_MS, skewMs: 300, heartbeatMs: 300, goneDetectedMs: detectedMs, failoverMs, records: Object.fromEntries(producers.map((p) => [p.client, p.acked.size])) });
  // librdkafka reports the dead instance's refused connections as client-level errors (retriable, no record
  // failed); any other error, and every failed record, counts.
  const transportNotice = /^rdkafka: client error -1: (broker transport failure|all broker connections are down)/i;
  for (const p of producers) assert.deepEqual(p.errors.filter((e) => !transportNotice.test(e)), [], `${p.client}: no errors`);
  for (const [client, ms] of Object.entries(failoverMs)) assert.ok(ms < LEASE_MS * 10, `${client}: failover took ${ms} ms`);
  const records = await readBoth();
  for (const p of producers) checkExactlyOnce(p, records, prefixOf(p));
});
